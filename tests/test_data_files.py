"""Data files load, validate and fail clearly when malformed."""

from __future__ import annotations

import copy
from typing import Any, get_args

import pytest

from venalab.anatomy import VEINS
from venalab.citations import CITATIONS
from venalab.criteria import CRITERIA, DEFAULT_CRITERIA_ID, get_criteria, parse_criteria
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput
from venalab.exam import VeinCode
from venalab.units import LAB_UNITS, to_conventional, to_si


def test_three_builtin_sets_with_default() -> None:
    assert set(CRITERIA) == {"svs-avf-avls-2022", "svs-avf-2011", "labropoulos-2003"}
    assert DEFAULT_CRITERIA_ID == "svs-avf-avls-2022"
    svs = get_criteria()
    assert svs.groups["femoropopliteal"].threshold_ms == 1000
    assert svs.groups["saphenous-trunk"].comparison == ">"
    assert svs.perforator.duration_comparison == ">=" and svs.perforator.diameter_mm == 3.5
    assert get_criteria("labropoulos-2003").perforator.duration_ms == 350


def test_unknown_set_lists_accepted() -> None:
    with pytest.raises(
        InvalidInput, match="accepted: labropoulos-2003, svs-avf-2011, svs-avf-avls-2022"
    ):
        get_criteria("esvs-2022")


def _raw() -> dict[str, Any]:
    return read_toml(data_path("criteria", "svs-avf-avls-2022.toml"))


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (
            lambda r: r["groups"]["junction"].update(threshold_ms="500"),
            "groups.junction.threshold_ms",
            "valid number",
        ),
        (
            lambda r: r["groups"]["junction"].update(comparison="=>"),
            "groups.junction.comparison",
            "'>' or '>='",
        ),
        (lambda r: r["groups"].pop("calf-axial"), "groups.calf-axial", "missing"),
        (
            lambda r: r["perforator"].update(sources=["SVS99"]),
            "perforator.sources",
            "unknown citation",
        ),
        (lambda r: r.update(colour="red"), "colour", "unknown field"),
        (lambda r: r["perforator"].pop("diameter_comparison"), "perforator", "both"),
    ],
)
def test_malformed_criteria_fail_with_path(mutate: Any, path: str, fragment: str) -> None:
    raw = copy.deepcopy(_raw())
    mutate(raw)
    with pytest.raises(InvalidInput) as info:
        parse_criteria(raw, "broken.toml")
    found = {p.path: p.message for p in info.value.problems}
    assert path in found and fragment in found[path], found
    assert "broken.toml" in str(info.value)


def test_anatomy_covers_every_vein_code() -> None:
    assert set(VEINS) == set(get_args(VeinCode))
    assert VEINS["PRV"].snomed is not None and VEINS["PRV"].snomed.code == "71758008"
    assert VEINS["CFV"].snomed is not None and VEINS["CFV"].snomed.code == "397363009"
    assert VEINS["GSVa"].ceap == "GSVa" and VEINS["GSVa"].legacy == 2
    assert VEINS["CPV"].system == "perforator" and VEINS["CPV"].legacy == 18
    assert VEINS["TPV"].name == "thigh perforator vein"
    assert VEINS["GAV"].dvt_level == "distal-muscular" and VEINS["POPV"].dvt_level == "proximal"
    assert VEINS["GSVa"].dvt_level is None


def test_vein_codes_generated_from_pydicom() -> None:
    from pydicom.sr.codedict import Collection

    cid = Collection("CID12110")
    codes = {c.value for c in (getattr(cid, k) for k in cid.dir())}
    for v in VEINS.values():
        if v.snomed is not None:
            assert v.snomed.code in codes


def test_citations_used_by_criteria_exist() -> None:
    for cs in CRITERIA.values():
        for g in cs.groups.values():
            assert all(s in CITATIONS for s in g.sources)


@pytest.mark.parametrize(
    ("analyte", "conventional", "unit", "si"),
    [
        ("calcium", 9.8, "mmol/L", 2.445),
        ("phosphate", 4.0, "mmol/L", 1.2916),
        ("pth", 57, "pmol/L", 6.048),
        ("creatinine", 0.9, "umol/L", 79.56),
        ("vitamin_d_25oh", 35, "nmol/L", 87.36),
    ],
)
def test_lab_units_convert_both_ways(
    analyte: str, conventional: float, unit: str, si: float
) -> None:
    spec = LAB_UNITS[analyte]
    assert to_si(analyte, conventional, spec.conventional) == pytest.approx(si, rel=1e-3)
    assert to_conventional(analyte, si, unit) == pytest.approx(conventional, rel=1e-3)
    assert spec.si == unit


# --- one table per fact: trunks, recurrence, thrombosis precedence, ulcer limb --------------


def test_trunk_layout_is_read_from_anatomy_and_every_vein_counts_in_its_trunk() -> None:
    from venalab.anatomy import SITE_ORDER, TRUNKS
    from venalab.exam import Site

    assert list(TRUNKS) == ["GSV", "SSV", "AASV", "PAGSV", "deep"]
    assert get_args(Site) == SITE_ORDER
    for name, layout in TRUNKS.items():
        assert all(VEINS[v].trunk == name for v in layout.axis)
    deep = {c for c, v in VEINS.items() if v.system == "deep"}
    assert {c for c, v in VEINS.items() if v.trunk == "deep"} == deep
    gsv = TRUNKS["GSV"]
    assert gsv.points("SFJ", "distal") == {0}  # the junction is one point whatever the site
    assert gsv.points("GSVa", None) == {1, 2, 3} and gsv.points("GSVb", "proximal") == {4}
    assert gsv.points("SSV", None) == frozenset()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"junction": "GSVb"}, "first vein of the axis"),
        ({"span": {"start": [0], "through": [1], "end": 9, "label": "x"}}, "beyond the axis"),
        ({"axis": ["SFJ", "GSVa", "SSV"]}, "counts in trunk 'SSV'"),
        ({"kind": "accessory"}, "no axis, span or junction"),
    ],
)
def test_a_bad_trunk_layout_is_named(change: dict[str, Any], fragment: str) -> None:
    from venalab.anatomy import TRUNKS, TrunkLayout, _trunk_problems

    bad = TrunkLayout.model_validate({**TRUNKS["GSV"].model_dump(), **change})
    problems = _trunk_problems({**TRUNKS, "GSV": bad})
    assert any(p.path.startswith("trunks.GSV") and fragment in p.message for p in problems)


def test_recurrence_classes_come_from_the_ceap_data() -> None:
    from venalab.exam import Clinical
    from venalab.rules.ceap import RECURRENCE, clinical_classes

    assert RECURRENCE == {"varicose": ("C2", "C2r"), "ulcer": ("C6", "C6r")}
    both = Clinical(signs=("varicose", "ulcer-active"), recurrent=("varicose", "ulcer"))
    assert clinical_classes(both) == ("C2r", "C6r")
    assert clinical_classes(Clinical(signs=("varicose",))) == ("C2",)


def test_thrombosis_precedence_and_tpt_option_are_one_table() -> None:
    from venalab.rules.thrombosis import PRECEDENCE, Classification, dvt_level

    assert set(PRECEDENCE) == set(get_args(Classification)) - {"none"}
    assert dvt_level("TPT") == "distal-axial" and dvt_level("TPT", "proximal") == "proximal"
    assert dvt_level("GSVa") is None and dvt_level("POPV", "proximal") == "proximal"


def test_ulcer_limb_follows_the_classes_the_set_lists() -> None:
    svs = get_criteria("svs-avf-avls-2022")
    assert svs.ulcer_limb(("C2", "C6r")) and svs.ulcer_limb(("C5",))
    assert not svs.ulcer_limb(("C4a", "C4c"))
    assert not get_criteria("labropoulos-2003").ulcer_limb(("C6",))  # no location criterion
