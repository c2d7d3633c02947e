"""Diagnoses of an exam, coded in ICD-10-CM (and SNOMED CT where a code was confirmed).

Coding a diagnosis is a rule, so the engine does it once and every edge prints the result
(FHIR Conditions and DiagnosticReport.conclusionCode today). Conventions (venalab [D]; codes
and their sources in venalab.diagnosis_codes, ICD-10-CM tabular list I82/I83/I87/L94):
- Deep vein thrombosis: one diagnosis per ICD-10-CM vein category of the leg (I82.4- acute,
  I82.5- chronic); a thrombus whose age is not stated or indeterminate is coded as acute
  (the ICD-10-CM default for thrombosis NOS) and says so. Plus the leg-level proximal (Y) /
  distal (Z) summary code, which goes to the report's conclusion only (`condition` False).
- Superficial vein thrombosis: I82.81- for the leg.
- Chronic venous insufficiency: I87.2 when CEAP P has reflux (Pr).
- Varicose veins: when a C2 class is present; I83.- with ulcer (`ulcer-active` sign),
  inflammation (`eczema` sign) and pain (VCSS or Villalta pain item >= 1) as ICD-10-CM words.
- Calcinosis cutis: L94.2, provisional, when calcification is recorded.
"""

from __future__ import annotations

from typing import Any, Literal

from venalab.diagnosis_codes import (
    SCT_DVT,
    SCT_DVT_LOWER_EXTREMITY,
    SCT_VARICOSE_LOWER_EXTREMITY,
    Code,
    icd,
    icd_deep_vein,
    icd_dvt_level,
    icd_superficial_thrombosis,
    icd_varicose,
)
from venalab.evidence import Evidence, Frozen, Side, evidence
from venalab.exam import ExamDocument, Leg, Thrombus
from venalab.rules.calcinosis import CalcinosisResult
from venalab.rules.ceap import CeapResult
from venalab.rules.reflux import SegmentResult
from venalab.rules.thrombosis import ThrombosisResult
from venalab.trusted import trusted

DiagnosisKind = Literal[
    "deep-vein-thrombosis",
    "deep-vein-thrombosis-level",
    "superficial-vein-thrombosis",
    "venous-insufficiency",
    "varicose-veins",
    "calcinosis-cutis",
]

_NOT_LOWER_EXTREMITY = frozenset({"IVC", "PELV"})


class Diagnosis(Frozen):
    """One coded diagnosis with the entries behind it.

    id: `<leg>.<name>` (name: the ICD-10-CM code of a deep-vein category, or `dvt-level`,
    `svt`, `venous-insufficiency`, `varicose`), or `calcinosis` for both legs.
    codes: in print order, the ICD-10-CM code always among them. condition: False for a
    summary code that belongs in a report's conclusion but is no condition of its own.
    veins: the body sites when the diagnosis names veins (else the limbs in `sides`).
    segments: indices into `legs.<leg>.segments` of the entries that support it.
    """

    id: str
    kind: DiagnosisKind
    leg: Side | None = None
    sides: tuple[Side, ...]
    veins: tuple[str, ...] = ()
    codes: tuple[Code, ...]
    condition: bool = True
    verification: Literal["confirmed", "provisional"] = "confirmed"
    segments: tuple[int, ...] = ()
    note: str | None = None
    evidence: Evidence

    @property
    def icd10cm(self) -> str:
        return next(c.code for c in self.codes if c.system == "icd-10-cm")


_diagnosis = trusted(Diagnosis)


def _evidence(kind: DiagnosisKind, sources: tuple[str, ...], note: str) -> Evidence:
    return evidence(
        f"diagnosis.{kind}",
        ["VENALAB", *dict.fromkeys(s for s in sources if s != "VENALAB")],
        level="D",
        note=note,
    )


def _on_leg(
    side: Side,
    name: str,
    kind: DiagnosisKind,
    codes: tuple[Code, ...],
    sources: tuple[str, ...],
    why: str,
    **details: Any,
) -> Diagnosis:
    """A diagnosis of one leg, id `<side>.<name>`; `why` is its evidence note."""
    return _diagnosis(
        id=f"{side}.{name}",
        kind=kind,
        leg=side,
        sides=(side,),
        codes=codes,
        evidence=_evidence(kind, sources, why),
        **details,
    )


def _thrombosed(leg: Leg, veins: tuple[str, ...]) -> list[tuple[int, Thrombus]]:
    """(index, thrombus) of the leg's entries of these veins that record a thrombus."""
    return [
        (i, s.thrombus)
        for i, s in enumerate(leg.segments)
        if s.vein in veins and s.thrombus is not None
    ]


def _deep(side: Side, leg: Leg, t: ThrombosisResult) -> list[Diagnosis]:
    groups: dict[str, list[str]] = {}
    for d in t.deep:
        code = icd_deep_vein(d.vein, side, d.age == "chronic").code
        groups.setdefault(code, []).append(d.vein)
    out: list[Diagnosis] = []
    for code, members in groups.items():
        veins = tuple(dict.fromkeys(members))
        thrombi = _thrombosed(leg, veins)
        unaged = any(th.age in (None, "indeterminate") for _, th in thrombi)
        snomed = SCT_DVT if set(veins) & _NOT_LOWER_EXTREMITY else SCT_DVT_LOWER_EXTREMITY
        out.append(
            _on_leg(
                side,
                code,
                "deep-vein-thrombosis",
                (snomed, icd(code)),
                t.evidence.sources,
                f"Thrombus in {', '.join(veins)}: ICD-10-CM {code}.",
                veins=veins,
                segments=tuple(i for i, _ in thrombi),
                note="Age not chronic or not stated: coded as acute (ICD-10-CM "
                "default for thrombosis NOS)."
                if unaged
                else None,
            )
        )
    if t.classification != "none":
        level = icd_dvt_level(t.classification == "proximal", side, t.chronic_only)
        why = f"{t.label}: ICD-10-CM {level.code} (leg-level summary)."
        out.append(
            _on_leg(
                side,
                "dvt-level",
                "deep-vein-thrombosis-level",
                (level,),
                t.evidence.sources,
                why,
                condition=False,
            )
        )
    return out


def _superficial(side: Side, leg: Leg, t: ThrombosisResult) -> list[Diagnosis]:
    if not t.superficial:
        return []
    veins = tuple(dict.fromkeys(s.vein for s in t.superficial))
    code = icd_superficial_thrombosis(side)
    why = f"Superficial vein thrombosis in {', '.join(veins)}: ICD-10-CM {code.code}."
    return [
        _on_leg(
            side,
            "svt",
            "superficial-vein-thrombosis",
            (code,),
            t.evidence.sources,
            why,
            veins=veins,
            segments=tuple(i for i, _ in _thrombosed(leg, veins)),
        )
    ]


def _pain(exam: ExamDocument, side: Side) -> bool:
    s = exam.scores
    vcss = getattr(s.vcss, side) if s and s.vcss else None
    villalta = getattr(s.villalta, side) if s and s.villalta else None
    return bool((vcss and (vcss.pain or 0) >= 1) or (villalta and (villalta.pain or 0) >= 1))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _chronic(
    side: Side,
    leg: Leg,
    ceap: CeapResult,
    segments: tuple[SegmentResult, ...],
    exam: ExamDocument,
) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    if "r" in ceap.p_types:
        out.append(
            _on_leg(
                side,
                "venous-insufficiency",
                "venous-insufficiency",
                (icd("I87.2"),),
                ceap.evidence.sources,
                f"CEAP {ceap.p}: reflux recorded: ICD-10-CM I87.2.",
                segments=tuple(i for i, s in enumerate(segments) if s.abnormal is True),
                note=f"CEAP {ceap.basic}",
            )
        )
    if any(c.startswith("C2") for c in ceap.c_classes):
        ulcer, eczema = "ulcer-active" in leg.clinical.signs, "eczema" in leg.clinical.signs
        pain = _pain(exam, side)
        code = icd_varicose(side, ulcer=ulcer, inflammation=eczema, pain=pain)
        why = (
            f"CEAP {', '.join(ceap.c_classes)}; active ulcer {_yes(ulcer)}, eczema "
            f"{_yes(eczema)}, pain item >= 1 {_yes(pain)}: ICD-10-CM {code.code}."
        )
        out.append(
            _on_leg(
                side,
                "varicose",
                "varicose-veins",
                (SCT_VARICOSE_LOWER_EXTREMITY, code),
                ceap.evidence.sources,
                why,
                note=f"CEAP {ceap.basic}",
            )
        )
    return out


def leg_diagnoses(
    side: Side,
    leg: Leg,
    exam: ExamDocument,
    thrombosis: ThrombosisResult,
    ceap: CeapResult,
    segments: tuple[SegmentResult, ...],
) -> list[Diagnosis]:
    """The coded diagnoses of one leg, in the order a report lists them."""
    return (
        _deep(side, leg, thrombosis)
        + _superficial(side, leg, thrombosis)
        + _chronic(side, leg, ceap, segments, exam)
    )


def calcinosis_diagnoses(calc: CalcinosisResult | None, subtype: str | None) -> list[Diagnosis]:
    """L94.2 when calcification is recorded; `subtype` is the subtype finding's text."""
    if calc is None or not calc.calcification_sides:
        return []
    return [
        Diagnosis(
            id="calcinosis",
            kind="calcinosis-cutis",
            sides=calc.calcification_sides,
            codes=(icd("L94.2"),),
            verification="provisional",
            note=subtype,
            evidence=_evidence(
                "calcinosis-cutis",
                calc.evidence.sources,
                "Calcification recorded: ICD-10-CM L94.2, provisional until the workup "
                "confirms the subtype.",
            ),
        )
    ]
