"""Code tables of the FHIR R4 export and import (shared/reference/interop.md 2.2-2.5).

Where the codes come from (nothing clinical is typed from memory):

- DICOM concepts (laterality CID 244, vessel lumen diameter CID 12119, thrombus CID 3714,
  topographical modifiers CID 12116, retrograde flow CID 12221, body positions, lower limb,
  measurement group): looked up at first use from pydicom's DICOM dictionaries
  (`pydicom.sr.codedict`), legacy SNOMED-RT (SRT) ids from pydicom's SCT<->SRT table.
- Vein codes: venalab.anatomy VEINS[code].snomed (generated from DICOM CID 12110 by
  tools/gen_vein_codes.py); the other CID 12110 concepts from venalab._vein_codes.CID12110.
- ICD-10-CM and SNOMED CT disorders: venalab.diagnosis_codes (the engine's diagnoses);
  every ICD-10-CM code and description is checked against the `simple-icd-10-cm` package by
  tests/test_fhir_codes.py (valid, leaf, same description).
- LOINC report codes and a few SNOMED CT disorder codes have no package to check them
  against offline; each carries its source (interop.md 2.2 / 2.5) in a comment.
- venalab's own concepts live in three local CodeSystems on an `.invalid` host (RFC 2606:
  never resolves, so nobody mistakes them for a registry): VENOUS_MEASUREMENTS (duplex
  concepts with no standard code, e.g. reflux duration: the interop.md 2.3 gap, and the
  scores), VENOUS_EXAM (the exam document's own fields and their answers, generated from
  venalab.exam's models so every field has a code) and VEIN (the exam's vein codes, for
  veins CID 12110 has no concept for: AASV, NSV, CPV, IVC, PELV, PAGSV, TPT).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from venalab import diagnosis_codes
from venalab._vein_codes import CID12110
from venalab.anatomy import VEINS
from venalab.diagnosis_codes import Code, CodeSystem
from venalab.exam import (
    SIDES,
    Clinical,
    ExamInfo,
    History,
    LegImaging,
    Side,
    VcssItems,
    VillaltaItems,
    WellsItems,
)
from venalab.units import LAB_UNITS

# --- code system URIs ------------------------------------------------------------------------

SCT = "http://snomed.info/sct"
SRT = "http://snomed.info/srt"  # legacy SNOMED-RT ids as old DICOM devices send them
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

# DICOM coding scheme designator -> FHIR system (DICOM PS3.16 section 8 / FHIR terminologies).
DICOM_SCHEMES: dict[str, str] = {"SCT": SCT, "SRT": SRT, "LN": LOINC, "DCM": DCM, "NCIt": NCIT}

VENALAB_BASE = "http://venalab.invalid/fhir"
VENOUS_MEASUREMENTS = f"{VENALAB_BASE}/CodeSystem/venous-measurements"
VENOUS_EXAM = f"{VENALAB_BASE}/CodeSystem/venous-exam"
VEIN = f"{VENALAB_BASE}/CodeSystem/vein"
PATIENT_ID = f"{VENALAB_BASE}/sid/patient-id"
LOCAL_SYSTEMS = (VENOUS_MEASUREMENTS, VENOUS_EXAM, VEIN)

# Laterality on Observation.bodySite: HL7 FHIR Extensions Pack, context Observation.bodySite.
EXT_STRUCTURE_LATERALITY = "http://hl7.org/fhir/StructureDefinition/observation-structureLaterality"
# Laterality on Condition.bodySite (and any CodeableConcept): HL7 mCODE STU4.
EXT_MCODE_LATERALITY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"
# Also accepted on import (Belgian core clinical IG, valueCoding).
EXT_BE_LATERALITY = (
    "https://www.ehealth.fgov.be/standards/fhir/core-clinical/StructureDefinition/be-ext-laterality"
)
LATERALITY_EXTENSIONS = (EXT_STRUCTURE_LATERALITY, EXT_MCODE_LATERALITY, EXT_BE_LATERALITY)
# SNOMED CT attribute "Laterality" in post-coordinated expressions (vein:272741003=left);
# the attribute id is part of the SNOMED CT concept model, accepted on import only.
SCT_LATERALITY_ATTRIBUTE = "272741003"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def fhir(self) -> dict[str, str]:
        out = {"system": self.system, "code": self.code}
        if self.display:
            out["display"] = self.display
        return out

    @property
    def key(self) -> tuple[str, str]:
        return (self.system, self.code)


def concept(*codings: Coding, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept."""
    out: dict[str, Any] = {"coding": [c.fhir() for c in codings]}
    if text:
        out["text"] = text
    return out


def _from_dicom(code: Any) -> Coding:
    return Coding(DICOM_SCHEMES[code.scheme_designator], code.value, code.meaning)


# --- DICOM concepts, from pydicom ------------------------------------------------------------


@dataclass(frozen=True)
class DicomCodes:
    laterality: dict[Side, Coding]
    laterality_srt: dict[Side, Coding]
    vessel_lumen_diameter: Coding
    length_of_segment: Coding
    thrombus: Coding
    thrombus_finding: dict[str, Coding]  # CID 3714 keyword -> coding
    retrograde_flow: Coding
    topographical_modifier: Coding
    site: dict[str, Coding]  # exam Segment.site -> CID 12116 modifier
    measurement_group: Coding
    lower_limb: Coding
    vein_of_lower_extremity: Coding
    body_mass_index: Coding
    position: dict[str, Coding]  # exam position -> SNOMED CT body position (not reverse-T.)
    lower_extremity_vessels_report: Coding
    vein_report: Coding


@cache
def dicom() -> DicomCodes:
    """DICOM concepts looked up in pydicom's dictionaries (about 1 s, once per process)."""
    from pydicom.sr import _snomed_dict
    from pydicom.sr.codedict import Collection, codes

    sct_to_srt: dict[str, str] = dict(_snomed_dict.mapping["SCT"])
    cid244 = Collection("CID244")
    lat = {"left": _from_dicom(cid244.Left), "right": _from_dicom(cid244.Right)}
    lat_srt = {side: Coding(SRT, sct_to_srt[c.code], c.display) for side, c in lat.items()}
    cid3714 = Collection("CID3714")
    cid12116 = Collection("CID12116")
    cid12100 = Collection("CID12100")
    return DicomCodes(
        laterality=typing.cast(dict[Side, Coding], lat),
        laterality_srt=typing.cast(dict[Side, Coding], lat_srt),
        vessel_lumen_diameter=_from_dicom(Collection("CID12119").VesselLumenDiameter),
        length_of_segment=_from_dicom(Collection("CID12119").LengthOfSegment),
        thrombus=_from_dicom(codes.SCT.Thrombus),
        thrombus_finding={k: _from_dicom(getattr(cid3714, k)) for k in cid3714.dir()},
        retrograde_flow=_from_dicom(Collection("CID12221").RetrogradeFlow),
        topographical_modifier=_from_dicom(codes.SCT.TopographicalModifier),
        site={
            "proximal": _from_dicom(cid12116.Proximal),
            "mid": _from_dicom(cid12116.Middle),
            "distal": _from_dicom(cid12116.Distal),
        },
        measurement_group=_from_dicom(codes.DCM.MeasurementGroup),
        lower_limb=_from_dicom(codes.SCT.LowerLimbStructure),
        vein_of_lower_extremity=_from_dicom(codes.SCT.StructureOfVeinOfLowerExtremity),
        body_mass_index=_from_dicom(codes.SCT.BodyMassIndex),
        position={
            "standing": _from_dicom(codes.SCT.Standing),
            "sitting": _from_dicom(codes.SCT.SittingPosition),
            "supine": _from_dicom(codes.SCT.SupineBodyPosition),
        },
        lower_extremity_vessels_report=_from_dicom(cid12100.USDopplerLowerExtremityVesselsReport),
        vein_report=_from_dicom(cid12100.USVeinReport),
    )


# --- veins -----------------------------------------------------------------------------------


# Veins CID 12110 has no concept for, given the nearest broader SNOMED CT structure (FHIR
# codings of one concept may differ in granularity): the accessory saphenous veins are
# saphenous veins (SCT 362072009, CID 12110), the generic calf perforator and the
# non-saphenous superficial veins are veins of the lower extremity (SCT 122774002, the
# TID 5103 section scope). Keywords of pydicom's dictionaries, not typed codes.
BROADER_VEIN: dict[str, str] = {
    "AASV": "SaphenousVein",
    "PAGSV": "SaphenousVein",
    "CPV": "StructureOfVeinOfLowerExtremity",
    "NSV": "StructureOfVeinOfLowerExtremity",
}
# Named perforators (CID 12110) a perforator's label may name: exported as that concept.
NAMED_PERFORATORS: dict[str, str] = {
    "HunterianPerforatingVein": "TPV",
    "DoddPerforatingVein": "TPV",
    "BoydPerforatingVein": "CPV",
    "CockettPerforatingVein": "CPV",
    "LateralCalfPerforator": "CPV",
}


@cache
def _broader(vein: str) -> Coding | None:
    from pydicom.sr.codedict import codes

    keyword = BROADER_VEIN.get(vein)
    return None if keyword is None else _from_dicom(getattr(codes.SCT, keyword))


@cache
def _named_perforators() -> dict[str, tuple[str, Coding]]:
    from pydicom.sr.codedict import codes

    out: dict[str, tuple[str, Coding]] = {}
    for keyword, vein in NAMED_PERFORATORS.items():
        code = getattr(codes.SCT, keyword)
        out[code.meaning.casefold()] = (vein, _from_dicom(code))
    return out


def vein_codings(vein: str, label: str | None = None) -> list[Coding]:
    """SNOMED CT for the vein: its CID 12110 concept; a named perforator when the label names
    one; else the nearest broader structure (BROADER_VEIN); always the local vein code."""
    v = VEINS[vein]
    named = _named_perforators().get((label or "").strip().casefold())
    if named is not None and named[0] == vein:
        out = [named[1]]
    elif v.snomed:
        out = [Coding(SCT, v.snomed.code, v.snomed.meaning)]
    else:
        broader = _broader(vein)
        out = [broader] if broader is not None else []
    return [*out, Coding(VEIN, vein, v.name)]


@cache
def vein_by_code() -> dict[tuple[str, str], str]:
    """(system, code) -> exam vein code, for SNOMED CT, legacy SRT and the local vein codes."""
    out: dict[tuple[str, str], str] = {}
    for code, v in VEINS.items():
        out[(VEIN, code)] = code
        if v.snomed is not None:
            out[(SCT, v.snomed.code)] = code
            if v.snomed.legacy_srt:
                out[(SRT, v.snomed.legacy_srt)] = code
    return out


# CID 12110 concepts the exam format has no code of its own for: what an import does with
# them (venalab convention, documented in fhir_import). Keys are pydicom keywords, so the
# codes themselves come from the generated CID 12110 table, not from this file.
#   vein code  -> import as that vein, with the concept's name as the segment label when the
#                 source gives none (the specific perforator is kept in words);
#   None       -> not importable: reported as unmapped;
#   "plain-gsv"-> the great saphenous vein without thigh/calf: the caller decides.
OTHER_CID12110: dict[str, str | None] = {
    "BoydPerforatingVein": "CPV",
    "CockettPerforatingVein": "CPV",
    "LateralCalfPerforator": "CPV",
    "HunterianPerforatingVein": "TPV",
    "GreatSaphenousVein": "plain-gsv",
    "GiacominiVein": None,
    "PosteriorArchVein": None,
    "SaphenousVein": None,
}


@cache
def other_cid12110() -> dict[tuple[str, str], tuple[str, str | None]]:
    """(system, code) -> (concept meaning, policy) for the CID 12110 concepts above."""
    by_keyword = {kw: (sct, meaning, srt) for sct, (kw, meaning, srt) in CID12110.items()}
    out: dict[tuple[str, str], tuple[str, str | None]] = {}
    for keyword, policy in OTHER_CID12110.items():
        sct, meaning, srt = by_keyword[keyword]
        out[(SCT, sct)] = (meaning, policy)
        if srt:
            out[(SRT, srt)] = (meaning, policy)
    return out


# --- report-level codes (LOINC) --------------------------------------------------------------
# US.doppler Lower extremity vein - bilateral / left / right / unspecified laterality.
# Source: interop.md 2.2 (a LOINC radiology code list in the code corpus, read again for this
# module: "39432-0|Lower extremity vein - left US.doppler", "39443-7|... - right US.doppler").
# MediMind-Angio claims 39053-0 / 39052-2 for left / right; interop.md 2.3-2.4 shows that
# table to be unreliable, so those are not used (and not accepted on import).
REPORT_CODE: dict[str, Coding] = {
    "bilateral": Coding(LOINC, "39420-5", "US.doppler Lower extremity vein - bilateral"),
    "left": Coding(LOINC, "39432-0", "US.doppler Lower extremity vein - left"),
    "right": Coding(LOINC, "39443-7", "US.doppler Lower extremity vein - right"),
    "unspecified": Coding(LOINC, "30881-7", "US.doppler Lower extremity vein"),
}
# The same study without doppler (46364-6 bilateral; 48692-8 left; 48691-0 right; 46363-8),
# same list; accepted on import.
REPORT_CODE_NON_DOPPLER: dict[str, str] = {
    "46364-6": "bilateral",
    "48692-8": "left",
    "48691-0": "right",
    "46363-8": "unspecified",
}
# DiagnosticReport.category: HL7 v2 table 0074 "VUS" Vascular Ultrasound (interop.md 2.2).
CATEGORY_VUS = Coding(V2_0074, "VUS", "Vascular Ultrasound")
INTERPRETATION = {
    True: Coding(V3_INTERPRETATION, "A", "Abnormal"),
    False: Coding(V3_INTERPRETATION, "N", "Normal"),
}
# LOINC BMI: the FHIR R4 core vital-signs profile (observation-bmi) fixes this code; accepted
# on import beside DICOM's SCT Body mass index, which the export uses.
LOINC_BMI = Coding(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")

# --- diagnoses ------------------------------------------------------------------------------
# The codes themselves are core data (venalab.diagnosis_codes), emitted by the engine in
# `Result.diagnoses`; the export only turns them into FHIR Codings.
SYSTEM_URI: dict[CodeSystem, str] = {"icd-10-cm": ICD10CM, "snomed-ct": SCT}


def coding(code: Code) -> Coding:
    """The FHIR Coding of a core diagnosis code."""
    return Coding(SYSTEM_URI[code.system], code.code, code.display)


def icd(code: str) -> Coding:
    """An ICD-10-CM coding; only codes of the checked table exist."""
    return coding(diagnosis_codes.icd(code))


# --- local CodeSystems ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalConcept:
    code: str
    display: str
    definition: str | None = None


def _m(code: str, display: str, definition: str | None = None) -> LocalConcept:
    return LocalConcept(code, display, definition)


# Duplex concepts without a standard code (interop.md 2.3 "Gap") and venalab's results.
MEASUREMENT_CONCEPTS: dict[str, LocalConcept] = {
    c.code: c
    for c in (
        _m("venalab-export", "Exported by venalab", "Tag of a Bundle written by venalab."),
        _m(
            "venous-segment",
            "Venous segment duplex assessment",
            "One examined vein segment of one leg; its measurements are components.",
        ),
        _m(
            "reflux-duration",
            "Venous reflux duration",
            "Duration of retrograde flow after provocation (ms). No LOINC or DICOM code "
            "exists (DICOM CID 12119 has velocities, indices and diameters only).",
        ),
        _m("peak-reflux-velocity", "Peak reflux velocity", "Peak retrograde velocity (cm/s)."),
        _m("compressibility", "Vein compressibility", "Compression ultrasound of the vein."),
        _m("compressibility:full", "Fully compressible"),
        _m("compressibility:partial", "Partially compressible"),
        _m("compressibility:none", "Non-compressible"),
        _m("obstruction", "Venous obstruction", "Obstruction of the segment (true/false)."),
        _m("thrombus-age", "Thrombus age"),
        _m("thrombus-age:acute", "Acute thrombus"),
        _m("thrombus-age:subacute", "Subacute thrombus"),
        _m("thrombus-age:chronic", "Chronic thrombus"),
        _m("thrombus-age:indeterminate", "Thrombus of indeterminate age"),
        _m("thrombus-occlusive", "Occlusive thrombus", "The thrombus occludes the lumen."),
        _m("thrombus-length", "Thrombus length", "Length of the thrombus (cm)."),
        _m(
            "thrombus-distance-to-junction",
            "Thrombus distance to saphenous junction",
            "Distance from the thrombus head to the SFJ/SPJ (cm).",
        ),
        _m(
            "thrombus-lumen-percent",
            "Thrombus share of the lumen",
            "Share of the vein's lumen the thrombus occupies (%); grades EHIT II/III.",
        ),
        _m("treatment-method", "Treatment of the segment", "How the segment was treated."),
        _m("treatment-method:thermal-ablation", "Thermal ablation"),
        _m("treatment-method:non-thermal-ablation", "Non-thermal ablation"),
        _m("treatment-method:stripping", "Stripping"),
        _m("treatment-method:sclerotherapy", "Sclerotherapy"),
        _m("treatment-date", "Treatment date", "Date the segment was treated."),
        _m("treatment-status", "Treated segment status", "What this exam shows of it."),
        _m("treatment-status:occluded", "Treated segment occluded"),
        _m("treatment-status:partially-recanalised", "Treated segment partially recanalised"),
        _m("treatment-status:fully-recanalised", "Treated segment fully recanalised"),
        _m("treatment-status:absent", "Treated segment removed"),
        _m(
            "distance-from-junction",
            "Measuring point distance from junction",
            "Distance of the measuring point from the vein's junction (cm).",
        ),
        _m(
            "beneath-ulcer",
            "Perforator beneath an ulcer",
            "Perforator located beneath a healed or open venous ulcer (true/false).",
        ),
        _m("segment-label", "Segment label", "Free-text label of the measuring point."),
        _m("ceap", "CEAP classification (basic)", "CEAP 2020 basic string, derived."),
        _m("ceap-advanced", "CEAP classification (advanced)", "CEAP 2020 advanced string."),
        _m("rvcss", "Revised Venous Clinical Severity Score", "Total (Vasquez 2010)."),
        _m("villalta", "Villalta post-thrombotic syndrome scale", "Total (Villalta 1994)."),
        _m("villalta-category", "Villalta category", "ISTH severity band of the total."),
        _m("wells-dvt", "Wells DVT score", "Clinical pre-test probability of DVT."),
        _m("wells-two-level", "Wells DVT two-level result", "'likely' or 'unlikely'."),
        _m("score-complete", "Score complete", "Every item of the score was recorded."),
        _m("score-upper-bound", "Score upper bound", "Highest total the missing items allow."),
        _m("score-minimum", "Score minimum", "Lowest total the missing items allow."),
        _m("score-maximum", "Score maximum", "Highest total the missing items allow."),
    )
}


# --- the exam document's own fields (VENOUS_EXAM), generated from the models -----------------

FieldKind = Literal["bool", "int", "decimal", "string", "enum", "enum-multi", "quantity"]


@dataclass(frozen=True)
class FieldSpec:
    """One exam-document field as a FHIR component/Observation code of VENOUS_EXAM."""

    code: str  # e.g. "history.prior_vte", "vcss.at_least.pain"
    name: str  # attribute name in its model ("prior_vte"; "pain" under at_least)
    display: str
    kind: FieldKind
    values: tuple[str, ...] = ()  # enum answers
    unit: str | None = None  # UCUM unit of a fixed-unit decimal
    standard: dict[str, Coding] = field(default_factory=dict)  # answer -> standard coding

    def value_code(self, value: str) -> str:
        return f"{self.code}:{value}"


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated."""
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _display(name: str) -> str:
    words = name.replace("_", " ")
    return words[0].upper() + words[1:]


# Units of the exam's fixed-unit decimal fields (from their names: *_months, *_cm).
_FIXED_UNITS = {"ulcer_duration_months": "mo", "ulcer_size_cm": "cm"}


def _specs(prefix: str, model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        ann = _unwrap(info.annotation)
        code = f"{prefix}.{name}"
        disp = _display(name)
        if ann is bool:
            out.append(FieldSpec(code, name, disp, "bool"))
        elif ann is int:
            out.append(FieldSpec(code, name, disp, "int"))
        elif ann is float:
            out.append(FieldSpec(code, name, disp, "decimal", unit=_FIXED_UNITS[name]))
        elif ann is str:
            out.append(FieldSpec(code, name, disp, "string"))
        elif get_origin(ann) is Literal:
            out.append(FieldSpec(code, name, disp, "enum", tuple(get_args(ann))))
        elif get_origin(ann) is tuple and get_origin(get_args(ann)[0]) is Literal:
            out.append(FieldSpec(code, name, disp, "enum-multi", get_args(get_args(ann)[0])))
        elif get_origin(ann) is dict:  # VcssItems.at_least: item -> minimum score
            key = _unwrap(get_args(ann)[0])
            for item in get_args(key):
                out.append(
                    FieldSpec(f"{code}.{item}", item, f"At least: {item.replace('_', ' ')}", "int")
                )
        else:  # pragma: no cover - a new field type in venalab.exam needs a mapping here
            raise TypeError(f"no FHIR mapping for exam field {code} ({ann!r})")
    return out


@dataclass(frozen=True)
class ExamFields:
    exam: list[FieldSpec]  # exam.* plus patient.age_years
    clinical: list[FieldSpec]
    labs: list[FieldSpec]  # labs.<analyte> (quantity) and labs.dialysis
    history: list[FieldSpec]
    imaging: list[FieldSpec]
    wells: list[FieldSpec]
    vcss: list[FieldSpec]
    villalta: list[FieldSpec]
    section_present: FieldSpec
    observations: dict[str, LocalConcept]  # Observation.code of the grouping Observations

    def all(self) -> list[FieldSpec]:
        return [
            *self.exam,
            *self.clinical,
            *self.labs,
            *self.history,
            *self.imaging,
            *self.wells,
            *self.vcss,
            *self.villalta,
            self.section_present,
        ]

    @property
    def by_code(self) -> dict[str, FieldSpec]:
        return {f.code: f for f in self.all()}


@cache
def exam_fields() -> ExamFields:
    positions = {k: v for k, v in dicom().position.items()}
    exam = [
        FieldSpec("patient.age_years", "age_years", "Age at the exam", "quantity", unit="a"),
        *_specs("exam", ExamInfo, skip=("date", "operator")),
    ]
    exam = [
        FieldSpec(f.code, f.name, f.display, f.kind, f.values, f.unit, positions)
        if f.code == "exam.position"
        else f
        for f in exam
    ]
    labs = [
        FieldSpec(f"labs.{a}", a, LAB_UNITS[a].label, "quantity")
        for a in ("calcium", "phosphate", "pth", "creatinine", "vitamin_d_25oh", "egfr")
    ] + [FieldSpec("labs.dialysis", "dialysis", "Dialysis", "bool")]
    return ExamFields(
        exam=exam,
        clinical=_specs("clinical", Clinical),
        labs=labs,
        history=_specs("history", History),
        imaging=_specs("imaging", LegImaging),
        wells=_specs("wells_dvt", WellsItems),
        vcss=_specs("vcss", VcssItems),
        villalta=_specs("villalta", VillaltaItems),
        section_present=FieldSpec(
            "section-present", "section", "Section present (without content)", "string"
        ),
        observations={
            c.code: c
            for c in (
                _m(
                    "exam-context",
                    "Venous duplex exam context",
                    "Patient age, purpose, position, provocation and indication of the exam.",
                ),
                _m(
                    "leg-clinical",
                    "Clinical signs of the leg",
                    "CEAP clinical signs, symptoms, recurrence and etiology of one leg.",
                ),
                _m("history", "History relevant to the venous exam"),
                _m("imaging", "Plain radiograph findings of the leg"),
            )
        },
    )


@cache
def exam_concepts() -> dict[str, LocalConcept]:
    """Every concept of VENOUS_EXAM: fields, their enum answers, grouping Observations."""
    ef = exam_fields()
    out = dict(ef.observations)
    for f in ef.all():
        out[f.code] = LocalConcept(f.code, f.display)
        for v in f.values:
            out[f.value_code(v)] = LocalConcept(f.value_code(v), v.replace("-", " "))
    return out


@cache
def vein_concepts() -> dict[str, LocalConcept]:
    return {c: LocalConcept(c, v.name) for c, v in VEINS.items()}


def local_concepts(system: str) -> dict[str, LocalConcept]:
    if system == VENOUS_MEASUREMENTS:
        return MEASUREMENT_CONCEPTS
    if system == VENOUS_EXAM:
        return exam_concepts()
    if system == VEIN:
        return vein_concepts()
    raise KeyError(system)


def meas(code: str) -> Coding:
    c = MEASUREMENT_CONCEPTS[code]
    return Coding(VENOUS_MEASUREMENTS, c.code, c.display)


def exam_code(code: str) -> Coding:
    c = exam_concepts()[code]
    return Coding(VENOUS_EXAM, c.code, c.display)


# --- laboratory LOINC codes (kept beside the local VENOUS_EXAM code) ---------------------------
# LOINC has one code per analyte and property (mass or substance concentration), so the code
# follows the exam's unit. Sources: LOINC codes found in several independent public code
# tables (lab mappings, FHIR profiles) in the code corpus, cross-checked for property and
# unit. No LOINC is given where none could be confirmed: PTH in pmol/L, 25-OH vitamin D in
# nmol/L, eGFR (its LOINC depends on the estimating equation, which the exam does not
# record) and dialysis (not a laboratory observation).
LAB_LOINC: dict[tuple[str, str], Coding] = {
    ("calcium", "mg/dL"): Coding(LOINC, "17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
    ("calcium", "mmol/L"): Coding(LOINC, "2000-8", "Calcium [Moles/volume] in Serum or Plasma"),
    ("phosphate", "mg/dL"): Coding(LOINC, "2777-1", "Phosphate [Mass/volume] in Serum or Plasma"),
    ("phosphate", "mmol/L"): Coding(
        LOINC, "14879-1", "Phosphate [Moles/volume] in Serum or Plasma"
    ),
    ("pth", "pg/mL"): Coding(LOINC, "2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma"),
    ("creatinine", "mg/dL"): Coding(LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    ("creatinine", "umol/L"): Coding(
        LOINC, "14682-9", "Creatinine [Moles/volume] in Serum or Plasma"
    ),
    ("vitamin_d_25oh", "ng/mL"): Coding(
        LOINC, "62292-8", "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma"
    ),
}
LAB_BY_LOINC: dict[str, str] = {c.code: analyte for (analyte, _), c in LAB_LOINC.items()}


# --- units (UCUM) -----------------------------------------------------------------------------

# Exam lab unit -> UCUM code (the exam's spellings are UCUM already except eGFR's).
LAB_UCUM: dict[str, str] = {
    "mg/dL": "mg/dL",
    "mmol/L": "mmol/L",
    "pg/mL": "pg/mL",
    "pmol/L": "pmol/L",
    "umol/L": "umol/L",
    "ng/mL": "ng/mL",
    "nmol/L": "nmol/L",
    "mL/min/1.73m2": "mL/min/{1.73_m2}",
}
# Factors into the exam's units, for quantities another system may send in other units.
TIME_TO_MS = {"ms": 1.0, "s": 1000.0}
LENGTH_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
LENGTH_TO_CM = {"mm": 0.1, "cm": 1.0, "m": 100.0}
VELOCITY_TO_CM_S = {"cm/s": 1.0, "mm/s": 0.1, "m/s": 100.0}
AGE_TO_YEARS = {"a": 1.0}
MONTHS = {"mo": 1.0}

SIDE_ORDER: tuple[Side, Side] = SIDES
