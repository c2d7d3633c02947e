"""Reflux verdicts per segment and pathologic perforators, under a selected criteria set.

Rules: reflux = retrograde flow duration beyond the group cut-off of the criteria set
(SVS22 remark 1.1.a; SVS11 guideline 2.4; LAB03). A measurement exactly at the cut-off is a
`boundary`: the set's comparison decides it and the result says so (clinical.md 1.1,
"inclusive vs exclusive boundary"). Pathologic perforator: SVS22 1.1.c (>= 500 ms and
>= 3.5 mm), beneath a healed or open ulcer in C5-C6 limbs (SVS11 2.5); LAB03 > 350 ms.
Where the built-in criteria sets disagree on a measurement, every set's verdict is listed.
"""

from __future__ import annotations

from typing import Literal, get_args

from venalab.anatomy import VEINS, Vein
from venalab.criteria import CRITERIA, CriteriaSet, GroupRule
from venalab.evidence import Comparison, Evidence, Frozen, compare, evidence
from venalab.exam import Segment, Thrombus, Treatment
from venalab.trusted import trusted

Verdict = Literal["present", "absent", "boundary", "not-assessed"]
Examined = Literal["reflux", "compression", "thrombus", "obstruction", "diameter"]


def boundary_decision(abnormal: bool | None) -> str:
    """How a value exactly at its cut-off was decided, in the words every view uses."""
    return "counted as reflux" if abnormal else "not counted as reflux"


class CriteriaVerdict(Frozen):
    """How one criteria set judges the same measurement."""

    criteria: str
    verdict: Verdict
    abnormal: bool | None
    threshold_ms: float | None
    comparison: Comparison | None


class SegmentResult(Frozen):
    vein: str
    name: str
    system: str
    group: str
    site: str | None = None
    label: str | None = None
    reflux: Verdict
    abnormal: bool | None
    threshold_ms: float | None
    comparison: Comparison | None
    measured_ms: float | None
    diameter_mm: float | None = None
    compressibility: str | None = None
    obstruction: bool | None = None
    thrombus: Thrombus | None = None
    treatment: Treatment | None = None
    evidence: Evidence
    criteria_disagreement: tuple[CriteriaVerdict, ...] = ()
    examined: tuple[Examined, ...] = ()
    """What the entry recorded (`recorded`; venalab.assembly checks it): a fully
    compressible vein without `reflux` here was examined for thrombosis only, its reflux
    verdict `not-assessed` reads "compressible, reflux not measured", not "not examined"."""


_EXAMINED: tuple[Examined, ...] = get_args(Examined)
_RECORDED: tuple[tuple[Examined, ...], ...] = tuple(
    tuple(name for bit, name in enumerate(_EXAMINED) if mask >> bit & 1) for mask in range(32)
)
"""Every combination of what an entry recorded, by bit mask in `_EXAMINED` order."""


def recorded(
    reflux_ms: float | None,
    compressibility: str | None,
    thrombus: Thrombus | None,
    obstruction: bool | None,
    diameter_mm: float | None,
) -> tuple[Examined, ...]:
    """What a segment entry recorded, in `Examined` order."""
    return _RECORDED[
        (reflux_ms is not None)
        | (compressibility is not None) << 1
        | (thrombus is not None) << 2
        | (obstruction is not None) << 3
        | (diameter_mm is not None) << 4
    ]


def boundary_phrase(seg: SegmentResult) -> str:
    """The one sentence for a boundary verdict (findings, CEAP notes, venous map):
    `reflux 500 ms exactly at the 500 ms cut-off; not counted as reflux under '>'`."""
    return (
        f"reflux {seg.measured_ms:g} ms exactly at the {seg.threshold_ms:g} ms cut-off; "
        f"{boundary_decision(seg.abnormal)} under '{seg.comparison}'"
    )


class PerforatorCheck(Frozen):
    """One criterion of the pathologic-perforator definition and whether it was met."""

    criterion: Literal["duration", "diameter", "location"]
    met: bool | None
    evidence: Evidence


class PerforatorResult(Frozen):
    vein: str
    label: str | None
    site: str | None = None
    measured_ms: float | None
    diameter_mm: float | None
    beneath_ulcer: bool | None
    incompetent: bool | None
    pathologic: bool
    checks: tuple[PerforatorCheck, ...]
    evidence: Evidence
    criteria_disagreement: tuple[CriteriaVerdict, ...] = ()


def _duration_rule(vein: Vein, cs: CriteriaSet) -> GroupRule | None:
    """The cut-off that applies to this vein in this set (perforators use the perforator rule)."""
    return cs.duration_rule("perforator" if vein.is_perforator else vein.group)


SegmentVerdict = tuple[Verdict, bool | None, str]
"""(verdict, abnormal, rule id) of one segment entry."""


class VeinCut:
    """The reflux-duration decision of one vein under one set, precomputed (issue 21: the
    decisions tier takes it for every segment of every exam). The sets' comparisons are
    '>' or '>=' (criteria.Comparison), so a value above the cut-off is reflux, one below is
    not, and only a value exactly at it depends on the comparison (a `boundary`)."""

    __slots__ = ("_absent", "_at", "_present", "_unmeasured", "evidence", "rule", "threshold")

    def __init__(self, vein: Vein, rule: GroupRule | None) -> None:
        if rule is not None and rule.comparison not in (">", ">="):
            raise ValueError(f"{vein.code}: a reflux cut-off compares with '>' or '>='")
        self.rule = rule
        self.threshold = rule.threshold_ms if rule is not None else None
        self.evidence: dict[float | str | None, Evidence] = {}
        """The full result's evidence per measured value (`segment_result`)."""
        measured_id = "perforator.duration" if vein.is_perforator else "reflux.duration"
        self._present: SegmentVerdict = ("present", True, measured_id)
        self._absent: SegmentVerdict = ("absent", False, measured_id)
        at = rule is not None and compare(rule.threshold_ms, rule.comparison, rule.threshold_ms)
        self._at: SegmentVerdict = ("boundary", at, measured_id)
        self._unmeasured: SegmentVerdict = (
            ("not-assessed", None, "reflux.not-measured")
            if rule is not None
            else ("not-assessed", None, "reflux.no-criterion")
        )

    def decide(self, measured: float | None) -> SegmentVerdict:
        threshold = self.threshold
        if measured is None or threshold is None:
            return self._unmeasured
        if measured == threshold:
            return self._at
        return self._present if measured > threshold else self._absent


# Per criteria set (by identity, the set kept alive with its table): vein code -> VeinCut.
_CUTS: dict[int, tuple[CriteriaSet, dict[str, VeinCut]]] = {}


_A_PERFORATOR = next(code for code, v in VEINS.items() if v.is_perforator)
"""Every perforator has the set's one perforator rule."""


def vein_cuts(cs: CriteriaSet) -> dict[str, VeinCut]:
    """Every vein's duration decision under `cs`, built once per set."""
    held = _CUTS.get(id(cs))
    if held is not None and held[0] is cs:
        return held[1]
    if len(_CUTS) > 64:  # sets built at run time (tests, custom files): keep the table small
        _CUTS.clear()
    cuts = {code: VeinCut(v, _duration_rule(v, cs)) for code, v in VEINS.items()}
    _CUTS[id(cs)] = (cs, cuts)
    return cuts


_DISAGREEMENTS: dict[tuple[str, float], tuple[CriteriaVerdict, ...]] = {}


def _disagreement(measured: float | None, vein: Vein) -> tuple[CriteriaVerdict, ...]:
    """Every built-in set's verdict, when the sets do not agree on abnormal vs normal (shared
    per vein and value)."""
    if measured is None or not _DISPUTED[vein.code]:
        return ()
    key = (vein.code, measured)
    found = _DISAGREEMENTS.get(key)
    if found is None:
        found = _judged_by_every_set(measured, vein)
        if len(_DISAGREEMENTS) < 4096:
            _DISAGREEMENTS[key] = found
    return found


_criteria_verdict = trusted(CriteriaVerdict)


def _judged_by_every_set(measured: float, vein: Vein) -> tuple[CriteriaVerdict, ...]:
    cuts = [vein_cuts(cs)[vein.code] for cs in CRITERIA.values()]
    outcomes = [cut.decide(measured) for cut in cuts]
    if len({abnormal for _, abnormal, _ in outcomes}) == 1:
        return ()
    return tuple(
        _criteria_verdict(
            criteria=cs.id,
            verdict=verdict,
            abnormal=abnormal,
            threshold_ms=cut.rule.threshold_ms if cut.rule else None,
            comparison=cut.rule.comparison if cut.rule else None,
        )
        for cs, cut, (verdict, abnormal, _) in zip(CRITERIA.values(), cuts, outcomes, strict=True)
    )


def _rule_key(rule: GroupRule | None) -> tuple[float, str] | None:
    return None if rule is None else (rule.threshold_ms, rule.comparison)


# Veins whose duration rule differs between the built-in sets: only their measurements can be
# judged differently, so only they need the per-set comparison (a hot path for cohorts).
_DISPUTED: dict[str, bool] = {
    code: len({_rule_key(_duration_rule(v, cs)) for cs in CRITERIA.values()}) > 1
    for code, v in VEINS.items()
}


def assess_segment(seg: Segment, vein: Vein, cs: CriteriaSet) -> SegmentResult:
    """Reflux verdict of one measured segment."""
    return segment_result(seg, vein, cs, vein_cuts(cs)[vein.code].decide(seg.reflux_ms))


_SHARED_PER_VEIN = 128
"""Distinct measured values per vein and set whose evidence is kept for sharing."""


def _segment_evidence(
    measured: float | None,
    vein: Vein,
    cs: CriteriaSet,
    rule: GroupRule | None,
    decided: SegmentVerdict,
) -> Evidence:
    verdict, abnormal, rule_id = decided
    if rule is None:
        return evidence(
            rule_id,
            ["VENALAB"],
            level="D",
            criteria=cs.label,
            measured=measured,
            unit="ms",
            note=f"{cs.id} defines no reflux cut-off for the {vein.group} group; "
            "the measured value is reported without a verdict.",
        )
    note = rule.note
    if measured is None:
        note = "No reflux duration recorded for this segment (absent is not 0 ms)."
    elif verdict == "boundary":
        counts = "counts as reflux" if abnormal else "does not count as reflux"
        note = (
            f"Measured exactly at the {rule.threshold_ms:g} ms cut-off: under the "
            f"'{rule.comparison}' comparison of {cs.id} it {counts}."
            + (f" {rule.note}" if rule.note else "")
        )
    return evidence(
        rule_id,
        list(rule.sources),
        level=rule.evidence,
        criteria=cs.label,
        threshold=rule.threshold_ms,
        measured=measured,
        comparison=rule.comparison,
        unit="ms",
        note=note,
    )


def segment_result(
    seg: Segment, vein: Vein, cs: CriteriaSet, decided: SegmentVerdict
) -> SegmentResult:
    """The full result of a segment entry from its decided verdict (`VeinCut.decide`): the
    evidence and the echoed measurements."""
    verdict, abnormal, _ = decided
    code = vein.code
    cut = vein_cuts(cs)[code]
    rule = cut.rule
    # The evidence is a function of the set, the vein and the measured value (the cut
    # decides the verdict): one shared immutable object per value, as for the disagreement.
    m = seg.reflux_ms
    key = m if m or m is None else repr(m)  # -0.0 == 0.0, but it is echoed as written
    ev = cut.evidence.get(key)
    if ev is None:
        ev = _segment_evidence(m, vein, cs, rule, decided)
        if len(cut.evidence) < _SHARED_PER_VEIN:
            cut.evidence[key] = ev
    compressibility, thrombus = seg.compressibility, seg.thrombus
    obstruction, diameter = seg.obstruction, seg.diameter_mm
    return _segment_result(
        vein=seg.vein,
        name=vein.name,
        system=vein.system,
        group=vein.group,
        site=seg.site,
        label=seg.label,
        reflux=verdict,
        abnormal=abnormal,
        threshold_ms=cut.threshold,
        comparison=rule.comparison if rule else None,
        measured_ms=m,
        diameter_mm=diameter,
        compressibility=compressibility,
        obstruction=obstruction,
        thrombus=thrombus,
        treatment=seg.treatment,
        evidence=ev,
        criteria_disagreement=() if m is None or not _DISPUTED[code] else _disagreement(m, vein),
        examined=recorded(m, compressibility, thrombus, obstruction, diameter),
    )


_segment_result = trusted(SegmentResult)
_perforator_check = trusted(PerforatorCheck)
_perforator_result = trusted(PerforatorResult)

PerforatorCriterion = Literal["duration", "diameter", "location"]


PerforatorOutcome = tuple[PerforatorCriterion, bool | None]


def perforator_outcomes(
    seg: Segment, cs: CriteriaSet, c_classes: tuple[str, ...]
) -> tuple[PerforatorOutcome, ...]:
    """Each criterion of the set's pathologic-perforator definition: met, not met, or unknown
    (both tiers; pathologic when every one is met)."""
    p = cs.perforator
    m = seg.reflux_ms
    duration = None if m is None else compare(m, p.duration_comparison, p.duration_ms)
    if p.diameter_mm is None or p.diameter_comparison is None:
        out: tuple[PerforatorOutcome, ...] = (("duration", duration),)
    else:
        d = seg.diameter_mm
        diameter = None if d is None else compare(d, p.diameter_comparison, p.diameter_mm)
        out = (("duration", duration), ("diameter", diameter))
    if cs.ulcer_limb(c_classes):
        out += (("location", seg.beneath_ulcer),)
    return out


def is_pathologic(outcomes: tuple[PerforatorOutcome, ...]) -> bool:
    return all(met is True for _, met in outcomes)


def _check_evidence(criterion: PerforatorCriterion, seg: Segment, cs: CriteriaSet) -> Evidence:
    p = cs.perforator
    if criterion == "location":
        return evidence(
            "perforator.location",
            ["SVS11"],
            level="V",
            criteria=cs.label,
            note="In a C5-C6 limb a pathologic perforator lies beneath a healed or open "
            "venous ulcer (SVS11 guideline 2.5)."
            + ("" if seg.beneath_ulcer is not None else " Location not recorded."),
        )
    numeric = {
        "duration": (p.duration_ms, p.duration_comparison, seg.reflux_ms, "ms",
                     "outward flow duration"),
        "diameter": (p.diameter_mm, p.diameter_comparison, seg.diameter_mm, "mm", "diameter"),
    }  # fmt: skip
    threshold, comparison, measured, unit, what = numeric[criterion]
    return evidence(
        f"perforator.{criterion}",
        list(p.sources),
        level=p.evidence,
        criteria=cs.label,
        threshold=threshold,
        measured=measured,
        comparison=comparison,
        unit=unit,
        note=None if measured is not None else f"{what} not recorded",
    )


def perforator_pathologic(seg: Segment, cs: CriteriaSet, c_classes: tuple[str, ...]) -> bool:
    """Every criterion of the set's pathologic-perforator definition is met (both tiers)."""
    return is_pathologic(perforator_outcomes(seg, cs, c_classes))


def perforator_incompetent(reflux_ms: float | None, cs: CriteriaSet) -> bool | None:
    """Outward flow is reflux under the set's perforator reflux rule (SVS22 1.1.a: > 500 ms);
    the same verdict as the perforator's entry in `segments[]`. None when not measured."""
    return vein_cuts(cs)[_A_PERFORATOR].decide(reflux_ms)[1]


def assess_perforator(
    seg: Segment, cs: CriteriaSet, c_classes: tuple[str, ...]
) -> PerforatorResult:
    """Pathologic-perforator decision with each criterion's evidence."""
    return perforator_result(
        seg,
        cs,
        c_classes,
        perforator_incompetent(seg.reflux_ms, cs),
        perforator_outcomes(seg, cs, c_classes),
    )


def perforator_result(
    seg: Segment,
    cs: CriteriaSet,
    c_classes: tuple[str, ...],
    incompetent: bool | None,
    outcomes: tuple[PerforatorOutcome, ...],
) -> PerforatorResult:
    """The full result of a perforator entry from its decided verdicts
    (`perforator_incompetent`, `perforator_outcomes`): checks, note and evidence."""
    checks = tuple(
        _perforator_check(criterion=name, met=met, evidence=_check_evidence(name, seg, cs))
        for name, met in outcomes
    )
    pathologic = is_pathologic(outcomes)
    missing = [c.criterion for c in checks if c.met is None]
    failed = [c.criterion for c in checks if c.met is False]
    if pathologic:
        note = "All criteria of the pathologic-perforator definition are met."
    elif failed:
        note = f"Not pathologic: {', '.join(failed)} criterion not met."
    else:
        note = f"Cannot be called pathologic: {', '.join(missing)} not recorded."
    p = cs.perforator
    reflux = _duration_rule(VEINS[seg.vein], cs)
    if incompetent and not pathologic:
        note += " Outward flow is beyond the duration cut-off (incompetent perforator)."
    elif checks[0].met and not incompetent and reflux is not None:
        note += (
            f" Outward flow {seg.reflux_ms:g} ms is exactly at the {p.duration_ms:g} ms cut-off: "
            f"it meets the '{p.duration_comparison}' duration criterion of the pathologic "
            f"definition but is not reflux under '{reflux.comparison}' (not an incompetent "
            "perforator)."
        )
    ev = evidence(
        "perforator.pathologic",
        list(p.sources),
        level=p.evidence,
        criteria=cs.label,
        threshold=p.duration_ms,
        measured=seg.reflux_ms,
        comparison=p.duration_comparison,
        unit="ms",
        note=note,
    )
    return _perforator_result(
        vein=seg.vein,
        label=seg.label,
        site=seg.site,
        measured_ms=seg.reflux_ms,
        diameter_mm=seg.diameter_mm,
        beneath_ulcer=seg.beneath_ulcer,
        incompetent=incompetent,
        pathologic=pathologic,
        checks=checks,
        evidence=ev,
        criteria_disagreement=_perforator_disagreement(seg, c_classes),
    )


_PERFORATOR_DISAGREEMENTS: dict[tuple[object, ...], tuple[CriteriaVerdict, ...]] = {}


def _perforator_disagreement(
    seg: Segment, c_classes: tuple[str, ...]
) -> tuple[CriteriaVerdict, ...]:
    """Every built-in set's pathologic verdict, when the sets disagree (shared per measured
    values and classes)."""
    key = (seg.reflux_ms, seg.diameter_mm, seg.beneath_ulcer, c_classes)
    found = _PERFORATOR_DISAGREEMENTS.get(key)
    if found is not None:
        return found
    judged = [(other, perforator_pathologic(seg, other, c_classes)) for other in CRITERIA.values()]
    found = ()
    if len({verdict for _, verdict in judged}) > 1:
        found = tuple(
            _criteria_verdict(
                criteria=other.id,
                verdict="present" if patho else "absent",
                abnormal=patho,
                threshold_ms=other.perforator.duration_ms,
                comparison=other.perforator.duration_comparison,
            )
            for other, patho in judged
        )
    if len(_PERFORATOR_DISAGREEMENTS) < 4096:
        _PERFORATOR_DISAGREEMENTS[key] = found
    return found
