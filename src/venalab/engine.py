"""assess(): one exam document in, one result document out. Pure: no I/O, criteria passed in.

Every interface (CLI, web, FHIR, DICOM SR, CDS Hooks) calls this function; no edge decides
anything clinical: coded diagnoses (rules/diagnoses.py) and class labels are in the result.
"""

from __future__ import annotations

from typing import Literal, overload

from venalab.anatomy import VEINS
from venalab.assembly import finish
from venalab.criteria import CriteriaSet, get_criteria
from venalab.decisions import (
    Decisions,
    LegReflux,
    TrunkPattern,
    decide,
    decide_reflux,
    decisions_of,
)
from venalab.errors import InvalidInput
from venalab.evidence import Finding, Importance, Recommendation, make_finding
from venalab.exam import SIDES, ExamDocument, Leg, Segment, Side, VillaltaItems
from venalab.result import (
    CriteriaInfo,
    EngineOptions,
    ExamSummary,
    LegResult,
    Legs,
    Result,
)
from venalab.rules.calcinosis import assess_calcinosis
from venalab.rules.ceap import ceap_findings, derive_ceap
from venalab.rules.ceap.derivation import thrombosed_veins
from venalab.rules.comparison import (
    ComparisonResult,
    compare_exams,
    comparison_findings,
    prior_problems,
)
from venalab.rules.diagnoses import calcinosis_diagnoses, leg_diagnoses
from venalab.rules.ehit import (
    EhitResult,
    TreatedSegment,
    treated_segments,
    treatment_evidence,
    treatment_text,
)
from venalab.rules.imaging import interpret_imaging
from venalab.rules.pathways import (
    DEFAULT_PARAMS,
    DerivedFollowup,
    PathwayParams,
    pathway_params,
)
from venalab.rules.pathways.cvi import cvi_recommendations
from venalab.rules.patterns import PatternResult, pattern_result
from venalab.rules.reflux import (
    PerforatorResult,
    SegmentResult,
    boundary_phrase,
    perforator_result,
    segment_result,
)
from venalab.rules.thrombosis import ThrombosisResult
from venalab.rules.thrombotic import decide_thrombotic, render_thrombotic
from venalab.rules.vcss import score_with_sign_bounds
from venalab.rules.villalta import score_villalta
from venalab.rules.wells import score_wells
from venalab.trusted import trusted

_SIDE = {"left": "Left", "right": "Right"}
_THROMBOSIS_IMPORTANCE: dict[str, Importance] = {
    "proximal": 1,
    "distal-axial": 2,
    "distal-muscular": 2,
    "none": 4,
}


def _where(seg: SegmentResult | PerforatorResult) -> str:
    site = f" {seg.site}" if seg.site else ""
    label = f" ({seg.label})" if seg.label else ""
    return f"{seg.vein}{site}{label}"


def _segment_findings(side: Side, segs: tuple[SegmentResult, ...]) -> list[Finding]:
    out: list[Finding] = []
    for i, s in enumerate(segs):
        if s.measured_ms is None or s.system == "perforator":
            continue
        key = f"{side}.{s.vein}.{i}"
        where = f"{_SIDE[side]} {_where(s)}"
        if s.reflux == "present":
            out.append(
                make_finding(
                    id=f"reflux.present.{key}",
                    leg=side,
                    importance=3,
                    evidence=s.evidence,
                    text=f"{where}: reflux {s.measured_ms:g} ms ({s.comparison} {s.threshold_ms:g} ms).",
                )
            )
        elif s.reflux == "boundary":
            out.append(
                make_finding(
                    id=f"reflux.boundary.{key}",
                    leg=side,
                    importance=3,
                    evidence=s.evidence,
                    text=f"{where}: " + boundary_phrase(s) + ".",
                )
            )
        if s.criteria_disagreement:
            verdicts = "; ".join(f"{v.criteria}: {v.verdict}" for v in s.criteria_disagreement)
            out.append(
                make_finding(
                    id=f"reflux.criteria-disagreement.{key}",
                    leg=side,
                    importance=4,
                    evidence=s.evidence,
                    text=f"{where}: criteria sets disagree on {s.measured_ms:g} ms ({verdicts}).",
                )
            )
    return out


def _perforator_findings(side: Side, perfs: tuple[PerforatorResult, ...]) -> list[Finding]:
    out: list[Finding] = []
    for i, p in enumerate(perfs):
        key = f"{side}.{p.vein}.{i}"
        where = f"{_SIDE[side]} {_where(p)}"
        dia = f", {p.diameter_mm:g} mm" if p.diameter_mm is not None else ""
        if p.pathologic:
            out.append(
                make_finding(
                    id=f"perforator.pathologic.{key}",
                    leg=side,
                    importance=2,
                    evidence=p.evidence,
                    text=f"{where}: pathologic perforator (outward flow {p.measured_ms:g} ms{dia}).",
                )
            )
        elif p.incompetent:
            out.append(
                make_finding(
                    id=f"perforator.incompetent.{key}",
                    leg=side,
                    importance=3,
                    evidence=p.evidence,
                    text=f"{where}: incompetent but not pathologic perforator "
                    f"(outward flow {p.measured_ms:g} ms{dia}). {p.evidence.note}",
                )
            )
        if p.criteria_disagreement:
            verdicts = "; ".join(
                f"{v.criteria}: {'pathologic' if v.abnormal else 'not pathologic'}"
                for v in p.criteria_disagreement
            )
            out.append(
                make_finding(
                    id=f"perforator.criteria-disagreement.{key}",
                    leg=side,
                    importance=4,
                    evidence=p.evidence,
                    text=f"{where}: criteria sets disagree ({verdicts}).",
                )
            )
    return out


def _thrombosis_findings(side: Side, t: ThrombosisResult) -> list[Finding]:
    out: list[Finding] = []
    if t.classification != "none":
        ages = ", ".join(t.ages)
        length = f", longest {t.max_length_cm:g} cm" if t.max_length_cm is not None else ""
        out.append(
            make_finding(
                id=f"thrombosis.{t.classification}.{side}",
                leg=side,
                importance=_THROMBOSIS_IMPORTANCE[t.classification],
                evidence=t.evidence,
                text=f"{_SIDE[side]} leg: {t.label} ({', '.join(t.veins_involved)}; {ages}{length}).",
            )
        )
    for s in t.superficial:
        dist = (
            f", {s.distance_to_junction_cm:g} cm from the junction"
            if s.distance_to_junction_cm is not None
            else ""
        )
        out.append(
            make_finding(
                id=f"thrombosis.superficial.{side}.{s.vein}",
                leg=side,
                importance=2,
                evidence=t.evidence.model_copy(
                    update={
                        "rule": "thrombosis.superficial",
                        "note": "Thrombus in a superficial vein.",
                    }
                ),
                text=f"{_SIDE[side]} {s.vein}: superficial vein thrombosis"
                f"{f' {s.length_cm:g} cm' if s.length_cm is not None else ''}{dist}.",
            )
        )
    for s in t.perforator:
        out.append(
            make_finding(
                id=f"thrombosis.perforator.{side}.{s.vein}",
                leg=side,
                importance=2,
                evidence=t.evidence.model_copy(
                    update={"rule": "thrombosis.perforator", "note": "Thrombus in a perforator."}
                ),
                text=f"{_SIDE[side]} {s.vein}: perforator vein thrombus"
                f"{f' ({s.age})' if s.age else ''}.",
            )
        )
    if t.non_compressible_without_thrombus:
        out.append(
            make_finding(
                id=f"thrombosis.unexplained-noncompressible.{side}",
                leg=side,
                importance=2,
                evidence=t.evidence.model_copy(update={"rule": "thrombosis.noncompressible"}),
                text=f"{_SIDE[side]} leg: non-compressible "
                f"{', '.join(t.non_compressible_without_thrombus)} without a thrombus description; "
                "review the images.",
            )
        )
    return out


def _villalta_items(exam: ExamDocument, side: Side, leg: Leg) -> VillaltaItems | None:
    """The leg's Villalta items; an unstated ulcer item is taken from the leg's ulcer signs."""
    sides = exam.scores.villalta if exam.scores else None
    items = getattr(sides, side) if sides else None
    if items is not None and items.ulcer is None:
        items = items.model_copy(update={"ulcer": "ulcer-active" in leg.clinical.signs})
    return items


def _treatment_findings(
    side: Side, treated: tuple[TreatedSegment, ...], ehit: tuple[EhitResult, ...]
) -> list[Finding]:
    out = [
        make_finding(
            id=f"treatment.{side}.{t.vein}.{t.index}",
            leg=side,
            importance=3 if t.status in ("partially-recanalised", "fully-recanalised") else 4,
            evidence=treatment_evidence(t),
            text=f"{_SIDE[side]} {t.vein}{f' {t.site}' if t.site else ''}: {treatment_text(t)}.",
        )
        for t in treated
    ]
    for e in ehit:
        if e.ehit_class is None and e.decision != "undetermined":
            continue
        importance: Importance = {"I": 4, "II": 2, "III": 1, "IV": 1}.get(e.ehit_class or "", 2)  # type: ignore[assignment]
        out.append(
            make_finding(
                id=f"ehit.{side}.{e.junction}",
                leg=side,
                importance=importance,
                evidence=e.evidence,
                text=f"{_SIDE[side]} leg: {e.label} at the {e.junction} after ablation "
                f"({e.evidence.note})",
            )
        )
    return out


def _render_reflux(
    reflux: LegReflux, leg: Leg, cs: CriteriaSet
) -> tuple[tuple[SegmentResult, ...], tuple[PerforatorResult, ...], tuple[PatternResult, ...]]:
    """The segment, perforator and pattern results of a leg's reflux decisions."""
    segments = tuple(
        [segment_result(s, VEINS[s.vein], cs, (d.reflux, d.abnormal, d.rule))
         for d, s in zip(reflux.segments, leg.segments, strict=True)]
    )  # fmt: skip
    perforators = tuple(
        [perforator_result(s, cs, reflux.c_classes, p.incompetent, p.outcomes)
         for p, s in zip(reflux.perforators, _perforator_entries(leg), strict=True)]
    )  # fmt: skip
    patterns = tuple([_pattern(p, cs) for p in reflux.patterns])
    return segments, perforators, patterns


def _perforator_entries(leg: Leg) -> list[Segment]:
    return [s for s in leg.segments if VEINS[s.vein].is_perforator]


def _pattern(p: TrunkPattern, cs: CriteriaSet) -> PatternResult:
    assert p.decision is not None  # set by decide_reflux (only decisions_of leaves it out)
    return pattern_result(p.trunk, p.decision, p.segments, cs)


def assess_leg(
    side: Side,
    leg: Leg,
    exam: ExamDocument,
    cs: CriteriaSet,
    options: EngineOptions,
    derived: DerivedFollowup | None = None,
) -> tuple[LegResult, list[Finding], list[Recommendation]]:
    reflux = decide_reflux(leg, cs)  # the decisions tier's own decisions, rendered below
    c_classes = reflux.c_classes
    segments, perforators, patterns = _render_reflux(reflux, leg, cs)
    treated = treated_segments(leg, exam.exam.date)
    params = _pathway_params(options) or DEFAULT_PARAMS
    thrombotic = render_thrombotic(
        decide_thrombotic(side, leg, exam, options.tibioperoneal_trunk, params, derived), params
    )
    ehit, thrombosis, pathway = thrombotic.ehit, thrombotic.thrombosis, thrombotic.pathway
    findings = _segment_findings(side, segments) + _perforator_findings(side, perforators)
    for p in patterns:
        findings.append(
            make_finding(
                id=f"reflux.pattern.{side}.{p.trunk}",
                leg=side,
                importance=3 if p.pattern == "axial" else 4,
                evidence=p.evidence,
                text=f"{_SIDE[side]} {p.trunk}: {p.pattern} reflux"
                f"{f', {p.qualifier}' if p.qualifier else ''} ({', '.join(p.segments)}).",
            )
        )
    findings += _thrombosis_findings(side, thrombosis)
    findings += _treatment_findings(side, treated, ehit)

    ceap = derive_ceap(
        leg.clinical,
        segments,
        perforators,
        thrombosis,
        exam_date=exam.exam.date,
        level_of_investigation="LII" if leg.segments else "LI",
        legacy_numbers=options.ceap_legacy_numbers,
        walk=reflux.walk(thrombosed_veins(thrombosis)),
    )
    findings += ceap_findings(side, ceap)

    score_sides = exam.scores
    vcss_given = getattr(score_sides.vcss, side) if score_sides and score_sides.vcss else None
    # rVCSS grades chronic venous disease: signs bound its items except in an acute-thrombosis
    # study, where edema and pain belong to the thrombosis (venalab convention).
    sign_basis = leg.clinical.signs if exam.exam.purpose != "thrombosis" else ()
    vcss, bounds_evidence = score_with_sign_bounds(
        vcss_given, sign_basis, path=f"scores.vcss.{side}"
    )
    if vcss is not None:
        findings.append(
            make_finding(
                id=f"vcss.{side}",
                leg=side,
                importance=3 if vcss.severe else 4,
                text=f"{_SIDE[side]} leg: {vcss.statement}",
                evidence=vcss.severity_evidence,
            )
        )
    if bounds_evidence is not None:
        findings.append(
            make_finding(
                id=f"vcss.bounds-from-signs.{side}",
                leg=side,
                importance=4,
                text=f"{_SIDE[side]} leg rVCSS: {bounds_evidence.note}",
                evidence=bounds_evidence,
            )
        )
    villalta_items = _villalta_items(exam, side, leg)
    villalta = score_villalta(villalta_items) if villalta_items is not None else None
    if villalta is not None:
        findings.append(
            make_finding(
                id=f"villalta.{side}",
                leg=side,
                importance=3,
                text=f"{_SIDE[side]} leg: {villalta.statement}",
                evidence=villalta.evidence,
            )
        )

    recommendations = list(pathway.recommendations)
    recommendations += cvi_recommendations(
        side,
        c_classes,
        leg.clinical.symptomatic,
        reflux.segments,
        reflux.perforators,
        reflux.patterns,
        _pathway_params(options),
    )

    leg_imaging = getattr(exam.imaging, side) if exam.imaging else None
    imaging = None
    if leg_imaging is not None:
        other = getattr(exam.imaging, "right" if side == "left" else "left")
        imaging = interpret_imaging(side, leg_imaging, c_classes, contralateral=other)
        if imaging is not None:
            findings += imaging.findings

    result = _leg_result(
        segments=segments,
        perforators=perforators,
        reflux_patterns={p.trunk: p.pattern for p in patterns},
        reflux_pattern_details=patterns,
        thrombosis=thrombosis,
        pathway=pathway,
        ceap=ceap,
        vcss=vcss,
        villalta=villalta,
        imaging=imaging,
        treated=treated,
        ehit=ehit,
        critical=thrombotic.critical,
    )
    return result, findings, recommendations


_leg_result = trusted(LegResult)


def _pathway_params(options: EngineOptions) -> PathwayParams | None:
    return pathway_params(options.pathways) if options.pathways else None


def _derived_followup(comparison: ComparisonResult | None, side: Side) -> DerivedFollowup | None:
    lc = comparison.leg(side) if comparison else None
    if comparison is None or lc is None or lc.serial_result is None:
        return None
    return DerivedFollowup(
        result=lc.serial_result,
        prior_date=comparison.prior_date,
        interval_days=comparison.interval_days,
        evidence=lc.evidence,
    )


def _mark_critical(findings: list[Finding], legs: dict[str, LegResult]) -> list[Finding]:
    """Findings a critical mark is about carry `critical: true`."""
    marked = {fid for lr in legs.values() for c in lr.critical for fid in c.finding_ids}
    return [f.model_copy(update={"critical": True}) if f.id in marked else f for f in findings]


def _criteria_info(cs: CriteriaSet) -> CriteriaInfo:
    """The set as the result names it, built once per set (its summary is built from text)."""
    held = _CRITERIA_INFO.get(id(cs))
    if held is not None and held[0] is cs:
        return held[1]
    if len(_CRITERIA_INFO) > 64:  # sets built at run time (tests, custom files)
        _CRITERIA_INFO.clear()
    info = CriteriaInfo(
        id=cs.id, version=cs.version, title=cs.title, sources=cs.sources, summary=cs.describe().text
    )
    _CRITERIA_INFO[id(cs)] = (cs, info)
    return info


_CRITERIA_INFO: dict[int, tuple[CriteriaSet, CriteriaInfo]] = {}


Detail = Literal["full", "decisions"]
DETAILS: tuple[Detail, ...] = ("full", "decisions")


@overload
def assess(
    exam: ExamDocument,
    criteria: CriteriaSet | None = None,
    options: EngineOptions | None = None,
    prior: ExamDocument | None = None,
    detail: Literal["full"] = "full",
) -> Result: ...


@overload
def assess(
    exam: ExamDocument,
    criteria: CriteriaSet | None = None,
    options: EngineOptions | None = None,
    prior: ExamDocument | None = None,
    *,
    detail: Literal["decisions"],
) -> Decisions: ...


def assess(
    exam: ExamDocument,
    criteria: CriteriaSet | None = None,
    options: EngineOptions | None = None,
    prior: ExamDocument | None = None,
    detail: Detail = "full",
) -> Result | Decisions:
    """Interpret one exam under a criteria set (the default set when None).

    `prior`: an earlier exam of the same patient; the result then carries the serial
    comparison (rules.comparison), and the distal DVT pathway reads its follow-up result from
    it. A prior of another patient, or not earlier, raises InvalidInput naming `prior.*`.
    `detail="decisions"`: the lean tier (venalab.decisions): the same decisions with their
    rule ids, no evidence objects or texts.
    """
    if detail == "decisions":
        if prior is None:
            return decide(exam, criteria, options)
        return decisions_of(assess(exam, criteria, options, prior))
    if detail != "full":
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}, not {detail!r}")
    options = options or EngineOptions()
    cs = criteria or get_criteria(options.criteria)
    options = options.model_copy(update={"criteria": cs.id})
    comparison = None
    if prior is not None:
        if problems := prior_problems(exam, prior):
            raise InvalidInput(problems, what="prior exam")
        comparison = compare_exams(prior, exam, cs, options.tibioperoneal_trunk)
    legs: dict[str, LegResult] = {}
    findings: list[Finding] = []
    recommendations: list[Recommendation] = []
    for side, leg in exam.legs.items():
        legs[side], leg_findings, leg_recs = assess_leg(
            side, leg, exam, cs, options, _derived_followup(comparison, side)
        )
        findings += leg_findings
        recommendations += leg_recs
    if comparison is not None:
        findings += comparison_findings(comparison)

    wells_items = exam.scores.wells_dvt if exam.scores else None
    wells = score_wells(wells_items, version=options.wells_version) if wells_items else None
    if wells is not None:
        findings.append(
            make_finding(
                id="wells_dvt",
                importance=3,
                text=wells.statement,
                evidence=wells.two_level_evidence,
            )
        )

    c_by_side = {side: leg.ceap.c_classes for side, leg in legs.items() if leg.ceap}
    calcinosis = assess_calcinosis(exam, c_by_side)
    if calcinosis is not None:
        findings += calcinosis.findings()
        recommendations += calcinosis.recommendations()

    findings = _mark_critical(findings, legs)
    findings.sort(key=lambda f: (f.importance, not f.critical))
    diagnoses = [
        d
        for side in SIDES
        if (leg_result := legs.get(side)) is not None
        and (exam_leg := exam.leg(side)) is not None
        and (ceap := leg_result.ceap) is not None  # set until the assembly step (finish)
        for d in leg_diagnoses(
            side, exam_leg, exam, leg_result.thrombosis, ceap, leg_result.segments
        )
    ]
    subtype = next((f.text for f in findings if f.id == "calcinosis.subtype"), None)
    diagnoses += calcinosis_diagnoses(calcinosis, subtype)
    assembled = Result(
        criteria=_criteria_info(cs),
        options=options,
        exam=ExamSummary(
            patient_id=exam.patient.id, date=exam.exam.date, purpose=exam.exam.purpose
        ),
        legs=Legs(**legs),
        wells_dvt=wells,
        calcinosis=calcinosis,
        findings=tuple(findings),
        recommendations=tuple(recommendations),
        comparison=comparison,
        critical=tuple(c for lr in legs.values() for c in lr.critical),
        diagnoses=tuple(diagnoses),
    )
    return finish(exam, assembled)
