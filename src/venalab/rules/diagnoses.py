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

from typing import Literal

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
from venalab.exam import ExamDocument, Leg
from venalab.rules.calcinosis import CalcinosisResult
from venalab.rules.ceap import CeapResult
from venalab.rules.reflux import SegmentResult
from venalab.rules.thrombosis import ThrombosisResult

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


def _evidence(kind: DiagnosisKind, sources: tuple[str, ...], note: str) -> Evidence:
    return evidence(
        f"diagnosis.{kind}",
        ["VENALAB", *dict.fromkeys(s for s in sources if s != "VENALAB")],
        level="D",
        note=note,
    )


def _deep(side: Side, leg: Leg, t: ThrombosisResult) -> list[Diagnosis]:
    groups: dict[str, list[str]] = {}
    for d in t.deep:
        code = icd_deep_vein(d.vein, side, d.age == "chronic").code
        groups.setdefault(code, []).append(d.vein)
    out: list[Diagnosis] = []
    for code, members in groups.items():
        veins = tuple(dict.fromkeys(members))
        thrombi = [
            (i, s.thrombus)
            for i, s in enumerate(leg.segments)
            if s.vein in veins and s.thrombus is not None
        ]
        unaged = any(th.age in (None, "indeterminate") for _, th in thrombi)
        snomed = SCT_DVT if set(veins) & _NOT_LOWER_EXTREMITY else SCT_DVT_LOWER_EXTREMITY
        out.append(
            Diagnosis(
                id=f"{side}.{code}",
                kind="deep-vein-thrombosis",
                leg=side,
                sides=(side,),
                veins=veins,
                codes=(snomed, icd(code)),
                segments=tuple(i for i, _ in thrombi),
                note="Age not chronic or not stated: coded as acute (ICD-10-CM "
                "default for thrombosis NOS)."
                if unaged
                else None,
                evidence=_evidence(
                    "deep-vein-thrombosis",
                    t.evidence.sources,
                    f"Thrombus in {', '.join(veins)}: ICD-10-CM {code}.",
                ),
            )
        )
    if t.classification != "none":
        level = icd_dvt_level(t.classification == "proximal", side, t.chronic_only)
        out.append(
            Diagnosis(
                id=f"{side}.dvt-level",
                kind="deep-vein-thrombosis-level",
                leg=side,
                sides=(side,),
                codes=(level,),
                condition=False,
                evidence=_evidence(
                    "deep-vein-thrombosis-level",
                    t.evidence.sources,
                    f"{t.label}: ICD-10-CM {level.code} (leg-level summary).",
                ),
            )
        )
    return out


def _superficial(side: Side, leg: Leg, t: ThrombosisResult) -> list[Diagnosis]:
    if not t.superficial:
        return []
    veins = tuple(dict.fromkeys(s.vein for s in t.superficial))
    code = icd_superficial_thrombosis(side)
    return [
        Diagnosis(
            id=f"{side}.svt",
            kind="superficial-vein-thrombosis",
            leg=side,
            sides=(side,),
            veins=veins,
            codes=(code,),
            segments=tuple(
                i for i, s in enumerate(leg.segments) if s.vein in veins and s.thrombus is not None
            ),
            evidence=_evidence(
                "superficial-vein-thrombosis",
                t.evidence.sources,
                f"Superficial vein thrombosis in {', '.join(veins)}: ICD-10-CM {code.code}.",
            ),
        )
    ]


def _pain(exam: ExamDocument, side: Side) -> bool:
    s = exam.scores
    vcss = getattr(s.vcss, side) if s and s.vcss else None
    villalta = getattr(s.villalta, side) if s and s.villalta else None
    return bool((vcss and (vcss.pain or 0) >= 1) or (villalta and (villalta.pain or 0) >= 1))


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
            Diagnosis(
                id=f"{side}.venous-insufficiency",
                kind="venous-insufficiency",
                leg=side,
                sides=(side,),
                codes=(icd("I87.2"),),
                segments=tuple(i for i, s in enumerate(segments) if s.abnormal is True),
                note=f"CEAP {ceap.basic}",
                evidence=_evidence(
                    "venous-insufficiency",
                    ceap.evidence.sources,
                    f"CEAP {ceap.p}: reflux recorded: ICD-10-CM I87.2.",
                ),
            )
        )
    if any(c.startswith("C2") for c in ceap.c_classes):
        signs = leg.clinical.signs
        pain = _pain(exam, side)
        code = icd_varicose(
            side, ulcer="ulcer-active" in signs, inflammation="eczema" in signs, pain=pain
        )
        out.append(
            Diagnosis(
                id=f"{side}.varicose",
                kind="varicose-veins",
                leg=side,
                sides=(side,),
                codes=(SCT_VARICOSE_LOWER_EXTREMITY, code),
                note=f"CEAP {ceap.basic}",
                evidence=_evidence(
                    "varicose-veins",
                    ceap.evidence.sources,
                    f"CEAP {', '.join(ceap.c_classes)}; active ulcer "
                    f"{'yes' if 'ulcer-active' in signs else 'no'}, eczema "
                    f"{'yes' if 'eczema' in signs else 'no'}, pain item >= 1 "
                    f"{'yes' if pain else 'no'}: ICD-10-CM {code.code}.",
                ),
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
