"""Trusted construction (venalab.trusted, issue 21): the engine builds its result objects
without re-validating them; under `checking()` every such object is also validated and must
come out identical (values, field order, fields set, JSON). The result stays an ordinary
pydantic model: equal to itself read back from its JSON."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from exam_strategies import exam_documents
from helpers import EXAMPLES, load_example
from test_decisions import options
from thrombosis_exams import prior_of, thrombosis_exam
from venalab.criteria import CRITERIA
from venalab.engine import assess
from venalab.evidence import Evidence, Finding, Recommendation, evidence
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.result import EngineOptions, Result
from venalab.trusted import TrustedMismatch, checking, trusted


def _checked_result(
    exam: ExamDocument, opts: EngineOptions | None = None, prior: ExamDocument | None = None
) -> Result:
    with checking():
        result = assess(exam, options=opts, prior=prior)
    assert Result.model_validate_json(result.to_json()) == result
    return result


def _reflux_exam(rng: random.Random) -> dict[str, Any]:
    """Reflux, perforators and boundary values at every set's cut-offs, on both legs."""
    veins = ["SFJ", "GSVa", "GSVb", "SPJ", "SSV", "AASV", "CFV", "FV", "POPV", "PTV", "CPV"]
    legs = {}
    for side in ("left", "right"):
        segments = []
        for _ in range(rng.randint(0, 12)):
            seg: dict[str, Any] = {"vein": rng.choice(veins)}
            if rng.random() < 0.8:
                seg["reflux_ms"] = rng.choice([0, 350, 499, 500, 501, 1000, 1001, 2200.5])
            if rng.random() < 0.5:
                seg["diameter_mm"] = rng.choice([2.5, 3.5, 6])
            if seg["vein"] == "CPV" and rng.random() < 0.5:
                seg["beneath_ulcer"] = rng.random() < 0.5
            if rng.random() < 0.2:
                seg["site"] = rng.choice(["proximal", "distal"])
            segments.append(seg)
        signs = rng.sample(["varicose", "edema", "ulcer-active", "ulcer-healed", "eczema"], 2)
        legs[side] = {"clinical": {"signs": signs, "symptomatic": rng.random() < 0.5},
                      "segments": segments}  # fmt: skip
    return {
        "format": "venous-exam/1",
        "patient": {"id": "R-1", "sex": "female", "age_years": 60},
        "exam": {"date": "2025-03-01", "purpose": "insufficiency", "position": "standing"},
        "legs": legs,
    }


def test_reflux_and_thrombosis_exams_construct_as_validated() -> None:
    rng = random.Random(21)
    for i in range(24):
        criteria = list(CRITERIA)[i % len(CRITERIA)]
        opts = EngineOptions(criteria=criteria, ceap_legacy_numbers=i % 2 == 0)
        _checked_result(parse_exam_obj(_reflux_exam(rng)), opts)
    for i in range(40):
        doc, opts = thrombosis_exam(rng, i)
        prior = prior_of(rng, doc)
        _checked_result(
            parse_exam_obj(doc), EngineOptions(**opts), parse_exam_obj(prior) if prior else None
        )
    for path in sorted(EXAMPLES.glob("*.json")):
        _checked_result(parse_exam_obj(load_example(path.name)))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(exam_documents(), options)
def test_any_exam_constructs_as_validated(doc: dict[str, Any], opts: EngineOptions) -> None:
    _checked_result(parse_exam_obj(doc), opts)


@pytest.mark.filterwarnings("ignore::UserWarning")  # the list the test passes on purpose
def test_a_value_validation_would_change_is_caught() -> None:
    make = trusted(Finding)
    ev = evidence("reflux.duration", ["SVS22"], threshold=500, measured=True)
    assert (ev.threshold, ev.measured) == (500.0, 1.0)  # as validation stores them
    built = make(id="x", text="t", evidence=ev, importance=2)
    assert built == Finding(id="x", text="t", evidence=ev, importance=2)
    assert built.model_fields_set == {"id", "text", "evidence", "importance"}
    with checking():
        make(id="x", text="t", evidence=ev)
        with pytest.raises(TrustedMismatch, match="value types"):
            trusted(Evidence)(rule="r", source="SVS22", threshold=500)  # an int: 500.0 validated
        with pytest.raises(TrustedMismatch, match="values"):  # a list: a tuple validated
            trusted(Recommendation)(id="x", text="t", evidence=ev, sides=["left"])


def test_models_with_validation_hooks_are_refused() -> None:
    with pytest.raises(TypeError, match="with validation"):
        trusted(Result)  # a model default (engine): built with validation
    with pytest.raises(TypeError, match="not a pydantic model"):
        trusted(dict)  # type: ignore[arg-type]
