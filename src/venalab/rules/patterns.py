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
segmental: the span is not shown. Deep axial reflux (femoral through popliteal vein) is a
venalab derivation from the CEAP04 example ("axial FV and POPV reflux") [D].
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from venalab.anatomy import TRUNKS as LAYOUTS
from venalab.anatomy import VEINS, TrunkLayout
from venalab.criteria import CriteriaSet
from venalab.evidence import Evidence, Frozen, evidence
from venalab.rules.reflux import SegmentResult

Pattern = Literal["axial", "junctional", "segmental"]
TRUNKS: tuple[str, ...] = tuple(LAYOUTS)
"""Trunk names in report order; the layout of each is anatomy.TRUNKS (data/anatomy.toml)."""
JUNCTIONS: dict[str, str] = {t: lay.junction for t, lay in LAYOUTS.items() if lay.junction}


class PatternResult(Frozen):
    trunk: str
    pattern: Pattern
    segments: tuple[str, ...]
    evidence: Evidence


def _linear_pattern(layout: TrunkLayout, segs: list[SegmentResult]) -> tuple[Pattern, str] | None:
    abnormal: set[int] = set()
    normal: set[int] = set()
    for s in segs:
        if s.abnormal is None:
            continue
        (abnormal if s.abnormal else normal).update(layout.points(s.vein, s.site))
    if not abnormal:
        return None
    normal -= abnormal
    if abnormal == {0} and layout.junction:
        return "junctional", f"reflux confined to the {layout.junction}"
    span = layout.span
    assert span is not None  # a linear trunk has one (anatomy.toml is checked at import)
    start, through, end = set(span.start) & abnormal, set(span.through) & abnormal, span.end
    if start and through and end in abnormal:
        lo = min(start)
        interrupted = sorted(p for p in normal if lo < p < end)
        if not interrupted:
            return "axial", f"uninterrupted reflux {span.label}"
        return "segmental", f"reflux {span.label} interrupted by a competent measuring point"
    return "segmental", "reflux in a portion of the trunk"


def _accessory_pattern(
    segs: list[SegmentResult], positions: dict[int, float | None], min_cm: float
) -> tuple[Pattern, str] | None:
    abnormal = [i for i, s in enumerate(segs) if s.abnormal]
    if not abnormal:
        return None
    located = [positions[i] for i in abnormal if positions[i] is not None]
    if len(located) >= 2:
        lo, hi = min(p for p in located if p is not None), max(p for p in located if p is not None)
        competent_between = [
            i
            for i, s in enumerate(segs)
            if s.abnormal is False and (pos := positions[i]) is not None and lo < pos < hi
        ]
        if hi - lo >= min_cm and not competent_between:
            return (
                "axial",
                f"reflux between measuring points {hi - lo:g} cm apart (>= {min_cm:g} cm)",
            )
        if competent_between:
            return "segmental", "reflux interrupted by a competent measuring point"
        return "segmental", f"refluxing points only {hi - lo:g} cm apart (< {min_cm:g} cm)"
    return "segmental", "a single refluxing point (axial reflux needs two points with position_cm)"


def reflux_patterns(
    segments: Iterable[tuple[SegmentResult, float | None]], cs: CriteriaSet
) -> tuple[PatternResult, ...]:
    """Patterns of one leg. `segments` pairs each result with its `position_cm` input."""
    by_trunk: dict[str, list[tuple[SegmentResult, float | None]]] = {t: [] for t in TRUNKS}
    for seg, pos in segments:
        member_of = VEINS[seg.vein].trunk
        if member_of is not None:
            by_trunk[member_of].append((seg, pos))
    out: list[PatternResult] = []
    for trunk, items in by_trunk.items():
        segs = [s for s, _ in items]
        layout = LAYOUTS[trunk]
        if layout.kind == "accessory":
            decided = _accessory_pattern(
                segs, dict(enumerate(p for _, p in items)), cs.patterns.accessory_axial_min_cm
            )
        else:
            decided = _linear_pattern(layout, segs)
            if decided is None and any(s.abnormal for s in segs):
                axis = ", ".join(layout.axis)
                decided = ("segmental", f"reflux in {trunk} veins outside the {axis} axis")
        if decided is None:
            continue
        pattern, why = decided
        refluxing = tuple(
            dict.fromkeys(s.vein + (f" ({s.site})" if s.site else "") for s in segs if s.abnormal)
        )
        derived = trunk == "deep" and pattern == "axial"
        out.append(
            PatternResult(
                trunk=trunk,
                pattern=pattern,
                segments=refluxing,
                evidence=evidence(
                    f"reflux.pattern.{pattern}",
                    ["CEAP04", "VENALAB"] if derived else ["SVS23", "SVS22"],
                    level="D" if derived else "V",
                    criteria=cs.label,
                    measured=None,
                    note=f"{trunk}: {why}; refluxing: {', '.join(refluxing)}.",
                ),
            )
        )
    return tuple(out)
