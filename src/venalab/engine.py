"""assess(): one exam document in, one result document out. Pure: no I/O, criteria passed in.

Every interface (CLI, web, FHIR, DICOM SR, CDS Hooks) calls this function; no edge decides
anything clinical.
"""

from __future__ import annotations

from venalab.anatomy import VEINS
from venalab.criteria import CriteriaSet, get_criteria
from venalab.evidence import Finding, Importance
from venalab.exam import ExamDocument, Leg, Side
from venalab.result import (
    CriteriaInfo,
    EngineOptions,
    ExamSummary,
    LegResult,
    Legs,
    Result,
)
from venalab.rules.ceap import clinical_classes
from venalab.rules.patterns import reflux_patterns
from venalab.rules.reflux import PerforatorResult, SegmentResult, assess_perforator, assess_segment
from venalab.rules.thrombosis import ThrombosisResult, classify_thrombosis

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
        key = f"{side}.{s.vein}.{i}"
        if s.system == "perforator" or s.measured_ms is None:
            continue
        where = f"{_SIDE[side]} {_where(s)}"
        if s.reflux == "present":
            out.append(
                Finding(
                    id=f"reflux.present.{key}",
                    leg=side,
                    importance=3,
                    evidence=s.evidence,
                    text=f"{where}: reflux {s.measured_ms:g} ms ({s.comparison} {s.threshold_ms:g} ms).",
                )
            )
        elif s.reflux == "boundary":
            decided = "counted as reflux" if s.abnormal else "not counted as reflux"
            out.append(
                Finding(
                    id=f"reflux.boundary.{key}",
                    leg=side,
                    importance=3,
                    evidence=s.evidence,
                    text=f"{where}: reflux {s.measured_ms:g} ms, exactly at the {s.threshold_ms:g} ms "
                    f"cut-off; {decided} under '{s.comparison}'.",
                )
            )
        if s.criteria_disagreement:
            verdicts = "; ".join(f"{v.criteria}: {v.verdict}" for v in s.criteria_disagreement)
            out.append(
                Finding(
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
                Finding(
                    id=f"perforator.pathologic.{key}",
                    leg=side,
                    importance=2,
                    evidence=p.evidence,
                    text=f"{where}: pathologic perforator (outward flow {p.measured_ms:g} ms{dia}).",
                )
            )
        elif p.incompetent:
            out.append(
                Finding(
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
                Finding(
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
        label = {
            "proximal": "proximal deep vein thrombosis",
            "distal-axial": "isolated distal (calf) deep vein thrombosis, axial veins",
            "distal-muscular": "isolated calf muscle vein thrombosis",
        }[t.classification]
        ages = ", ".join(t.ages)
        length = f", longest {t.max_length_cm:g} cm" if t.max_length_cm is not None else ""
        out.append(
            Finding(
                id=f"thrombosis.{t.classification}.{side}",
                leg=side,
                importance=_THROMBOSIS_IMPORTANCE[t.classification],
                evidence=t.evidence,
                text=f"{_SIDE[side]} leg: {label} ({', '.join(t.veins_involved)}; {ages}{length}).",
            )
        )
    for s in t.superficial:
        dist = (
            f", {s.distance_to_junction_cm:g} cm from the junction"
            if s.distance_to_junction_cm is not None
            else ""
        )
        out.append(
            Finding(
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
    if t.non_compressible_without_thrombus:
        out.append(
            Finding(
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


def assess_leg(
    side: Side, leg: Leg, cs: CriteriaSet, options: EngineOptions
) -> tuple[LegResult, list[Finding]]:
    c_classes = clinical_classes(leg.clinical)
    segments = tuple(assess_segment(s, VEINS[s.vein], cs) for s in leg.segments)
    perforators = tuple(
        assess_perforator(s, cs, c_classes) for s in leg.segments if VEINS[s.vein].is_perforator
    )
    patterns = reflux_patterns(
        ((r, s.position_cm) for r, s in zip(segments, leg.segments, strict=True)), cs
    )
    thrombosis = classify_thrombosis(leg, options.tibioperoneal_trunk)
    findings = _segment_findings(side, segments) + _perforator_findings(side, perforators)
    for p in patterns:
        findings.append(
            Finding(
                id=f"reflux.pattern.{side}.{p.trunk}",
                leg=side,
                importance=3 if p.pattern == "axial" else 4,
                evidence=p.evidence,
                text=f"{_SIDE[side]} {p.trunk}: {p.pattern} reflux ({', '.join(p.segments)}).",
            )
        )
    findings += _thrombosis_findings(side, thrombosis)
    result = LegResult(
        segments=segments,
        perforators=perforators,
        reflux_patterns={p.trunk: p.pattern for p in patterns},
        reflux_pattern_details=patterns,
        thrombosis=thrombosis,
    )
    return result, findings


def assess(
    exam: ExamDocument, criteria: CriteriaSet | None = None, options: EngineOptions | None = None
) -> Result:
    """Interpret one exam under a criteria set (the default set when None)."""
    options = options or EngineOptions()
    cs = criteria or get_criteria(options.criteria)
    options = options.model_copy(update={"criteria": cs.id})
    legs: dict[str, LegResult] = {}
    findings: list[Finding] = []
    for side, leg in exam.legs.items():
        legs[side], leg_findings = assess_leg(side, leg, cs, options)
        findings += leg_findings
    findings.sort(key=lambda f: f.importance)
    return Result(
        criteria=CriteriaInfo(id=cs.id, version=cs.version, title=cs.title, sources=cs.sources),
        options=options,
        exam=ExamSummary(
            patient_id=exam.patient.id, date=exam.exam.date, purpose=exam.exam.purpose
        ),
        legs=Legs(**legs),
        findings=tuple(findings),
    )
