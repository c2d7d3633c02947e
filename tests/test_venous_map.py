"""Venous map (venalab.report.venous_map): valid SVG, statuses read from the result, legend."""

from __future__ import annotations

import itertools
import logging
import math
import re
import xml.etree.ElementTree as ET
from importlib.resources import files
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import exam_dict, leg, make_exam
from venalab.datafiles import read_toml
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import PERFORATOR_VEINS, ExamDocument, VeinCode, parse_exam_obj
from venalab.report.venous_map import (
    LINE_STYLES,
    MARKER_STYLES,
    PERFORATOR_STATUSES,
    SEGMENT_STATUSES,
    SVG_NS,
    VEIN_VIEWS,
    load_geometry,
    perforator_status,
    render_venous_map,
    segment_status,
    validate_geometry,
    worst,
)
from venalab.result import Result

SVG = f"{{{SVG_NS}}}"
LINE_CODES = sorted(set(get_args(VeinCode)) - PERFORATOR_VEINS)


def read_geometry_raw() -> dict[str, Any]:
    return read_toml(files("venalab.report").joinpath("map_geometry.toml"))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def drawn(root: ET.Element, **data: str) -> list[ET.Element]:
    """Elements whose data-* attributes match (keyword `vein` means `data-vein`, ...)."""
    want = {f"data-{k}": v for k, v in data.items()}
    return [
        el
        for el in root.iter()
        if "data-vein" in el.attrib and all(el.get(k) == v for k, v in want.items())
    ]


def statuses(root: ET.Element, side: str, vein: str) -> list[str]:
    return [el.attrib["data-status"] for el in drawn(root, side=side, vein=vein)]


def title_of(el: ET.Element) -> str:
    node = el.find(f"{SVG}title")
    assert node is not None and node.text
    return node.text


def render(exam: ExamDocument) -> tuple[Result, ET.Element]:
    result = assess(exam)
    return result, parse(render_venous_map(result))


# --- document ------------------------------------------------------------------------


def test_valid_svg_document(seed001: ExamDocument) -> None:
    svg = render_venous_map(assess(seed001))
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("version") == "1.1"
    assert root.get("role") == "img"
    assert re.fullmatch(r"\d+(\.\d+)?px", root.attrib["width"])
    assert re.fullmatch(r"\d+(\.\d+)?px", root.attrib["height"])
    assert root.attrib["viewBox"].startswith("0 0 ")
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and "JVB-2022-001" in (title.text or "")
    assert desc is not None and "Left leg: reflux: GSVa, GSVb" in (desc.text or "")
    assert root.attrib["aria-labelledby"] == "venous-map-title venous-map-desc"
    assert title.get("id") == "venous-map-title"


def test_custom_title_is_escaped_and_id_prefix_used(seed001: ExamDocument) -> None:
    svg = render_venous_map(assess(seed001), title='Map <A & "B">', id_prefix="m2")
    root = parse(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == 'Map <A & "B">'
    assert title.get("id") == "m2-title"
    assert "&lt;A &amp;" in svg


def test_four_panels_labelled(seed001: ExamDocument) -> None:
    root = parse(render_venous_map(assess(seed001)))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "panel-label"]
    # Left to right: front view (right leg first), then back view (left leg first).
    assert labels == [
        "Right - anterior",
        "Left - anterior",
        "Left - posterior",
        "Right - posterior",
    ]
    panels = [g for g in root.iter(f"{SVG}g") if g.get("class") == "panel"]
    assert {(g.get("data-side"), g.get("data-view")) for g in panels} == {
        ("right", "anterior"),
        ("left", "anterior"),
        ("right", "posterior"),
        ("left", "posterior"),
    }


def test_deterministic(seed001: ExamDocument, calf_dvt: ExamDocument) -> None:
    for exam in (seed001, calf_dvt):
        assert render_venous_map(assess(exam)) == render_venous_map(assess(exam))


def test_weasyprint_features_only(seed001: ExamDocument) -> None:
    svg = render_venous_map(assess(seed001))
    for banned in ("var(", "foreignObject", "<style", "@font-face", "href=", "<image"):
        assert banned not in svg
    fonts = set(re.findall(r'font-family="([^"]+)"', svg))
    assert fonts == {"sans-serif"}


def test_weasyprint_renders_without_warnings(
    seed001: ExamDocument, caplog: pytest.LogCaptureFixture
) -> None:
    weasyprint = pytest.importorskip("weasyprint")
    svg = render_venous_map(assess(seed001))
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = weasyprint.HTML(string=f"<html><body>{svg}</body></html>").write_pdf()
    assert pdf.startswith(b"%PDF")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- the two examples ---------------------------------------------------------------


def test_seed001_statuses(seed001: ExamDocument) -> None:
    _, root = render(seed001)
    assert statuses(root, "left", "GSVa") == ["reflux"]
    assert statuses(root, "left", "GSVb") == ["reflux"]
    for code in ("CFV", "FV", "POPV"):
        assert statuses(root, "left", code) == ["normal"], code
    # Veins the exam did not mention, and the whole right leg, are drawn as not examined.
    assert statuses(root, "left", "SSV") == ["not-examined"]
    right = drawn(root, side="right")
    assert right and {el.get("data-status") for el in right} == {"not-examined"}


def test_seed001_title_text(seed001: ExamDocument) -> None:
    _, root = render(seed001)
    (gsva,) = drawn(root, side="left", vein="GSVa")
    assert title_of(gsva) == "Left great saphenous vein, above knee: reflux 1500 ms (> 500 ms)"
    (cfv,) = drawn(root, side="left", vein="CFV")
    assert title_of(cfv) == "Left common femoral vein: reflux not measured, fully compressible"


def test_seed001_attributes(seed001: ExamDocument) -> None:
    _, root = render(seed001)
    (gsvb,) = drawn(root, side="left", vein="GSVb")
    assert gsvb.tag == f"{SVG}path"
    assert gsvb.get("data-view") == "anterior"
    assert gsvb.get("class") == "vein superficial status-reflux"
    (popv,) = drawn(root, side="left", vein="POPV")
    assert popv.get("data-view") == "posterior"
    assert popv.get("class") == "vein deep status-normal"


def test_calf_dvt_statuses(calf_dvt: ExamDocument) -> None:
    _, root = render(calf_dvt)
    assert statuses(root, "right", "PRV") == ["acute-thrombus"]
    assert statuses(root, "right", "PTV") == ["acute-thrombus"]
    for code in ("GAV", "SOV", "CFV", "FV", "POPV"):
        assert statuses(root, "right", code) == ["normal"], code
    (prv,) = drawn(root, side="right", vein="PRV")
    assert "acute occlusive thrombus, 6 cm" in title_of(prv)
    assert {el.get("data-status") for el in drawn(root, side="left")} == {"not-examined"}


def test_absent_leg_captioned_not_examined(calf_dvt: ExamDocument) -> None:
    _, root = render(calf_dvt)
    captions = [t for t in root.iter(f"{SVG}text") if t.get("class") == "panel-caption"]
    assert [c.text for c in captions] == ["not examined", "not examined"]
    panels = {
        (g.get("data-side"), g.get("data-view")): g.get("data-examined")
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "panel"
    }
    assert panels[("left", "anterior")] == panels[("left", "posterior")] == "false"
    assert panels[("right", "anterior")] == "true"


@pytest.mark.parametrize("fixture", ["seed001", "calf_dvt"])
def test_every_examined_segment_drawn_with_its_status(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    exam: ExamDocument = request.getfixturevalue(fixture)
    result, root = render(exam)
    for side in ("left", "right"):
        leg_result = result.leg(side)
        if leg_result is None:
            continue
        for seg in leg_result.segments:
            if seg.vein in PERFORATOR_VEINS:
                continue
            els = drawn(root, side=side, vein=seg.vein, view=VEIN_VIEWS[seg.vein])
            assert segment_status(seg, leg_result) in [e.get("data-status") for e in els]


def test_every_vein_code_drawn_for_both_legs(seed001: ExamDocument) -> None:
    _, root = render(seed001)
    for side in ("left", "right"):
        for code in LINE_CODES:
            els = drawn(root, side=side, vein=code)
            assert len(els) == 1, (side, code)
            assert els[0].get("data-view") == VEIN_VIEWS[code]


# --- statuses --------------------------------------------------------------------------


def one(segment: dict[str, Any], **clinical: Any) -> ET.Element:
    _, root = render(make_exam(left=leg(segment, **clinical)))
    (el,) = drawn(root, side="left", vein=segment["vein"])
    return el


def test_thrombus_wins_over_reflux() -> None:
    el = one({"vein": "GSVa", "reflux_ms": 1500, "thrombus": {"age": "chronic"}})
    assert el.get("data-status") == "chronic-thrombus"
    el = one({"vein": "FV", "reflux_ms": 1500, "thrombus": {"age": "subacute"}})
    assert el.get("data-status") == "acute-thrombus"


@pytest.mark.parametrize(
    ("thrombus", "status"),
    [
        ({"age": "acute"}, "acute-thrombus"),
        ({"age": "subacute"}, "acute-thrombus"),
        ({"age": "indeterminate"}, "acute-thrombus"),
        ({}, "acute-thrombus"),
        ({"age": "chronic"}, "chronic-thrombus"),
    ],
)
def test_thrombus_age(thrombus: dict[str, Any], status: str) -> None:
    assert one({"vein": "POPV", "thrombus": thrombus}).get("data-status") == status


def test_obstruction_is_chronic() -> None:
    assert one({"vein": "CIV", "obstruction": True}).get("data-status") == "chronic-thrombus"


def test_non_compressible_without_thrombus() -> None:
    el = one({"vein": "PTV", "compressibility": "partial"})
    assert el.get("data-status") == "non-compressible"
    assert "partially compressible" in title_of(el)


def test_not_assessed_and_compressible() -> None:
    assert one({"vein": "DFV"}).get("data-status") == "not-assessed"
    assert one({"vein": "DFV", "compressibility": "full"}).get("data-status") == "normal"


def test_boundary_not_counted() -> None:
    # svs-avf-avls-2022: superficial reflux is > 500 ms, so 500 ms is at the cut-off.
    el = one({"vein": "GSVb", "reflux_ms": 500})
    assert el.get("data-status") == "boundary"
    assert "exactly at the 500 ms cut-off; not counted as reflux" in title_of(el)
    assert one({"vein": "GSVb", "reflux_ms": 499}).get("data-status") == "normal"
    assert one({"vein": "GSVb", "reflux_ms": 501}).get("data-status") == "reflux"


def test_boundary_counted_is_reflux() -> None:
    result = assess(make_exam(left=leg({"vein": "GSVb", "reflux_ms": 500})))
    leg_result = result.legs.left
    assert leg_result is not None
    seg = leg_result.segments[0].model_copy(update={"abnormal": True})
    assert seg.reflux == "boundary"
    assert segment_status(seg, leg_result) == "reflux"


def test_worst_order() -> None:
    assert worst([]) == "not-examined"
    assert worst(["normal", "reflux", "boundary"]) == "reflux"
    assert worst(["reflux", "acute-thrombus"]) == "acute-thrombus"
    assert SEGMENT_STATUSES[0] == "acute-thrombus"
    assert SEGMENT_STATUSES[-1] == "not-examined"


def test_several_entries_take_the_worst() -> None:
    _, root = render(
        make_exam(left=leg({"vein": "SSV", "reflux_ms": 100}, {"vein": "SSV", "reflux_ms": 900}))
    )
    (el,) = drawn(root, side="left", vein="SSV")
    assert el.get("data-status") == "reflux"
    assert "no reflux (100 ms" in title_of(el) and "reflux 900 ms" in title_of(el)


def test_sites_split_into_thirds() -> None:
    _, root = render(
        make_exam(
            left=leg(
                {"vein": "GSVa", "site": "proximal", "reflux_ms": 1500},
                {"vein": "GSVa", "site": "distal", "reflux_ms": 100},
            )
        )
    )
    els = drawn(root, side="left", vein="GSVa")
    assert [(e.get("data-site"), e.get("data-status")) for e in els] == [
        ("proximal", "reflux"),
        ("mid", "not-assessed"),
        ("distal", "normal"),
    ]
    assert title_of(els[0]).startswith("Left great saphenous vein, above knee, proximal:")


def test_site_thirds_include_entries_without_site() -> None:
    _, root = render(
        make_exam(
            left=leg(
                {"vein": "FV", "compressibility": "full"},
                {"vein": "FV", "site": "mid", "thrombus": {"age": "acute"}},
            )
        )
    )
    els = drawn(root, side="left", vein="FV")
    assert [e.get("data-status") for e in els] == ["normal", "acute-thrombus", "normal"]


def test_thirds_are_contiguous() -> None:
    _, root = render(make_exam(left=leg({"vein": "GSVb", "site": "mid", "reflux_ms": 900})))
    ends = []
    for el in drawn(root, side="left", vein="GSVb"):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", el.attrib["d"])]
        ends.append(((nums[0], nums[1]), (nums[-2], nums[-1])))
    assert len(ends) == 3
    for (_, end), (start, _) in itertools.pairwise(ends):
        assert math.dist(end, start) < 0.2


# --- perforators -----------------------------------------------------------------------

ULCER_PERFORATOR = {
    "vein": "CPV",
    "reflux_ms": 700,
    "diameter_mm": 4.0,
    "beneath_ulcer": True,
    "label": "medial calf, 12 cm above malleolus",
}


def test_pathologic_perforator_beneath_ulcer() -> None:
    result, root = render(make_exam(left=leg(ULCER_PERFORATOR, signs=["ulcer-active"])))
    assert result.legs.left is not None and result.legs.left.perforators[0].pathologic
    (marker,) = drawn(root, side="left", vein="CPV")
    assert marker.tag == f"{SVG}circle"
    assert marker.get("data-status") == "pathologic"
    assert marker.get("data-view") == "anterior"
    assert marker.get("data-label") == "medial calf, 12 cm above malleolus"
    assert "pathologic perforator (outward flow 700 ms, 4 mm, beneath an ulcer)" in title_of(marker)


def test_perforator_statuses_and_spacing() -> None:
    exam = make_exam(
        left=leg(
            ULCER_PERFORATOR,
            {"vein": "CPV", "reflux_ms": 700, "diameter_mm": 2.0, "label": "12 cm above ankle"},
            {"vein": "CPV", "reflux_ms": 100, "diameter_mm": 2.0},
            {"vein": "CPV"},
            {"vein": "TPV", "reflux_ms": 100, "site": "mid"},
            signs=["ulcer-active"],
        )
    )
    result, root = render(exam)
    assert result.legs.left is not None
    markers = drawn(root, side="left", vein="CPV")
    assert [m.get("data-status") for m in markers] == [
        "pathologic",
        "incompetent",
        "competent",
        "not-assessed",
    ]
    assert [perforator_status(p) for p in result.legs.left.perforators[:4]] == [
        m.get("data-status") for m in markers
    ]
    centres = [(float(m.attrib["cx"]), float(m.attrib["cy"])) for m in markers]
    for i, a in enumerate(centres):
        for b in centres[i + 1 :]:
            assert math.dist(a, b) >= 10, "markers must not overlap"
    (tpv,) = drawn(root, side="left", vein="TPV")
    assert tpv.get("data-status") == "competent"


def test_perforator_label_position_follows_cm() -> None:
    def cy(label: str) -> float:
        exam = make_exam(left=leg({"vein": "CPV", "reflux_ms": 100, "label": label}))
        (m,) = drawn(render(exam)[1], side="left", vein="CPV")
        return float(m.attrib["cy"])

    assert cy("25 cm above malleolus") < cy("15 cm above malleolus") < cy("6 cm above ankle")


def test_no_perforator_marker_without_entry(seed001: ExamDocument) -> None:
    _, root = render(seed001)
    assert drawn(root, vein="CPV") == [] and drawn(root, vein="TPV") == []


# --- legend and styles ---------------------------------------------------------------


def test_legend_lists_every_status(seed001: ExamDocument) -> None:
    root = parse(render_venous_map(assess(seed001)))
    items = [g for g in root.iter(f"{SVG}g") if "legend-item" in (g.get("class") or "")]
    segment = [g.get("data-legend") for g in items if g.get("data-kind") == "segment"]
    perforator = [g.get("data-legend") for g in items if g.get("data-kind") == "perforator"]
    assert segment == list(SEGMENT_STATUSES)
    assert perforator == list(PERFORATOR_STATUSES)
    texts = [t.text for g in items for t in g.iter(f"{SVG}text")]
    assert texts == [LINE_STYLES[s].legend for s in SEGMENT_STATUSES] + [
        MARKER_STYLES[s].legend for s in PERFORATOR_STATUSES
    ]


def test_styles_distinct_without_colour() -> None:
    """Greyscale print: every status differs by width or dash pattern, not colour alone."""
    lines = {(s.width, s.dash) for s in LINE_STYLES.values()}
    assert len(lines) == len(LINE_STYLES) == len(SEGMENT_STATUSES)
    markers = {(s.fill, s.radius, s.dash) for s in MARKER_STYLES.values()}
    assert len(markers) == len(MARKER_STYLES) == len(PERFORATOR_STATUSES)


# --- geometry --------------------------------------------------------------------------


def test_geometry_covers_every_vein_once() -> None:
    geo = load_geometry()
    assert sorted(v.code for v in geo.veins) == LINE_CODES
    assert sorted(t.code for t in geo.perforator_tracks) == sorted(PERFORATOR_VEINS)
    assert VEIN_VIEWS["POPV"] == "posterior" and VEIN_VIEWS["GSVa"] == "anterior"


def test_geometry_errors_name_the_problem() -> None:
    raw = read_geometry_raw()
    raw["veins"] = [v for v in raw["veins"] if v["code"] != "SSV"]
    raw["veins"].append(dict(raw["veins"][0]))
    with pytest.raises(InvalidInput) as err:
        validate_geometry(raw)
    messages = [p.message for p in err.value.problems]
    assert "SSV has no path" in messages
    assert f"{raw['veins'][0]['code']} is drawn more than once" in messages
    with pytest.raises(InvalidInput):
        validate_geometry({**read_geometry_raw(), "schema": "other/1"})


# --- property ------------------------------------------------------------------------

_segment = st.fixed_dictionaries(
    {"vein": st.sampled_from(sorted(get_args(VeinCode)))},
    optional={
        "site": st.sampled_from(["proximal", "mid", "distal"]),
        "reflux_ms": st.integers(0, 5000).map(float),
        "compressibility": st.sampled_from(["full", "partial", "none"]),
        "obstruction": st.booleans(),
        "thrombus": st.fixed_dictionaries(
            {}, optional={"age": st.sampled_from(["acute", "subacute", "chronic", "indeterminate"])}
        ),
        # Any text a label may hold (text_rules: no control or bidi-override characters).
        "label": st.text(
            st.characters(
                exclude_categories=["Cc", "Cs"],
                exclude_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
            ),
            max_size=30,
        ),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    left=st.lists(_segment, max_size=8),
    right=st.one_of(st.none(), st.lists(_segment, max_size=4)),
)
def test_property_any_result_gives_valid_map(
    left: list[dict[str, Any]], right: list[dict[str, Any]] | None
) -> None:
    doc = exam_dict(
        left={"segments": left},
        right=None if right is None else {"segments": right},
    )
    result = assess(parse_exam_obj(doc))
    svg = render_venous_map(result)
    assert svg == render_venous_map(result)
    root = parse(svg)
    allowed = set(SEGMENT_STATUSES) | set(PERFORATOR_STATUSES)
    for el in drawn(root):
        assert el.get("data-status") in allowed
    for side, segs in (("left", left), ("right", right or [])):
        for code in LINE_CODES:
            assert drawn(root, side=side, vein=code, view=VEIN_VIEWS[code])
        n_perf = sum(1 for s in segs if s["vein"] in PERFORATOR_VEINS)
        n_markers = len([e for e in drawn(root, side=side) if e.tag == f"{SVG}circle"])
        assert n_markers == n_perf


@pytest.mark.parametrize(
    ("treatment", "reflux_ms", "status"),
    [
        ({"method": "thermal-ablation", "status": "occluded"}, None, "treated-occluded"),
        (
            {"method": "sclerotherapy", "status": "partially-recanalised"},
            300,
            "treated-recanalised",
        ),
        ({"method": "thermal-ablation", "status": "fully-recanalised"}, 900, "reflux"),
        ({"method": "stripping", "status": "absent"}, None, "treated-removed"),
    ],
)
def test_treated_segments_are_drawn_distinctly(
    treatment: dict[str, Any], reflux_ms: float | None, status: str
) -> None:
    # Issue 18: treated segments have their own statuses (and legend entries).
    segment: dict[str, Any] = {"vein": "GSVa", "treatment": {"date": "2025-01-02", **treatment}}
    if reflux_ms is not None:
        segment["reflux_ms"] = reflux_ms
    el = one(segment)
    assert el.get("data-status") == status
    assert "on 2025-01-02" in title_of(el)
    assert status in SEGMENT_STATUSES and LINE_STYLES[status].legend  # type: ignore[index]


def test_thrombus_on_a_treated_segment_is_its_occlusion() -> None:
    el = one(
        {
            "vein": "GSVa",
            "treatment": {"method": "thermal-ablation"},
            "thrombus": {"age": "acute"},
        }
    )
    assert el.get("data-status") == "treated-occluded"
