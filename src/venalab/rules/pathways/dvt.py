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

from collections.abc import Callable
from dataclasses import dataclass

from venalab.evidence import Comparison, compare
from venalab.exam import ExamDocument, Side
from venalab.rules.decided import Rec, Text, text_of
from venalab.rules.pathways.model import (
    Decision,
    DerivedFollowup,
    Factor,
    FactorStatus,
    PathwayDecision,
    PathwayId,
    PathwayParams,
    SerialResult,
    Summary,
    active_cancer,
    history_of,
    prior_vte,
    reversible_provoking_factor,
    status_split,
)
from venalab.rules.thrombosis import (
    ThrombosisDecision,
    Thrombus,
    TptPolicy,
    leg_classification,
    sentence,
)

_PATHWAY: dict[str, PathwayId] = {
    "proximal": "proximal-dvt",
    "distal-axial": "iddvt",
    "distal-muscular": "icmvt",
}


def _active_deep(thrombosis: ThrombosisDecision) -> list[tuple[int | None, Thrombus]]:
    """Deep thrombosed segments that are not chronic, with their index in the exam."""
    return [(d.index, d) for d in thrombosis.deep if d.age != "chronic"]


def _path(side: Side, i: int | None, field: str) -> str:
    where = f"segments[{i}]" if i is not None else "segments[?]"
    return f"legs.{side}.{where}.{field}"


Bilateral = Callable[[], bool]
"""Whether both legs carry distal DVT, asked only where a patient-level flag needs it."""


def _bilateral_distal(exam: ExamDocument, tibioperoneal_trunk: TptPolicy) -> bool:
    """Both legs carry distal DVT: patient-level flags cannot be attributed to one leg."""
    distal = 0
    for _, leg in exam.legs.items():
        classification, chronic_only = leg_classification(leg, tibioperoneal_trunk)
        if classification in ("distal-axial", "distal-muscular") and not chronic_only:
            distal += 1
    return distal > 1


def _measured_factor(
    fid: str,
    side: Side,
    entries: list[tuple[int | None, Thrombus]],
    values: list[float | None],
    field: str,
    threshold: float,
    comparison: Comparison,
    unit: str,
    what: str,
) -> Factor:
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

    def note() -> str:
        text = (
            f"Largest recorded {what} {largest:g} {unit}."
            if largest is not None
            else f"No {what} recorded."
        )
        if missing:
            text += f" Not recorded for {len(missing)} thrombosed segment(s)."
        if fid == "extensive-length" and len(entries) > 1:
            text += (
                " Lengths of separate segment entries are not added; record a continuous "
                "thrombus as one entry [D]."
            )
        return text

    return Factor(
        "iddvt", fid, status, note, threshold=threshold, measured=largest,
        comparison=comparison, unit=unit, needed=missing if status == "unknown" else (),
    )  # fmt: skip


def _flag_factor(
    fid: str,
    value: bool | None,
    present_when: bool,
    note: Text,
    needed: str,
    *,
    derived: bool = False,
) -> Factor:
    status: FactorStatus = (
        "unknown" if value is None else ("present" if value == present_when else "absent")
    )
    return Factor(
        "iddvt", fid, status, note, level="D" if derived else None,
        extra_sources=("VENALAB",) if derived else (),
        needed=(needed,) if status == "unknown" else (),
    )  # fmt: skip


def _history_note(field: str, value: bool | None) -> Text:
    return lambda: f"history.{field} = {_txt(value)}."


def iddvt_risk_factors(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams,
    bilateral: Bilateral,
) -> list[Factor]:
    """The configured AT9 risk factors for extension [V2], each present/absent/unknown."""
    p = params.iddvt
    h = history_of(exam)
    entries = _active_deep(thrombosis)
    veins = tuple(dict.fromkeys(d.vein for _, d in entries))
    out: list[Factor] = []
    for fid in p.risk_factors:
        if fid == "positive-d-dimer":
            out.append(
                _flag_factor(
                    fid,
                    h.d_dimer_positive,
                    True,
                    _history_note("d_dimer_positive", h.d_dimer_positive),
                    "history.d_dimer_positive",
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
                )
            )
        elif fid == "extensive-multiple-veins":
            out.append(
                Factor(
                    "iddvt",
                    fid,
                    "present" if len(veins) > 1 else "absent",
                    lambda: f"Thrombosed veins (not chronic): {', '.join(veins) or 'none'}.",
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
                    derived=f.derived,
                )
            )
        elif fid == "active-cancer":
            f = active_cancer(exam)
            out.append(
                _flag_factor(fid, f.value, True, f.note, "history.active_cancer", derived=f.derived)
            )
        elif fid == "prior-vte":
            f = prior_vte(exam)
            out.append(
                _flag_factor(fid, f.value, True, f.note, "history.prior_vte", derived=f.derived)
            )
        elif fid == "inpatient":
            out.append(
                _flag_factor(
                    fid,
                    h.inpatient,
                    True,
                    _history_note("inpatient", h.inpatient),
                    "history.inpatient",
                )
            )
    return out


def _txt(value: bool | None) -> str:
    return "not recorded" if value is None else str(value).lower()


def _near_proximal(
    veins: tuple[str, ...],
    thrombosis: ThrombosisDecision,
    flag: bool | None,
    bilateral: Bilateral,
    params: PathwayParams,
) -> Factor:
    fid = "near-proximal-veins"
    if (
        "TPT" in veins
        and thrombosis.tibioperoneal_trunk == "distal"
        and params.iddvt.tibioperoneal_trunk_near_proximal
    ):
        return Factor(
            "iddvt", fid, "present",
            "The tibioperoneal trunk is thrombosed; it joins the popliteal vein.",
            level="D", extra_sources=("VENALAB", "UTT16"),
        )  # fmt: skip
    if flag is True and bilateral():
        return Factor(
            "iddvt", fid, "unknown",
            "history.thrombus_near_proximal_veins = true, but both legs have distal "
            "DVT: the flag cannot be attributed to this leg.",
            needed=("history.thrombus_near_proximal_veins",),
        )  # fmt: skip
    return _flag_factor(
        fid, flag, True, _history_note("thrombus_near_proximal_veins", flag),
        "history.thrombus_near_proximal_veins",
    )  # fmt: skip


def _needed_paths(unknown: list[Factor], severe_unknown: bool) -> tuple[str, ...]:
    paths = [p for f in unknown for p in f.needed]
    if severe_unknown:
        paths.insert(0, "history.severe_symptoms")
    return tuple(dict.fromkeys(paths))


def _needed_text(unknown: list[Factor], severe_unknown: bool, params: PathwayParams) -> str:
    items = [f"{f.label(params)} ({', '.join(f.needed) or 'not recordable'})" for f in unknown]
    if severe_unknown:
        items.insert(0, "whether symptoms are severe (history.severe_symptoms)")
    return "; ".join(items)


def _summary(pathway: PathwayId, decision: Decision, main: Rec, note: Text) -> Summary:
    """The pathway's own evidence: sources and level of the recommendation that decided it."""
    return Summary(
        f"pathway.{pathway}", lambda: f"{text_of(note)} Decision: {decision}.", basis=main
    )


def deep_pathway(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams,
    derived: DerivedFollowup | None = None,
) -> PathwayDecision:
    """Pathway of a leg with acute (or not-yet-aged) deep vein thrombosis."""
    pathway = _PATHWAY[thrombosis.classification]
    entries = _active_deep(thrombosis)
    vein_ids = tuple(dict.fromkeys(d.vein for _, d in entries))
    unaged = sorted({d.age or "not stated" for _, d in entries} - {"acute", "subacute"})
    age_note = (
        (Rec("thrombus-age-unknown", fields=lambda: {"ages": " / ".join(unaged)}),)
        if unaged
        else ()
    )
    tpt = thrombosis.tibioperoneal_trunk
    bilateral = lambda: _bilateral_distal(exam, tpt)  # noqa: E731 (asked at most twice)
    followup = _followup(exam, derived, bilateral)
    if pathway == "proximal-dvt":
        return _proximal(side, thrombosis, exam, vein_ids, followup, age_note)
    return _distal(side, pathway, thrombosis, exam, params, vein_ids, followup, bilateral, age_note)


@dataclass(frozen=True, slots=True)
class _Followup:
    """The surveillance result this leg's pathway uses, where it came from, and what to say."""

    result: SerialResult | None
    note: Text | None
    context: tuple[Rec, ...]


def _comparison_note(d: DerivedFollowup) -> Text:
    return lambda: (
        f"From the comparison with the exam of {d.prior_date.isoformat()} "
        f"({d.interval_days} days earlier). {d.evidence.note or ''}".strip()
    )


def _followup(
    exam: ExamDocument, derived: DerivedFollowup | None, bilateral: Bilateral
) -> _Followup:
    """history.serial_imaging_result when given (a different comparison result is flagged);
    otherwise the result of the comparison with the earlier exam (STE21 statement 2)."""
    recorded = history_of(exam).serial_imaging_result
    from_comparison = _comparison_note(derived) if derived is not None else None
    context: list[Rec] = []
    if recorded is not None and derived is not None and recorded != derived.result:
        r = derived
        context.append(
            Rec(
                "iddvt.followup.disagreement",
                fields=lambda: {
                    "result": recorded,
                    "derived": r.result,
                    "prior_date": r.prior_date.isoformat(),
                },
            )
        )
    if recorded is not None and bilateral():
        if derived is not None:  # per-leg comparison settles what the patient-level flag cannot
            return _Followup(derived.result, from_comparison, tuple(context))
        context.append(Rec("iddvt.followup.bilateral"))
        return _Followup(None, None, tuple(context))
    if recorded is not None:
        return _Followup(recorded, "From history.serial_imaging_result.", tuple(context))
    if derived is not None:
        return _Followup(derived.result, from_comparison, ())
    return _Followup(None, None, ())


def _proximal(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    veins: tuple[str, ...],
    follow: _Followup,
    lead: tuple[Rec, ...],
) -> PathwayDecision:
    """`lead`: recommendations placed first (thrombus age)."""
    main: list[Rec] = list(follow.context)
    followup = follow.result
    if followup == "proximal-extension":
        main.append(Rec("iddvt.followup.proximal-extension", note=follow.note))
    elif followup is not None:
        main.append(Rec("followup.inconsistent", fields=lambda: {"result": followup}))
    tpt_note = (
        "Tibioperoneal trunk counted as proximal (option tibioperoneal_trunk)."
        if "TPT" in thrombosis.veins_involved
        else None
    )
    decided_by = Rec("proximal.anticoagulation", note=tpt_note)
    main.append(decided_by)
    provoked = reversible_provoking_factor(exam)
    if provoked.value is True:
        main.append(Rec("proximal.provoked", note=provoked.note))
    elif provoked.value is False:
        main.append(Rec("proximal.extended-phase", note=provoked.note))
    label = thrombosis.label
    return PathwayDecision(
        side=side,
        pathway="proximal-dvt",
        decision="anticoagulation",
        recs=lead + tuple(main),
        summary=_summary(
            "proximal-dvt",
            "anticoagulation",
            decided_by,
            lambda: f"{sentence(label)} ({', '.join(veins)}).",
        ),
    )


def _distal(
    side: Side,
    pathway: PathwayId,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams,
    veins: tuple[str, ...],
    follow: _Followup,
    bilateral: Bilateral,
    lead: tuple[Rec, ...],
) -> PathwayDecision:
    h = history_of(exam)
    context: list[Rec] = list(follow.context)
    factors = iddvt_risk_factors(side, thrombosis, exam, params, bilateral)
    present, _, unknown = status_split(tuple(factors))
    recs: list[Rec] = []
    missing: tuple[str, ...] = ()
    decision: Decision
    followup = follow.result
    if followup is not None:
        # A surveillance rescan: statement 2 governs, not the initial choice of statement 1.
        recs.append(Rec(f"iddvt.followup.{followup}", note=follow.note))
        if followup == "no-extension":
            decision = "no-anticoagulation"
        else:
            decision = "anticoagulation"
            if followup == "proximal-extension":
                recs.append(
                    Rec(
                        "proximal.anticoagulation",
                        note="The proximal extension is taken from the surveillance result; "
                        "this exam's segments show distal thrombus only.",
                    )
                )
            else:
                recs.append(Rec("iddvt.duration"))
    elif h.severe_symptoms is True or present:
        decision = "anticoagulation"
        if present:
            severe = h.severe_symptoms

            def reasons() -> dict[str, str]:
                text = "risk factors for extension: " + ", ".join(f.label(params) for f in present)
                return {"reasons": "severe symptoms; " + text if severe else text}

            recs.append(Rec("iddvt.anticoagulation", fields=reasons))
        else:
            recs.append(Rec("iddvt.anticoagulation-severe-symptoms"))
        recs.append(Rec("iddvt.duration"))
        if h.high_bleeding_risk:
            recs.append(Rec("iddvt.high-bleeding-risk"))
    elif h.severe_symptoms is False and not unknown:
        decision = "serial-imaging"
        recs.append(Rec("iddvt.serial-imaging"))
        if h.high_bleeding_risk:
            recs.append(Rec("iddvt.high-bleeding-risk"))
        recs.append(Rec("iddvt.patient-preference"))
    else:
        decision = "undetermined"
        severe_unknown = h.severe_symptoms is None
        missing = _needed_paths(unknown, severe_unknown)
        recs.append(
            Rec(
                "iddvt.undetermined",
                fields=lambda: {"needed": _needed_text(unknown, severe_unknown, params)},
            )
        )
    if "TPT" in thrombosis.veins_involved:
        context.append(Rec("iddvt.tibioperoneal-trunk"))
    if pathway == "icmvt":
        context += [Rec("icmvt.scope"), Rec("icmvt.trial-evidence")]
    elif decision in ("serial-imaging", "undetermined"):
        context.append(Rec("iddvt.trial-evidence"))
    decided_by = recs[0]
    recs += context
    label = thrombosis.label
    return PathwayDecision(
        side=side,
        pathway=pathway,
        decision=decision,
        factors=tuple(factors),
        missing=missing,
        recs=lead + tuple(recs),
        summary=_summary(
            pathway, decision, decided_by, lambda: f"{sentence(label)} ({', '.join(veins)})."
        ),
    )


def chronic_pathway(side: Side, thrombosis: ThrombosisDecision) -> PathwayDecision:
    """Only chronic post-thrombotic change: no acute pathway."""
    t = thrombosis

    def veins() -> dict[str, str]:
        return {"veins": ", ".join(dict.fromkeys([d.vein for d in t.deep]
                                                 + [s.vein for s in t.superficial]))}  # fmt: skip

    rec = Rec("chronic", fields=veins)
    return PathwayDecision(
        side=side,
        pathway="chronic",
        decision="none",
        recs=(rec,),
        summary=Summary("pathway.chronic", None, basis=rec, copy_basis=True),
    )


def no_pathway(side: Side, thrombosis: ThrombosisDecision) -> PathwayDecision:
    perforators = [s.vein for s in thrombosis.perforator]
    note = (
        (
            lambda: (
                f"Thrombus recorded only in perforator veins ({', '.join(perforators)}); the "
                "sources give no management pathway for it."
            )
        )
        if perforators
        else "No thrombus recorded in this leg; no thrombosis pathway."
    )
    return PathwayDecision(
        side=side,
        pathway="none",
        decision="none",
        summary=Summary("pathway.none", note, sources=("VENALAB",), level="D"),
    )
