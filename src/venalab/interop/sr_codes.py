"""Code tables for DICOM SR import and export (TID 5100 vascular ultrasound).

Sources: DICOM PS3.16 context groups as shipped in pydicom's generated dictionaries
(`pydicom.sr.codedict`, pydicom 3.0): CID 12100 report titles, CID 12110 lower extremity
veins, CID 12116 vessel segment modifiers, CID 3714 thrombus, CID 244 laterality, CID 230
yes/no; pydicom's SCT<->SRT table for the legacy SNOMED-RT ids older scanners send; and
venalab's generated vein table (`venalab._vein_codes`, from the same dictionaries).
No code value is typed here: standard concepts are looked up by pydicom keyword. Local codes
(no standard code exists for reflux duration, compressibility, ...: interop.md 2.3) live in
the data file `interop/data/sr_local_codes.json`, the default local-code map; a lab adds
its scanner's private codes with a map file of the same shape (interop.md section 10).
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, Union, cast, get_args, get_origin

from pydicom.sr._snomed_dict import mapping as _snomed_mapping
from pydicom.sr.codedict import Collection, codes
from pydicom.sr.coding import Code

from venalab._vein_codes import VEIN_SNOMED
from venalab.bounded import decode_json, read_limited
from venalab.errors import InvalidInput, Problem
from venalab.exam import Compressibility, ExamInfo, Site, ThrombusAge, VeinCode

LOCAL_SCHEME = "99VENALAB"
LOCAL_SCHEME_NAME = "venalab local codes"
LOCAL_SCHEME_ORGANIZATION = "venalab"

CodeKey = tuple[str, str]
"""(coding scheme designator, code value), SNOMED normalised to SCT."""

# Older SNOMED designators whose ids are the SNOMED-RT ids of pydicom's SRT table.
_LEGACY_SNOMED = frozenset({"SRT", "SNM3"})
_SRT_TO_SCT: dict[str, str] = dict(_snomed_mapping["SRT"])


def normalize(scheme: str, value: str) -> CodeKey:
    """The lookup key of a code: legacy SNOMED-RT ids (SRT, SNM3) become their SCT id."""
    scheme, value = scheme.strip(), value.strip()
    if scheme in _LEGACY_SNOMED and value in _SRT_TO_SCT:
        return ("SCT", _SRT_TO_SCT[value])
    return (scheme, value)


@dataclass(frozen=True, slots=True)
class SrCode:
    """A coded concept as written into an SR (scheme, value, meaning)."""

    scheme: str
    value: str
    meaning: str

    @property
    def key(self) -> CodeKey:
        return normalize(self.scheme, self.value)

    def __str__(self) -> str:
        return f'({self.value}, {self.scheme}, "{self.meaning}")'


def _c(code: Code) -> SrCode:
    return SrCode(code.scheme_designator, code.value, code.meaning)


# --- Structure of TID 5100 / 5103 / 5104 (current and legacy forms) ----------------------
FINDINGS = _c(codes.LN.Findings)  # TID 5103 section, current (59776-5, LN)
FINDINGS_LEGACY = _c(codes.DCM.Findings)  # older editions (121070, DCM)
FINDING_SITE = _c(codes.SCT.FindingSite)  # SRT G-C0E3 in older files (normalised)
LATERALITY = _c(codes.SCT.Laterality)  # SRT G-C171 in older files (normalised)
TOPOGRAPHICAL_MODIFIER = _c(codes.SCT.TopographicalModifier)
VESSEL_BRANCH = _c(codes.DCM.VesselBranch)
MEASUREMENT_GROUP = _c(codes.DCM.MeasurementGroup)
VEIN_SECTION_SCOPE = SrCode(
    "SCT", codes.SCT.StructureOfVeinOfLowerExtremity.value, "Structure of vein of lower extremity"
)
LEFT = _c(codes.SCT.Left)
RIGHT = _c(codes.SCT.Right)
BILATERAL = _c(codes.SCT.Bilateral)
REPORT_TITLE = _c(codes.LN.USDopplerLowerExtremityVesselsReport)
REPORT_TITLE_LEGACY = _c(codes.DCM.VascularUltrasoundProcedureReport)
_CID12100 = Collection("CID12100")
REPORT_TITLES: frozenset[CodeKey] = frozenset(
    _c(getattr(_CID12100, kw)).key for kw in _CID12100.dir()
) | {REPORT_TITLE_LEGACY.key}

SITE_BY_CODE: dict[CodeKey, Site] = {
    _c(codes.SCT.Proximal).key: "proximal",
    _c(codes.NCIt.Middle).key: "mid",
    _c(codes.SCT.Distal).key: "distal",
}
SITE_CODES: dict[Site, SrCode] = {
    "proximal": _c(codes.SCT.Proximal),
    "mid": _c(codes.NCIt.Middle),
    "distal": _c(codes.SCT.Distal),
}

# --- Measurements and findings ----------------------------------------------------------
VESSEL_LUMEN_DIAMETER = _c(codes.SCT.VesselLumenDiameter)
THROMBUS = _c(codes.SCT.Thrombus)
DEGREE_OF_THROMBUS = _c(codes.DCM.DegreeOfThrombus)
FINDING = _c(codes.DCM.Finding)
RECOMMENDATION = _c(codes.DCM.Recommendation)
NO_THROMBUS = _c(codes.SCT.NoThrombus)
POSSIBLE_THROMBUS = _c(codes.SCT.PossibleThrombus)
DEFINITE_THROMBUS = _c(codes.SCT.DefiniteThrombus)
SEVERE_THROMBUS = _c(codes.SCT.SevereThrombus)
THROMBUS_CONCEPTS: frozenset[CodeKey] = frozenset(
    {THROMBUS.key, DEGREE_OF_THROMBUS.key, FINDING.key}
)
THROMBUS_PRESENT: frozenset[CodeKey] = frozenset(
    {THROMBUS.key, DEFINITE_THROMBUS.key, SEVERE_THROMBUS.key}
)
# Thrombus age qualifiers with a standard code (CID 6130 severity/onset descriptors). CID
# 6130 has no "acute" (only "hyper-acute" and "sudden onset"), and nothing says
# "indeterminate": those two stay venalab local codes.
THROMBUS_AGE_BY_CODE: dict[CodeKey, ThrombusAge] = {
    _c(codes.SCT.Subacute).key: "subacute",
    _c(codes.SCT.Chronic).key: "chronic",
}
THROMBUS_AGE_CODES: dict[ThrombusAge, SrCode] = {
    "subacute": _c(codes.SCT.Subacute),
    "chronic": _c(codes.SCT.Chronic),
}
YES = _c(codes.SCT.Yes)
NO = _c(codes.SCT.No)
BOOL_BY_CODE: dict[CodeKey, bool] = {YES.key: True, NO.key: False}
# Modifiers of a NUM that qualify how it was measured; they do not change what venalab stores.
NUM_MODIFIERS_ACCEPTED: frozenset[CodeKey] = frozenset(
    _c(c).key
    for c in (
        codes.DCM.MeasurementOrientation,
        codes.DCM.DopplerAngle,
        codes.DCM.SampleVolumeDepth,
        codes.DCM.Derivation,
    )
)

# --- Standard concepts for what the exam format records (export writes them, import reads
# them besides any lab's private codes). Each has a DICOM / SNOMED CT / LOINC concept in
# pydicom's dictionaries; fields without one keep a 99VENALAB code (sr_local_codes.json,
# each entry says why).
# Peak reflux velocity: LN 20355-4 "Peak Blood Velocity" (CID 12119) qualified by
# Direction of flow = Retrograde flow (SCT 312004007, CID 12221); without that qualifier a
# peak velocity is antegrade and not imported.
PEAK_BLOOD_VELOCITY = _c(codes.LN.PeakBloodVelocity)
DIRECTION_OF_FLOW = SrCode("SCT", codes.SCT.DirectionOfFlow.value, "Direction of flow")
RETROGRADE_FLOW = _c(codes.SCT.RetrogradeFlow)
ANTEGRADE_FLOW = _c(codes.SCT.AntegradeFlow)
# The segment's free-text label: DCM 112039 "Tracking Identifier" (TID 1501 row 2).
TRACKING_IDENTIFIER = _c(codes.DCM.TrackingIdentifier)
# Chronic or extrinsic obstruction of the segment (yes/no): SCT 26036001 "Obstruction".
OBSTRUCTION = SrCode("SCT", codes.SCT.Obstruction.value, "Obstruction")
# Properties of a thrombus finding (HAS PROPERTIES under it): SCT 410668003 "Length" (cm)
# and SCT 26036001 "Occlusion" (yes/no: the thrombus occludes the lumen).
LENGTH = _c(codes.SCT.Length)
OCCLUSION = SrCode("SCT", codes.SCT.Occlusion.value, "Occlusion")
# Patient position during reflux testing: DCM 130410 "Patient position" with SNOMED CT
# body positions (CID 20); purpose and the other provocations have no standard code.
PATIENT_POSITION = _c(codes.DCM.PatientPosition)
POSITION_CODES: dict[str, SrCode] = {
    "standing": SrCode("SCT", codes.SCT.Standing.value, "Standing"),
    "sitting": SrCode("SCT", codes.SCT.Sitting.value, "Sitting"),
    "supine": SrCode("SCT", codes.SCT.Supine.value, "Supine"),
    "reverse-trendelenburg": SrCode(
        "SCT", codes.SCT.InverseTrendelenburg.value, "Inverse Trendelenburg"
    ),
}
POSITION_BY_CODE: dict[CodeKey, str] = {c.key: v for v, c in POSITION_CODES.items()}
PROVOCATION_CODES: dict[str, SrCode] = {"valsalva": _c(codes.SCT.ValsalvaManeuver)}
PROVOCATION_BY_CODE: dict[CodeKey, str] = {c.key: v for v, c in PROVOCATION_CODES.items()}
# Coded diagnoses in the summary: DCM 121071 "Finding" = SNOMED CT disorder.
RETROGRADE_FINDING = RETROGRADE_FLOW

# Concept names read at the segment level: standard concept -> exam target.
GROUP_STANDARD: dict[CodeKey, str] = {
    TRACKING_IDENTIFIER.key: "label",
    OBSTRUCTION.key: "obstruction",
}
# Concept names read under a thrombus finding.
THROMBUS_STANDARD: dict[CodeKey, str] = {
    LENGTH.key: "thrombus.length_cm",
    OCCLUSION.key: "thrombus.occlusive",
    _c(codes.SCT.LengthOfSegment).key: "thrombus.length_cm",
}

# --- Document context -------------------------------------------------------------------
OBSERVER_TYPE = _c(codes.DCM.ObserverType)
PERSON = _c(codes.DCM.Person)
PERSON_OBSERVER_NAME = _c(codes.DCM.PersonObserverName)
LANGUAGE = _c(codes.DCM.LanguageOfContentItemAndDescendants)
SUMMARY = _c(codes.DCM.Summary)
COMMENT = _c(codes.DCM.Comment)
CONCLUSION = _c(codes.DCM.Conclusion)
PATIENT_CHARACTERISTICS = _c(codes.DCM.PatientCharacteristics)
BODY_MASS_INDEX = SrCode("SCT", codes.SCT.BodyMassIndex.value, "Body mass index")
INDICATIONS = _c(codes.DCM.IndicationsForProcedure)
SUBJECT_AGE = _c(codes.DCM.SubjectAge)

# UCUM units: the exam document's unit per dimension is the first of each table (factor 1).
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "time": {"ms": 1.0, "s": 1000.0, "min": 60000.0},
    "length": {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 0.001},
    "velocity": {"cm/s": 1.0, "m/s": 100.0, "mm/s": 0.1},
    "bmi": {"kg/m2": 1.0},
}
# Non-UCUM spellings some devices write (read leniently, each reported as a decision).
UNIT_ALIASES: dict[str, str] = {
    "sec": "s",
    "secs": "s",
    "msec": "ms",
    "msecs": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "second": "s",
    "seconds": "s",
    "cm/sec": "cm/s",
    "m/sec": "m/s",
    "mm/sec": "mm/s",
    "kg/m^2": "kg/m2",
    "kg/m²": "kg/m2",
}
UCUM_MEANINGS: dict[str, str] = {
    "ms": "millisecond",
    "mm": "millimeter",
    "cm": "centimeter",
    "cm/s": "centimeter per second",
    "kg/m2": "kilogram per square meter",
}


def convert(value: float, unit: str, dimension: str, to_unit: str) -> float | None:
    """`value` in UCUM `unit` expressed in `to_unit`; None when the unit is not of `dimension`."""
    table = UNIT_FACTORS[dimension]
    unit = UNIT_ALIASES.get(unit, unit)
    if unit not in table:
        return None
    if unit == to_unit:
        return value  # exact: no float arithmetic
    return value * table[unit] / table[to_unit]


# --- Local-code targets -----------------------------------------------------------------
# Numeric targets: exam field -> (dimension, unit of the exam document).
NUMERIC_TARGETS: dict[str, tuple[str, str]] = {
    "reflux_ms": ("time", "ms"),
    "outward_flow_ms": ("time", "ms"),  # stored as reflux_ms of a perforator (exam-format.md)
    "diameter_mm": ("length", "mm"),
    "peak_reflux_velocity_cm_s": ("velocity", "cm/s"),
    "position_cm": ("length", "cm"),
    "thrombus.length_cm": ("length", "cm"),
    "thrombus.distance_to_junction_cm": ("length", "cm"),
}
BOOLEAN_TARGETS = frozenset({"obstruction", "beneath_ulcer", "thrombus.occlusive"})
TEXT_TARGETS = frozenset({"label"})


def _literal_values(annotation: Any) -> tuple[str, ...]:
    """Every string of the Literal types inside an annotation (unions, tuples, Optional)."""
    if get_origin(annotation) is Literal:
        return tuple(a for a in get_args(annotation) if isinstance(a, str))
    if get_origin(annotation) in (Union, types.UnionType, tuple):
        return tuple(v for a in get_args(annotation) for v in _literal_values(a))
    return ()


# Coded targets and their values, taken from the exam document's own types.
CODED_TARGETS: dict[str, tuple[str, ...]] = {
    "compressibility": get_args(Compressibility),
    "thrombus.age": get_args(ThrombusAge),
    "vein": get_args(VeinCode),
    "site": get_args(Site),
    "exam.purpose": _literal_values(ExamInfo.model_fields["purpose"].annotation),
    "exam.position": _literal_values(ExamInfo.model_fields["position"].annotation),
    "exam.provocation": _literal_values(ExamInfo.model_fields["provocation"].annotation),
}
# Anatomy and site are coded values of a group, never a concept name of their own.
VALUE_ONLY = frozenset({"vein", "site"})
TARGET_HELP = (
    "a numeric field ("
    + ", ".join(NUMERIC_TARGETS)
    + "), a coded field ("
    + ", ".join([*(t for t in CODED_TARGETS if t not in VALUE_ONLY), *sorted(BOOLEAN_TARGETS)])
    + "), 'label', 'FIELD=VALUE' for a coded value (e.g. 'compressibility=full', "
    "'vein=AASV', 'obstruction=true'), or 'ignore'"
)


@dataclass(frozen=True, slots=True)
class LocalCode:
    """What a local (private) code means to venalab: a target and, optionally, a meaning."""

    target: str
    meaning: str | None = None

    @property
    def field(self) -> str:
        return self.target.partition("=")[0]

    @property
    def value(self) -> str | None:
        _, sep, value = self.target.partition("=")
        return value if sep else None


LocalCodeMap = Mapping[CodeKey, LocalCode]


def _check_target(target: str) -> str | None:
    """None when `target` is acceptable, else what is wrong with it."""
    if target == "ignore" or target in NUMERIC_TARGETS or target in TEXT_TARGETS:
        return None
    if (target in CODED_TARGETS and target not in VALUE_ONLY) or target in BOOLEAN_TARGETS:
        return None
    name, sep, value = target.partition("=")
    if sep:
        if name in CODED_TARGETS:
            if value in CODED_TARGETS[name]:
                return None
            return f"{value!r} is not a value of {name} (allowed: {', '.join(CODED_TARGETS[name])})"
        if name in BOOLEAN_TARGETS:
            return None if value in ("true", "false") else f"{name} takes 'true' or 'false'"
    return f"unknown target {target!r}; expected {TARGET_HELP}"


def parse_local_codes(obj: object, source: str) -> dict[CodeKey, LocalCode]:
    """Validate a local-code map `{"SCHEME:CODE": "target" | {"target": ..., "meaning": ...}}`."""
    what = f"local code map {source}"
    if not isinstance(obj, Mapping):
        raise InvalidInput([Problem("", 'expected a JSON object of "SCHEME:CODE": target')], what)
    problems: list[Problem] = []
    result: dict[CodeKey, LocalCode] = {}
    for raw_key, raw in obj.items():
        key = str(raw_key)
        scheme, sep, value = key.partition(":")
        if not sep or not scheme.strip() or not value.strip():
            problems.append(Problem(key, 'key must be SCHEME:CODE, e.g. "99VEN:RT01"'))
            continue
        if isinstance(raw, str):
            entry = LocalCode(raw)
        elif (
            isinstance(raw, Mapping)
            and isinstance(raw.get("target"), str)
            and set(raw) <= {"target", "meaning"}
            and isinstance(raw.get("meaning", ""), str)
        ):
            entry = LocalCode(raw["target"], raw.get("meaning"))
        else:
            problems.append(
                Problem(key, 'expected a target string or {"target": ..., "meaning": ...}')
            )
            continue
        wrong = _check_target(entry.target)
        if wrong:
            problems.append(Problem(key, wrong))
            continue
        result[normalize(scheme, value)] = entry
    if problems:
        raise InvalidInput(problems, what)
    return result


def read_local_codes(path: Path) -> dict[str, object]:
    """Read a local-code map file (JSON), validated; errors name the file and the key."""
    obj = decode_json(read_limited(path, what="local code map"), "local code map", name=path.name)
    parse_local_codes(obj, path.name)
    return dict(obj)


@cache
def default_local_codes() -> dict[CodeKey, LocalCode]:
    """The shipped map (`interop/data/sr_local_codes.json`): venalab's own local codes."""
    node = files("venalab.interop").joinpath("data", "sr_local_codes.json")
    codes_ = parse_local_codes(json.loads(node.read_text(encoding="utf-8")), node.name)
    for key, entry in codes_.items():
        if key[0] != LOCAL_SCHEME or not entry.meaning:
            raise InvalidInput(
                [Problem(f"{key[0]}:{key[1]}", f"shipped codes use {LOCAL_SCHEME} and a meaning")],
                f"data file {node.name}",
            )
    return codes_


def local_code_map(extra: Mapping[str, object] | None = None) -> dict[CodeKey, LocalCode]:
    """The default map with a lab's map on top (a lab's entry wins for the same code)."""
    merged = dict(default_local_codes())
    if extra:
        merged.update(parse_local_codes(extra, "(argument)"))
    return merged


def export_code(target: str) -> SrCode:
    """venalab's own local code for `target` (first entry of the shipped map)."""
    for (scheme, value), entry in default_local_codes().items():
        if entry.target == target:
            return SrCode(scheme, value, entry.meaning or target)
    raise KeyError(f"no shipped local code for {target!r}")  # caught by the tests


# --- Anatomy: CID 12110 and friends -> exam vein codes ----------------------------------
# Named perforators of CID 12110 by where they lie: thigh (Hunterian, Dodd) -> TPV; below the
# knee (Boyd, Cockett, lateral calf) -> CPV. The name is kept as the segment's label.
_PERFORATORS: dict[str, VeinCode] = {
    "HunterianPerforatingVein": "TPV",
    "DoddPerforatingVein": "TPV",
    "BoydPerforatingVein": "CPV",
    "CockettPerforatingVein": "CPV",
    "LateralCalfPerforator": "CPV",
}
# Exam veins without a CID 12110 concept but with a SNOMED CT concept in pydicom.
_EXTRA_VEINS: dict[VeinCode, Code] = {"IVC": codes.SCT.InferiorVenaCava}

PLAIN_GSV = _c(codes.SCT.GreatSaphenousVein)
# A perforator whose label names one of these is exported under the named concept (a
# standard code) instead of the generic TPV/CPV code; the import gives the label back.
NAMED_PERFORATORS: dict[str, tuple[VeinCode, SrCode]] = {
    getattr(codes.SCT, kw).meaning.casefold(): (vein, _c(getattr(codes.SCT, kw)))
    for kw, vein in _PERFORATORS.items()
}


@dataclass(frozen=True, slots=True)
class VeinMatch:
    vein: VeinCode
    label: str | None = None  # named perforator


def _vein_tables() -> tuple[dict[CodeKey, VeinMatch], dict[VeinCode, SrCode]]:
    by_code: dict[CodeKey, VeinMatch] = {}
    export: dict[VeinCode, SrCode] = {}
    for name, snomed in VEIN_SNOMED.items():
        if snomed is None:
            continue
        vein = cast(VeinCode, name)
        code = SrCode("SCT", snomed[0], snomed[1])
        by_code[code.key] = VeinMatch(vein)
        export[vein] = code
    for vein, pcode in _EXTRA_VEINS.items():
        by_code[_c(pcode).key] = VeinMatch(vein)
        export[vein] = _c(pcode)
    for keyword, vein in _PERFORATORS.items():
        pcode = getattr(codes.SCT, keyword)
        by_code.setdefault(_c(pcode).key, VeinMatch(vein, pcode.meaning))
    for (scheme, value), entry in default_local_codes().items():
        if entry.field == "vein" and entry.value is not None:
            export.setdefault(
                cast(VeinCode, entry.value), SrCode(scheme, value, entry.meaning or entry.value)
            )
    return by_code, export


VEIN_BY_CODE, EXPORT_VEIN_CODE = _vein_tables()
