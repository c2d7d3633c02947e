"""The venous map: an SVG drawing of both legs, each vein drawn in the status the result gives it.

Used by the clinician report (HTML, and PDF through WeasyPrint) and by the web app. The map
judges nothing: every status is read from a `venalab.result.Result` (the reflux verdict
and `abnormal` of each segment, its thrombus, obstruction and compressibility, the leg's
`thrombosis.non_compressible_without_thrombus`, and each perforator's `pathologic` and
`incompetent`), so the drawing always agrees with the findings it illustrates.

Layout: four panels in one row, each one leg with half of the pelvis: the anterior view as
seen from the front (right leg on the viewer's left), then the posterior view as seen from
behind (left leg on the viewer's left), so the two legs of a view meet at the midline and
the medial sides face each other. Each panel is captioned, e.g. "Right - anterior".

Which vein is drawn in which view (each vein appears exactly once; `VEIN_VIEWS`):
- anterior: IVC, CIV, IIV, EIV, CFV, DFV, FV, SFJ, GSVa, GSVb, AASV, ATV, and the
  perforator markers TPV (medial thigh) and CPV (medial calf);
- posterior: PELV, PAGSV, NSV, POPV, SPJ, SSV, TPT, PTV, PRV, GAV, SOV.

Segment statuses (`SegmentStatus`), first match wins for one segment entry:
- `acute-thrombus`: a thrombus whose age is acute, subacute, indeterminate or not stated;
- `chronic-thrombus`: a chronic thrombus, or `obstruction` true (legend: "chronic
  thrombus or obstruction");
- `non-compressible`: partially or non-compressible with no thrombus described, as listed
  in the leg's `thrombosis.non_compressible_without_thrombus` (the result asks for review);
- `reflux`: reflux `present`, or `boundary` with `abnormal` true;
- `boundary`: reflux `boundary` with `abnormal` false (at the cut-off, not counted);
- `normal`: reflux `absent`, or no reflux verdict and fully compressible;
- `treated-recanalised`, `treated-occluded`, `treated-removed`: a treated segment (exam
  extension `treatment`) drawn by its status now - before the rules above, except that a
  recanalised treated segment with reflux is drawn as `reflux`; a thrombus on a treated
  segment is its occlusion (rules/ehit.py);
- `not-assessed`: in the exam, but none of the above can be said (e.g. reflux not measured
  and compressibility not recorded, or no cut-off for the vein in the criteria set);
- `not-examined`: the vein (or the whole leg) is not in the exam.
A vein with several entries takes the worst status, in the order above. When entries give
a `site` (proximal, mid, distal), the vein is cut into thirds by length and each third is
its own element (`data-site`) with the worst status of its site's entries plus the entries
without a site; a third no entry speaks about is `not-assessed`.

Perforator markers (`PerforatorStatus`): `pathologic` (`pathologic` true), `incompetent`
(outward flow beyond the cut-off but not all criteria met), `competent` (duration criterion
not met), `not-assessed` (duration not recorded). Markers are spaced along the medial
thigh (TPV) or medial calf (CPV): by `site` thirds, else by a label such as "12 cm above
malleolus", else evenly; never on top of each other. A perforator not in the exam has no
marker.

Each status has a colour and also a distinct stroke width or dash pattern (or marker fill
and size), so the map reads in greyscale print. Only SVG 1.1 features WeasyPrint renders:
presentation attributes (no CSS, no CSS variables), paths, circles, text in sans-serif.
Geometry (schematic, not to scale) is presentation data in `map_geometry.toml`.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from venalab.anatomy import VEINS
from venalab.datafiles import read_toml
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.exam import PERFORATOR_VEINS, Side, VeinCode
from venalab.result import LegResult, Result
from venalab.rules.ehit import describe_treatment
from venalab.rules.reflux import PerforatorResult, SegmentResult, boundary_phrase

SVG_NS = "http://www.w3.org/2000/svg"

View = Literal["anterior", "posterior"]
SegmentStatus = Literal[
    "acute-thrombus",
    "chronic-thrombus",
    "non-compressible",
    "reflux",
    "boundary",
    "treated-recanalised",
    "treated-occluded",
    "treated-removed",
    "normal",
    "not-assessed",
    "not-examined",
]
PerforatorStatus = Literal["pathologic", "incompetent", "competent", "not-assessed"]

# Worst first: a vein with several entries takes the first of these that any entry has.
SEGMENT_STATUSES: tuple[SegmentStatus, ...] = get_args(SegmentStatus)
PERFORATOR_STATUSES: tuple[PerforatorStatus, ...] = get_args(PerforatorStatus)

_SITES = ("proximal", "mid", "distal")
_SIDE_NAME: dict[Side, str] = {"left": "Left", "right": "Right"}


# ---------------------------------------------------------------------------------------
# Styles (presentation; colour plus width/dash so greyscale prints stay distinct)


@dataclass(frozen=True, slots=True)
class LineStyle:
    colour: str
    width: float
    dash: str | None
    linecap: Literal["round", "butt"]
    legend: str


@dataclass(frozen=True, slots=True)
class MarkerStyle:
    fill: str
    stroke: str
    stroke_width: float
    radius: float
    dash: str | None
    legend: str


LINE_STYLES: dict[SegmentStatus, LineStyle] = {
    "reflux": LineStyle("#c62828", 5.0, None, "round", "Reflux"),
    "boundary": LineStyle("#ef6c00", 4.0, "7 4", "butt", "At cut-off, not counted as reflux"),
    "normal": LineStyle("#2e7d32", 2.2, None, "round", "Normal (no reflux, or compressible)"),
    "acute-thrombus": LineStyle(
        "#6a1b9a", 8.0, None, "round", "Acute, subacute or undated thrombus"
    ),
    "chronic-thrombus": LineStyle(
        "#6d4c41", 6.0, "0.1 9", "round", "Chronic thrombus or obstruction"
    ),
    "non-compressible": LineStyle(
        "#ad1457", 4.0, "10 3 2 3", "butt", "Non-compressible, no thrombus"
    ),
    "treated-recanalised": LineStyle(
        "#0277bd", 4.0, "8 2 2 2", "butt", "Treated, recanalised (no reflux measured)"
    ),
    "treated-occluded": LineStyle("#263238", 4.5, "2 2", "butt", "Treated, occluded"),
    "treated-removed": LineStyle("#90a4ae", 1.5, "1 3", "round", "Treated, removed (stripped)"),
    "not-assessed": LineStyle("#757575", 2.0, "0.1 4.5", "round", "In the exam, not assessed"),
    "not-examined": LineStyle("#c4c4c4", 1.5, "4 3", "butt", "Not examined"),
}

MARKER_STYLES: dict[PerforatorStatus, MarkerStyle] = {
    "pathologic": MarkerStyle("#c62828", "#3e0000", 1.5, 6.0, None, "Pathologic perforator"),
    "incompetent": MarkerStyle("#ffb74d", "#e65100", 1.5, 5.0, None, "Incompetent perforator"),
    "competent": MarkerStyle("#ffffff", "#2e7d32", 2.0, 4.5, None, "Competent perforator"),
    "not-assessed": MarkerStyle(
        "#ffffff", "#757575", 1.2, 4.5, "2 1.5", "Perforator, flow not measured"
    ),
}

_SKIN_FILL = "#f6f1ec"
_SKIN_STROKE = "#a39a92"
_ABSENT_FILL = "#fbfbfb"
_ABSENT_STROKE = "#d2d2d2"
_TEXT = "#222222"
_TEXT_MUTED = "#6b6b6b"


# ---------------------------------------------------------------------------------------
# Geometry (map_geometry.toml), validated at import

Point = tuple[float, float]
Points = Annotated[tuple[Point, ...], Field(min_length=2)]


class _Geo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PanelSize(_Geo):
    width: Annotated[float, Field(gt=0)]
    height: Annotated[float, Field(gt=0)]


class Silhouette(_Geo):
    outline: Points
    details: tuple[Points, ...] = ()


class VeinPath(_Geo):
    code: str
    view: View
    points: Points
    label: Point
    anchor: Literal["start", "middle", "end"]
    # False: write the code only in the unmirrored panel (a midline vessel named once).
    label_mirrored: bool = True


class PerforatorTrack(_Geo):
    code: Literal["TPV", "CPV"]
    view: View
    points: Points
    cm_reference: Literal["malleolus", "knee"]
    cm_at_start: float
    cm_at_end: float


class MapGeometry(_Geo):
    panel: PanelSize
    silhouettes: dict[View, Silhouette]
    veins: tuple[VeinPath, ...]
    perforator_tracks: tuple[PerforatorTrack, ...]


GEOMETRY_SCHEMA = "venalab-map-geometry/1"


@cache
def load_geometry() -> MapGeometry:
    """The map geometry shipped in `map_geometry.toml`, checked at first use."""
    return validate_geometry(read_toml(files("venalab.report").joinpath("map_geometry.toml")))


def validate_geometry(data: dict[str, Any]) -> MapGeometry:
    """Check a geometry table: every vein code of the format drawn exactly once."""
    raw = dict(data)
    what = "map_geometry.toml"
    if raw.pop("schema", None) != GEOMETRY_SCHEMA:
        raise InvalidInput([Problem("schema", f"must be {GEOMETRY_SCHEMA!r}")], what=what)
    try:
        geo = MapGeometry.model_validate(raw)
    except ValidationError as err:
        raise InvalidInput(problems_from_validation(err), what=what) from None
    problems: list[Problem] = []
    lines = [v.code for v in geo.veins]
    expected = set(get_args(VeinCode)) - PERFORATOR_VEINS
    for code in sorted(expected - set(lines)):
        problems.append(Problem("veins", f"{code} has no path"))
    for code in sorted(set(lines) - expected):
        problems.append(Problem("veins", f"{code} is not a non-perforator vein code"))
    for code in sorted({c for c in lines if lines.count(c) > 1}):
        problems.append(Problem("veins", f"{code} is drawn more than once"))
    tracks = [t.code for t in geo.perforator_tracks]
    if sorted(tracks) != sorted(PERFORATOR_VEINS):
        problems.append(Problem("perforator_tracks", "need exactly one track each for CPV, TPV"))
    missing_views = set(get_args(View)) - set(geo.silhouettes)
    problems += [Problem(f"silhouettes.{v}", "missing") for v in sorted(missing_views)]
    if problems:
        raise InvalidInput(problems, what=what)
    return geo


VEIN_VIEWS: dict[str, View] = {
    **{v.code: v.view for v in load_geometry().veins},
    **{t.code: t.view for t in load_geometry().perforator_tracks},
}


# ---------------------------------------------------------------------------------------
# Status, read from the result


def _treated_status(segment: SegmentResult) -> SegmentStatus | None:
    """A treated segment is drawn as treated, unless recanalised with reflux (then reflux)."""
    t = segment.treatment
    if t is None:
        return None
    if t.status == "absent":
        return "treated-removed"
    if t.status in ("partially-recanalised", "fully-recanalised"):
        return "reflux" if segment.abnormal else "treated-recanalised"
    if t.status == "occluded" or segment.thrombus is not None:
        return "treated-occluded"
    return None  # status not recorded: drawn from its measurements


def segment_status(segment: SegmentResult, leg: LegResult) -> SegmentStatus:
    """The drawing status of one segment entry (see the module docstring for the order)."""
    treated = _treated_status(segment)
    if treated is not None:
        return treated
    if segment.thrombus is not None:
        return "chronic-thrombus" if segment.thrombus.age == "chronic" else "acute-thrombus"
    if segment.obstruction is True:
        return "chronic-thrombus"
    if (
        segment.compressibility in ("partial", "none")
        and segment.vein in leg.thrombosis.non_compressible_without_thrombus
    ):
        return "non-compressible"
    if segment.reflux == "present" or (segment.reflux == "boundary" and segment.abnormal):
        return "reflux"
    if segment.reflux == "boundary":
        return "boundary"
    if segment.reflux == "absent":
        return "normal"
    if segment.compressibility == "full":
        return "normal"
    return "not-assessed"


def perforator_status(perforator: PerforatorResult) -> PerforatorStatus:
    if perforator.pathologic:
        return "pathologic"
    if perforator.incompetent is True:
        return "incompetent"
    if perforator.incompetent is False:
        return "competent"
    return "not-assessed"


def worst(statuses: Iterable[SegmentStatus]) -> SegmentStatus:
    """The most severe status; `not-examined` for none."""
    found = set(statuses)
    return next((s for s in SEGMENT_STATUSES if s in found), "not-examined")


# ---------------------------------------------------------------------------------------
# Readable text (titles and the description for screen readers)


def _num(value: float) -> str:
    return f"{value:g}"


def _describe_segment(s: SegmentResult) -> str:
    parts: list[str] = []
    if s.treatment is not None:
        tr = s.treatment
        parts.append("treated: " + describe_treatment(tr.method, tr.date, tr.status))
    if s.thrombus is not None:
        t = s.thrombus
        occl = {True: "occlusive ", False: "non-occlusive ", None: ""}[t.occlusive]
        age = f"{t.age} " if t.age else ""
        text = f"{age}{occl}thrombus"
        if t.age is None:
            text += " (age not stated)"
        if t.length_cm is not None:
            text += f", {_num(t.length_cm)} cm"
        parts.append(text)
    if s.obstruction is True:
        parts.append("obstruction")
    m, thr, cmp = s.measured_ms, s.threshold_ms, s.comparison
    if s.reflux == "present" and m is not None and thr is not None:
        parts.append(f"reflux {_num(m)} ms ({cmp} {_num(thr)} ms)")
    elif s.reflux == "boundary" and m is not None and thr is not None:
        parts.append(boundary_phrase(s))
    elif s.reflux == "absent" and m is not None and thr is not None:
        parts.append(f"no reflux ({_num(m)} ms; cut-off {cmp} {_num(thr)} ms)")
    elif m is not None:
        parts.append(f"reflux {_num(m)} ms (no cut-off for this vein in the criteria set)")
    elif s.thrombus is None:
        parts.append("reflux not measured")
    if s.compressibility is not None:
        parts.append(
            {
                "full": "fully compressible",
                "partial": "partially compressible",
                "none": "not compressible",
            }[s.compressibility]
        )
    if s.diameter_mm is not None:
        parts.append(f"diameter {_num(s.diameter_mm)} mm")
    text = ", ".join(parts)
    return f"{s.site}: {text}" if s.site else text


def _vein_name(side: Side, code: str) -> str:
    return f"{_SIDE_NAME[side]} {VEINS[code].name}"


def _describe_perforator(p: PerforatorResult, status: PerforatorStatus) -> str:
    flow = []
    if p.measured_ms is not None:
        flow.append(f"outward flow {_num(p.measured_ms)} ms")
    if p.diameter_mm is not None:
        flow.append(f"{_num(p.diameter_mm)} mm")
    if p.beneath_ulcer:
        flow.append("beneath an ulcer")
    detail = f" ({', '.join(flow)})" if flow else ""
    head = {
        "pathologic": "pathologic perforator",
        "incompetent": "incompetent, not pathologic",
        "competent": "competent",
        "not-assessed": "outward flow not measured",
    }[status]
    note = f". {p.evidence.note}" if status != "pathologic" and p.evidence.note else ""
    return f"{head}{detail}{note}"


# ---------------------------------------------------------------------------------------
# Geometry helpers


def _spline(points: Sequence[Point], steps: int = 8) -> list[Point]:
    """Sample a uniform Catmull-Rom curve through the points (a polyline for two points)."""
    if len(points) < 3:
        return list(points)
    out: list[Point] = []
    n = len(points)
    for i in range(n - 1):
        p0 = points[i - 1] if i > 0 else points[i]
        p1, p2 = points[i], points[i + 1]
        p3 = points[i + 2] if i + 2 < n else points[i + 1]
        for k in range(steps):
            t = k / steps
            t2, t3 = t * t, t * t * t
            out.append(
                (
                    0.5
                    * (
                        2 * p1[0]
                        + (-p0[0] + p2[0]) * t
                        + (2 * p0[0] - 5 * p1[0] + 4 * p2[0] - p3[0]) * t2
                        + (-p0[0] + 3 * p1[0] - 3 * p2[0] + p3[0]) * t3
                    ),
                    0.5
                    * (
                        2 * p1[1]
                        + (-p0[1] + p2[1]) * t
                        + (2 * p0[1] - 5 * p1[1] + 4 * p2[1] - p3[1]) * t2
                        + (-p0[1] + 3 * p1[1] - 3 * p2[1] + p3[1]) * t3
                    ),
                )
            )
    out.append(points[-1])
    return out


def _lengths(points: Sequence[Point]) -> list[float]:
    acc = [0.0]
    for a, b in itertools.pairwise(points):
        acc.append(acc[-1] + math.dist(a, b))
    return acc


def _point_at(points: Sequence[Point], acc: Sequence[float], d: float) -> Point:
    for i in range(1, len(points)):
        if acc[i] >= d or i == len(points) - 1:
            seg = acc[i] - acc[i - 1]
            f = 0.0 if seg == 0 else min(max((d - acc[i - 1]) / seg, 0.0), 1.0)
            (x0, y0), (x1, y1) = points[i - 1], points[i]
            return (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)
    return points[-1]


def _cut(points: Sequence[Point], start: float, end: float) -> list[Point]:
    """The part of a polyline between two fractions of its length."""
    acc = _lengths(points)
    total = acc[-1]
    a, b = start * total, end * total
    inner = [p for p, d in zip(points, acc, strict=True) if a < d < b]
    return [_point_at(points, acc, a), *inner, _point_at(points, acc, b)]


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where a canonical panel lands on the canvas, and whether it is mirrored."""

    x: float
    y: float
    width: float
    mirrored: bool

    def at(self, p: Point) -> Point:
        x = self.width - p[0] if self.mirrored else p[0]
        return (self.x + x, self.y + p[1])

    def anchor(self, anchor: str) -> str:
        if not self.mirrored:
            return anchor
        return {"start": "end", "end": "start"}.get(anchor, anchor)


def _n(value: float) -> str:
    text = f"{round(value, 1):g}"
    return "0" if text == "-0" else text


def _d(points: Iterable[Point], close: bool = False) -> str:
    pts = [f"{_n(x)} {_n(y)}" for x, y in points]
    return (
        "M "
        + pts[0]
        + (" L " + " ".join(pts[1:]) if len(pts) > 1 else "")
        + (" Z" if close else "")
    )


# ---------------------------------------------------------------------------------------
# Perforator placement

_CM_LABEL = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*cm\s+(?:above|from|proximal to)\s+(?:the\s+)?"
    r"(?:medial\s+|lateral\s+)?(malleolus|ankle|knee)",
    re.IGNORECASE,
)
_SITE_FRACTION = {"proximal": 1 / 6, "mid": 1 / 2, "distal": 5 / 6}


def _label_fraction(label: str | None, track: PerforatorTrack) -> float | None:
    if not label:
        return None
    m = _CM_LABEL.search(label)
    if m is None:
        return None
    reference = "malleolus" if m.group(2).lower() in ("malleolus", "ankle") else "knee"
    if reference != track.cm_reference:
        return None
    cm = float(m.group(1).replace(",", "."))
    span = track.cm_at_start - track.cm_at_end
    return min(max((track.cm_at_start - cm) / span, 0.0), 1.0)


def _perforator_fractions(perfs: Sequence[PerforatorResult], track: PerforatorTrack) -> list[float]:
    """Position of each marker along the track (0 = proximal end), at least one marker apart."""
    wanted: list[float | None] = [
        _SITE_FRACTION[p.site] if p.site else _label_fraction(p.label, track) for p in perfs
    ]
    free = [i for i, w in enumerate(wanted) if w is None]
    for k, i in enumerate(free):
        wanted[i] = (k + 1) / (len(free) + 1)
    placed = [w if w is not None else 0.5 for w in wanted]
    length = _lengths(track.points)[-1]
    gap = min(14.0 / length, 1.0 / max(len(perfs), 1))
    order = sorted(range(len(placed)), key=lambda i: (placed[i], i))
    for prev, cur in itertools.pairwise(order):
        placed[cur] = max(placed[cur], placed[prev] + gap)
    if order:
        placed[order[-1]] = min(placed[order[-1]], 1.0)
    # Pushed past the distal end: pull back, keeping the gap (gap <= 1/n keeps all >= 0).
    for nxt, cur in itertools.pairwise(reversed(order)):
        placed[cur] = min(placed[cur], placed[nxt] - gap)
    return [min(max(p, 0.0), 1.0) for p in placed]


# ---------------------------------------------------------------------------------------
# SVG building


# Characters XML 1.0 cannot carry at all (labels and titles are free text from the exam).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _el(parent: ET.Element, tag: str, attrs: dict[str, str], text: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: _xml_safe(v) for k, v in attrs.items()})
    if text is not None:
        node.text = _xml_safe(text)
    return node


def _line_attrs(style: LineStyle) -> dict[str, str]:
    attrs = {
        "fill": "none",
        "stroke": style.colour,
        "stroke-width": _n(style.width),
        "stroke-linecap": style.linecap,
        "stroke-linejoin": "round",
    }
    if style.dash:
        attrs["stroke-dasharray"] = style.dash
    return attrs


def _marker_attrs(style: MarkerStyle) -> dict[str, str]:
    attrs = {
        "r": _n(style.radius),
        "fill": style.fill,
        "stroke": style.stroke,
        "stroke-width": _n(style.stroke_width),
    }
    if style.dash:
        attrs["stroke-dasharray"] = style.dash
    return attrs


def _text(
    parent: ET.Element,
    x: float,
    y: float,
    text: str,
    *,
    size: float,
    anchor: str = "start",
    fill: str = _TEXT,
    weight: str | None = None,
    italic: bool = False,
    cls: str | None = None,
) -> ET.Element:
    attrs = {"x": _n(x), "y": _n(y), "font-size": _n(size), "fill": fill}
    if anchor != "start":
        attrs["text-anchor"] = anchor
    if weight:
        attrs["font-weight"] = weight
    if italic:
        attrs["font-style"] = "italic"
    if cls:
        attrs["class"] = cls
    return _el(parent, "text", attrs, text)


@dataclass(frozen=True, slots=True)
class _Piece:
    """One drawn element of a vein: the whole vein or one site third."""

    points: list[Point]
    site: str | None
    status: SegmentStatus
    title: str


def _vein_pieces(
    side: Side, vein: VeinPath, entries: Sequence[SegmentResult], leg: LegResult | None
) -> list[_Piece]:
    curve = _spline(vein.points)
    name = _vein_name(side, vein.code)
    if leg is None or not entries:
        return [_Piece(curve, None, "not-examined", f"{name}: not examined")]
    general = [e for e in entries if e.site is None]
    if all(e.site is None for e in entries):
        status = worst(segment_status(e, leg) for e in entries)
        text = "; ".join(_describe_segment(e) for e in entries)
        return [_Piece(curve, None, status, f"{name}: {text}")]
    pieces: list[_Piece] = []
    for i, site in enumerate(_SITES):
        here = [e for e in entries if e.site == site] + general
        status = worst(segment_status(e, leg) for e in here) if here else "not-assessed"
        text = "; ".join(_describe_segment(e) for e in here) if here else "no entry for this site"
        pieces.append(
            _Piece(_cut(curve, i / 3, (i + 1) / 3), site, status, f"{name}, {site}: {text}")
        )
    return pieces


def _draw_panel(
    canvas: ET.Element,
    geo: MapGeometry,
    frame: _Frame,
    side: Side,
    view: View,
    leg: LegResult | None,
) -> None:
    group = _el(
        canvas,
        "g",
        {
            "class": "panel",
            "data-side": side,
            "data-view": view,
            "data-examined": "true" if leg is not None else "false",
        },
    )
    sil = geo.silhouettes[view]
    outline = [frame.at(p) for p in _spline(sil.outline, steps=4)]
    fill, stroke = (_SKIN_FILL, _SKIN_STROKE) if leg is not None else (_ABSENT_FILL, _ABSENT_STROKE)
    _el(group, "path", {"class": "silhouette", "d": _d(outline, close=True), "fill": fill})
    # The midline edge stays unstroked so the two legs of a view join into one body.
    outline_attrs = {"class": "silhouette-outline", "d": _d(outline), "fill": "none"}
    outline_attrs |= {"stroke": stroke, "stroke-width": "1.2", "stroke-linejoin": "round"}
    if leg is None:
        outline_attrs["stroke-dasharray"] = "3 3"
    _el(group, "path", outline_attrs)
    for detail in sil.details:
        _el(
            group,
            "path",
            {
                "class": "silhouette-detail",
                "d": _d(frame.at(p) for p in _spline(detail)),
                "fill": "none",
                "stroke": stroke,
                "stroke-width": "0.8",
            },
        )

    segments = () if leg is None else leg.segments
    veins = [v for v in geo.veins if v.view == view]
    # Deep veins first, so superficial veins (drawn later) lie on top where they cross.
    veins.sort(key=lambda v: VEINS[v.code].system != "deep")
    labels: list[tuple[VeinPath, bool]] = []
    for vein in veins:
        entries = [s for s in segments if s.vein == vein.code]
        system = VEINS[vein.code].system
        pieces = _vein_pieces(side, vein, entries, leg)
        for piece in pieces:
            style = LINE_STYLES[piece.status]
            attrs = {
                "class": f"vein {system} status-{piece.status}",
                "d": _d(frame.at(p) for p in piece.points),
                "data-vein": vein.code,
                "data-side": side,
                "data-view": view,
                "data-status": piece.status,
            }
            if piece.site:
                attrs["data-site"] = piece.site
            node = _el(group, "path", attrs | _line_attrs(style))
            _el(node, "title", {}, piece.title)
        labels.append((vein, any(p.status != "not-examined" for p in pieces)))

    if leg is not None:
        for track in geo.perforator_tracks:
            if track.view != view:
                continue
            perfs = [p for p in leg.perforators if p.vein == track.code]
            fractions = _perforator_fractions(perfs, track)
            acc = _lengths(track.points)
            for p, f in zip(perfs, fractions, strict=True):
                status = perforator_status(p)
                x, y = frame.at(_point_at(track.points, acc, f * acc[-1]))
                attrs = {
                    "class": f"perforator status-{status}",
                    "cx": _n(x),
                    "cy": _n(y),
                    "data-vein": p.vein,
                    "data-side": side,
                    "data-view": view,
                    "data-status": status,
                }
                if p.label:
                    attrs["data-label"] = p.label
                node = _el(group, "circle", attrs | _marker_attrs(MARKER_STYLES[status]))
                where = f" ({p.label})" if p.label else ""
                site = f", {p.site}" if p.site else ""
                _el(
                    node,
                    "title",
                    {},
                    f"{_vein_name(side, p.vein)}{site}{where}: {_describe_perforator(p, status)}",
                )

    for vein, examined in labels:
        if frame.mirrored and not vein.label_mirrored:
            continue
        x, y = frame.at(vein.label)
        _text(
            group,
            x,
            y + 2.5,
            vein.code,
            size=7.5,
            anchor=frame.anchor(vein.anchor),
            fill=_TEXT_MUTED if examined else "#a8a8a8",
            cls="vein-label",
        )


def _legend(canvas: ET.Element, x: float, y: float, width: float) -> float:
    """Draw the legend from (x, y); returns its height."""
    group = _el(canvas, "g", {"class": "legend"})
    _text(group, x, y + 10, "Legend", size=10, weight="bold")
    columns = _LEGEND_COLUMNS
    col_w = width / columns
    row_h = _LEGEND_ROW
    items: list[tuple[str, str, LineStyle | MarkerStyle]] = [
        ("segment", s, LINE_STYLES[s]) for s in SEGMENT_STATUSES
    ] + [("perforator", s, MARKER_STYLES[s]) for s in PERFORATOR_STATUSES]
    for i, (kind, status, style) in enumerate(items):
        col, row = divmod(i, math.ceil(len(items) / columns))
        ix, iy = x + col * col_w, y + 22 + row * row_h
        item = _el(
            group,
            "g",
            {"class": f"legend-item {kind}", "data-legend": status, "data-kind": kind},
        )
        if isinstance(style, LineStyle):
            _el(
                item,
                "path",
                {"d": f"M {_n(ix + 3)} {_n(iy)} L {_n(ix + 31)} {_n(iy)}"} | _line_attrs(style),
            )
        else:
            _el(item, "circle", {"cx": _n(ix + 17), "cy": _n(iy)} | _marker_attrs(style))
        _text(item, ix + 38, iy + 3, style.legend, size=8.5)
    rows = math.ceil(len(items) / columns)
    return 22 + rows * row_h


def map_summary(result: Result) -> str:
    """Plain-text description of the map for screen readers."""
    lines = [
        "Schematic venous map of both legs: anterior view from the front (right leg on the "
        "left), posterior view from behind (left leg on the left)."
    ]
    for side in ("right", "left"):
        leg = result.leg(side)
        if leg is None:
            lines.append(f"{_SIDE_NAME[side]} leg: not examined.")
            continue
        by_status: dict[SegmentStatus, list[str]] = {}
        for code in dict.fromkeys(s.vein for s in leg.segments if s.vein not in PERFORATOR_VEINS):
            status = worst(segment_status(s, leg) for s in leg.segments if s.vein == code)
            by_status.setdefault(status, []).append(code)
        parts = [
            f"{LINE_STYLES[s].legend.lower()}: {', '.join(by_status[s])}"
            for s in SEGMENT_STATUSES
            if s in by_status
        ]
        for p in leg.perforators:
            marker = MARKER_STYLES[perforator_status(p)]
            where = f" ({p.label})" if p.label else ""
            parts.append(f"{p.vein}{where}: {marker.legend.lower()}")
        body = "; ".join(parts) if parts else "no segments recorded"
        lines.append(f"{_SIDE_NAME[side]} leg: {body}. Other veins not examined.")
    return " ".join(lines)


_MARGIN = 20.0
_GROUP_GAP = 40.0
_HEADER = 40.0
_LEGEND_COLUMNS = 3
_LEGEND_ROW = 15.0


def render_venous_map(
    result: Result, *, title: str | None = None, id_prefix: str = "venous-map"
) -> str:
    """A standalone SVG 1.1 document (a string, no XML declaration, so it can be inlined in
    HTML) drawing both legs in anterior and posterior view, with a legend.

    `title` is the accessible name (default: patient id and exam date); `id_prefix` keeps
    element ids unique when several maps share one HTML page. Deterministic: the same
    result always gives the same string.
    """
    geo = load_geometry()
    pw, ph = geo.panel.width, geo.panel.height
    width = 2 * _MARGIN + 4 * pw + _GROUP_GAP
    legend_top = _HEADER + ph + 14
    legend_width = width - 2 * _MARGIN
    # Legend height is fixed by the number of statuses, so compute it before drawing.
    n_items = len(SEGMENT_STATUSES) + len(PERFORATOR_STATUSES)
    legend_height = 22 + math.ceil(n_items / _LEGEND_COLUMNS) * _LEGEND_ROW
    height = legend_top + legend_height + 24

    name = title or f"Venous map, patient {result.exam.patient_id}, {result.exam.date.isoformat()}"
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "version": "1.1",
            "width": f"{_n(width)}px",
            "height": f"{_n(height)}px",
            "viewBox": f"0 0 {_n(width)} {_n(height)}",
            "role": "img",
            "aria-labelledby": f"{id_prefix}-title {id_prefix}-desc",
            "font-family": "sans-serif",
            "class": "venous-map",
        },
    )
    _el(root, "title", {"id": f"{id_prefix}-title"}, name)
    _el(root, "desc", {"id": f"{id_prefix}-desc"}, map_summary(result))

    # (side, view, mirrored) left to right: front view then back view, legs meeting at the
    # midline; the canonical geometry is a right leg seen from the front.
    layout: list[tuple[Side, View, bool]] = [
        ("right", "anterior", False),
        ("left", "anterior", True),
        ("left", "posterior", False),
        ("right", "posterior", True),
    ]
    headings = {
        "anterior": "Anterior view (from the front)",
        "posterior": "Posterior view (from behind)",
    }
    for i, (side, view, mirrored) in enumerate(layout):
        x = _MARGIN + i * pw + (_GROUP_GAP if i >= 2 else 0)
        frame = _Frame(x, _HEADER, pw, mirrored)
        if i % 2 == 0:
            _text(root, x + pw, 14, headings[view], size=11, anchor="middle", weight="bold")
        leg = result.leg(side)
        _text(
            root,
            x + pw / 2,
            30,
            f"{_SIDE_NAME[side]} - {view}",
            size=10,
            anchor="middle",
            cls="panel-label",
        )
        if leg is None:
            _text(
                root,
                x + pw / 2,
                44,
                "not examined",
                size=10,
                anchor="middle",
                fill=_TEXT_MUTED,
                italic=True,
                cls="panel-caption",
            )
        _draw_panel(root, geo, frame, side, view, leg)

    _legend(root, _MARGIN, legend_top, legend_width)
    _text(
        root,
        _MARGIN,
        height - 8,
        f"Schematic, not to scale. Reflux criteria: {result.criteria.id} "
        f"({result.criteria.version}).",
        size=8,
        fill=_TEXT_MUTED,
        cls="footnote",
    )
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode") + "\n"
