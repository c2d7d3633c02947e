"""Diagnosis codes the engine emits (`Result.diagnoses`): ICD-10-CM and SNOMED CT disorders.

Pure data with its provenance; no FHIR here (interop/fhir_codes.py turns a `Code` into a
FHIR Coding). Sources (shared/reference/interop.md 2.5):
- ICD-10-CM: ICD10CM_CODES below; every code and description is checked against the
  `simple-icd-10-cm` package by tests/test_fhir_codes.py (valid, leaf, same description).
- SNOMED CT disorders: no SNOMED release is installable here; each code names its sources.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from venalab.evidence import Frozen, Side

CodeSystem = Literal["icd-10-cm", "snomed-ct"]


class Code(Frozen):
    """One coded concept: system, code and the system's own display text."""

    system: CodeSystem
    code: str
    display: str


# SNOMED CT disorders (no SNOMED release is installable here; interop.md 2.5 sources):
# 404223003 "Deep venous thrombosis of lower extremity": German FHIR IG examples and VSAC-style
#   value sets; 128053003 "Deep venous thrombosis": many independent FHIR sources;
# 72866009 "Varicose veins of lower extremity": a SNOMED->ICD map (72866009 -> I83.90) and a
#   SNOMED term table in the code corpus (two independent files).
# Chronic venous insufficiency, calcinosis cutis and superficial thrombophlebitis have no
# SNOMED CT code we could confirm: those Conditions carry ICD-10-CM only.
SCT_DVT_LOWER_EXTREMITY = Code(
    system="snomed-ct", code="404223003", display="Deep venous thrombosis of lower extremity"
)
SCT_DVT = Code(system="snomed-ct", code="128053003", display="Deep venous thrombosis")
SCT_VARICOSE_LOWER_EXTREMITY = Code(
    system="snomed-ct", code="72866009", display="Varicose veins of lower extremity"
)

# ICD-10-CM codes the engine can emit, with the package's descriptions. Checked against
# simple-icd-10-cm 1.5.0 by tests/test_fhir_codes.py: every code valid and a leaf (billable),
# every description identical. Built per leg: 6th character 1 = right, 2 = left.
ICD10CM_CODES: dict[str, str] = {
    "I82.411": "Acute embolism and thrombosis of right femoral vein",
    "I82.412": "Acute embolism and thrombosis of left femoral vein",
    "I82.421": "Acute embolism and thrombosis of right iliac vein",
    "I82.422": "Acute embolism and thrombosis of left iliac vein",
    "I82.431": "Acute embolism and thrombosis of right popliteal vein",
    "I82.432": "Acute embolism and thrombosis of left popliteal vein",
    "I82.441": "Acute embolism and thrombosis of right tibial vein",
    "I82.442": "Acute embolism and thrombosis of left tibial vein",
    "I82.451": "Acute embolism and thrombosis of right peroneal vein",
    "I82.452": "Acute embolism and thrombosis of left peroneal vein",
    "I82.461": "Acute embolism and thrombosis of right calf muscular vein",
    "I82.462": "Acute embolism and thrombosis of left calf muscular vein",
    "I82.491": "Acute embolism and thrombosis of other specified deep vein of right lower "
    "extremity",
    "I82.492": "Acute embolism and thrombosis of other specified deep vein of left lower extremity",
    "I82.4Y1": "Acute embolism and thrombosis of unspecified deep veins of right proximal lower "
    "extremity",
    "I82.4Y2": "Acute embolism and thrombosis of unspecified deep veins of left proximal lower "
    "extremity",
    "I82.4Z1": "Acute embolism and thrombosis of unspecified deep veins of right distal lower "
    "extremity",
    "I82.4Z2": "Acute embolism and thrombosis of unspecified deep veins of left distal lower "
    "extremity",
    "I82.511": "Chronic embolism and thrombosis of right femoral vein",
    "I82.512": "Chronic embolism and thrombosis of left femoral vein",
    "I82.521": "Chronic embolism and thrombosis of right iliac vein",
    "I82.522": "Chronic embolism and thrombosis of left iliac vein",
    "I82.531": "Chronic embolism and thrombosis of right popliteal vein",
    "I82.532": "Chronic embolism and thrombosis of left popliteal vein",
    "I82.541": "Chronic embolism and thrombosis of right tibial vein",
    "I82.542": "Chronic embolism and thrombosis of left tibial vein",
    "I82.551": "Chronic embolism and thrombosis of right peroneal vein",
    "I82.552": "Chronic embolism and thrombosis of left peroneal vein",
    "I82.561": "Chronic embolism and thrombosis of right calf muscular vein",
    "I82.562": "Chronic embolism and thrombosis of left calf muscular vein",
    "I82.591": "Chronic embolism and thrombosis of other specified deep vein of right lower "
    "extremity",
    "I82.592": "Chronic embolism and thrombosis of other specified deep vein of left lower "
    "extremity",
    "I82.5Y1": "Chronic embolism and thrombosis of unspecified deep veins of right proximal "
    "lower extremity",
    "I82.5Y2": "Chronic embolism and thrombosis of unspecified deep veins of left proximal "
    "lower extremity",
    "I82.5Z1": "Chronic embolism and thrombosis of unspecified deep veins of right distal "
    "lower extremity",
    "I82.5Z2": "Chronic embolism and thrombosis of unspecified deep veins of left distal "
    "lower extremity",
    "I82.220": "Acute embolism and thrombosis of inferior vena cava",
    "I82.221": "Chronic embolism and thrombosis of inferior vena cava",
    "I82.890": "Acute embolism and thrombosis of other specified veins",
    "I82.891": "Chronic embolism and thrombosis of other specified veins",
    "I82.811": "Embolism and thrombosis of superficial veins of right lower extremity",
    "I82.812": "Embolism and thrombosis of superficial veins of left lower extremity",
    "I87.2": "Venous insufficiency (chronic) (peripheral)",
    "I83.019": "Varicose veins of right lower extremity with ulcer of unspecified site",
    "I83.029": "Varicose veins of left lower extremity with ulcer of unspecified site",
    "I83.11": "Varicose veins of right lower extremity with inflammation",
    "I83.12": "Varicose veins of left lower extremity with inflammation",
    "I83.219": "Varicose veins of right lower extremity with both ulcer of unspecified site "
    "and inflammation",
    "I83.229": "Varicose veins of left lower extremity with both ulcer of unspecified site and "
    "inflammation",
    "I83.811": "Varicose veins of right lower extremity with pain",
    "I83.812": "Varicose veins of left lower extremity with pain",
    "I83.91": "Asymptomatic varicose veins of right lower extremity",
    "I83.92": "Asymptomatic varicose veins of left lower extremity",
    "L94.2": "Calcinosis cutis",
}

_ICD_SIDE: dict[Side, str] = {"right": "1", "left": "2"}

# Deep vein -> ICD-10-CM I82.4-/I82.5- 5th character (ICD-10-CM tabular list, I82.4):
# 1 femoral, 2 iliac, 3 popliteal, 4 tibial, 5 peroneal, 6 calf muscular, 9 other specified
# deep vein of the lower extremity. The deep femoral vein and the tibioperoneal trunk have no
# code of their own: "other specified" (venalab convention). IVC and pelvic veins are not
# lower-extremity veins: I82.22- and I82.89- (other specified veins), without laterality.
ICD_DEEP_VEIN_CATEGORY: dict[str, str] = {
    "CFV": "1",
    "FV": "1",
    "DFV": "9",
    "CIV": "2",
    "EIV": "2",
    "IIV": "2",
    "POPV": "3",
    "PTV": "4",
    "ATV": "4",
    "PRV": "5",
    "GAV": "6",
    "SOV": "6",
    "TPT": "9",
}


@cache  # immutable, and few: one shared object per code
def icd(code: str) -> Code:
    """An ICD-10-CM code; only codes of the checked table exist."""
    return Code(system="icd-10-cm", code=code, display=ICD10CM_CODES[code])


def icd_deep_vein(vein: str, side: Side, chronic: bool) -> Code:
    if vein == "IVC":
        return icd("I82.221" if chronic else "I82.220")
    if vein == "PELV":
        return icd("I82.891" if chronic else "I82.890")
    return icd(f"I82.{'5' if chronic else '4'}{ICD_DEEP_VEIN_CATEGORY[vein]}{_ICD_SIDE[side]}")


def icd_dvt_level(proximal: bool, side: Side, chronic: bool) -> Code:
    """The Y (proximal) / Z (distal) 'unspecified deep veins' code: the leg-level summary."""
    return icd(f"I82.{'5' if chronic else '4'}{'Y' if proximal else 'Z'}{_ICD_SIDE[side]}")


def icd_superficial_thrombosis(side: Side) -> Code:
    return icd(f"I82.81{_ICD_SIDE[side]}")


def icd_varicose(side: Side, *, ulcer: bool, inflammation: bool, pain: bool) -> Code:
    s = _ICD_SIDE[side]
    if ulcer and inflammation:
        return icd(f"I83.2{s}9")
    if ulcer:
        return icd(f"I83.0{s}9")
    if inflammation:
        return icd(f"I83.1{s}")
    if pain:
        return icd(f"I83.81{s}")
    return icd(f"I83.9{s}")
