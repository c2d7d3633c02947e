"""Reflux patterns per trunk: axial, junctional, segmental (SVS22 1.1.b; SVS23 1.3.2).

- Axial: uninterrupted retrograde flow from groin to calf. Per vein (SVS23 1.3.2): GSV from
  the groin to the upper calf; SSV from the knee to the ankle; accessory saphenous veins
  between two measuring points at least 5 cm apart.
- Junctional: reflux confined to the SFJ or SPJ.
- Segmental: reflux in a portion of a superficial or deep truncal vein.

Conventions (venalab, documented): a segment entry without `site` stands for the whole
segment as recorded. Axial reflux needs refluxing measurements at both ends of the span (GSV:
SFJ or proximal thigh GSV, and the proximal below-knee GSV; SSV: SPJ or proximal SSV, and the
distal SSV; deep: CFV or FV, and the proximal popliteal vein) and somewhere in the segment
between them (thigh GSV, SSV, FV); points not measured between refluxing points do not
interrupt it, a measured competent point does. An end not measured leaves the pattern
segmental: the span is not shown. Deep axial reflux (femoral through popliteal vein) is a
venalab derivation from the CEAP04 example ("axial FV and POPV reflux") [D].
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from venalab.criteria import CriteriaSet
from venalab.evidence import Comparison, Evidence, Frozen, compare, evidence
from venalab.rules.reflux import SegmentResult

Pattern = Literal["axial", "junctional", "segmental"]
TRUNKS = ("GSV", "SSV", "AASV", "PAGSV", "deep")

# Points along each linear trunk, proximal to distal: (vein, site) -> position.
_SITE_INDEX = {"proximal": 0, "mid": 1, "distal": 2}
_LINEAR: dict[str, tuple[str, ...]] = {
    "GSV": ("SFJ", "GSVa", "GSVb"),
    "SSV": ("SPJ", "SSV"),
    "deep": ("CFV", "FV", "POPV"),
}
_JUNCTION = {"GSV": "SFJ", "SSV": "SPJ"}


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


@dataclass(frozen=True)
class _Decided:
    pattern: Pattern
    why: str
    qualifier: str | None = None
    not_measured: tuple[str, ...] = ()
    threshold: float | None = None
    measured: float | None = None
    comparison: Comparison | None = None
    unit: str | None = None


# Names of the points of each linear trunk (see _points), for "not measured" messages.
_POINT_NAMES: dict[str, tuple[str, ...]] = {
    "GSV": ("SFJ", "GSVa proximal", "GSVa mid", "GSVa distal", "GSVb proximal", "GSVb mid",
            "GSVb distal"),
    "SSV": ("SPJ", "SSV proximal", "SSV mid", "SSV distal"),
    "deep": ("CFV", "FV proximal", "FV mid", "FV distal", "POPV proximal", "POPV mid",
             "POPV distal"),
}  # fmt: skip
# The span axial reflux must cover (SVS22 1.1.b, SVS23 1.3.2): any point of `start`, any of
# `through`, and `end`.
_SPAN: dict[str, tuple[frozenset[int], frozenset[int], int, str]] = {
    "GSV": (frozenset({0, 1}), frozenset({1, 2, 3}), 4, "groin to upper calf"),
    "SSV": (frozenset({0, 1}), frozenset({1, 2, 3}), 3, "knee to ankle"),
    "deep": (frozenset({0, 1, 2, 3}), frozenset({1, 2, 3}), 4, "femoral through popliteal vein"),
}


def _points(trunk: str, seg: SegmentResult) -> set[int]:
    """Positions a segment entry covers on its trunk (junction = 0; then 3 per segment)."""
    order = _LINEAR[trunk]
    idx = order.index(seg.vein)
    if seg.vein in _JUNCTION.values() or seg.vein == "CFV":
        return {0}
    base = 1 + 3 * (idx - 1)
    if seg.site is None:
        return {base, base + 1, base + 2}
    return {base + _SITE_INDEX[seg.site]}


def _names(trunk: str, points: set[int] | frozenset[int]) -> tuple[str, ...]:
    return tuple(_POINT_NAMES[trunk][p] for p in sorted(points))


def _could_be_axial(trunk: str, abnormal: set[int], normal: set[int]) -> set[int]:
    """Unmeasured points whose reflux would make the trunk axial; empty when none would."""
    start, through, end, _ = _SPAN[trunk]
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


def _junctional(trunk: str, normal: set[int]) -> _Decided:
    junction = _JUNCTION[trunk]
    trunk_points = set(range(1, len(_POINT_NAMES[trunk])))
    if not trunk_points & normal:
        return _Decided(
            "junctional",
            f"reflux at the {junction}; the trunk was not measured, so the reflux is not "
            "shown to be confined to the junction",
            qualifier="trunk not measured",
            not_measured=_names(trunk, {1}),
        )
    if 1 not in normal:
        return _Decided(
            "junctional",
            f"reflux at the {junction} and a competent trunk further down; the trunk next to "
            "the junction was not measured",
            qualifier="trunk next to the junction not measured",
            not_measured=_names(trunk, {1}),
        )
    return _Decided("junctional", f"reflux confined to the {junction}")


def _linear_pattern(trunk: str, segs: list[SegmentResult]) -> _Decided | None:
    abnormal: set[int] = set()
    normal: set[int] = set()
    for s in segs:
        if s.abnormal is None:
            continue
        (abnormal if s.abnormal else normal).update(_points(trunk, s))
    if not abnormal:
        return None
    normal -= abnormal
    if abnormal == {0} and trunk in _JUNCTION:
        return _junctional(trunk, normal)
    start, through, end, span = _SPAN[trunk]
    if start & abnormal and through & abnormal and end in abnormal:
        lo = min(start & abnormal)
        interrupted = sorted(p for p in normal if lo < p < end)
        if not interrupted:
            return _Decided("axial", f"uninterrupted reflux {span}")
        return _Decided("segmental", f"reflux {span} interrupted by a competent measuring point")
    needed = _could_be_axial(trunk, abnormal, normal)
    if needed:
        names = _names(trunk, needed)
        return _Decided(
            "segmental",
            f"reflux in a portion of the trunk; {', '.join(names)} not measured, so axial "
            f"reflux ({span}) is neither shown nor excluded",
            qualifier="extent not measured",
            not_measured=names,
        )
    return _Decided("segmental", "reflux in a portion of the trunk")


def _accessory_pattern(
    segs: list[SegmentResult], positions: dict[int, float | None], min_cm: float
) -> _Decided | None:
    abnormal = [i for i, s in enumerate(segs) if s.abnormal]
    if not abnormal:
        return None
    rule = _Decided("segmental", "", threshold=min_cm, comparison=">=", unit="cm")
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
            return replace(
                rule,
                why=f"refluxing points {spacing:g} cm apart, interrupted by a competent "
                "measuring point",
                measured=spacing,
            )
        if compare(spacing, ">=", min_cm):
            return replace(
                rule,
                pattern="axial",
                why=f"reflux between measuring points {spacing:g} cm apart (>= {min_cm:g} cm)",
                measured=spacing,
            )
        return replace(
            rule,
            why=f"refluxing points only {spacing:g} cm apart (< {min_cm:g} cm)",
            measured=spacing,
        )
    unlocated = len(abnormal) - len(located) if len(abnormal) > 1 else 0
    why = (
        f"{unlocated} refluxing point(s) without position_cm, so their spacing is unknown"
        if unlocated
        else "a single refluxing point"
    )
    return replace(
        rule,
        why=f"{why}; axial reflux needs two refluxing points with position_cm at least "
        f"{min_cm:g} cm apart",
        qualifier="spacing not measured" if unlocated else None,
        not_measured=("position_cm",) if unlocated else (),
    )


def _pattern_result(
    trunk: str, d: _Decided, segs: list[SegmentResult], cs: CriteriaSet
) -> PatternResult:
    refluxing = tuple(
        dict.fromkeys(s.vein + (f" ({s.site})" if s.site else "") for s in segs if s.abnormal)
    )
    derived = trunk == "deep" and d.pattern == "axial"
    label = f"{d.pattern}, {d.qualifier}" if d.qualifier else d.pattern
    return PatternResult(
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


def reflux_patterns(
    segments: Iterable[tuple[SegmentResult, float | None]], cs: CriteriaSet
) -> tuple[PatternResult, ...]:
    """Patterns of one leg. `segments` pairs each result with its `position_cm` input."""
    by_trunk: dict[str, list[tuple[SegmentResult, float | None]]] = {t: [] for t in TRUNKS}
    for seg, pos in segments:
        if seg.vein in ("SFJ", "GSVa", "GSVb"):
            by_trunk["GSV"].append((seg, pos))
        elif seg.vein in ("SPJ", "SSV"):
            by_trunk["SSV"].append((seg, pos))
        elif seg.vein in ("AASV", "PAGSV"):
            by_trunk[seg.vein].append((seg, pos))
        elif seg.system == "deep":
            by_trunk["deep"].append((seg, pos))
    out: list[PatternResult] = []
    for trunk, items in by_trunk.items():
        segs = [s for s, _ in items]
        if trunk in ("AASV", "PAGSV"):
            decided = _accessory_pattern(
                segs, dict(enumerate(p for _, p in items)), cs.patterns.accessory_axial_min_cm
            )
        elif trunk == "deep":
            axis = [s for s in segs if s.vein in _LINEAR["deep"]]
            decided = _linear_pattern("deep", axis)
            if decided is None and any(s.abnormal for s in segs):
                decided = _Decided(
                    "segmental", "reflux in deep veins outside the femoropopliteal axis"
                )
        else:
            decided = _linear_pattern(trunk, segs)
        if decided is not None:
            out.append(_pattern_result(trunk, decided, segs, cs))
    return tuple(out)
