"""Exam document validation: strict types, paths in every message, YAML, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
    assert "ulcer-active" in probs["legs.left.clinical"]


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
