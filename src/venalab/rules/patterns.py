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
from typing import Literal

from venalab.criteria import CriteriaSet
from venalab.evidence import Evidence, Frozen, evidence
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
    evidence: Evidence


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


def _linear_pattern(trunk: str, segs: list[SegmentResult]) -> tuple[Pattern, str] | None:
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
        return "junctional", f"reflux confined to the {_JUNCTION[trunk]}"
    if trunk == "GSV":
        # groin (SFJ or proximal thigh GSV) -> thigh GSV -> upper calf GSV
        start, through, end = ({0, 1} & abnormal), ({1, 2, 3} & abnormal), 4
        span = "groin to upper calf"
    elif trunk == "SSV":
        # knee (SPJ or proximal SSV) -> distal SSV (ankle)
        start, through, end = ({0, 1} & abnormal), ({1, 2, 3} & abnormal), 3
        span = "knee to ankle"
    else:
        # deep: femoral vein through popliteal vein
        start, through, end = ({0, 1, 2, 3} & abnormal), ({1, 2, 3} & abnormal), 4
        span = "femoral through popliteal vein"
    if start and through and end in abnormal:
        lo = min(start)
        interrupted = sorted(p for p in normal if lo < p < end)
        if not interrupted:
            return "axial", f"uninterrupted reflux {span}"
        return "segmental", f"reflux {span} interrupted by a competent measuring point"
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
                decided = ("segmental", "reflux in deep veins outside the femoropopliteal axis")
        else:
            decided = _linear_pattern(trunk, segs)
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
