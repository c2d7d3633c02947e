"""Reflux patterns per trunk: axial, junctional, segmental (SVS22 1.1.b; SVS23 1.3.2).

- Axial: uninterrupted retrograde flow from groin to calf. Per vein (SVS23 1.3.2): GSV from
  the groin to the upper calf; SSV from the knee to the ankle; accessory saphenous veins
  between two measuring points at least 5 cm apart.
- Junctional: reflux confined to the SFJ or SPJ.
- Segmental: reflux in a portion of a superficial or deep truncal vein.

The trunks, their measuring axes and spans are data (`data/anatomy.toml` [trunks], read as
venalab.anatomy.TRUNKS by this module and by the vectorized cohort engine).
Conventions (venalab, documented): a segment entry without `site` stands for the whole
segment as recorded. Axial reflux needs refluxing measurements at both ends of the span (GSV:
SFJ or proximal thigh GSV, and the proximal below-knee GSV; SSV: SPJ or proximal SSV, and the
distal SSV; deep: CFV or FV, and the proximal popliteal vein) and somewhere in the segment
between them (thigh GSV, SSV, FV); points not measured between refluxing points do not
interrupt it, a measured competent point does. An end not measured leaves the pattern
segmental: the span is not shown, and the pattern says so ("segmental, extent not measured").
Reflux at a junction whose trunk was not measured is "junctional, trunk not measured": the
pattern does not claim the trunk is competent (issue 18). Deep axial reflux (femoral through popliteal vein) is a
venalab derivation from the CEAP04 example ("axial FV and POPV reflux") [D].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from venalab.anatomy import SITE_ORDER, VEINS, TrunkLayout
from venalab.anatomy import TRUNKS as LAYOUTS
from venalab.criteria import CriteriaSet
from venalab.evidence import Comparison, Evidence, Frozen, compare, evidence
from venalab.rules.reflux import SegmentResult
from venalab.trusted import trusted

Pattern = Literal["axial", "junctional", "segmental"]
TRUNKS: tuple[str, ...] = tuple(LAYOUTS)
"""Trunk names in report order; the layout of each is anatomy.TRUNKS (data/anatomy.toml)."""
JUNCTIONS: dict[str, str] = {t: lay.junction for t, lay in LAYOUTS.items() if lay.junction}


class PatternResult(Frozen):
    trunk: str
    pattern: Pattern
    segments: tuple[str, ...]
    qualifier: str | None = None
    """What the measurements leave open, e.g. "trunk not measured" for SFJ reflux whose trunk
    was never measured (the pattern then does not claim the trunk is competent)."""
    label: str
    """`pattern`, with its qualifier when there is one: "junctional, trunk not measured"."""
    not_measured: tuple[str, ...] = ()
    """Measuring points (vein and site) that would settle the qualifier."""
    evidence: Evidence


_pattern_result = trusted(PatternResult)


class Judged(Protocol):
    """What a pattern decision reads of a segment verdict (SegmentResult, or the lean
    venalab.decisions.SegmentDecision)."""

    @property
    def vein(self) -> str: ...
    @property
    def site(self) -> str | None: ...
    @property
    def abnormal(self) -> bool | None: ...


class PatternDecision(NamedTuple):
    """One trunk's decided pattern and why (a named tuple: built on the hot path)."""

    pattern: Pattern
    why: str
    qualifier: str | None = None
    not_measured: tuple[str, ...] = ()
    threshold: float | None = None
    measured: float | None = None
    comparison: Comparison | None = None
    unit: str | None = None


TRUNK_OF: dict[str, str | None] = {code: v.trunk for code, v in VEINS.items()}
"""The trunk each vein counts in (anatomy: `Vein.trunk`), None for none."""
# Per trunk, the axis points of every (vein, site) entry (anatomy.TrunkLayout.points).
_POINTS: dict[str, dict[tuple[str, str | None], frozenset[int]]] = {
    name: {(code, site): lay.points(code, site) for code in VEINS for site in (None, *SITE_ORDER)}
    for name, lay in LAYOUTS.items()
}


@dataclass(frozen=True, slots=True)
class _Axis:
    """A linear trunk's points as bit masks: bit p is point p (`TrunkLayout.points`)."""

    points: dict[tuple[str, str | None], int]
    start: int
    through: int
    end: int


def _mask(points: Iterable[int]) -> int:
    return sum(1 << p for p in set(points))


def _bits(mask: int) -> set[int]:
    return {p for p in range(mask.bit_length()) if mask >> p & 1}


_AXES: dict[str, _Axis] = {
    name: _Axis(
        points={key: _mask(pts) for key, pts in _POINTS[name].items()},
        start=_mask(lay.span.start),
        through=_mask(lay.span.through),
        end=1 << lay.span.end,
    )
    for name, lay in LAYOUTS.items()
    if lay.span is not None
}


def _point_name(layout: TrunkLayout, point: int) -> str:
    """'SFJ' for point 0, else '<vein> <site>' (anatomy.TrunkLayout.points in reverse)."""
    if point == 0:
        return layout.axis[0]
    vein, site = divmod(point - 1, 3)
    return f"{layout.axis[1 + vein]} {SITE_ORDER[site]}"


def _names(layout: TrunkLayout, points: set[int]) -> tuple[str, ...]:
    return tuple(_point_name(layout, p) for p in sorted(points))


def _could_be_axial(layout: TrunkLayout, abnormal: set[int], normal: set[int]) -> set[int]:
    """Unmeasured points whose reflux would make the trunk axial; empty when none would."""
    span = layout.span
    assert span is not None
    start, through, end = set(span.start), set(span.through), span.end
    unmeasured = set(range(end + 1)) - abnormal - normal
    candidates = abnormal | unmeasured
    if not (start & candidates and through & candidates and end in candidates):
        return set()
    lo = min(start & candidates)
    if any(lo < p < end for p in normal):
        return set()
    needed = {end} if end in unmeasured else set()
    if not start & abnormal:
        needed |= start & unmeasured
    if not through & abnormal:
        needed |= through & unmeasured
    return needed


def _junctional(layout: TrunkLayout, normal: set[int]) -> PatternDecision:
    junction = layout.junction
    trunk_points = set(range(1, layout.n_points))
    if not trunk_points & normal:
        return PatternDecision(
            "junctional",
            f"reflux at the {junction}; the trunk was not measured, so the reflux is not "
            "shown to be confined to the junction",
            qualifier="trunk not measured",
            not_measured=_names(layout, {1}),
        )
    if 1 not in normal:
        return PatternDecision(
            "junctional",
            f"reflux at the {junction} and a competent trunk further down; the trunk next to "
            "the junction was not measured",
            qualifier="trunk next to the junction not measured",
            not_measured=_names(layout, {1}),
        )
    return PatternDecision("junctional", f"reflux confined to the {junction}")


def _linear_pattern(layout: TrunkLayout, segs: Sequence[Judged]) -> PatternDecision | None:
    """The pattern of a trunk with reflux (`decide_patterns` asks only then); None when the
    reflux is off the trunk's axis. Points are bits of `_Axis` masks (the hot path)."""
    axis = _AXES[layout.name]
    points = axis.points
    abnormal_bits = normal_bits = 0
    for s in segs:
        refluxing = s.abnormal
        if refluxing is None:
            continue
        if refluxing:
            abnormal_bits |= points[s.vein, s.site]
        else:
            normal_bits |= points[s.vein, s.site]
    if not abnormal_bits:
        return None
    normal_bits &= ~abnormal_bits
    if abnormal_bits == 1 and layout.junction:  # point 0 only: the junction
        return _junctional(layout, _bits(normal_bits))
    span = layout.span
    assert span is not None  # a linear trunk has one (anatomy.toml is checked at import)
    start = axis.start & abnormal_bits
    if start and axis.through & abnormal_bits and abnormal_bits & axis.end:
        lo = (start & -start).bit_length() - 1  # the most proximal refluxing start point
        between = max(0, axis.end - (1 << (lo + 1)))  # points lo < p < end
        if not normal_bits & between:
            return PatternDecision("axial", f"uninterrupted reflux {span.label}")
        return PatternDecision(
            "segmental", f"reflux {span.label} interrupted by a competent measuring point"
        )
    abnormal, normal = _bits(abnormal_bits), _bits(normal_bits)
    needed = _could_be_axial(layout, abnormal, normal)
    if needed:
        names = _names(layout, needed)
        return PatternDecision(
            "segmental",
            f"reflux in a portion of the trunk; {', '.join(names)} not measured, so axial "
            f"reflux ({span.label}) is neither shown nor excluded",
            qualifier="extent not measured",
            not_measured=names,
        )
    return PatternDecision("segmental", "reflux in a portion of the trunk")


def _accessory_pattern(
    segs: Sequence[Judged], positions: dict[int, float | None], min_cm: float
) -> PatternDecision | None:
    abnormal = [i for i, s in enumerate(segs) if s.abnormal]
    if not abnormal:
        return None
    rule = PatternDecision("segmental", "", threshold=min_cm, comparison=">=", unit="cm")
    located = [p for i in abnormal if (p := positions[i]) is not None]
    if len(located) >= 2:
        lo, hi = min(located), max(located)
        spacing = round(hi - lo, 6)
        competent_between = [
            i
            for i, s in enumerate(segs)
            if s.abnormal is False and (pos := positions[i]) is not None and lo < pos < hi
        ]
        if competent_between:
            return rule._replace(
                why=f"refluxing points {spacing:g} cm apart, interrupted by a competent "
                "measuring point",
                measured=spacing,
            )
        if compare(spacing, ">=", min_cm):
            return rule._replace(
                pattern="axial",
                why=f"reflux between measuring points {spacing:g} cm apart (>= {min_cm:g} cm)",
                measured=spacing,
            )
        return rule._replace(
            why=f"refluxing points only {spacing:g} cm apart (< {min_cm:g} cm)",
            measured=spacing,
        )
    unlocated = len(abnormal) - len(located) if len(abnormal) > 1 else 0
    why = (
        f"{unlocated} refluxing point(s) without position_cm, so their spacing is unknown"
        if unlocated
        else "a single refluxing point"
    )
    return rule._replace(
        why=f"{why}; axial reflux needs two refluxing points with position_cm at least "
        f"{min_cm:g} cm apart",
        qualifier="spacing not measured" if unlocated else None,
        not_measured=("position_cm",) if unlocated else (),
    )


def refluxing_names(segs: Sequence[Judged]) -> tuple[str, ...]:
    """The refluxing entries of a trunk, "GSVa (proximal)", once each."""
    names: dict[str, None] = {}
    for s in segs:
        if s.abnormal:
            site = s.site
            names[s.vein + f" ({site})" if site else s.vein] = None
    return tuple(names)


def pattern_result(
    trunk: str, d: PatternDecision, refluxing: tuple[str, ...], cs: CriteriaSet
) -> PatternResult:
    """The full result of a trunk's decided pattern (`decide_patterns`), `refluxing` its
    refluxing entries (`refluxing_names`)."""
    derived = trunk == "deep" and d.pattern == "axial"
    label = f"{d.pattern}, {d.qualifier}" if d.qualifier else d.pattern
    return _pattern_result(
        trunk=trunk,
        pattern=d.pattern,
        segments=refluxing,
        qualifier=d.qualifier,
        label=label,
        not_measured=d.not_measured,
        evidence=evidence(
            f"reflux.pattern.{d.pattern}",
            ["CEAP04", "VENALAB"] if derived else ["SVS23", "SVS22"],
            level="D" if derived else "V",
            criteria=cs.label,
            threshold=d.threshold,
            measured=d.measured,
            comparison=d.comparison,
            unit=d.unit,
            note=f"{trunk}: {label}: {d.why}; refluxing: {', '.join(refluxing)}.",
        ),
    )


TrunkEntries = dict[str, list[tuple[Judged, float | None]]]
"""Per trunk, its entries in exam order, each with its `position_cm` input."""


def decide_patterns(
    segments: Iterable[tuple[Judged, float | None]], cs: CriteriaSet
) -> list[tuple[str, PatternDecision, list[Judged]]]:
    """The pattern decision of every trunk with reflux: (trunk, decision, its entries).
    `segments` pairs each verdict with its `position_cm` input (both tiers)."""
    by_trunk: TrunkEntries = {}
    refluxing: set[str] = set()
    trunk_of = TRUNK_OF
    for item in segments:
        seg = item[0]
        trunk = trunk_of[seg.vein]
        if trunk is None:
            continue
        members = by_trunk.get(trunk)
        if members is None:
            by_trunk[trunk] = [item]
        else:
            members.append(item)
        if seg.abnormal:
            refluxing.add(trunk)
    return decide_trunk_patterns(by_trunk, refluxing, cs)


def decide_trunk_patterns(
    by_trunk: TrunkEntries, refluxing: set[str], cs: CriteriaSet
) -> list[tuple[str, PatternDecision, list[Judged]]]:
    """`decide_patterns` on entries already grouped by trunk (`TRUNK_OF`; the decisions tier
    groups them while it judges them); `refluxing`: the trunks with an abnormal entry."""
    out: list[tuple[str, PatternDecision, list[Judged]]] = []
    if not refluxing:
        return out  # no reflux in any trunk: no pattern
    for trunk in TRUNKS:
        if trunk not in refluxing:
            continue
        items = by_trunk[trunk]
        segs = [s for s, _ in items]
        layout = LAYOUTS[trunk]
        if layout.kind == "accessory":
            decided = _accessory_pattern(
                segs, dict(enumerate(p for _, p in items)), cs.patterns.accessory_axial_min_cm
            )
        else:
            decided = _linear_pattern(layout, segs)
            if decided is None:
                decided = PatternDecision("segmental", _OFF_AXIS[trunk])
        if decided is not None:
            out.append((trunk, decided, segs))
    return out


_OFF_AXIS: dict[str, str] = {
    name: f"reflux in {name} veins outside the {', '.join(lay.axis)} axis"
    for name, lay in LAYOUTS.items()
}


def reflux_patterns(
    segments: Iterable[tuple[SegmentResult, float | None]], cs: CriteriaSet
) -> tuple[PatternResult, ...]:
    """Patterns of one leg. `segments` pairs each result with its `position_cm` input."""
    return tuple(
        pattern_result(trunk, decided, refluxing_names(segs), cs)
        for trunk, decided, segs in decide_patterns(segments, cs)
    )
