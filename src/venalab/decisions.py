"""The decisions tier (issue 21): every verdict, class, score and pathway decision of an exam
with its rule id, without evidence objects, texts or the result document.

`decide(exam)` takes the same decisions as `engine.assess` through the same rule functions
(rules.reflux `vein_cuts` / `perforator_outcomes`, rules.patterns `decide_trunk_patterns`,
rules.ceap `clinical_classes` / `walk_segments` / `ap_decision`,
rules.pathways.cvi `cvi_steps`, the thrombosis side's decide step
(rules.thrombotic `decide_thrombotic`: EHIT, thrombosis, pathway and critical decisions,
which engine.assess renders) where a leg has a thrombus or a treatment, and the score rules
where items are scored); it only skips rendering.
`decisions_of(result)` reads the same structure off a full result: the differential test
(tests/test_decisions.py) holds `decide(exam) == decisions_of(assess(exam))`.
Shape: README "Result detail" and `Decisions.to_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, get_args

from venalab.anatomy import VEINS
from venalab.assembly import ceap_not_assessed
from venalab.criteria import CriteriaSet, get_criteria
from venalab.exam import ExamDocument, Leg, Segment, Side, Thrombus
from venalab.result import EngineOptions, LegResult, Result
from venalab.rules.calcinosis import assess_calcinosis
from venalab.rules.ceap import clinical_classes, highest_class
from venalab.rules.ceap.derivation import (
    ApWalk,
    ap_decision,
    etiology_of,
    symptoms_of,
    thrombosed_veins,
    walk_segments,
)
from venalab.rules.pathways import pathway_params
from venalab.rules.pathways.cvi import cvi_steps
from venalab.rules.pathways.model import DEFAULT_PARAMS, PathwayParams
from venalab.rules.patterns import (
    TRUNK_OF,
    Pattern,
    PatternDecision,
    TrunkEntries,
    decide_trunk_patterns,
    refluxing_names,
)
from venalab.rules.reflux import (
    PerforatorOutcome,
    Verdict,
    is_pathologic,
    perforator_outcomes,
    vein_cuts,
)
from venalab.rules.thrombotic import decide_thrombotic
from venalab.rules.vcss import score_with_sign_bounds
from venalab.rules.villalta import score_villalta
from venalab.rules.wells import score_wells

DECISIONS_FORMAT = "venous-decisions/1"


@dataclass(slots=True)
class SegmentDecision:
    """One `segments[]` entry: its reflux verdict and the rule that decided it. (Not frozen:
    built once per segment on the hot path, where a frozen dataclass costs 3x; read-only
    by convention.)"""

    vein: str
    site: str | None
    reflux: Verdict
    abnormal: bool | None
    rule: str
    entry: Segment | None = field(default=None, compare=False, repr=False)
    """The exam entry, read by the later decisions (A/P walk, treatment steps)."""
    thrombus: Thrombus | None = field(default=None, compare=False, repr=False)
    obstruction: bool | None = field(default=None, compare=False, repr=False)
    compressibility: str | None = field(default=None, compare=False, repr=False)
    """The entry's fields the A/P walk reads for every entry (copied: cheaper than a property
    on the hot path)."""

    @property
    def label(self) -> str | None:
        return self.entry.label if self.entry else None

    @property
    def system(self) -> str:
        return _SYSTEM_OF[self.vein]

    @property
    def diameter_mm(self) -> float | None:
        return self.entry.diameter_mm if self.entry else None

    def to_dict(self) -> dict[str, Any]:
        return {"vein": self.vein, "site": self.site, "reflux": self.reflux,
                "abnormal": self.abnormal, "rule": self.rule}  # fmt: skip


@dataclass(slots=True)
class PerforatorDecision:
    vein: str
    site: str | None
    incompetent: bool | None
    pathologic: bool
    rule: str = "perforator.pathologic"
    label: str | None = field(default=None, compare=False)
    outcomes: tuple[PerforatorOutcome, ...] = field(default=(), compare=False, repr=False)
    """Each criterion of the pathologic definition (rules.reflux.perforator_outcomes)."""

    def to_dict(self) -> dict[str, Any]:
        return {"vein": self.vein, "site": self.site, "incompetent": self.incompetent,
                "pathologic": self.pathologic, "rule": self.rule}  # fmt: skip


@dataclass(slots=True)  # not frozen: built per exam (see SegmentDecision)
class TrunkPattern:
    trunk: str
    pattern: str
    qualifier: str | None
    segments: tuple[str, ...]
    rule: str
    decision: PatternDecision | None = field(default=None, compare=False, repr=False)
    """Why (rules.patterns.decide_patterns), rendered into the full result's evidence."""

    def to_dict(self) -> dict[str, Any]:
        return {"trunk": self.trunk, "pattern": self.pattern, "qualifier": self.qualifier,
                "segments": list(self.segments), "rule": self.rule}  # fmt: skip


@dataclass(slots=True)  # not frozen: built per exam (see SegmentDecision)
class CeapDecision:
    c_classes: tuple[str, ...]
    c_basic: str
    symptoms: str | None
    e: str | None
    a_groups: tuple[str, ...]
    p_types: tuple[str, ...]
    rule: str = "ceap.classification"

    def to_dict(self) -> dict[str, Any]:
        return {"c_classes": list(self.c_classes), "c_basic": self.c_basic,
                "symptoms": self.symptoms, "e": self.e, "a_groups": list(self.a_groups),
                "p_types": list(self.p_types), "rule": self.rule}  # fmt: skip


@dataclass(slots=True)  # not frozen: built per exam (see SegmentDecision)
class LegDecisions:
    segments: tuple[SegmentDecision, ...]
    perforators: tuple[PerforatorDecision, ...]
    patterns: tuple[TrunkPattern, ...]
    thrombosis: str
    pathway: str
    pathway_decision: str
    ceap: CeapDecision | None
    ehit: tuple[tuple[str, str | None, str], ...] = ()
    """(junction, AVF EHIT class or None, decision) per ablated junction."""
    critical: tuple[str, ...] = ()
    """Criterion ids of the leg's critical marks."""
    vcss: tuple[int, int, bool | None] | None = None
    """(total, upper bound, severe)."""
    villalta: tuple[int, str | None] | None = None
    """(total, category)."""
    recommendations: tuple[str, ...] = ()
    """Ids (`<rule key>.<side>`) of the leg's pathway and treatment recommendations, sorted."""

    def to_dict(self) -> dict[str, Any]:
        vcss = self.vcss
        villalta = self.villalta
        return {
            "segments": [s.to_dict() for s in self.segments],
            "perforators": [p.to_dict() for p in self.perforators],
            "reflux_patterns": [p.to_dict() for p in self.patterns],
            "thrombosis": {"classification": self.thrombosis,
                           "rule": f"thrombosis.{self.thrombosis}"},
            "pathway": {"pathway": self.pathway, "decision": self.pathway_decision,
                        "rule": f"pathway.{self.pathway}"},
            "ceap": self.ceap.to_dict() if self.ceap else None,
            "ehit": [{"junction": j, "ehit_class": c, "decision": d} for j, c, d in self.ehit],
            "critical": list(self.critical),
            "vcss": None if vcss is None else {"total": vcss[0], "upper_bound": vcss[1],
                                               "severe": vcss[2], "rule": "vcss"},
            "villalta": None if villalta is None else {"total": villalta[0],
                                                       "category": villalta[1],
                                                       "rule": "villalta"},
            "recommendations": list(self.recommendations),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Decisions:
    """The lean result (`detail="decisions"`)."""

    criteria: str
    patient_id: str
    legs: dict[str, LegDecisions]
    wells_dvt: tuple[int | None, str | None] | None = None
    """(score, two-level category)."""
    recommendations: tuple[str, ...] = ()
    """Ids of the recommendations about the patient as a whole (laboratory work-up), sorted."""

    def to_dict(self) -> dict[str, Any]:
        wells = self.wells_dvt
        return {
            "format": DECISIONS_FORMAT,
            "criteria": self.criteria,
            "patient_id": self.patient_id,
            "legs": {side: leg.to_dict() for side, leg in self.legs.items()},
            "wells_dvt": None if wells is None else {"score": wells[0], "two_level": wells[1],
                                                     "rule": "wells_dvt"},
            "recommendations": list(self.recommendations),
        }  # fmt: skip


# ---------------------------------------------------------------------------------------
# The lean path


_SYSTEM_OF: dict[str, str] = {code: v.system for code, v in VEINS.items()}
_IS_PERFORATOR: frozenset[str] = frozenset(c for c, v in VEINS.items() if v.is_perforator)


@dataclass(slots=True)  # not frozen: built per exam (see SegmentDecision)
class LegReflux:
    """The reflux-side decisions of a leg: what both tiers decide first (`decide_reflux`);
    the full result renders them (engine.assess_leg)."""

    c_classes: tuple[str, ...]
    segments: tuple[SegmentDecision, ...]
    perforators: tuple[PerforatorDecision, ...]
    patterns: tuple[TrunkPattern, ...]

    def walk(self, thrombosed: frozenset[str]) -> ApWalk:
        """The CEAP A/P walk over these decisions (rules.ceap `walk_segments`)."""
        return walk_segments(self.segments, self.perforators, thrombosed)


def _segments(
    segs: tuple[Segment, ...], cs: CriteriaSet
) -> tuple[list[SegmentDecision], list[SegmentDecision], TrunkEntries, set[str]]:
    """Every entry's reflux verdict (rules.reflux `vein_cuts`, the table `assess_segment`
    reads too), in one pass that also sets apart the perforator entries and groups the
    entries by trunk for the pattern rules (rules.patterns `decide_trunk_patterns`):
    (verdicts, perforator verdicts, entries by trunk, trunks with reflux)."""
    cuts = vein_cuts(cs)
    trunk_of = TRUNK_OF
    is_perforator = _IS_PERFORATOR
    out: list[SegmentDecision] = []
    perforators: list[SegmentDecision] = []
    by_trunk: TrunkEntries = {}
    refluxing: set[str] = set()
    append = out.append
    for s in segs:
        vein = s.vein
        reflux, abnormal, rule = cuts[vein].decide(s.reflux_ms)
        d = SegmentDecision(vein, s.site, reflux, abnormal, rule, s, s.thrombus, s.obstruction,
                            s.compressibility)  # fmt: skip
        append(d)
        if vein in is_perforator:
            perforators.append(d)
        trunk = trunk_of[vein]
        if trunk is not None:
            members = by_trunk.get(trunk)
            if members is None:
                by_trunk[trunk] = [(d, s.position_cm)]
            else:
                members.append((d, s.position_cm))
            if abnormal:
                refluxing.add(trunk)
    return out, perforators, by_trunk, refluxing


def _perforator(
    decided: SegmentDecision, cs: CriteriaSet, c_classes: tuple[str, ...]
) -> PerforatorDecision:
    seg = decided.entry
    assert seg is not None
    outcomes = perforator_outcomes(seg, cs, c_classes)
    # `incompetent` is the verdict of the perforator's own `segments[]` entry: the set's
    # perforator reflux rule (rules.reflux.perforator_incompetent reads the same cut).
    return PerforatorDecision(
        seg.vein, seg.site, decided.abnormal, is_pathologic(outcomes), label=seg.label,
        outcomes=outcomes,
    )  # fmt: skip


_PATTERN_RULE: dict[str, str] = {p: f"reflux.pattern.{p}" for p in get_args(Pattern)}


def decide_reflux(leg: Leg, cs: CriteriaSet) -> LegReflux:
    """Segment verdicts, perforators and trunk patterns of a leg (both tiers)."""
    c_classes = clinical_classes(leg.clinical)
    segments, perforator_entries, by_trunk, refluxing = _segments(leg.segments, cs)
    perforators = tuple([_perforator(d, cs, c_classes) for d in perforator_entries])
    patterns = tuple(
        [TrunkPattern(trunk, d.pattern, d.qualifier, refluxing_names(segs),
                      _PATTERN_RULE[d.pattern], d)
         for trunk, d, segs in decide_trunk_patterns(by_trunk, refluxing, cs)]
    )  # fmt: skip
    return LegReflux(c_classes, tuple(segments), perforators, patterns)


@dataclass(frozen=True, slots=True)
class _Thrombotic:
    """The thrombosis-side decisions of a leg (full rules: they are rare and branchy)."""

    classification: str = "none"
    pathway: str = "none"
    decision: str = "none"
    thrombosed: frozenset[str] = frozenset()
    acute: bool = False
    ehit: tuple[tuple[str, str | None, str], ...] = ()
    critical: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()


_NO_THROMBUS = _Thrombotic()


def _thrombotic(
    side: Side, leg: Leg, exam: ExamDocument, options: EngineOptions, params: PathwayParams
) -> _Thrombotic:
    for s in leg.segments:
        if s.thrombus is not None or s.treatment is not None:
            break
    else:
        return _NO_THROMBUS  # no thrombus, no treatment: no class, no pathway, no mark
    d = decide_thrombotic(side, leg, exam, options.tibioperoneal_trunk, params)
    t, pathway = d.thrombosis, d.pathway
    return _Thrombotic(
        classification=t.classification,
        pathway=pathway.pathway,
        decision=pathway.decision,
        thrombosed=thrombosed_veins(t),
        acute=(t.classification != "none" and not t.chronic_only) or bool(t.superficial),
        ehit=tuple((e.junction, e.ehit_class, e.decision) for e in d.ehit),
        critical=tuple(c.criterion for c in d.critical),
        recommendations=pathway.rec_ids(),
    )


_VCSS_PATH: dict[str, str] = {side: f"scores.vcss.{side}" for side in ("left", "right")}


def _scores(
    side: Side, leg: Leg, exam: ExamDocument
) -> tuple[tuple[int, int, bool | None] | None, tuple[int, str | None] | None]:
    scores = exam.scores
    given = getattr(scores.vcss, side) if scores and scores.vcss else None
    signs = leg.clinical.signs if exam.exam.purpose != "thrombosis" else ()
    vcss, _ = score_with_sign_bounds(given, signs, path=_VCSS_PATH[side])
    villalta = None
    items = getattr(scores.villalta, side) if scores and scores.villalta else None
    if items is not None:
        if items.ulcer is None:
            items = items.model_copy(update={"ulcer": "ulcer-active" in leg.clinical.signs})
        v = score_villalta(items)
        villalta = (v.total, v.category)
    return (None if vcss is None else (vcss.total, vcss.upper_bound, vcss.severe)), villalta


def _decide_leg(
    side: Side,
    leg: Leg,
    exam: ExamDocument,
    cs: CriteriaSet,
    options: EngineOptions,
    params: PathwayParams,
) -> tuple[LegDecisions, tuple[str, ...]]:
    """The leg's decisions, and its C classes (`clinical_classes`)."""
    reflux = decide_reflux(leg, cs)
    c_classes, segments, perforators, patterns = (
        reflux.c_classes, reflux.segments, reflux.perforators, reflux.patterns
    )  # fmt: skip
    t = _thrombotic(side, leg, exam, options, params)
    ceap = None
    if ceap_not_assessed(exam, side, t.acute) is None:
        a_groups, p_types = ap_decision(reflux.walk(t.thrombosed))
        ceap = CeapDecision(
            c_classes, highest_class(c_classes), symptoms_of(leg.clinical),
            etiology_of(leg.clinical), a_groups, p_types,
        )  # fmt: skip
    steps = cvi_steps(c_classes, leg.clinical.symptomatic, segments, perforators, patterns, params)
    vcss, villalta = _scores(side, leg, exam)
    recs = {*t.recommendations, *[f"{key}.{side}" for key, _ in steps]}
    return LegDecisions(
        segments=segments,
        perforators=perforators,
        patterns=patterns,
        thrombosis=t.classification,
        pathway=t.pathway,
        pathway_decision=t.decision,
        ceap=ceap,
        ehit=t.ehit,
        critical=t.critical,
        vcss=vcss,
        villalta=villalta,
        recommendations=tuple(sorted(recs)),
    ), c_classes


_DEFAULT_OPTIONS = EngineOptions()


def decide(
    exam: ExamDocument, criteria: CriteriaSet | None = None, options: EngineOptions | None = None
) -> Decisions:
    """The decisions `engine.assess` takes on this exam, without rendering them. With a prior
    exam the serial comparison decides inside its renderer: `assess(..., prior=...,
    detail="decisions")` reads the decisions off the full result instead."""
    options = options or _DEFAULT_OPTIONS
    cs = criteria or get_criteria(options.criteria)
    params = pathway_params(options.pathways) if options.pathways else DEFAULT_PARAMS
    legs: dict[str, LegDecisions] = {}
    c_by_side: dict[str, tuple[str, ...]] = {}
    for side, leg in exam.legs.items():
        legs[side], c_by_side[side] = _decide_leg(side, leg, exam, cs, options, params)
    wells_items = exam.scores.wells_dvt if exam.scores else None
    wells = score_wells(wells_items, version=options.wells_version) if wells_items else None
    calcinosis = assess_calcinosis(exam, c_by_side)
    recs = calcinosis.recommendations() if calcinosis is not None else ()
    legs = _with_leg_recommendations(legs, [(r.id, r.leg) for r in recs])
    return Decisions(
        criteria=cs.id,
        patient_id=exam.patient.id,
        legs=legs,
        wells_dvt=None if wells is None else (wells.score, wells.two_level),
        recommendations=tuple(sorted(rid for rid, side in ((r.id, r.leg) for r in recs)
                                     if side is None)),
    )  # fmt: skip


def _with_leg_recommendations(
    legs: dict[str, LegDecisions], recs: list[tuple[str, Side | None]]
) -> dict[str, LegDecisions]:
    """Leg-level recommendations decided outside the leg (calcinosis work-up)."""
    extra: dict[str, set[str]] = {}
    for rid, side in recs:
        if side is not None:
            extra.setdefault(side, set()).add(rid)
    return {
        side: leg
        if side not in extra
        else _replace_recs(leg, tuple(sorted({*leg.recommendations, *extra[side]})))
        for side, leg in legs.items()
    }


def _replace_recs(leg: LegDecisions, recs: tuple[str, ...]) -> LegDecisions:
    return replace(leg, recommendations=recs)


# ---------------------------------------------------------------------------------------
# The same decisions read off a full result


def _leg_of(lr: LegResult, recommendations: tuple[str, ...]) -> LegDecisions:
    ceap = lr.ceap
    return LegDecisions(
        segments=tuple(
            SegmentDecision(s.vein, s.site, s.reflux, s.abnormal, s.evidence.rule)
            for s in lr.segments
        ),
        perforators=tuple(
            PerforatorDecision(p.vein, p.site, p.incompetent, p.pathologic, p.evidence.rule)
            for p in lr.perforators
        ),
        patterns=tuple(
            TrunkPattern(p.trunk, p.pattern, p.qualifier, p.segments, p.evidence.rule)
            for p in lr.reflux_pattern_details
        ),
        thrombosis=lr.thrombosis.classification,
        pathway=lr.pathway.pathway,
        pathway_decision=lr.pathway.decision,
        ceap=None
        if ceap is None
        else CeapDecision(ceap.c_classes, ceap.c_basic, ceap.symptoms, ceap.e, ceap.a_groups,
                          ceap.p_types, ceap.evidence.rule),
        ehit=tuple((e.junction, e.ehit_class, e.decision) for e in lr.ehit),
        critical=tuple(c.criterion for c in lr.critical),
        vcss=None if lr.vcss is None else (lr.vcss.total, lr.vcss.upper_bound, lr.vcss.severe),
        villalta=None if lr.villalta is None else (lr.villalta.total, lr.villalta.category),
        recommendations=recommendations,
    )  # fmt: skip


def decisions_of(result: Result) -> Decisions:
    """The decisions a full result document carries (the rendered tier, read back)."""
    by_side: dict[str, set[str]] = {"left": set(), "right": set()}
    patient: list[str] = []
    for rec in result.recommendations:
        if not rec.sides:
            patient.append(rec.id)
            continue
        base = rec.id.rsplit(".", 1)[0]  # assembly: "<key>.both" / "<key>.<side>"
        for s in rec.sides:
            by_side[s].add(f"{base}.{s}")
    legs = {
        side: _leg_of(lr, tuple(sorted(by_side[side])))
        for side in ("left", "right")
        if (lr := result.leg(side)) is not None
    }
    wells = result.wells_dvt
    return Decisions(
        criteria=result.criteria.id,
        patient_id=result.exam.patient_id,
        legs=legs,
        wells_dvt=None if wells is None else (wells.score, wells.two_level),
        recommendations=tuple(sorted(patient)),
    )
