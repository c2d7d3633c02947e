"""Exams after treatment: treated segments and EHIT (docs/vectors-issue18.md V18-E*, KAB21)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import exam_dict, leg, make_exam
from venalab.citations import CITATIONS
from venalab.datafiles import data_path, read_toml
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import parse_exam_obj
from venalab.result import LegResult, Result
from venalab.rules.ehit import EHIT, parse_ehit_data

ABLATED = {
    "vein": "GSVa",
    "compressibility": "none",
    "treatment": {"method": "thermal-ablation", "date": "2025-01-10", "status": "occluded"},
}
SFJ_CLOT = {"vein": "SFJ", "compressibility": "none", "thrombus": {"age": "acute"}}
EXAM = {"date": "2025-01-15", "purpose": "follow-up", "position": "supine"}


def _cfv(**thrombus: Any) -> dict[str, Any]:
    return {"vein": "CFV", "compressibility": "partial", "thrombus": {"age": "acute", **thrombus}}


def _run(*segments: dict[str, Any], treated: dict[str, Any] = ABLATED) -> tuple[Result, LegResult]:
    r = assess(make_exam(left=leg(treated, *segments), exam=EXAM))
    assert r.legs.left is not None
    return r, r.legs.left


def test_v18_e1_thrombus_at_the_junction_is_ehit_i() -> None:
    r, lr = _run(SFJ_CLOT, {"vein": "CFV", "compressibility": "full"})
    (e,) = lr.ehit
    assert (e.junction, e.ehit_class, e.decision) == ("SFJ", "I", "none")
    assert lr.thrombosis.classification == "none" and lr.thrombosis.superficial == ()
    assert [t.vein for t in lr.thrombosis.post_treatment] == ["SFJ"]
    assert lr.pathway.pathway == "ehit" and lr.pathway.decision == "none"
    assert "no change in management" in lr.pathway.recommendations[0].text
    assert r.critical == ()


def test_v18_e2_under_half_the_lumen_is_ehit_ii() -> None:
    r, lr = _run(SFJ_CLOT, _cfv(occlusive=False, lumen_percent=30))
    (e,) = lr.ehit
    assert (e.ehit_class, e.decision, e.lumen_percent) == ("II", "individualised", 30)
    assert (e.evidence.threshold, e.evidence.measured, e.evidence.comparison) == (50, 30, "<")
    assert lr.pathway.decision == "individualised"
    assert lr.pathway.recommendations[0].evidence.unverified  # options not from a box seen
    assert lr.thrombosis.classification == "none"  # EHIT II is not counted as DVT
    assert r.critical == ()


def test_v18_e3_over_half_the_lumen_is_ehit_iii_and_critical() -> None:
    r, lr = _run(SFJ_CLOT, _cfv(occlusive=False, lumen_percent=70))
    (e,) = lr.ehit
    assert (e.ehit_class, e.decision) == ("III", "therapeutic-anticoagulation")
    rec = lr.pathway.recommendations[0]
    assert "weekly" in rec.text and rec.strength == "KAB21 grade 1-B"
    assert rec.evidence.source == "KAB21" and not rec.evidence.unverified
    assert [c.criterion for c in r.critical] == ["ehit-deep"]
    finding = next(f for f in r.findings if f.id == "ehit.left.SFJ")
    assert finding.critical and finding.importance == 1


def test_v18_e4_occlusive_is_ehit_iv_treated_as_dvt() -> None:
    r, lr = _run(SFJ_CLOT, _cfv(occlusive=True))
    (e,) = lr.ehit
    assert e.ehit_class == "IV"
    assert lr.thrombosis.classification == "proximal"  # the deep thrombus stays DVT
    assert lr.pathway.pathway == "proximal-dvt" and lr.pathway.decision == "anticoagulation"
    ids = [rec.id for rec in lr.pathway.recommendations]
    assert "proximal.anticoagulation.left" in ids and "ehit.IV.left" in ids
    assert {c.criterion for c in r.critical} == {"proximal-dvt", "ehit-deep"}


def test_v18_e5_exactly_half_is_a_boundary_set_by_configuration() -> None:
    _, lr = _run(SFJ_CLOT, _cfv(occlusive=False, lumen_percent=50))
    (e,) = lr.ehit
    assert (e.ehit_class, e.boundary) == (EHIT.params.at_split, True)
    assert e.evidence.level == "D" and "<50%" in (e.evidence.note or "")
    assert lr.pathway.boundary


def test_v18_e6_unknown_lumen_share_is_undetermined_and_marked() -> None:
    r, lr = _run(SFJ_CLOT, _cfv(occlusive=False))
    (e,) = lr.ehit
    assert e.ehit_class is None and e.decision == "undetermined"
    assert e.missing == ("legs.left.segments[2].thrombus.lumen_percent",)
    assert lr.pathway.decision == "undetermined" and lr.pathway.missing == e.missing
    assert [c.criterion for c in r.critical] == ["ehit-deep"]
    assert "could be EHIT III" in r.critical[0].text


def test_v18_e7_small_saphenous_ablation_grades_at_the_spj() -> None:
    treated = {"vein": "SSV", "treatment": {"method": "thermal-ablation", "status": "occluded"}}
    popv = {"vein": "POPV", "thrombus": {"age": "acute", "occlusive": False, "lumen_percent": 40}}
    _, lr = _run(popv, treated=treated)
    (e,) = lr.ehit
    assert (e.junction, e.deep_vein, e.ehit_class) == ("SPJ", "POPV", "II")
    # no date: assumed recent, and said so
    assert any(rec.id == "ehit.date-missing.left" for rec in lr.pathway.recommendations)


def test_v18_e8_beyond_the_window_the_thrombus_is_dvt() -> None:
    old = {**ABLATED, "treatment": {**ABLATED["treatment"], "date": "2024-10-17"}}  # 90 days
    r, lr = _run(_cfv(occlusive=False, lumen_percent=30), treated=old)
    assert lr.ehit == ()
    assert lr.thrombosis.classification == "proximal"
    assert [c.criterion for c in r.critical] == ["proximal-dvt"]
    assert lr.treated[0].days_since == 90


def test_v18_e9_non_thermal_ablation_by_analogy() -> None:
    cyano = {**ABLATED, "treatment": {**ABLATED["treatment"], "method": "non-thermal-ablation"}}
    _, lr = _run(_cfv(occlusive=False, lumen_percent=70), treated=cyano)
    (e,) = lr.ehit
    assert e.ehit_class == "III" and not e.thermal
    assert e.evidence.level == "D" and "VENALAB" in e.evidence.sources
    assert any(rec.id == "ehit.non-thermal.left" for rec in lr.pathway.recommendations)


def test_v18_e10_thrombus_in_the_treated_vein_is_its_occlusion_not_svt() -> None:
    own = {**ABLATED, "thrombus": {"age": "acute", "length_cm": 20}}
    r, lr = _run(treated=own)
    assert lr.thrombosis.superficial == () and [t.vein for t in lr.thrombosis.post_treatment] == [
        "GSVa"
    ]
    assert lr.pathway.pathway == "none" and r.critical == ()


def test_stripping_and_sclerotherapy_are_recorded_and_reported() -> None:
    stripped = {"vein": "GSVa", "treatment": {"method": "stripping", "status": "absent"}}
    foam = {
        "vein": "NSV",
        "treatment": {"method": "sclerotherapy", "status": "partially-recanalised"},
    }
    r, lr = _run(foam, treated=stripped)
    assert [(t.vein, t.method, t.status) for t in lr.treated] == [
        ("GSVa", "stripping", "absent"),
        ("NSV", "sclerotherapy", "partially-recanalised"),
    ]
    assert lr.ehit == ()  # no ablation: no EHIT classification
    texts = [f.text for f in r.findings if f.id.startswith("treatment.left")]
    assert any("stripping" in t and "removed" in t for t in texts)
    assert any("sclerotherapy" in t and "partially recanalised" in t for t in texts)


def test_treatment_fields_are_validated_with_paths() -> None:
    doc = exam_dict(
        left=leg(
            {"vein": "GSVa", "treatment": {"method": "laser", "status": "occluded"}},
            {"vein": "SSV", "treatment": {"method": "thermal-ablation", "status": "absent"}},
            {"vein": "NSV", "treatment": {"method": "sclerotherapy", "date": "2030-01-01"}},
            {"vein": "CFV", "thrombus": {"occlusive": True, "lumen_percent": 40}},
        )
    )
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(doc)
    probs = {p.path: p.message for p in info.value.problems}
    assert "'thermal-ablation'" in probs["legs.left.segments[0].treatment.method"]
    assert "only for `method` 'stripping'" in probs["legs.left.segments[1].treatment"]
    assert "below 100" in probs["legs.left.segments[3].thrombus"]
    assert "legs.left.segments[2].treatment.date" in probs[""]  # listed with the others


def test_ehit_data_file_is_cited_and_validated() -> None:
    raw = read_toml(data_path("ehit.toml"))
    data = parse_ehit_data(raw)
    for spec in (*data.classes.values(), *data.management.values()):
        assert all(s in CITATIONS for s in spec.sources)
    broken = {**raw, "params": {**raw["params"], "lumen_split_percent": 150}}
    del broken["management"]["III"]
    with pytest.raises(InvalidInput) as info:
        parse_ehit_data(broken)
    paths = {p.path for p in info.value.problems}
    assert "params.lumen_split_percent" in paths


def test_ehit_i_says_when_the_deep_vein_was_not_examined() -> None:
    _, lr = _run(SFJ_CLOT)
    (e,) = lr.ehit
    assert e.ehit_class == "I"
    assert "CFV was not examined: extension into it is not excluded" in (e.evidence.note or "")
    _, examined = _run(SFJ_CLOT, {"vein": "CFV", "compressibility": "full"})
    assert "not examined" not in (examined.ehit[0].evidence.note or "")


def test_cohort_input_with_treated_segments_is_reported_not_half_assessed() -> None:
    # The cohort tables carry no treatments: such a JSONL row becomes an error row.
    from venalab.cohort.convert import parse_lines

    treated = json.dumps(exam_dict(left=leg(ABLATED), exam=EXAM)).encode()
    plain = json.dumps(exam_dict(left=leg({"vein": "GSVa", "reflux_ms": 700}))).encode()
    exams, errors = parse_lines([(0, treated), (1, plain)])
    assert [row for row, _ in exams] == [1]
    assert [e["path"] for e in errors] == ["legs.left.segments[0].treatment"]
