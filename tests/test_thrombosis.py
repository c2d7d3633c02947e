"""Thrombosis classification (clinical.md 4.1): TV17 and the calf-DVT example."""

from __future__ import annotations

import pytest

from helpers import leg, make_exam
from venalab.engine import assess
from venalab.result import EngineOptions

ACUTE = {"age": "acute", "occlusive": True, "length_cm": 3.0}


def _classify(*segments: dict[str, object], tpt: str = "distal") -> str:
    r = assess(make_exam(left=leg(*segments)), options=EngineOptions(tibioperoneal_trunk=tpt))  # type: ignore[arg-type]
    assert r.legs.left is not None
    return r.legs.left.thrombosis.classification


def test_tv17a_soleal_only_is_muscular() -> None:
    assert (
        _classify({"vein": "SOV", "thrombus": ACUTE}, {"vein": "PTV", "compressibility": "full"})
        == "distal-muscular"
    )


def test_tv17b_extension_into_popliteal_is_proximal() -> None:
    assert (
        _classify({"vein": "PTV", "thrombus": ACUTE}, {"vein": "POPV", "thrombus": ACUTE})
        == "proximal"
    )


@pytest.mark.parametrize(
    ("tpt", "expected"), [("distal", "distal-axial"), ("proximal", "proximal")]
)
def test_tv17c_tibioperoneal_trunk_is_an_option(tpt: str, expected: str) -> None:
    assert _classify({"vein": "TPT", "thrombus": ACUTE}, tpt=tpt) == expected


def test_calf_dvt_example_is_distal_axial(calf_dvt) -> None:  # type: ignore[no-untyped-def]
    r = assess(calf_dvt)
    assert r.legs.right is not None
    t = r.legs.right.thrombosis
    assert t.classification == "distal-axial"
    assert t.veins_involved == ("PRV", "PTV") and t.multiple_veins
    assert t.max_length_cm == 6 and t.acute and t.ages == ("acute",)
    assert [d.occlusive for d in t.deep] == [True, False]


def test_axial_wins_over_muscular_and_marks_muscular_involvement() -> None:
    r = assess(
        make_exam(left=leg({"vein": "GAV", "thrombus": ACUTE}, {"vein": "PRV", "thrombus": ACUTE}))
    )
    assert r.legs.left is not None
    t = r.legs.left.thrombosis
    assert t.classification == "distal-axial" and t.muscular_involved


def test_superficial_thrombus_is_not_dvt() -> None:
    r = assess(
        make_exam(
            left=leg(
                {
                    "vein": "GSVa",
                    "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 10},
                }
            )
        )
    )
    assert r.legs.left is not None
    t = r.legs.left.thrombosis
    assert t.classification == "none" and t.superficial[0].vein == "GSVa"
    assert any("superficial vein thrombosis" in f.text for f in r.findings)


def test_noncompressible_without_thrombus_is_flagged_not_classified() -> None:
    r = assess(make_exam(left=leg({"vein": "POPV", "compressibility": "none"})))
    assert r.legs.left is not None
    assert r.legs.left.thrombosis.classification == "none"
    assert r.legs.left.thrombosis.non_compressible_without_thrombus == ("POPV",)
    assert any(f.id.startswith("thrombosis.unexplained") for f in r.findings)


def test_chronic_only() -> None:
    r = assess(make_exam(left=leg({"vein": "FV", "thrombus": {"age": "chronic"}})))
    assert r.legs.left is not None
    t = r.legs.left.thrombosis
    assert t.classification == "proximal" and t.chronic_only and not t.acute


def test_none_without_any_deep_vein_examined_does_not_exclude_dvt() -> None:
    # Issue 18 (sibling of "trunk not measured"): nothing recorded is not nothing found.
    from helpers import leg, make_exam
    from venalab.rules.thrombosis import classify_thrombosis

    exam = make_exam(left=leg({"vein": "GSVa", "reflux_ms": 900}))
    assert exam.legs.left is not None
    t = classify_thrombosis(exam.legs.left)
    assert t.classification == "none" and "DVT not excluded" in (t.evidence.note or "")
    examined = make_exam(left=leg({"vein": "CFV", "compressibility": "full"}))
    assert examined.legs.left is not None
    assert "examined" in (classify_thrombosis(examined.legs.left).evidence.note or "")
    assert "not excluded" not in (classify_thrombosis(examined.legs.left).evidence.note or "")
