"""Reflux patterns (SVS22 1.1.b, SVS23 1.3.2): clinical.md TV11 and conventions."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import leg, make_exam
from test_properties import exams as property_exams
from venalab.criteria import CRITERIA
from venalab.decisions import decide_reflux
from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.rules.patterns import PatternResult, decide_patterns


def _patterns(*segments: dict[str, object]) -> dict[str, str]:
    r = assess(make_exam(left=leg(*segments, signs=["varicose"])))
    assert r.legs.left is not None
    return r.legs.left.reflux_patterns


def test_tv11_gsv_axial_groin_to_upper_calf() -> None:
    p = _patterns(
        {"vein": "SFJ", "reflux_ms": 900},
        {"vein": "GSVa", "reflux_ms": 800},
        {"vein": "GSVb", "site": "proximal", "reflux_ms": 700},
    )
    assert p["GSV"] == "axial"


def test_tv11_ssv_axial_knee_to_ankle() -> None:
    p = _patterns(
        {"vein": "SPJ", "reflux_ms": 900},
        {"vein": "SSV", "site": "proximal", "reflux_ms": 800},
        {"vein": "SSV", "site": "distal", "reflux_ms": 650},
    )
    assert p["SSV"] == "axial"


def test_tv11_accessory_axial_over_5cm() -> None:
    p = _patterns(
        {"vein": "AASV", "reflux_ms": 700, "position_cm": 2},
        {"vein": "AASV", "reflux_ms": 800, "position_cm": 8},
    )
    assert p["AASV"] == "axial"
    short = _patterns(
        {"vein": "AASV", "reflux_ms": 700, "position_cm": 2},
        {"vein": "AASV", "reflux_ms": 800, "position_cm": 6},
    )
    assert short["AASV"] == "segmental"
    exactly = _patterns(
        {"vein": "AASV", "reflux_ms": 700, "position_cm": 2},
        {"vein": "AASV", "reflux_ms": 800, "position_cm": 7},
    )
    assert exactly["AASV"] == "axial"  # ">= 5 cm apart" (SVS23 1.3.2)


def test_tv11_junctional_in_another_limb() -> None:
    p = _patterns(
        {"vein": "SFJ", "reflux_ms": 900},
        {"vein": "GSVa", "reflux_ms": 200},
        {"vein": "GSVb", "reflux_ms": 100},
    )
    assert p == {"GSV": "junctional"}


def test_segmental_and_interrupted() -> None:
    assert _patterns({"vein": "GSVb", "reflux_ms": 900})["GSV"] == "segmental"
    p = _patterns(
        {"vein": "SFJ", "reflux_ms": 900},
        {"vein": "GSVa", "site": "proximal", "reflux_ms": 100},
        {"vein": "GSVa", "site": "distal", "reflux_ms": 800},
        {"vein": "GSVb", "site": "proximal", "reflux_ms": 800},
    )
    assert p["GSV"] == "segmental"


def test_no_reflux_means_no_pattern_entry() -> None:
    assert _patterns({"vein": "GSVa", "reflux_ms": 300}, {"vein": "FV", "reflux_ms": 900}) == {}


def test_deep_axial_is_a_documented_derivation() -> None:
    r = assess(
        make_exam(left=leg({"vein": "FV", "reflux_ms": 1500}, {"vein": "POPV", "reflux_ms": 1400}))
    )
    assert r.legs.left is not None
    assert r.legs.left.reflux_patterns["deep"] == "axial"
    detail = r.legs.left.reflux_pattern_details[0]
    assert detail.evidence.level == "D" and "VENALAB" in detail.evidence.sources


def test_seed001_gsv_axial(seed001) -> None:  # type: ignore[no-untyped-def]
    r = assess(seed001)
    assert r.legs.left is not None and r.legs.left.reflux_patterns == {"GSV": "axial"}


def _details(*segments: dict[str, object]) -> dict[str, PatternResult]:
    r = assess(make_exam(left=leg(*segments, signs=["varicose"])))
    assert r.legs.left is not None
    return {p.trunk: p for p in r.legs.left.reflux_pattern_details}


def test_v18_d4_tv11_accessory_pattern_evidence_has_threshold_spacing_and_comparison() -> None:
    # Issue 18 defect 4: the 5 cm spacing decided it, so the evidence carries the numbers.
    for a, b, pattern in ((2, 8, "axial"), (2, 7, "axial"), (2, 6, "segmental")):
        d = _details(
            {"vein": "AASV", "reflux_ms": 700, "position_cm": a},
            {"vein": "AASV", "reflux_ms": 800, "position_cm": b},
        )["AASV"]
        ev = d.evidence
        assert d.pattern == pattern
        assert (ev.threshold, ev.measured, ev.comparison, ev.unit) == (5.0, b - a, ">=", "cm")


def test_accessory_single_point_and_unlocated_points() -> None:
    single = _details({"vein": "PAGSV", "reflux_ms": 700, "position_cm": 3})["PAGSV"]
    assert single.pattern == "segmental" and single.qualifier is None
    assert single.evidence.threshold == 5.0 and single.evidence.measured is None
    two = _details({"vein": "AASV", "reflux_ms": 700}, {"vein": "AASV", "reflux_ms": 800})["AASV"]
    assert two.label == "segmental, spacing not measured"


def test_v18_a1_sfj_reflux_with_trunk_never_measured_is_qualified() -> None:
    # Issue 18: "junctional" alone would claim the trunk is competent.
    d = _details({"vein": "SFJ", "reflux_ms": 900})["GSV"]
    assert d.pattern == "junctional"
    assert d.label == "junctional, trunk not measured"
    assert "GSVa proximal" in d.not_measured
    r = assess(make_exam(left=leg({"vein": "SFJ", "reflux_ms": 900}, signs=["varicose"])))
    assert r.legs.left is not None and r.legs.left.reflux_patterns == {"GSV": "junctional"}
    text = next(f.text for f in r.findings if f.id == "reflux.pattern.left.GSV")
    assert "junctional reflux, trunk not measured" in text
    ssv = _details({"vein": "SPJ", "reflux_ms": 900})["SSV"]
    assert ssv.label == "junctional, trunk not measured"


def test_junctional_with_competent_trunk_is_unqualified() -> None:
    d = _details({"vein": "SFJ", "reflux_ms": 900}, {"vein": "GSVa", "reflux_ms": 200})["GSV"]
    assert d.label == "junctional" and d.qualifier is None
    far = _details(
        {"vein": "SFJ", "reflux_ms": 900}, {"vein": "GSVa", "site": "distal", "reflux_ms": 200}
    )["GSV"]
    assert far.label == "junctional, trunk next to the junction not measured"


def test_segmental_with_an_unmeasured_end_says_so() -> None:
    d = _details({"vein": "SFJ", "reflux_ms": 900}, {"vein": "GSVa", "reflux_ms": 800})["GSV"]
    assert d.label == "segmental, extent not measured"
    assert d.not_measured == ("GSVb proximal",)
    closed = _details(
        {"vein": "SFJ", "reflux_ms": 900},
        {"vein": "GSVa", "reflux_ms": 800},
        {"vein": "GSVb", "site": "proximal", "reflux_ms": 100},
    )["GSV"]
    assert closed.label == "segmental"


@settings(max_examples=60, deadline=None)
@given(property_exams(), st.sampled_from(sorted(CRITERIA)))
def test_grouping_while_judging_gives_the_same_patterns(doc: dict[str, Any], cid: str) -> None:
    """The decisions tier groups entries by trunk while it judges them (issue 21): the same
    pattern decisions as `decide_patterns` over the entries and their positions."""
    cs = CRITERIA[cid]
    for _, the_leg in parse_exam_obj(doc).legs.items():
        reflux = decide_reflux(the_leg, cs)
        positions = [s.position_cm for s in the_leg.segments]
        expected = decide_patterns(zip(reflux.segments, positions, strict=True), cs)
        assert [(p.trunk, p.decision) for p in reflux.patterns] == [
            (trunk, d) for trunk, d, _ in expected
        ]
