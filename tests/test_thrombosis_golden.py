"""The thrombosis side of the full result, held byte-identical to a golden set (issue 21).

The EHIT, thrombosis, pathway and critical rules decide into lean records and the full
result is rendered from them (rules/thrombotic.py). This test pins the rendered JSON of that
side on seeded thrombosis-rich exams (tests/thrombosis_exams.py: DVT at every level, SVT
near and far from the junctions, perforator thrombi, ablations and EHIT, bedside history,
Wells items, serial-imaging results, earlier exams, pathway options) to digests taken from
main before the split (commit a020a92), and holds the decisions tier to the same decisions
on the same exams.

A deliberate change of a thrombosis-side text or decision changes the digests: regenerate
with `.venv/bin/python tests/test_thrombosis_golden.py` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from thrombosis_exams import prior_of, thrombosis_exam
from venalab.decisions import decide, decisions_of
from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.result import EngineOptions, Result

GOLDEN = Path(__file__).parent / "data" / "golden" / "thrombosis_side.json"
SEED = 21
COUNT = 400
_LEG_KEYS = ("thrombosis", "pathway", "ehit", "critical", "treated")
_FINDINGS = ("thrombosis.", "ehit.", "treatment.")


def thrombosis_side(result: Result) -> dict[str, Any]:
    """The parts of a full result the thrombosis-side rules render."""
    doc = json.loads(result.to_json())
    legs = {
        side: {k: leg[k] for k in _LEG_KEYS} for side, leg in doc["legs"].items() if leg is not None
    }
    return {
        "legs": legs,
        "critical": doc["critical"],
        "findings": [f for f in doc["findings"] if f["id"].startswith(_FINDINGS)],
        "recommendations": doc["recommendations"],
    }


def _digest(result: Result) -> str:
    text = json.dumps(thrombosis_side(result), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cases() -> list[tuple[int, Any, EngineOptions, Any]]:
    rng = random.Random(SEED)
    out = []
    for i in range(COUNT):
        doc, options = thrombosis_exam(rng, i)
        prior = prior_of(rng, doc)
        out.append(
            (
                i,
                parse_exam_obj(doc),
                EngineOptions(**options),
                parse_exam_obj(prior) if prior else None,
            )
        )
    return out


@pytest.mark.slow  # about 3 s on the shared CI machine
def test_rendered_thrombosis_side_matches_the_golden_set() -> None:
    golden = json.loads(GOLDEN.read_text())
    assert (golden["seed"], len(golden["digests"])) == (SEED, COUNT)
    mismatched = []
    pathways: set[tuple[str, str]] = set()
    for i, exam, options, prior in _cases():
        result = assess(exam, options=options, prior=prior)
        if _digest(result) != golden["digests"][i]:
            mismatched.append(i)
        for side in ("left", "right"):
            if (leg := result.leg(side)) is not None:
                pathways.add((leg.pathway.pathway, leg.pathway.decision))
        if prior is None:  # with a prior exam the lean tier reads the full result
            assert decide(exam, options=options) == decisions_of(result), i
    assert mismatched == [], f"exams whose thrombosis side changed: {mismatched[:20]}"
    # The set reaches every branch it is meant to pin (a generator change that lost one
    # would leave it untested).
    assert {p for p, _ in pathways} == {
        "none", "iddvt", "icmvt", "proximal-dvt", "svt", "chronic", "ehit"
    }  # fmt: skip
    svt = {d for p, d in pathways if p == "svt"}
    assert {"therapeutic-anticoagulation", "fondaparinux", "undetermined"} <= svt


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    digests = [_digest(assess(e, options=o, prior=p)) for _, e, o, p in _cases()]
    GOLDEN.write_text(json.dumps({"seed": SEED, "digests": digests}, indent=0) + "\n")
    print(f"wrote {len(digests)} digests to {GOLDEN}")
