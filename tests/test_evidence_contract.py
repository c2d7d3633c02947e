"""The evidence contract over whole results: where a number decided, the evidence says how.

shared/spec/exam-format.md: every evidence object holds `rule` and `source`, and where a number
decided the outcome, `threshold`, `measured` and `comparison`. Issue 18 found two rules that
dropped them (vitamin D sufficiency band, accessory-saphenous spacing); this walks every
evidence object of many results so the next one is caught wherever it is.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from helpers import EXAMPLES, exam_dict, leg, load_example
from venalab.cohort.synth import synthesize
from venalab.cohort.table import tables_to_documents
from venalab.engine import assess
from venalab.evidence import Evidence
from venalab.exam import parse_exam_obj

# Values reported, not decided: a score total (its category or severity has its own
# evidence with the cut-off) and a measurement for which the set has no criterion.
REPORTED_ONLY = {"vcss.total", "wells.score", "reflux.no-criterion", "villalta.total"}


def evidence_in(obj: Any, path: str = "") -> list[tuple[str, Evidence]]:
    out: list[tuple[str, Evidence]] = []
    if isinstance(obj, Evidence):
        out.append((path, obj))
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            out += evidence_in(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            out += evidence_in(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            out += evidence_in(item, f"{path}.{key}")
    return out


def contract_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for path, ev in evidence_in(assess(parse_exam_obj(doc))):
        if not ev.rule or not ev.source:
            problems.append(f"{path}: no rule or source")
        if ev.rule in REPORTED_ONLY or (
            ev.rule.startswith("calcinosis.lab.") and ev.threshold is None
        ):
            continue
        if ev.measured is not None and (ev.threshold is None or ev.comparison is None):
            problems.append(
                f"{path} ({ev.rule}): measured {ev.measured} without threshold/comparison"
            )
        if (ev.threshold is None) != (ev.comparison is None):
            problems.append(f"{path} ({ev.rule}): threshold and comparison must come together")
    return problems


HAND_BUILT = {
    "vitamin-d-bands": exam_dict(
        left=leg(),
        labs={
            "vitamin_d_25oh": {"value": 30, "unit": "ng/mL"},
            "egfr": {"value": 45, "unit": "mL/min/1.73m2"},
        },
    ),
    "accessory-spacing": exam_dict(
        left=leg(
            {"vein": "AASV", "reflux_ms": 700, "position_cm": 1},
            {"vein": "AASV", "reflux_ms": 900, "position_cm": 9},
            {"vein": "PAGSV", "reflux_ms": 700, "position_cm": 1},
            {"vein": "PAGSV", "reflux_ms": 900},
            signs=["varicose"],
            symptomatic=True,
        )
    ),
    "svt-near-junction": exam_dict(
        left=leg(
            {
                "vein": "GSVa",
                "compressibility": "none",
                "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 3.0},
            },
            signs=["varicose"],
        ),
        exam={"date": "2025-01-15", "purpose": "thrombosis"},
    ),
    "iddvt": exam_dict(
        left=leg(
            {
                "vein": "PRV",
                "compressibility": "none",
                "diameter_mm": 8,
                "thrombus": {"age": "acute", "length_cm": 6},
            },
            {"vein": "CPV", "reflux_ms": 500, "diameter_mm": 3.0},
        ),
        history={"d_dimer_positive": True},
    ),
}


@pytest.mark.parametrize("name", ["calf-dvt.json", "seed-001-calcinosis.json"])
def test_examples_keep_the_evidence_contract(name: str) -> None:
    assert (EXAMPLES / name).exists()
    assert contract_problems(load_example(name)) == []


@pytest.mark.parametrize("name", sorted(HAND_BUILT))
def test_hand_built_exams_keep_the_evidence_contract(name: str) -> None:
    assert contract_problems(HAND_BUILT[name]) == []


def test_synthetic_cohort_keeps_the_evidence_contract() -> None:
    syn = synthesize(300, 18, boundary_rate=0.3)
    problems = [p for _, doc in tables_to_documents(syn.tables) for p in contract_problems(doc)]
    assert problems[:10] == []
