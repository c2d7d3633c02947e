"""The thrombosis side's decide step (rules/thrombotic.py, issue 21): lean records only, and the
render step formats what it decided without deciding again."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from helpers import leg, make_exam
from thrombosis_exams import thrombosis_exam
from venalab.exam import parse_exam_obj
from venalab.rules.pathways import DEFAULT_PARAMS, pathway_params
from venalab.rules.thrombotic import decide_thrombotic, render_thrombotic


def _values(obj: Any) -> Iterator[Any]:
    """Every value reachable through dataclass fields and containers (not into functions)."""
    yield obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _values(getattr(obj, f.name))
    elif isinstance(obj, (tuple, list, frozenset, set)):
        for item in obj:
            yield from _values(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _values(item)


def test_the_decide_step_builds_no_result_models_and_render_follows_it() -> None:
    rng = random.Random(5)
    pathways: set[str] = set()
    for i in range(120):
        doc, options = thrombosis_exam(rng, i)
        exam = parse_exam_obj(doc)
        params = pathway_params(options.get("pathways")) if options.get("pathways") else None
        params = params or DEFAULT_PARAMS
        for side, the_leg in exam.legs.items():
            d = decide_thrombotic(side, the_leg, exam, options["tibioperoneal_trunk"], params)
            models = [type(v).__name__ for v in _values(d) if isinstance(v, BaseModel)]
            assert models == [], f"exam {i} {side}: the decide step built {models}"
            r = render_thrombotic(d, params)
            pathways.add(d.pathway.pathway)
            assert r.pathway.pathway == d.pathway.pathway
            assert r.pathway.decision == d.pathway.decision
            assert tuple(x.id for x in r.pathway.recommendations) == d.pathway.rec_ids()
            assert tuple(c.id for c in r.critical) == tuple(m.id(side) for m in d.critical)
            assert r.thrombosis.classification == d.thrombosis.classification
            assert [(e.junction, e.ehit_class) for e in r.ehit] == [
                (e.junction, e.ehit_class) for e in d.ehit
            ]
    assert {"none", "iddvt", "icmvt", "proximal-dvt", "svt", "chronic"} <= pathways


def test_texts_are_formatted_only_on_render() -> None:
    """A decided recommendation keeps its data-file key and its fields unformatted; the text
    with the measured values appears only in the rendered recommendation."""
    exam = make_exam(
        right=leg(
            {
                "vein": "GSVa",
                "thrombus": {"age": "acute", "length_cm": 6, "distance_to_junction_cm": 2},
            }
        ),
    )
    assert exam.legs.right is not None
    d = decide_thrombotic("right", exam.legs.right, exam, "distal", DEFAULT_PARAMS)
    rec = next(r for r in d.pathway.recs if r.key == "svt.therapeutic")
    assert (rec.measured, rec.threshold, rec.comparison) == (2, 3, "<")
    assert rec.fields is not None and rec.fields()["distance"] == 2
    rendered = render_thrombotic(d, DEFAULT_PARAMS)
    text = next(r.text for r in rendered.pathway.recommendations if r.id == "svt.therapeutic.right")
    assert "2" in text and "SFJ" in text
    assert [m.criterion for m in d.critical] == ["svt-near-junction"]
