"""Deep vein thrombosis pathways: isolated distal DVT, calf muscle vein thrombosis, proximal DVT.

Sources (shared/reference/clinical.md 4.2, 10 `iddvt_plan`; pass 2, 2026-11-22):
- STE21 (CHEST 2021) statement 1: no severe symptoms and no risk factor for extension ->
  serial imaging for 2 weeks (weak, moderate certainty); severe symptoms or a risk factor ->
  anticoagulation (weak, low certainty). Statement 2: on surveillance, no extension -> no
  anticoagulation (strong, moderate); distal extension -> anticoagulation suggested (weak,
  very low); proximal extension -> anticoagulation recommended (strong, moderate).
  Statement 21: 3-month treatment phase (strong, moderate).
- ESVS21 Rec 39 (calf DVT, 3 months, I A); Rec 14 (provoked proximal DVT, 3 months, I A);
  Rec 22/23 (extended phase, IIa B).
- Risk factors for extension: the AT9 (KEA12) list as reproduced by secondary summaries [V2];
  the primary list was not seen. "Severe symptoms" is a clinician's flag, never derived.
- Calf muscle vein thrombosis: the same choice is applied [D]; SCH10 and SCH01 described.
Unknown facts are never guessed: the decision is "undetermined" and `missing` names them.
"""

from __future__ import annotations

from dataclasses import dataclass

from venalab.evidence import Comparison, Evidence, Recommendation, compare, evidence
from venalab.exam import ExamDocument, Side
from venalab.rules.pathways.model import (
    Decision,
    DerivedFollowup,
    FactorStatus,
    PathwayId,
    PathwayParams,
    PathwayResult,
    RiskFactor,
    SerialResult,
    active_cancer,
    factor,
    history_of,
    prior_vte,
    recommend,
    reversible_provoking_factor,
    split_factors,
)
from venalab.rules.thrombosis import (
    ThrombosedSegment,
    ThrombosisResult,
    leg_classification,
    sentence,
)

_PATHWAY: dict[str, PathwayId] = {
    "proximal": "proximal-dvt",
    "distal-axial": "iddvt",
    "distal-muscular": "icmvt",
}


def _active_deep(
    side: Side, thrombosis: ThrombosisResult, exam: ExamDocument
) -> list[tuple[int | None, ThrombosedSegment]]:
    """Deep thrombosed segments that are not chronic, with their index in the exam."""
    return [(d.index, d) for d in thrombosis.deep if d.age != "chronic"]


def _path(side: Side, i: int | None, field: str) -> str:
    where = f"segments[{i}]" if i is not None else "segments[?]"
    return f"legs.{side}.{where}.{field}"


def _bilateral_distal(exam: ExamDocument, thrombosis: ThrombosisResult) -> bool:
    """Both legs carry distal DVT: patient-level flags cannot be attributed to one leg."""
    distal = 0
    for _, leg in exam.legs.items():
        classification, chronic_only = leg_classification(leg, thrombosis.tibioperoneal_trunk)
        if classification in ("distal-axial", "distal-muscular") and not chronic_only:
            distal += 1
    return distal > 1


def _measured_factor(
    fid: str,
    side: Side,
    entries: list[tuple[int | None, ThrombosedSegment]],
    values: list[float | None],
    field: str,
    threshold: float,
    comparison: Comparison,
    unit: str,
    what: str,
    params: PathwayParams,
) -> RiskFactor:
    known = [v for v in values if v is not None]
    missing = tuple(
        _path(side, i, field) for (i, _), v in zip(entries, values, strict=True) if v is None
    )
    largest = max(known) if known else None
    beyond = [v for v in known if compare(v, comparison, threshold)]
    status: FactorStatus
    if beyond:
        status = "present"
    elif missing:
        status = "unknown"
    else:
        status = "absent"
    note = (
        f"Largest recorded {what} {largest:g} {unit}."
        if largest is not None
        else f"No {what} recorded."
    )
    if missing:
        note += f" Not recorded for {len(missing)} thrombosed segment(s)."
    if fid == "extensive-length" and len(entries) > 1:
        note += (
            " Lengths of separate segment entries are not added; record a continuous "
            "thrombus as one entry [D]."
        )
    return factor(
        "iddvt",
        fid,
        status,
        note,
        params,
        threshold=threshold,
        measured=largest,
        comparison=comparison,
        unit=unit,
        needed=missing if status == "unknown" else (),
    )


def _flag_factor(
    fid: str,
    value: bool | None,
    present_when: bool,
    note: str,
    needed: str,
    params: PathwayParams,
    *,
    derived: bool = False,
) -> RiskFactor:
    status: FactorStatus = (
        "unknown" if value is None else ("present" if value == present_when else "absent")
    )
    return factor(
        "iddvt",
        fid,
        status,
        note,
        params,
        level="D" if derived else None,
        extra_sources=("VENALAB",) if derived else (),
        needed=(needed,) if status == "unknown" else (),
    )


def iddvt_risk_factors(
    side: Side,
    thrombosis: ThrombosisResult,
    exam: ExamDocument,
    params: PathwayParams,
) -> list[RiskFactor]:
    """The configured AT9 risk factors for extension [V2], each present/absent/unknown."""
    p = params.iddvt
    h = history_of(exam)
    entries = _active_deep(side, thrombosis, exam)
    veins = tuple(dict.fromkeys(d.vein for _, d in entries))
    bilateral = _bilateral_distal(exam, thrombosis)
    out: list[RiskFactor] = []
    for fid in p.risk_factors:
        if fid == "positive-d-dimer":
            out.append(
                _flag_factor(
                    fid,
                    h.d_dimer_positive,
                    True,
                    f"history.d_dimer_positive = {_txt(h.d_dimer_positive)}.",
                    "history.d_dimer_positive",
                    params,
                )
            )
        elif fid == "extensive-length":
            out.append(
                _measured_factor(
                    fid,
                    side,
                    entries,
                    [d.length_cm for _, d in entries],
                    "thrombus.length_cm",
                    p.extensive_length_cm,
                    p.extensive_length_comparison,
                    "cm",
                    "thrombus length",
                    params,
                )
            )
        elif fid == "extensive-diameter":
            out.append(
                _measured_factor(
                    fid,
                    side,
                    entries,
                    [d.diameter_mm for _, d in entries],
                    "diameter_mm",
                    p.extensive_diameter_mm,
                    p.extensive_diameter_comparison,
                    "mm",
                    "diameter of a thrombosed vein",
                    params,
                )
            )
        elif fid == "extensive-multiple-veins":
            out.append(
                factor(
                    "iddvt",
                    fid,
                    "present" if len(veins) > 1 else "absent",
                    f"Thrombosed veins (not chronic): {', '.join(veins) or 'none'}.",
                    params,
                    threshold=1,
                    measured=len(veins),
                    comparison=">",
                    unit="veins",
                )
            )
        elif fid == "near-proximal-veins":
            out.append(
                _near_proximal(veins, thrombosis, h.thrombus_near_proximal_veins, bilateral, params)
            )
        elif fid == "no-reversible-provoking-factor":
            f = reversible_provoking_factor(exam)
            out.append(
                _flag_factor(
                    fid,
                    f.value,
                    False,
                    f.note,
                    "history.reversible_provoking_factor",
                    params,
                    derived=f.derived,
                )
            )
        elif fid == "active-cancer":
            f = active_cancer(exam)
            out.append(
                _flag_factor(
                    fid, f.value, True, f.note, "history.active_cancer", params, derived=f.derived
                )
            )
        elif fid == "prior-vte":
            f = prior_vte(exam)
            out.append(
                _flag_factor(
                    fid, f.value, True, f.note, "history.prior_vte", params, derived=f.derived
                )
            )
        elif fid == "inpatient":
            out.append(
                _flag_factor(
                    fid,
                    h.inpatient,
                    True,
                    f"history.inpatient = {_txt(h.inpatient)}.",
                    "history.inpatient",
                    params,
                )
            )
    return out


def _txt(value: bool | None) -> str:
    return "not recorded" if value is None else str(value).lower()


def _near_proximal(
    veins: tuple[str, ...],
    thrombosis: ThrombosisResult,
    flag: bool | None,
    bilateral: bool,
    params: PathwayParams,
) -> RiskFactor:
    fid = "near-proximal-veins"
    if (
        "TPT" in veins
        and thrombosis.tibioperoneal_trunk == "distal"
        and params.iddvt.tibioperoneal_trunk_near_proximal
    ):
        return factor(
            "iddvt",
            fid,
            "present",
            "The tibioperoneal trunk is thrombosed; it joins the popliteal vein.",
            params,
            level="D",
            extra_sources=("VENALAB", "UTT16"),
        )
    if flag is True and bilateral:
        return factor(
            "iddvt",
            fid,
            "unknown",
            "history.thrombus_near_proximal_veins = true, but both legs have distal "
            "DVT: the flag cannot be attributed to this leg.",
            params,
            needed=("history.thrombus_near_proximal_veins",),
        )
    return _flag_factor(
        fid,
        flag,
        True,
        f"history.thrombus_near_proximal_veins = {_txt(flag)}.",
        "history.thrombus_near_proximal_veins",
        params,
    )


def _needed_text(unknown: list[RiskFactor], severe_unknown: bool) -> tuple[str, tuple[str, ...]]:
    items = [f"{f.label} ({', '.join(f.needed) or 'not recordable'})" for f in unknown]
    paths = [p for f in unknown for p in f.needed]
    if severe_unknown:
        items.insert(0, "whether symptoms are severe (history.severe_symptoms)")
        paths.insert(0, "history.severe_symptoms")
    return "; ".join(items), tuple(dict.fromkeys(paths))


def _summary_evidence(
    pathway: PathwayId,
    decision: Decision,
    main: Recommendation,
    note: str,
) -> Evidence:
    """The pathway's own evidence: sources and level of the recommendation that decided it."""
    return evidence(
        f"pathway.{pathway}",
        main.evidence.sources,
        level=main.evidence.level,
        note=f"{note} Decision: {decision}.",
    )


def deep_pathway(
    side: Side,
    thrombosis: ThrombosisResult,
    exam: ExamDocument,
    params: PathwayParams,
    derived: DerivedFollowup | None = None,
) -> PathwayResult:
    """Pathway of a leg with acute (or not-yet-aged) deep vein thrombosis."""
    pathway = _PATHWAY[thrombosis.classification]
    entries = _active_deep(side, thrombosis, exam)
    veins = ", ".join(dict.fromkeys(d.vein for _, d in entries))
    unaged = sorted({d.age or "not stated" for _, d in entries} - {"acute", "subacute"})
    age_note = (
        [recommend("thrombus-age-unknown", side, params, ages=" / ".join(unaged))] if unaged else []
    )
    bilateral = _bilateral_distal(exam, thrombosis)
    followup = _followup(side, exam, derived, bilateral, params)
    if pathway == "proximal-dvt":
        result = _proximal(side, thrombosis, exam, params, veins, followup)
    else:
        result = _distal(side, pathway, thrombosis, exam, params, veins, followup)
    return result.model_copy(update={"recommendations": tuple(age_note) + result.recommendations})


@dataclass(frozen=True)
class _Followup:
    """The surveillance result this leg's pathway uses, where it came from, and what to say."""

    result: SerialResult | None
    note: str | None
    context: tuple[Recommendation, ...]


def _followup(
    side: Side,
    exam: ExamDocument,
    derived: DerivedFollowup | None,
    bilateral: bool,
    params: PathwayParams,
) -> _Followup:
    """history.serial_imaging_result when given (a different comparison result is flagged);
    otherwise the result of the comparison with the earlier exam (STE21 statement 2)."""
    recorded = history_of(exam).serial_imaging_result
    from_comparison = (
        f"From the comparison with the exam of {derived.prior_date.isoformat()} "
        f"({derived.interval_days} days earlier). {derived.evidence.note or ''}".strip()
        if derived is not None
        else None
    )
    context: list[Recommendation] = []
    if recorded is not None and derived is not None and recorded != derived.result:
        context.append(
            recommend(
                "iddvt.followup.disagreement",
                side,
                params,
                result=recorded,
                derived=derived.result,
                prior_date=derived.prior_date.isoformat(),
            )
        )
    if recorded is not None and bilateral:
        if derived is not None:  # per-leg comparison settles what the patient-level flag cannot
            return _Followup(derived.result, from_comparison, tuple(context))
        context.append(recommend("iddvt.followup.bilateral", side, params))
        return _Followup(None, None, tuple(context))
    if recorded is not None:
        return _Followup(recorded, "From history.serial_imaging_result.", tuple(context))
    if derived is not None:
        return _Followup(derived.result, from_comparison, ())
    return _Followup(None, None, ())


def _proximal(
    side: Side,
    thrombosis: ThrombosisResult,
    exam: ExamDocument,
    params: PathwayParams,
    veins: str,
    follow: _Followup,
) -> PathwayResult:
    main: list[Recommendation] = list(follow.context)
    followup = follow.result
    if followup == "proximal-extension":
        main.append(recommend("iddvt.followup.proximal-extension", side, params, note=follow.note))
    elif followup is not None:
        main.append(recommend("followup.inconsistent", side, params, result=followup))
    tpt_note = (
        "Tibioperoneal trunk counted as proximal (option tibioperoneal_trunk)."
        if "TPT" in thrombosis.veins_involved
        else None
    )
    decided_by = recommend("proximal.anticoagulation", side, params, note=tpt_note)
    main.append(decided_by)
    provoked = reversible_provoking_factor(exam)
    if provoked.value is True:
        main.append(recommend("proximal.provoked", side, params, note=provoked.note))
    elif provoked.value is False:
        main.append(recommend("proximal.extended-phase", side, params, note=provoked.note))
    return PathwayResult(
        side=side,
        pathway="proximal-dvt",
        decision="anticoagulation",
        recommendations=tuple(main),
        evidence=_summary_evidence(
            "proximal-dvt",
            "anticoagulation",
            decided_by,
            f"{sentence(thrombosis.label)} ({veins}).",
        ),
    )


def _distal(
    side: Side,
    pathway: PathwayId,
    thrombosis: ThrombosisResult,
    exam: ExamDocument,
    params: PathwayParams,
    veins: str,
    follow: _Followup,
) -> PathwayResult:
    h = history_of(exam)
    context: list[Recommendation] = list(follow.context)
    factors = iddvt_risk_factors(side, thrombosis, exam, params)
    present, absent, unknown = split_factors(factors)
    recs: list[Recommendation] = []
    missing: tuple[str, ...] = ()
    decision: Decision
    followup = follow.result
    if followup is not None:
        # A surveillance rescan: statement 2 governs, not the initial choice of statement 1.
        recs.append(recommend(f"iddvt.followup.{followup}", side, params, note=follow.note))
        if followup == "no-extension":
            decision = "no-anticoagulation"
        else:
            decision = "anticoagulation"
            if followup == "proximal-extension":
                recs.append(
                    recommend(
                        "proximal.anticoagulation",
                        side,
                        params,
                        note="The proximal extension is taken from the surveillance result; "
                        "this exam's segments show distal thrombus only.",
                    )
                )
            else:
                recs.append(recommend("iddvt.duration", side, params))
    elif h.severe_symptoms is True or present:
        decision = "anticoagulation"
        if present:
            reasons = "risk factors for extension: " + ", ".join(f.label for f in present)
            if h.severe_symptoms:
                reasons = "severe symptoms; " + reasons
            recs.append(recommend("iddvt.anticoagulation", side, params, reasons=reasons))
        else:
            recs.append(recommend("iddvt.anticoagulation-severe-symptoms", side, params))
        recs.append(recommend("iddvt.duration", side, params))
        if h.high_bleeding_risk:
            recs.append(recommend("iddvt.high-bleeding-risk", side, params))
    elif h.severe_symptoms is False and not unknown:
        decision = "serial-imaging"
        recs.append(recommend("iddvt.serial-imaging", side, params))
        if h.high_bleeding_risk:
            recs.append(recommend("iddvt.high-bleeding-risk", side, params))
        recs.append(recommend("iddvt.patient-preference", side, params))
    else:
        decision = "undetermined"
        needed, missing = _needed_text(list(unknown), h.severe_symptoms is None)
        recs.append(recommend("iddvt.undetermined", side, params, needed=needed))
    if "TPT" in thrombosis.veins_involved:
        context.append(recommend("iddvt.tibioperoneal-trunk", side, params))
    if pathway == "icmvt":
        context += [
            recommend("icmvt.scope", side, params),
            recommend("icmvt.trial-evidence", side, params),
        ]
    elif decision in ("serial-imaging", "undetermined"):
        context.append(recommend("iddvt.trial-evidence", side, params))
    decided_by = recs[0]
    recs += context
    label = sentence(thrombosis.label)
    return PathwayResult(
        side=side,
        pathway=pathway,
        decision=decision,
        risk_factors_present=present,
        risk_factors_absent=absent,
        risk_factors_unknown=unknown,
        missing=missing,
        recommendations=tuple(recs),
        evidence=_summary_evidence(pathway, decision, decided_by, f"{label} ({veins})."),
    )


def chronic_pathway(
    side: Side,
    thrombosis: ThrombosisResult,
    params: PathwayParams,
) -> PathwayResult:
    """Only chronic post-thrombotic change: no acute pathway."""
    veins = ", ".join(
        dict.fromkeys([d.vein for d in thrombosis.deep] + [s.vein for s in thrombosis.superficial])
    )
    rec = recommend("chronic", side, params, veins=veins)
    return PathwayResult(
        side=side,
        pathway="chronic",
        decision="none",
        recommendations=(rec,),
        evidence=rec.evidence.model_copy(update={"rule": "pathway.chronic"}),
    )


def no_pathway(side: Side, thrombosis: ThrombosisResult) -> PathwayResult:
    perforators = [s.vein for s in thrombosis.perforator]
    note = (
        f"Thrombus recorded only in perforator veins ({', '.join(perforators)}); the "
        "sources give no management pathway for it."
        if perforators
        else "No thrombus recorded in this leg; no thrombosis pathway."
    )
    return PathwayResult(
        side=side,
        pathway="none",
        decision="none",
        evidence=evidence("pathway.none", ["VENALAB"], level="D", note=note),
    )
