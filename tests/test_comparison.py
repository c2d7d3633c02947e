"""Serial comparison (rules/comparison.py): docs/vectors-issue18.md V18-C*, STE21 statement 2."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import exam_dict, leg, make_exam
from venalab.criteria import get_criteria
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.rules.comparison import COMPARISON, compare_exams, prior_problems

ACUTE: dict[str, Any] = {"age": "acute", "occlusive": True}
# TV31 patient: no risk factor for extension, so statement 1 alone would give serial imaging.
TV31_HISTORY: dict[str, Any] = {
    "d_dimer_positive": False,
    "inpatient": False,
    "reversible_provoking_factor": True,
    "active_cancer": False,
    "prior_vte": False,
    "severe_symptoms": False,
    "thrombus_near_proximal_veins": False,
}


def _exam(
    date: str, *segments: dict[str, Any], history: dict[str, Any] | None = None
) -> ExamDocument:
    top: dict[str, Any] = {"exam": {"date": date, "purpose": "follow-up", "position": "supine"}}
    top["history"] = history if history is not None else TV31_HISTORY
    return make_exam(right=leg(*segments), **top)


def _prv(length: float = 3.0) -> dict[str, Any]:
    return {"vein": "PRV", "compressibility": "none", "thrombus": {**ACUTE, "length_cm": length}}


POPV_OPEN = {"vein": "POPV", "compressibility": "full"}
FIRST = _exam("2025-03-03", POPV_OPEN, _prv())


def _rec_ids(exam: ExamDocument, prior: ExamDocument) -> list[str]:
    r = assess(exam, prior=prior)
    assert r.legs.right is not None
    return [rec.id.removesuffix(".right") for rec in r.legs.right.pathway.recommendations]


def test_v18_c1_tv32a_no_extension_from_the_comparison() -> None:
    now = _exam("2025-03-10", POPV_OPEN, _prv())
    r = assess(now, prior=FIRST)
    assert r.comparison is not None
    lc = r.comparison.legs["right"]
    assert (lc.course, lc.serial_result) == ("stable", "no-extension")
    assert r.legs.right is not None and r.legs.right.pathway.decision == "no-anticoagulation"
    rec = r.legs.right.pathway.recommendations[0]
    assert rec.id == "iddvt.followup.no-extension.right"
    assert rec.strength == "strong recommendation, moderate-certainty evidence"
    assert "comparison with the exam of 2025-03-03" in (rec.evidence.note or "")
    assert r.critical == ()


def test_v18_c2_tv32b_distal_extension_from_the_comparison() -> None:
    now = _exam(
        "2025-03-10", POPV_OPEN, _prv(), {"vein": "PTV", "thrombus": {**ACUTE, "length_cm": 2}}
    )
    r = assess(now, prior=FIRST)
    assert r.comparison is not None
    lc = r.comparison.legs["right"]
    assert (lc.course, lc.serial_result) == ("extended-distal", "distal-extension")
    assert _rec_ids(now, FIRST)[:2] == ["iddvt.followup.distal-extension", "iddvt.duration"]
    assert r.critical == ()
    # a longer thrombus in the same vein is extension too (length limit from the data file)
    longer = _exam("2025-03-10", POPV_OPEN, _prv(3.0 + COMPARISON.thrombus_length.change_cm))
    lc2 = compare_exams(FIRST, longer, get_criteria()).legs["right"]
    assert lc2.serial_result == "distal-extension"
    assert any(c.kind == "thrombus" and c.status == "extended" for c in lc2.changes)


def test_v18_c3_tv32c_proximal_extension_is_critical() -> None:
    now = _exam(
        "2025-03-10", {"vein": "POPV", "compressibility": "none", "thrombus": ACUTE}, _prv()
    )
    r = assess(now, prior=FIRST)
    assert r.comparison is not None
    assert r.comparison.legs["right"].course == "extended-proximal"
    assert r.comparison.legs["right"].serial_result == "proximal-extension"
    assert _rec_ids(now, FIRST)[0] == "iddvt.followup.proximal-extension"
    assert {c.criterion for c in r.critical} == {"proximal-dvt", "proximal-extension"}
    course = next(f for f in r.findings if f.id == "comparison.course.right")
    assert "popliteal vein or above" in course.text and course.importance == 1


def test_v18_c4_recorded_result_disagreeing_with_the_comparison_is_flagged() -> None:
    history = {**TV31_HISTORY, "serial_imaging_result": "no-extension"}
    now = _exam(
        "2025-03-10", POPV_OPEN, _prv(), {"vein": "PTV", "thrombus": ACUTE}, history=history
    )
    ids = _rec_ids(now, FIRST)
    assert "iddvt.followup.disagreement" in ids
    assert ids[0] == "iddvt.followup.no-extension"  # the recorded result is used
    r = assess(now, prior=FIRST)
    assert r.legs.right is not None and r.legs.right.pathway.decision == "no-anticoagulation"
    # agreeing: no flag
    agree = _exam("2025-03-10", POPV_OPEN, _prv(), history=history)
    assert "iddvt.followup.disagreement" not in _rec_ids(agree, FIRST)


def test_v18_c5_beyond_the_serial_interval_changes_are_reported_only() -> None:
    now = _exam("2025-04-12", POPV_OPEN, _prv(), {"vein": "PTV", "thrombus": ACUTE})  # 40 days
    r = assess(now, prior=FIRST)
    assert r.comparison is not None
    lc = r.comparison.legs["right"]
    assert lc.course == "extended-distal" and lc.serial_result is None
    assert "beyond the 21-day" in (lc.serial_note or "")
    ids = _rec_ids(now, FIRST)
    assert not any(i.startswith("iddvt.followup") for i in ids)


def test_v18_c6_reflux_and_diameter_changes_with_their_limits() -> None:
    before = make_exam(
        left=leg(
            {"vein": "GSVa", "reflux_ms": 400, "diameter_mm": 6.0},
            {"vein": "SSV", "reflux_ms": 900, "diameter_mm": 6.0},
        ),
        exam={"date": "2024-01-10"},
    )
    after = make_exam(
        left=leg(
            {"vein": "GSVa", "reflux_ms": 900, "diameter_mm": 7.0},
            {"vein": "SSV", "reflux_ms": 300, "diameter_mm": 6.5},
        ),
        exam={"date": "2025-01-10"},
    )
    lc = compare_exams(before, after, get_criteria()).legs["left"]
    got = {(c.vein, c.kind): c for c in lc.changes}
    assert got[("GSVa", "reflux")].status == "new"
    assert got[("SSV", "reflux")].status == "resolved"
    gsv = got[("GSVa", "diameter")]
    assert gsv.status == "larger"  # exactly the 1.0 mm limit (">=")
    assert (gsv.evidence.threshold, gsv.evidence.measured, gsv.evidence.comparison) == (
        1.0,
        1.0,
        ">=",
    )
    assert gsv.evidence.level == "D"  # venalab convention, labelled
    assert got[("SSV", "diameter")].status == "stable"
    assert got[("GSVa", "reflux")].evidence.threshold == 500


def test_v18_c7_recanalisation() -> None:
    before = make_exam(
        left=leg(
            {
                "vein": "FV",
                "compressibility": "none",
                "thrombus": {"age": "acute", "occlusive": True},
            }
        ),
        exam={"date": "2024-01-10"},
    )
    after = make_exam(
        left=leg(
            {
                "vein": "FV",
                "compressibility": "partial",
                "thrombus": {"age": "chronic", "occlusive": False},
            }
        ),
        exam={"date": "2024-04-10"},
    )
    lc = compare_exams(before, after, get_criteria()).legs["left"]
    (recan,) = [c for c in lc.changes if c.kind == "recanalisation"]
    assert recan.status == "partial" and "occlusive -> non-occlusive" in recan.text


def test_treated_vein_recanalisation_is_compared() -> None:
    t = {"method": "thermal-ablation", "date": "2024-01-02"}
    before = make_exam(
        left=leg({"vein": "GSVa", "treatment": {**t, "status": "occluded"}}),
        exam={"date": "2024-01-10"},
    )
    after = make_exam(
        left=leg(
            {
                "vein": "GSVa",
                "treatment": {**t, "status": "partially-recanalised"},
                "reflux_ms": 800,
            }
        ),
        exam={"date": "2024-07-10"},
    )
    lc = compare_exams(before, after, get_criteria()).legs["left"]
    assert [(c.kind, c.status) for c in lc.changes] == [("treatment", "recanalised")]


def test_v18_c8_prior_must_be_the_same_patient_and_earlier() -> None:
    same_day = _exam("2025-03-03", POPV_OPEN)
    other = parse_exam_obj(
        {
            **exam_dict(right=leg(), exam={"date": "2025-03-03"}),
            "patient": {"id": "X-9", "age_years": 50},
        }
    )
    with pytest.raises(InvalidInput) as info:
        assess(same_day, prior=other)
    paths = {p.path: p.message for p in info.value.problems}
    assert set(paths) == {"prior.patient.id", "prior.exam.date"}
    assert "same patient" in paths["prior.patient.id"]
    assert "not earlier" in paths["prior.exam.date"]
    assert info.value.what == "prior exam"
    later = _exam("2025-03-17", POPV_OPEN)
    assert [p.path for p in prior_problems(FIRST, later)] == ["prior.exam.date"]
    assert prior_problems(later, FIRST) == []


def test_segments_examined_once_are_not_called_new_or_resolved() -> None:
    before = make_exam(
        left=leg({"vein": "PTV", "compressibility": "full"}), exam={"date": "2024-01-10"}
    )
    after = make_exam(
        left=leg({"vein": "PTV", "compressibility": "full"}, {"vein": "GAV", "thrombus": ACUTE}),
        exam={"date": "2024-01-17"},
    )
    lc = compare_exams(before, after, get_criteria()).legs["left"]
    assert [(c.vein, c.status) for c in lc.changes] == [("GAV", "not-compared")]
    assert lc.course == "new" and lc.not_compared == ("GAV",)


# --- properties (V18-C9, V18-C10) ------------------------------------------------------------

VEINS = ["CFV", "FV", "POPV", "PTV", "PRV", "GAV", "GSVa", "GSVb", "SSV", "AASV", "CPV"]


@st.composite
def segment(draw: st.DrawFn, vein: str) -> dict[str, Any]:
    seg: dict[str, Any] = {"vein": vein}
    if draw(st.booleans()):
        seg["reflux_ms"] = draw(st.sampled_from([0, 300, 500, 501, 900, 1000, 1500]))
    if draw(st.booleans()):
        seg["diameter_mm"] = draw(st.sampled_from([2.0, 3.5, 4.0, 4.5, 6.0, 9.0]))
    if draw(st.booleans()):
        seg["compressibility"] = draw(st.sampled_from(["full", "partial", "none"]))
    if draw(st.integers(0, 3)) == 0:
        t: dict[str, Any] = {"age": draw(st.sampled_from(["acute", "subacute", "chronic"]))}
        if draw(st.booleans()):
            t["length_cm"] = draw(st.sampled_from([1.0, 2.0, 3.0, 4.5, 8.0]))
        if draw(st.booleans()):
            t["occlusive"] = draw(st.booleans())
        seg["thrombus"] = t
    return seg


@st.composite
def exam_pair(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    veins = draw(st.lists(st.sampled_from(VEINS), min_size=1, max_size=6, unique=True))
    a = [draw(segment(v)) for v in veins]
    b = [draw(segment(v)) for v in veins]
    first = exam_dict(left=leg(*a), exam={"date": "2025-01-01"})
    second = exam_dict(left=leg(*b), exam={"date": "2025-01-08"})
    return first, second


SWAP = {
    "new": "resolved", "resolved": "new", "extended": "regressed", "regressed": "extended",
    "larger": "smaller", "smaller": "larger", "stable": "stable", "persistent": "persistent",
}  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exam_pair())
def test_v18_c9_an_exam_compared_with_itself_is_unchanged(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    doc, _ = pair
    earlier = copy.deepcopy(doc)
    earlier["exam"]["date"] = "2024-12-01"
    result = compare_exams(parse_exam_obj(earlier), parse_exam_obj(doc), get_criteria())
    assert result.unchanged
    lc = result.legs["left"]
    assert lc.course in ("none", "stable")
    assert all(c.status in ("stable", "persistent") for c in lc.changes)
    assert lc.serial_result in (None, "no-extension")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exam_pair())
def test_v18_c10_swapping_the_exams_flips_the_changes(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    a_doc, b_doc = pair
    a, b = parse_exam_obj(a_doc), parse_exam_obj(b_doc)
    b_early = parse_exam_obj({**b_doc, "exam": {"date": "2024-12-25"}})
    forward = compare_exams(a, b, get_criteria()).legs["left"].changes
    backward = compare_exams(b_early, a, get_criteria()).legs["left"].changes
    fwd = {
        (c.vein, c.kind): c.status for c in forward if c.kind in ("thrombus", "reflux", "diameter")
    }
    bwd = {
        (c.vein, c.kind): c.status for c in backward if c.kind in ("thrombus", "reflux", "diameter")
    }
    assert set(fwd) == set(bwd)
    for key, status in fwd.items():
        assert bwd[key] == SWAP[status], (key, status, bwd[key])
