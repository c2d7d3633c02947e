"""Exam document validation: strict types, paths in every message, YAML, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from helpers import EXAMPLES, SHARED_EXAMPLES, exam_dict, leg, load_example
from venalab.errors import InvalidInput
from venalab.exam import load_exam, parse_exam_json, parse_exam_obj, parse_exam_text


def _problems(doc: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(doc)
    return {p.path: p.message for p in info.value.problems}


def test_examples_parse_and_match_the_shared_spec() -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        exam = load_exam(path)
        assert exam.format == "venous-exam/1"
        shared = SHARED_EXAMPLES / path.name
        if shared.exists():  # the shipped copies must stay those of the contract
            assert json.loads(shared.read_text()) == json.loads(path.read_text())


def test_false_is_not_a_number_and_string_is_not_a_duration() -> None:
    probs = _problems(
        exam_dict(
            left=leg({"vein": "GSVa", "reflux_ms": False}, {"vein": "GSVb", "reflux_ms": "12"})
        )
    )
    assert probs["legs.left.segments[0].reflux_ms"] == "Input should be a valid number"
    assert probs["legs.left.segments[1].reflux_ms"] == "Input should be a valid number"


def test_every_problem_is_listed_with_its_path() -> None:
    doc = exam_dict(left=leg({"vein": "GSV"}, {"vein": "FV", "reflux_ms": -5, "colour": "red"}))
    doc["patient"]["sex"] = "m"
    doc["labs"] = {"calcium": {"value": 90, "unit": "mg/dL"}, "pth": {"value": 5, "unit": "ng/L"}}
    probs = _problems(doc)
    assert (
        "'GSVa'" in probs["legs.left.segments[0].vein"]
        and "'TPT'" in probs["legs.left.segments[0].vein"]
    )
    assert "greater than or equal to 0" in probs["legs.left.segments[1].reflux_ms"]
    assert "unknown field" in probs["legs.left.segments[1].colour"]
    assert "'male'" in probs["patient.sex"]
    assert "not a plausible" in probs["labs.calcium"]
    assert "'pg/mL' or 'pmol/L'" in probs["labs.pth.unit"]
    assert len(probs) == 6


def test_missing_required_and_wrong_format() -> None:
    doc = exam_dict()
    del doc["exam"]["date"]
    assert _problems(doc)["exam.date"] == "required field is missing"
    doc = exam_dict()
    doc["format"] = "venous-exam/2"
    assert "unsupported format" in _problems(doc)["format"]


def test_age_rules() -> None:
    doc = exam_dict()
    doc["patient"]["birth_date"] = "1950-01-01"
    assert "exactly one" in _problems(doc)["patient"]
    doc = exam_dict()
    del doc["patient"]["age_years"]
    doc["patient"]["birth_date"] = "2030-01-01"
    assert "after" in _problems(doc)[""]


def test_leg_and_perforator_rules() -> None:
    doc = exam_dict()
    doc["legs"] = {}
    assert "at least one" in _problems(doc)["legs"]
    probs = _problems(exam_dict(left=leg({"vein": "GSVa", "beneath_ulcer": True})))
    assert "only for perforator" in probs["legs.left.segments[0]"]
    probs = _problems(exam_dict(left=leg(recurrent=["ulcer"], signs=["varicose"])))
    assert "'ulcer-active' or 'ulcer-healed'" in probs["legs.left.clinical"]


def test_v18_d1_recurrent_healed_ulcer_is_accepted() -> None:
    # Issue 18 defect 1: `recurrent` says which signs are recurrences; a healed ulcer can be one.
    exam = parse_exam_obj(exam_dict(left=leg(recurrent=["ulcer"], signs=["ulcer-healed"])))
    assert exam.legs.left is not None and exam.legs.left.clinical.recurrent == ("ulcer",)


def test_v18_d5_birth_date_after_exam_date_is_listed_with_other_errors() -> None:
    # Issue 18 defect 5: a cross-field problem is listed whatever else is wrong.
    doc = exam_dict(left=leg({"vein": "GSV"}, {"vein": "CPV", "reflux_ms": "x"}))
    del doc["patient"]["age_years"]
    doc["patient"]["birth_date"] = "2030-01-01"
    doc["patient"]["sex"] = "m"
    probs = _problems(doc)
    assert "after" in probs[""]
    assert {"patient.sex", "legs.left.segments[0].vein", "legs.left.segments[1].reflux_ms"} <= set(
        probs
    )


def test_every_cross_field_problem_is_listed_with_field_errors() -> None:
    doc = exam_dict(
        left=leg(
            {"vein": "GSVa", "beneath_ulcer": True, "reflux_ms": -1},
            recurrent=["varicose"],
            signs=["edema"],
            symptomatic="yes",
        )
    )
    doc["patient"]["birth_date"] = "1950-01-01"  # both age and birth date
    doc["patient"]["bmi"] = 3
    probs = _problems(doc)
    assert "only for perforator" in probs["legs.left.segments[0]"]
    assert "greater than or equal to 0" in probs["legs.left.segments[0].reflux_ms"]
    assert "'varicose'" in probs["legs.left.clinical"]
    assert "valid boolean" in probs["legs.left.clinical.symptomatic"]
    assert "exactly one" in probs["patient"] and "patient.bmi" in probs


def test_a_check_that_would_read_an_invalid_value_is_skipped() -> None:
    doc = exam_dict()
    del doc["patient"]["age_years"]
    doc["patient"]["birth_date"] = "not a date"
    probs = _problems(doc)
    assert set(probs) == {"patient.birth_date"}  # no "exactly one", no "after"


def test_yaml_input_equals_json(tmp_path: Path) -> None:
    import yaml

    doc = load_example("seed-001-calcinosis.json")
    path = tmp_path / "exam.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_exam(path) == parse_exam_obj(doc)
    # unquoted YAML dates arrive as date objects and are still accepted
    text = path.read_text().replace("'2021-06-01'", "2021-06-01")
    assert parse_exam_text(text).exam.date.isoformat() == "2021-06-01"


def test_invalid_json_and_yaml_are_reported() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_exam_json('{"format": ')
    with pytest.raises(InvalidInput):
        parse_exam_text("- just\n- a list\n")


def test_round_trip_is_unchanged() -> None:
    for path in EXAMPLES.glob("*.json"):
        exam = load_exam(path)
        assert parse_exam_json(exam.to_json()) == exam
        again = json.loads(exam.to_json())
        assert parse_exam_obj(again).to_json() == exam.to_json()


def test_exam_models_are_frozen() -> None:
    exam = parse_exam_obj(exam_dict())
    with pytest.raises(ValidationError, match="frozen"):
        exam.patient.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        exam.legs.left = None  # type: ignore[misc]
    assert exam.patient.id == "T-1"


CORRUPTIONS: list[tuple[str, Any]] = [
    ("patient.sex", "m"),
    ("patient.bmi", 500),
    ("exam.purpose", "screening"),
    ("exam.position", 3),
    ("legs.left.segments.0.vein", "GSV"),
    ("legs.left.segments.0.reflux_ms", -5),
    ("legs.left.segments.0.colour", "red"),
    ("legs.left.clinical.signs", ["ulcerx"]),
    ("labs", {"calcium": {"value": 90, "unit": "mg/dL"}}),
    ("scores", {"vcss": {"left": {"pain": 9}}}),
]


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parts, last = path.split(".")
    node: Any = doc
    for part in parts:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


@given(st.lists(st.sampled_from(CORRUPTIONS), min_size=0, max_size=4, unique_by=lambda c: c[0]))
@settings(max_examples=60, deadline=None)
def test_v18_d5_birth_date_problem_is_listed_whatever_else_is_wrong(
    corruptions: list[tuple[str, Any]],
) -> None:
    doc = exam_dict(left=leg({"vein": "GSVa", "reflux_ms": 700}))
    del doc["patient"]["age_years"]
    doc["patient"]["birth_date"] = "2031-05-05"
    for path, value in corruptions:
        _put(doc, path, value)
    probs = _problems(doc)
    assert "`patient.birth_date` is after `exam.date`" in probs.get("", "")
    assert len(probs) >= 1 + bool(corruptions)
