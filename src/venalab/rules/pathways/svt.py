"""Superficial vein thrombosis (SVT) pathway of one leg (clinical.md 4.4, 10 `svt_plan`).

Sources (pass 2, 2026-11-22):
- ESVS21 SVT flowchart [V]: SVT < 3 cm from the junction with the deep veins -> therapeutic
  anticoagulation (I C); fondaparinux 2.5 mg daily (I B) for 45 days (I B); intermediate-dose
  LMWH as alternative (IIa B); 3 months may be considered with high-risk features (IIb C);
  ablation at least 3 months after the last thrombotic event (IIa C). Rec 43: whole-leg
  ultrasound for suspected SVT.
- STE21 statements 18-20 [V]: SVT at increased risk of progression -> 45 days of
  anticoagulation (weak, moderate); fondaparinux (weak, low); rivaroxaban 10 mg alternative
  (weak, low); factors favouring treatment. No length threshold in CHEST 2021.
- Branch thresholds (>= 5 cm long, > 3 cm from the junction) and the "short SVT, no risk
  features -> no anticoagulation, rescan in 7-10 days" row: Turkish table citing ESVS21 and
  CALISTO eligibility [V2]. Junction comparison configurable: "<" (ESVS21 wording, default)
  or "<="; a thrombus exactly at the threshold is reported as a boundary (TV34b).
- SPJ handled like the SFJ (junction with the deep veins) [D].
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from venalab.anatomy import VEINS
from venalab.evidence import compare
from venalab.exam import ExamDocument, Side
from venalab.rules.decided import Rec, Text, text_of
from venalab.rules.pathways.model import (
    Decision,
    Factor,
    FactorStatus,
    PathwayDecision,
    PathwayParams,
    Summary,
    SvtDecision,
    active_cancer,
    history_of,
    prior_vte,
)
from venalab.rules.thrombosis import ThrombosisDecision, Thrombus

# Which junction with the deep veins each superficial vein drains through (anatomy; the
# accessory saphenous veins join the GSV close to the SFJ). NSV: no fixed junction.
_JUNCTION: dict[str, str] = {
    "GSVa": "SFJ",
    "GSVb": "SFJ",
    "SFJ": "SFJ",
    "AASV": "SFJ",
    "PAGSV": "SFJ",
    "SSV": "SPJ",
    "SPJ": "SPJ",
}
_ABOVE_KNEE = frozenset({"GSVa", "SFJ", "AASV", "PAGSV"})
_BELOW_KNEE = frozenset({"GSVb", "SSV", "SPJ"})
_GSV = frozenset({"GSVa", "GSVb", "SFJ"})

Entry = tuple[int | None, Thrombus]


def _entries(thrombosis: ThrombosisDecision) -> list[Entry]:
    return [
        (s.index, s)
        for s in thrombosis.superficial
        if s.age != "chronic" and VEINS[s.vein].system == "superficial"
    ]


def _path(side: Side, i: int | None, field: str) -> str:
    return f"legs.{side}.segments[{'?' if i is None else i}].thrombus.{field}"


def _distance(s: Thrombus) -> float | None:
    if s.distance_to_junction_cm is not None:
        return s.distance_to_junction_cm
    # A thrombus recorded in the junction itself reaches it [D].
    return 0.0 if s.vein in ("SFJ", "SPJ") else None


class _Geometry:
    """Length and junction distance of a leg's SVT, with the facts still missing."""

    __slots__ = (
        "boundary",
        "distance",
        "distance_missing",
        "junction",
        "junction_label",
        "length",
        "length_missing",
        "long",
        "near",
        "veins",
    )  # fmt: skip

    def __init__(self, side: Side, entries: list[Entry], params: PathwayParams) -> None:
        p = params.svt
        self.veins = tuple(dict.fromkeys(s.vein for _, s in entries))
        lengths = [s.length_cm for _, s in entries]
        distances = [_distance(s) for _, s in entries]
        known_len = [v for v in lengths if v is not None]
        known_dist = [(d, s) for (_, s), d in zip(entries, distances, strict=True) if d is not None]
        self.length = max(known_len) if known_len else None
        self.length_missing = tuple(
            _path(side, i, "length_cm")
            for (i, _), v in zip(entries, lengths, strict=True)
            if v is None
        )
        self.distance_missing = tuple(
            _path(side, i, "distance_to_junction_cm")
            for (i, _), d in zip(entries, distances, strict=True)
            if d is None
        )
        nearest = min(known_dist, key=lambda t: t[0]) if known_dist else None
        self.distance = nearest[0] if nearest else None
        vein = nearest[1].vein if nearest else (self.veins[0] if self.veins else "")
        self.junction = _JUNCTION.get(vein)
        self.junction_label = self.junction or "junction with the deep veins"
        self.near: FactorStatus
        if self.distance is not None and compare(
            self.distance, p.junction_comparison, p.junction_cm
        ):
            self.near = "present"
        elif self.distance_missing:
            self.near = "unknown"
        else:
            self.near = "absent"
        self.boundary = self.distance == p.junction_cm
        self.long: FactorStatus
        if self.length is not None and compare(self.length, p.length_comparison, p.length_cm):
            self.long = "present"
        elif self.length_missing:
            self.long = "unknown"
        else:
            self.long = "absent"


def _flag(
    fid: str,
    value: bool | None,
    note: Text,
    needed: tuple[str, ...],
    *,
    derived: bool = False,
) -> Factor:
    status: FactorStatus = "unknown" if value is None else ("present" if value else "absent")
    return Factor(
        "svt", fid, status, note, level="D" if derived else None,
        extra_sources=("VENALAB",) if derived else (),
        needed=needed if status == "unknown" else (),
    )  # fmt: skip


def svt_factors(geo: _Geometry, exam: ExamDocument, params: PathwayParams) -> list[Factor]:
    """STE21 favouring factors and the short-SVT risk features, each evaluated once."""
    p = params.svt
    h = history_of(exam)
    wanted = tuple(dict.fromkeys(p.favouring_factors + p.short_svt_risk_features))
    veins = geo.veins
    out: list[Factor] = []
    for fid in wanted:
        if fid == "extensive":
            out.append(
                Factor(
                    "svt",
                    fid,
                    geo.long,
                    partial(_longest_note, geo.length),
                    threshold=p.length_cm,
                    measured=geo.length,
                    comparison=p.length_comparison,
                    unit="cm",
                    needed=geo.length_missing if geo.long == "unknown" else (),
                )
            )
        elif fid == "near-junction":
            out.append(
                Factor(
                    "svt",
                    fid,
                    geo.near,
                    partial(_nearest_note, geo.distance, geo.junction_label),
                    threshold=p.junction_cm,
                    measured=geo.distance,
                    comparison=p.junction_comparison,
                    unit="cm",
                    needed=geo.distance_missing if geo.near == "unknown" else (),
                )
            )
        elif fid == "above-knee":
            vein_set = set(veins)
            status: FactorStatus = (
                "present"
                if vein_set & _ABOVE_KNEE
                else "absent"
                if vein_set <= _BELOW_KNEE
                else "unknown"
            )
            out.append(
                Factor(
                    "svt",
                    fid,
                    status,
                    partial(_veins_note, veins, status == "unknown"),
                )
            )
        elif fid == "gsv-involvement":
            out.append(
                Factor(
                    "svt",
                    fid,
                    "present" if set(veins) & _GSV else "absent",
                    partial(_veins_note, veins, False),
                )
            )
        elif fid == "severe-symptoms":
            out.append(
                _flag(
                    fid,
                    h.severe_symptoms,
                    "Clinician's flag history.severe_symptoms.",
                    ("history.severe_symptoms",),
                )
            )
        elif fid == "prior-vte-or-svt":
            vte = prior_vte(exam)
            if vte.value or h.prior_svt:
                value: bool | None = True
            elif vte.value is False and h.prior_svt is False:
                value = False
            else:
                value = None
            out.append(
                _flag(
                    fid,
                    value,
                    partial(_prior_note, vte.note, h.prior_svt),
                    ("history.prior_vte", "history.prior_svt"),
                    derived=vte.derived and h.prior_svt is not True,
                )
            )
        elif fid == "active-cancer":
            f = active_cancer(exam)
            out.append(_flag(fid, f.value, f.note, ("history.active_cancer",), derived=f.derived))
        elif fid == "recent-surgery":
            out.append(
                _flag(fid, h.recent_surgery, "history.recent_surgery.", ("history.recent_surgery",))
            )
        elif fid == "known-thrombophilia":
            out.append(
                _flag(
                    fid,
                    h.known_thrombophilia,
                    "history.known_thrombophilia.",
                    ("history.known_thrombophilia",),
                )
            )
    return out


def _longest_note(length: float | None) -> str:
    return f"Longest recorded SVT: {_cm(length)}."


def _nearest_note(distance: float | None, junction: str) -> str:
    return f"Nearest thrombus head: {_cm(distance)} from the {junction}."


def _veins_note(veins: tuple[str, ...], unplaced: bool) -> str:
    if unplaced:
        return (
            f"Thrombosed superficial veins: {', '.join(veins)}; a non-saphenous vein cannot be "
            "placed above or below the knee from the exam."
        )
    return f"Thrombosed superficial veins: {', '.join(veins)}."


def _prior_note(vte_note: Text, prior_svt: bool | None) -> str:
    svt_txt = "not recorded" if prior_svt is None else str(prior_svt).lower()
    return f"{text_of(vte_note)} history.prior_svt = {svt_txt}."


def _cm(value: float | None) -> str:
    return "not recorded" if value is None else f"{value:g} cm"


def _labels(factors: list[Factor], params: PathwayParams) -> str:
    return ", ".join(f.label(params) for f in factors)


def superficial_pathway(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams,
) -> PathwayDecision:
    """SVT regimen of one leg (the leg's non-chronic superficial thrombi)."""
    p = params.svt
    entries = _entries(thrombosis)
    geo = _Geometry(side, entries, params)
    factors = svt_factors(geo, exam, params)
    by_id = {f.id: f for f in factors}
    leg = exam.leg(side)

    def deep_status() -> dict[str, str]:
        deep_recorded = tuple(
            dict.fromkeys(
                s.vein for s in (leg.segments if leg else ()) if VEINS[s.vein].system == "deep"
            )
        )
        return {
            "deep_status": f" Deep veins recorded in this exam: {', '.join(deep_recorded)}."
            if deep_recorded
            else " No deep-vein findings are recorded for this leg."
        }

    recs: list[Rec] = [Rec("svt.whole-leg-ultrasound", fields=deep_status)]
    missing: tuple[str, ...] = ()
    decision: Decision
    junction = geo.junction_label
    distance = geo.distance
    length = geo.length
    if geo.boundary:
        verdict = (
            "counted as near the junction (therapeutic anticoagulation)"
            if geo.near == "present"
            else "not counted as near the junction"
        )
        recs.append(
            Rec(
                "svt.junction-boundary",
                fields=lambda: {"junction": junction, "verdict": verdict},
                threshold=p.junction_cm,
                measured=distance,
                comparison=p.junction_comparison,
                unit="cm",
            )
        )
    if geo.near == "present":
        decision = "therapeutic-anticoagulation"
        recs.append(
            Rec(
                "svt.therapeutic",
                fields=lambda: {"distance": distance, "junction": junction},
                threshold=p.junction_cm,
                measured=distance,
                comparison=p.junction_comparison,
                unit="cm",
            )
        )
    elif geo.near == "absent" and geo.long == "present":
        assert geo.length is not None and geo.distance is not None
        decision = "fondaparinux"
        recs += [
            Rec(
                "svt.fondaparinux",
                fields=lambda: {"length": length, "distance": distance, "junction": junction},
                threshold=p.length_cm,
                measured=length,
                comparison=p.length_comparison,
                unit="cm",
            ),
            Rec("svt.alternatives"),
            Rec("svt.extended-course"),
        ]
    elif geo.near == "absent" and geo.long == "absent":
        assert geo.length is not None
        risk = [by_id[f] for f in p.short_svt_risk_features if f in by_id]
        present = [f for f in risk if f.status == "present"]
        unknown = [f for f in risk if f.status == "unknown"]
        if present:
            decision = "anticoagulation-to-consider"
            recs.append(
                Rec("svt.short-with-risk",
                    fields=lambda: {"length": length, "features": _labels(present, params)})
            )  # fmt: skip
        elif unknown:
            decision = "undetermined"
            missing = tuple(dict.fromkeys(n for f in unknown for n in f.needed))
            recs.append(
                Rec("svt.undetermined", fields=lambda: {"needed": _needed(unknown, params)})
            )
        else:
            decision = "no-anticoagulation"
            recs.append(
                Rec(
                    "svt.no-anticoagulation",
                    fields=lambda: {"length": length},
                    threshold=p.length_cm,
                    measured=length,
                    comparison=p.length_comparison,
                    unit="cm",
                )
            )
            favouring = [
                by_id[f] for f in p.favouring_factors if f in by_id and by_id[f].status == "present"
            ]
            if favouring:
                recs.append(
                    Rec("svt.favouring-factors",
                        fields=lambda: {"features": _labels(favouring, params)})
                )  # fmt: skip
    else:
        decision = "undetermined"
        pending = [
            f
            for f in (by_id.get("near-junction"), by_id.get("extensive"))
            if f is not None and f.status == "unknown"
        ]
        if not pending:  # factor ids were configured away: still name the measurements
            pending = [f for f in factors if f.id in ("near-junction", "extensive")]
        needed_paths = (geo.distance_missing if geo.near == "unknown" else ()) + (
            geo.length_missing if geo.long == "unknown" else ()
        )
        missing = tuple(dict.fromkeys(needed_paths))
        named = missing
        recs.append(
            Rec(
                "svt.undetermined",
                fields=lambda: {
                    "needed": _needed(pending, params) if pending else ", ".join(named)
                },
            )
        )
    recs.append(Rec("svt.ablation-later"))
    svt = SvtDecision(
        decision=decision,
        veins=geo.veins,
        junction=geo.junction,
        length_cm=geo.length,
        distance_to_junction_cm=geo.distance,
        junction_comparison=p.junction_comparison,
        boundary=geo.boundary,
        missing=missing,
    )
    decided_by = next(
        r
        for r in recs
        if not r.key.startswith(("svt.whole-leg-ultrasound", "svt.junction-boundary"))
    )
    veins = geo.veins
    return PathwayDecision(
        side=side,
        pathway="svt",
        decision=decision,
        factors=tuple(factors),
        missing=missing,
        boundary=geo.boundary,
        svt=svt,
        recs=tuple(recs),
        summary=Summary(
            "pathway.svt",
            lambda: (
                f"Superficial vein thrombosis ({', '.join(veins)}; longest "
                f"{_cm(length)}, nearest {_cm(distance)} from the {junction}). "
                f"Decision: {decision}."
            ),
            basis=decided_by,
            threshold=p.junction_cm,
            measured=distance,
            comparison=p.junction_comparison,
            unit="cm",
        ),
    )


def _needed(factors: list[Factor], params: PathwayParams) -> str:
    return "; ".join(
        f"{f.label(params)} ({', '.join(f.needed) or 'not recordable'})" for f in factors
    )


def with_dvt(deep: PathwayDecision, svt: PathwayDecision) -> PathwayDecision:
    """A leg with both DVT and SVT: the DVT pathway leads; the SVT regimen is folded in."""
    assert svt.svt is not None
    if deep.decision == "anticoagulation":
        plan = (
            "its anticoagulation also treats the superficial thrombosis, so no separate "
            "SVT regimen is added."
        )
        kept = [r for r in svt.recs if r.key.startswith("svt.ablation-later")]
        missing = deep.missing
    else:
        decision = deep.decision
        plan = f"the DVT decision is '{decision}'; decide the SVT regimen below together with it."
        kept = [r for r in svt.recs if not r.key.startswith("svt.whole-leg-ultrasound")]
        missing = tuple(dict.fromkeys(deep.missing + svt.missing))
    note = Rec("svt.with-dvt", fields=lambda: {"dvt_plan": plan})
    return replace(
        deep,
        svt=svt.svt,
        boundary=deep.boundary or svt.boundary,
        missing=missing,
        recs=(*deep.recs, note, *kept),
    )
