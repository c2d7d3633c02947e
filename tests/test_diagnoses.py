"""The engine's coded diagnoses (rules/diagnoses.py): one decision, printed by every edge."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import leg, make_exam
from venalab.engine import assess
from venalab.exam import ExamDocument
from venalab.interop.fhir_export import export_bundle
from venalab.result import Result


def by_id(result: Result) -> dict[str, Any]:
    return {d.id: d for d in result.diagnoses}


def test_calf_dvt_codes_each_vein_category_and_the_distal_summary(calf_dvt: ExamDocument) -> None:
    result = assess(calf_dvt)
    ds = by_id(result)
    side = next(s for s in ("left", "right") if (lr := result.leg(s)) and lr.thrombosis.deep)
    deep = [d for d in result.diagnoses if d.kind == "deep-vein-thrombosis"]
    assert {d.icd10cm for d in deep} >= {"I82.451" if side == "right" else "I82.452"}
    summary = ds[f"{side}.dvt-level"]
    assert summary.condition is False and summary.icd10cm.startswith("I82.4Z")
    exam_leg = calf_dvt.leg(side)
    assert exam_leg is not None
    for d in deep:
        assert d.segments, d.id
        for i in d.segments:  # every supporting index is a thrombosed entry of those veins
            assert exam_leg.segments[i].thrombus is not None
            assert exam_leg.segments[i].vein in d.veins
        assert d.evidence.rule == "diagnosis.deep-vein-thrombosis"
        assert [c.system for c in d.codes] == ["snomed-ct", "icd-10-cm"]


@pytest.mark.parametrize(
    ("age", "note"),
    [("acute", False), (None, True), ("indeterminate", True)],
)
def test_unaged_thrombus_is_coded_acute_and_says_so(age: str | None, note: bool) -> None:
    thrombus: dict[str, Any] = {"occlusive": True}
    if age is not None:
        thrombus["age"] = age
    exam = make_exam(
        left=leg({"vein": "POPV", "thrombus": thrombus}),
        exam={"date": "2025-01-15", "purpose": "thrombosis"},
    )
    (d,) = [d for d in assess(exam).diagnoses if d.kind == "deep-vein-thrombosis"]
    assert d.icd10cm == "I82.432"
    assert (d.note is not None and "coded as acute" in d.note) is note


def test_chronic_thrombus_is_coded_chronic() -> None:
    exam = make_exam(left=leg({"vein": "FV", "thrombus": {"age": "chronic"}}))
    ds = by_id(assess(exam))
    assert ds["left.I82.512"].kind == "deep-vein-thrombosis"
    assert ds["left.dvt-level"].icd10cm == "I82.5Y2"


@pytest.mark.parametrize(
    ("signs", "pain", "code"),
    [
        (["varicose"], 0, "I83.92"),
        (["varicose"], 2, "I83.812"),
        (["varicose", "eczema"], 0, "I83.12"),
        (["varicose", "ulcer-active"], 0, "I83.029"),
        (["varicose", "ulcer-active", "eczema"], 1, "I83.229"),
    ],
)
def test_varicose_code_follows_ulcer_inflammation_and_pain(
    signs: list[str], pain: int, code: str
) -> None:
    exam = make_exam(
        left=leg({"vein": "GSVa", "reflux_ms": 900}, signs=signs),
        scores={"vcss": {"left": {"pain": pain}}},
    )
    ds = by_id(assess(exam))
    assert ds["left.varicose"].icd10cm == code
    assert ds["left.venous-insufficiency"].icd10cm == "I87.2"  # GSVa reflux: CEAP Pr
    assert ds["left.venous-insufficiency"].segments == (0,)


def test_no_reflux_no_insufficiency_and_no_c2_no_varicose() -> None:
    exam = make_exam(left=leg({"vein": "GSVa", "reflux_ms": 100}, signs=["edema"]))
    assert assess(exam).diagnoses == ()


def test_calcinosis_is_provisional_with_the_subtype_text(seed001: ExamDocument) -> None:
    result = assess(seed001)
    d = by_id(result)["calcinosis"]
    assert d.leg is None and d.verification == "provisional" and d.icd10cm == "L94.2"
    subtype = next(f.text for f in result.findings if f.id == "calcinosis.subtype")
    assert d.note == subtype


def test_fhir_prints_one_condition_per_diagnosis(
    seed001: ExamDocument, calf_dvt: ExamDocument
) -> None:
    for exam in (seed001, calf_dvt):
        result = assess(exam)
        bundle = export_bundle(exam, result)
        conditions = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"
        ]
        coded = [d for d in result.diagnoses if d.condition]
        assert len(conditions) == len(coded)
        for cond, d in zip(conditions, coded, strict=True):
            assert [c["code"] for c in cond["code"]["coding"]] == [c.code for c in d.codes]
            assert cond["verificationStatus"]["coding"][0]["code"] == d.verification
