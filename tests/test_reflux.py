"""Reflux verdicts and perforators: clinical.md TV07-TV10 and boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import leg, make_exam
from venalab.anatomy import VEINS
from venalab.criteria import CRITERIA, get_criteria
from venalab.engine import assess
from venalab.evidence import compare, evidence
from venalab.result import EngineOptions, Result
from venalab.rules.reflux import vein_cuts


def _assess(
    *segments: dict[str, object], signs: list[str] | None = None, criteria: str | None = None
) -> Result:
    exam = make_exam(left=leg(*segments, signs=signs or ["varicose"]))
    return assess(exam, options=EngineOptions(criteria=criteria))


def _seg(result: Result, i: int = 0):  # type: ignore[no-untyped-def]
    assert result.legs.left is not None
    return result.legs.left.segments[i]


def test_tv07_superficial_and_calf_cutoffs() -> None:
    r = _assess(
        {"vein": "SFJ", "reflux_ms": 600},
        {"vein": "GSVa", "reflux_ms": 500},
        {"vein": "DFV", "reflux_ms": 600},
        {"vein": "PTV", "reflux_ms": 600},
    )
    a, b, c, d = (_seg(r, i) for i in range(4))
    assert (a.reflux, a.abnormal) == ("present", True)
    assert (b.reflux, b.abnormal) == ("boundary", False)
    assert (
        b.evidence.threshold == 500 and b.evidence.comparison == ">" and b.evidence.measured == 500
    )
    assert "does not count as reflux" in (b.evidence.note or "")
    assert (c.reflux, d.reflux) == ("present", "present")
    assert a.evidence.source == "SVS22" and a.evidence.rule == "reflux.duration"


def test_tv08_femoropopliteal_needs_one_second() -> None:
    r = _assess(
        {"vein": "FV", "reflux_ms": 800},
        {"vein": "POPV", "reflux_ms": 1200},
        {"vein": "CFV", "reflux_ms": 1000},
    )
    fv, popv, cfv = (_seg(r, i) for i in range(3))
    assert fv.reflux == "absent" and fv.threshold_ms == 1000  # must not fire a 500 ms rule
    assert popv.reflux == "present"
    assert cfv.reflux == "boundary" and cfv.abnormal is False
    ids = {f.id.split(".")[1] for f in r.findings}
    assert "boundary" in ids


def test_tv09_perforator_criteria_disagree() -> None:
    r = _assess({"vein": "CPV", "reflux_ms": 400, "diameter_mm": 3.0}, signs=["varicose"])
    assert r.legs.left is not None
    perf = r.legs.left.perforators[0]
    assert perf.pathologic is False and perf.incompetent is False
    verdicts = {v.criteria: v.abnormal for v in perf.criteria_disagreement}
    assert verdicts == {"labropoulos-2003": True, "svs-avf-2011": False, "svs-avf-avls-2022": False}
    seg = r.legs.left.segments[0]
    assert {v.criteria: v.verdict for v in seg.criteria_disagreement}[
        "labropoulos-2003"
    ] == "present"
    assert any("disagree" in f.text for f in r.findings)
    lab = _assess(
        {"vein": "CPV", "reflux_ms": 400, "diameter_mm": 3.0}, criteria="labropoulos-2003"
    )
    assert lab.legs.left is not None and lab.legs.left.perforators[0].pathologic is True


@pytest.mark.parametrize(
    ("signs", "ms", "mm", "beneath", "pathologic", "incompetent"),
    [
        (["ulcer-active"], 700, 4.0, True, True, True),  # TV10a: SVS11 2.5
        (["ulcer-active"], 700, 3.2, True, False, True),  # TV10b: diameter < 3.5 mm
        (["varicose"], 600, 3.6, None, True, True),  # TV10c: SVS22 1.1.c, no location rule
        (["ulcer-healed"], 700, 4.0, False, False, True),  # C5, not beneath the ulcer
        (["ulcer-active"], 700, 4.0, None, False, True),  # location not recorded
    ],
)
def test_tv10_pathologic_perforator(
    signs: list[str],
    ms: float,
    mm: float,
    beneath: bool | None,
    pathologic: bool,
    incompetent: bool,
) -> None:
    seg: dict[str, object] = {"vein": "CPV", "reflux_ms": ms, "diameter_mm": mm}
    if beneath is not None:
        seg["beneath_ulcer"] = beneath
    r = _assess(seg, signs=signs)
    assert r.legs.left is not None
    perf = r.legs.left.perforators[0]
    assert perf.pathologic is pathologic
    assert perf.incompetent is incompetent
    assert {c.criterion for c in perf.checks} >= {"duration", "diameter"}
    if any(s.startswith("ulcer") for s in signs):
        assert "location" in {c.criterion for c in perf.checks}


def test_perforator_exact_boundaries_are_inclusive() -> None:
    r = _assess({"vein": "CPV", "reflux_ms": 500, "diameter_mm": 3.5})
    assert r.legs.left is not None
    perf = r.legs.left.perforators[0]
    assert perf.pathologic is True  # >= 500 ms and >= 3.5 mm as written in SVS11/SVS22
    # ... but perforator reflux is "> 500 ms" (SVS22 1.1.a): exactly 500 ms is not reflux,
    # in the segment verdict and in `incompetent` alike.
    seg = r.legs.left.segments[0]
    assert seg.reflux == "boundary" and seg.abnormal is False
    assert perf.incompetent is False


def test_v18_d2_perforator_at_500_ms_and_3_mm_is_not_counted_by_ceap() -> None:
    # Issue 18 defect 2: boundary and not pathologic in its own result -> no Pr from it.
    r = _assess({"vein": "CPV", "reflux_ms": 500, "diameter_mm": 3.0})
    assert r.legs.left is not None
    perf, seg = r.legs.left.perforators[0], r.legs.left.segments[0]
    assert (seg.reflux, seg.abnormal, perf.incompetent, perf.pathologic) == (
        "boundary",
        False,
        False,
        False,
    )
    ceap = r.legs.left.ceap
    assert "r" not in ceap.p_types and "p" not in ceap.a_groups
    assert ceap.a == "An" and ceap.p == "Pn"
    assert "not counted as reflux" in " ".join(ceap.ambiguities)
    assert "exactly at the 500 ms cut-off" in (perf.evidence.note or "")


def test_v18_d2b_pathologic_perforator_at_500_ms_is_counted_by_ceap() -> None:
    r = _assess({"vein": "CPV", "reflux_ms": 500, "diameter_mm": 4.0})
    assert r.legs.left is not None
    assert r.legs.left.perforators[0].pathologic is True
    assert r.legs.left.ceap.a == "Ap" and r.legs.left.ceap.p == "Pr"


def test_just_over_and_under_the_boundary() -> None:
    r = _assess(
        {"vein": "GSVa", "reflux_ms": 500.1},
        {"vein": "GSVa", "reflux_ms": 499.9},
        {"vein": "POPV", "reflux_ms": 1000.5},
    )
    assert [_seg(r, i).reflux for i in range(3)] == ["present", "absent", "present"]


def test_not_measured_is_not_zero() -> None:
    r = _assess({"vein": "GSVa", "diameter_mm": 5.0}, {"vein": "GSVb", "reflux_ms": 0})
    assert _seg(r, 0).reflux == "not-assessed" and _seg(r, 0).abnormal is None
    assert _seg(r, 1).reflux == "absent"


def test_iliac_vein_has_no_criterion_and_says_so() -> None:
    r = _assess({"vein": "CIV", "reflux_ms": 1500})
    s = _seg(r, 0)
    assert s.reflux == "not-assessed" and s.evidence.rule == "reflux.no-criterion"
    assert s.measured_ms == 1500


def test_criteria_sets_are_selectable() -> None:
    for cid in ("svs-avf-avls-2022", "svs-avf-2011", "labropoulos-2003"):
        r = _assess({"vein": "GSVa", "reflux_ms": 900}, criteria=cid)
        assert r.criteria.id == cid
        assert _seg(r).evidence.criteria == get_criteria(cid).label


def test_every_evidence_names_rule_and_registered_source() -> None:
    from venalab.citations import CITATIONS

    r = _assess(
        {"vein": "GSVa", "reflux_ms": 900},
        {"vein": "CPV", "reflux_ms": 600, "diameter_mm": 4},
        {"vein": "PTV", "thrombus": {"age": "acute"}},
    )
    for f in r.findings:
        assert f.evidence.rule and f.evidence.source in CITATIONS


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(VEINS)),
    st.sampled_from(sorted(CRITERIA)),
    st.one_of(
        st.none(),
        st.sampled_from([0.0, -0.0, 350.0, 499.0, 500.0, 501.0, 1000.0, 1001.0]),
        st.floats(min_value=0, max_value=20000),
    ),
)
def test_property_vein_cut_is_the_rule_as_written(
    code: str, criteria_id: str, measured: float | None
) -> None:
    """The precomputed cut (both tiers) takes the criteria set's rule as the data file writes
    it: `measured <comparison> threshold`, a boundary exactly at the threshold."""
    cs = get_criteria(criteria_id)
    vein = VEINS[code]
    rule = cs.duration_rule("perforator" if vein.is_perforator else vein.group)
    verdict, abnormal, rule_id = vein_cuts(cs)[code].decide(measured)
    if rule is None or measured is None:
        assert (verdict, abnormal) == ("not-assessed", None)
        assert rule_id == ("reflux.no-criterion" if rule is None else "reflux.not-measured")
        return
    assert abnormal == compare(measured, rule.comparison, rule.threshold_ms)
    expected = "boundary" if measured == rule.threshold_ms else "present" if abnormal else "absent"
    assert verdict == expected
    assert rule_id == ("perforator.duration" if vein.is_perforator else "reflux.duration")


def test_shared_evidence_keeps_what_the_document_writes_apart() -> None:
    a = evidence("reflux.duration", ["SVS22"], threshold=500, measured=0.0, unit="ms")
    b = evidence("reflux.duration", ["SVS22"], threshold=500, measured=0.0, unit="ms")
    c = evidence("reflux.duration", ["SVS22"], threshold=500, measured=-0.0, unit="ms")
    assert a is b  # one shared immutable object
    assert '"measured":-0.0' in c.model_dump_json() and '"measured":0.0' in a.model_dump_json()
    r = _assess({"vein": "GSVa", "reflux_ms": -0.0}, {"vein": "GSVb", "reflux_ms": 0})
    assert [s.evidence.measured for s in r.legs.left.segments] == [-0.0, 0.0]  # type: ignore[union-attr]
    assert str(r.legs.left.segments[0].evidence.measured) == "-0.0"  # type: ignore[union-attr]
