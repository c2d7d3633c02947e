"""Export an exam and its interpretation as a DICOM Comprehensive SR shaped like TID 5100.

Template: DICOM PS3.16 TID 5100 "Vascular Ultrasound Report" (root LN 44174-1, template id
5100/DCMR) with TID 1001 observer context, TID 5101 patient characteristics (BMI), TID 5102
summary (the engine's findings and recommendations as text), and one TID 5103 "Findings"
section per leg (finding site: vein of lower extremity; laterality) holding one TID 5104
measurement group per segment (anatomy code, topographical modifier, measurements).
Written with pydicom directly: highdicom's ComprehensiveSR needs evidence images
(interop.md 3.3). Codes: sr_codes (pydicom dictionaries; venalab's local scheme 99VENALAB,
declared in CodingSchemeIdentificationSequence, for what has no standard code).

What does not round-trip through `import_sr` (TID 5100 has no place for it): per-leg clinical
signs and CEAP clinical data, labs, history, imaging, scores, and a leg without segments
(TID 5103 needs at least one measurement group). Patient name is not in an exam document, so
it is left empty. Exam purpose, position and provocation travel as venalab local codes and
round-trip only through a reader that knows them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import PersonName, format_number_as_ds

from venalab import __version__
from venalab.errors import InvalidInput, Problem
from venalab.exam import PERFORATOR_VEINS, ExamDocument, Segment
from venalab.interop import fhir_codes as fc
from venalab.interop import sr_codes as C
from venalab.interop.findings import CodedFinding, coded_findings, report_conclusion
from venalab.interop.sr_codes import SrCode
from venalab.result import Result

COMPREHENSIVE_SR = UID("1.2.840.10008.5.1.4.1.1.88.33")
_SEX = {"male": "M", "female": "F", "other": "O", "unknown": ""}


def _code(c: SrCode) -> Dataset:
    ds = Dataset()
    ds.CodeValue = c.value
    ds.CodingSchemeDesignator = c.scheme
    ds.CodeMeaning = c.meaning[:64]
    return ds


def _item(relationship: str | None, value_type: str, concept: SrCode) -> Dataset:
    ds = Dataset()
    if relationship is not None:
        ds.RelationshipType = relationship
    ds.ValueType = value_type
    ds.ConceptNameCodeSequence = Sequence([_code(concept)])
    return ds


def _container(
    relationship: str | None, concept: SrCode, children: Iterable[Dataset], template: str = ""
) -> Dataset:
    ds = _item(relationship, "CONTAINER", concept)
    ds.ContinuityOfContent = "SEPARATE"
    if template:
        tpl = Dataset()
        tpl.MappingResource = "DCMR"
        tpl.TemplateIdentifier = template
        ds.ContentTemplateSequence = Sequence([tpl])
    kids = list(children)
    if kids:
        ds.ContentSequence = Sequence(kids)
    return ds


def _coded(relationship: str, concept: SrCode, value: SrCode) -> Dataset:
    ds = _item(relationship, "CODE", concept)
    ds.ConceptCodeSequence = Sequence([_code(value)])
    return ds


def _num(relationship: str, concept: SrCode, value: float, unit: str) -> Dataset:
    ds = _item(relationship, "NUM", concept)
    mv = Dataset()
    mv.MeasurementUnitsCodeSequence = Sequence([_code(SrCode("UCUM", unit, C.UCUM_MEANINGS[unit]))])
    mv.NumericValue = format_number_as_ds(float(value))
    # The DS string holds 16 characters; the FD keeps the exact value for the round trip.
    mv.FloatingPointValue = float(value)
    ds.MeasuredValueSequence = Sequence([mv])
    return ds


def _text(relationship: str, concept: SrCode, text: str) -> Dataset:
    ds = _item(relationship, "TEXT", concept)
    ds.TextValue = text
    return ds


def _yes_no(flag: bool) -> SrCode:
    return C.YES if flag else C.NO


def _local_value(target: str, value: str) -> SrCode:
    return C.export_code(f"{target}={value}")


def _vein_code(seg: Segment) -> SrCode:
    """The anatomy concept: a named perforator's standard code when the label names it."""
    if seg.vein in PERFORATOR_VEINS and seg.label is not None:
        named = C.NAMED_PERFORATORS.get(seg.label.strip().casefold())
        if named is not None and named[0] == seg.vein:
            return named[1]
    return C.EXPORT_VEIN_CODE[seg.vein]


def _segment_group(seg: Segment) -> Dataset:
    """TID 5104: the vein as container concept, site modifier, measurements and findings.

    Standard concepts where one exists (sr_codes "Standard concepts"); 99VENALAB codes for
    reflux and outward-flow duration, distance from the junction, compressibility and
    "beneath an ulcer", which have none (docs/interop-codes.md).
    """
    items: list[Dataset] = []
    if seg.site is not None:
        items.append(_coded("HAS CONCEPT MOD", C.TOPOGRAPHICAL_MODIFIER, C.SITE_CODES[seg.site]))
    if seg.reflux_ms is not None:
        target = "outward_flow_ms" if seg.vein in PERFORATOR_VEINS else "reflux_ms"
        items.append(_num("CONTAINS", C.export_code(target), seg.reflux_ms, "ms"))
    if seg.diameter_mm is not None:
        items.append(_num("CONTAINS", C.VESSEL_LUMEN_DIAMETER, seg.diameter_mm, "mm"))
    if seg.peak_reflux_velocity_cm_s is not None:
        velocity = _num("CONTAINS", C.PEAK_BLOOD_VELOCITY, seg.peak_reflux_velocity_cm_s, "cm/s")
        velocity.ContentSequence = Sequence(
            [_coded("HAS CONCEPT MOD", C.DIRECTION_OF_FLOW, C.RETROGRADE_FLOW)]
        )
        items.append(velocity)
    if seg.position_cm is not None:
        items.append(_num("CONTAINS", C.export_code("position_cm"), seg.position_cm, "cm"))
    if seg.compressibility is not None:
        items.append(
            _coded(
                "CONTAINS",
                C.export_code("compressibility"),
                _local_value("compressibility", seg.compressibility),
            )
        )
    if seg.obstruction is not None:
        items.append(_coded("CONTAINS", C.OBSTRUCTION, _yes_no(seg.obstruction)))
    if seg.beneath_ulcer is not None:
        items.append(_coded("CONTAINS", C.export_code("beneath_ulcer"), _yes_no(seg.beneath_ulcer)))
    if seg.label is not None:
        items.append(_text("CONTAINS", C.TRACKING_IDENTIFIER, seg.label))
    if seg.thrombus is not None:
        thr = seg.thrombus
        props: list[Dataset] = []
        if thr.age is not None:
            props.append(
                _coded(
                    "HAS PROPERTIES",
                    C.export_code("thrombus.age"),
                    C.THROMBUS_AGE_CODES.get(thr.age) or _local_value("thrombus.age", thr.age),
                )
            )
        if thr.occlusive is not None:
            props.append(_coded("HAS PROPERTIES", C.OCCLUSION, _yes_no(thr.occlusive)))
        if thr.length_cm is not None:
            props.append(_num("HAS PROPERTIES", C.LENGTH, thr.length_cm, "cm"))
        if thr.distance_to_junction_cm is not None:
            props.append(
                _num(
                    "HAS PROPERTIES",
                    C.export_code("thrombus.distance_to_junction_cm"),
                    thr.distance_to_junction_cm,
                    "cm",
                )
            )
        finding = _coded("CONTAINS", C.THROMBUS, C.DEFINITE_THROMBUS)
        if props:
            finding.ContentSequence = Sequence(props)
        items.append(finding)
    return _container("CONTAINS", _vein_code(seg), items)


_SIDE_CODE = {"left": C.LEFT, "right": C.RIGHT}
ICD10CM = "ICD10CM"
_SCHEMES = {fc.SCT: "SCT", fc.ICD10CM: ICD10CM}


def _coded_finding(finding: CodedFinding) -> Dataset | None:
    """A diagnosis as (121071, DCM, "Finding") = SNOMED CT (else ICD-10-CM), per leg."""
    coding = finding.coding(fc.SCT) or finding.coding(fc.ICD10CM)
    if coding is None:
        return None
    item = _coded("CONTAINS", C.FINDING, SrCode(_SCHEMES[coding.system], coding.code, finding.text))
    mods = [_coded("HAS CONCEPT MOD", C.LATERALITY, _SIDE_CODE[s]) for s in finding.sides]
    icd = finding.coding(fc.ICD10CM)
    if coding.system == fc.SCT and icd is not None:
        # The ICD-10-CM code (it carries the side and the vein) beside the SNOMED CT one.
        mods.append(
            _coded("HAS CONCEPT MOD", C.FINDING, SrCode(ICD10CM, icd.code, icd.display or ""))
        )
    if mods:
        item.ContentSequence = Sequence(mods)
    return item


def _summary(exam: ExamDocument, result: Result) -> Dataset:
    """TID 5102: the conclusion (findings/conclusion module), the coded diagnoses, the
    engine's findings and recommendations as text, and the provenance."""
    items = [_text("CONTAINS", C.CONCLUSION, report_conclusion(exam, result))]
    items += [item for f in coded_findings(exam, result) if (item := _coded_finding(f)) is not None]
    items += [
        _text("CONTAINS", C.FINDING, f.text)
        for f in sorted(result.findings, key=lambda f: f.importance)
    ]
    items += [_text("CONTAINS", C.RECOMMENDATION, r.text) for r in result.recommendations]
    items.append(
        _text(
            "CONTAINS",
            C.COMMENT,
            f"Interpretation by venalab {result.engine.version} under criteria "
            f"{result.criteria.id} {result.criteria.version}; supports clinicians, not a "
            "substitute for clinical judgement.",
        )
    )
    return _container("CONTAINS", C.SUMMARY, items)


def _content(exam: ExamDocument, result: Result) -> list[Dataset]:
    info = exam.exam
    content: list[Dataset] = []
    if info.operator:
        content.append(_coded("HAS OBS CONTEXT", C.OBSERVER_TYPE, C.PERSON))
        pname = _item("HAS OBS CONTEXT", "PNAME", C.PERSON_OBSERVER_NAME)
        pname.PersonName = _pn(info.operator)
        content.append(pname)
    if exam.patient.bmi is not None:
        content.append(
            _container(
                "CONTAINS",
                C.PATIENT_CHARACTERISTICS,
                [_num("CONTAINS", C.BODY_MASS_INDEX, exam.patient.bmi, "kg/m2")],
                template="5101",
            )
        )
    if info.indication:
        content.append(_text("CONTAINS", C.INDICATIONS, info.indication))
    if info.purpose is not None:
        content.append(
            _coded(
                "CONTAINS",
                C.export_code("exam.purpose"),
                _local_value("exam.purpose", info.purpose),
            )
        )
    if info.position is not None:
        content.append(_coded("CONTAINS", C.PATIENT_POSITION, C.POSITION_CODES[info.position]))
    for value in info.provocation:
        content.append(
            _coded(
                "CONTAINS",
                C.export_code("exam.provocation"),
                C.PROVOCATION_CODES.get(value) or _local_value("exam.provocation", value),
            )
        )
    content.append(_summary(exam, result))
    for side, leg in exam.legs.items():
        if not leg.segments:
            continue
        content.append(
            _container(
                "CONTAINS",
                C.FINDINGS,
                [
                    _coded("HAS CONCEPT MOD", C.FINDING_SITE, C.VEIN_SECTION_SCOPE),
                    _coded("HAS CONCEPT MOD", C.LATERALITY, C.LEFT if side == "left" else C.RIGHT),
                    *(_segment_group(seg) for seg in leg.segments),
                ],
                template="5103",
            )
        )
    return content


def _pn(name: str) -> str:
    """A name as a DICOM PN (Family^Given^Middle^Prefix^Suffix), at most 64 characters.

    A name that is a PN already ('Doe^Jane') is written as given; free text ('Jane Doe')
    becomes 'Doe^Jane' (last word = family name), which the importer turns back into
    'Jane Doe'.
    """
    if "^" in name:
        return "^".join(part.strip() for part in name.replace("=", " ").split("^"))[:64]
    words = name.replace("=", " ").split()
    if len(words) < 2:
        return " ".join(words)[:64]
    return f"{words[-1]}^{' '.join(words[:-1])}"[:64]


def _all_ascii(ds: Dataset) -> bool:
    for elem in ds:
        if elem.VR == "SQ":
            if not all(_all_ascii(item) for item in elem.value):
                return False
        elif isinstance(elem.value, str | PersonName) and not str(elem.value).isascii():
            return False
    return True


def build_sr(
    exam: ExamDocument,
    result: Result,
    *,
    signed_by: str | None = None,
    signed_at: dt.datetime | None = None,
    organization: str = "venalab",
    now: dt.datetime | None = None,
) -> Dataset:
    """The SR data set (with file meta). `signed_by` marks it VERIFIED by that person."""
    if result.exam.patient_id != exam.patient.id or result.exam.date != exam.exam.date:
        raise InvalidInput(
            [Problem("result.exam", "the result belongs to another exam (patient id or date)")],
            "SR export",
        )
    now = now or dt.datetime.now().astimezone()
    when = signed_at or now
    sop_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = COMPREHENSIVE_SR
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"VENALAB_{__version__}"[:16]

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = exam.exam.date.strftime("%Y%m%d")
    ds.StudyTime = ""
    ds.ContentDate = when.strftime("%Y%m%d")
    ds.ContentTime = when.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "SR"
    ds.Manufacturer = "venalab"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = "Venous duplex report"
    ds.CodingSchemeIdentificationSequence = Sequence([_scheme(), _icd_scheme()])
    ds.PatientName = ""
    ds.PatientID = exam.patient.id
    ds.PatientBirthDate = (
        exam.patient.birth_date.strftime("%Y%m%d") if exam.patient.birth_date else ""
    )
    ds.PatientSex = _SEX[exam.patient.sex]
    if exam.patient.age_years is not None:
        ds.PatientAge = f"{exam.patient.age_years:03d}Y"
    ds.SoftwareVersions = f"venalab {__version__}"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ReferencedPerformedProcedureStepSequence = Sequence([])
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([_code(C.REPORT_TITLE)])
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    if signed_by:
        ds.VerificationFlag = "VERIFIED"
        observer = Dataset()
        observer.VerifyingObserverName = _pn(signed_by)
        observer.VerifyingObserverIdentificationCodeSequence = Sequence([])
        observer.VerifyingOrganization = organization[:64]
        observer.VerificationDateTime = when.strftime("%Y%m%d%H%M%S")
        ds.VerifyingObserverSequence = Sequence([observer])
    else:
        ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = Sequence([])
    tpl = Dataset()
    tpl.MappingResource = "DCMR"
    tpl.TemplateIdentifier = "5100"
    ds.ContentTemplateSequence = Sequence([tpl])
    ds.ContentSequence = Sequence(_content(exam, result))
    # Default repertoire when everything is ASCII; UTF-8 only when a text needs it.
    if _all_ascii(ds):
        del ds.SpecificCharacterSet
    return ds


def _icd_scheme() -> Dataset:
    # DICOM's "I10" is WHO ICD-10 (its UID is fixed); ICD-10-CM, whose codes the summary
    # uses, is declared as a scheme of its own with its HL7 OID 2.16.840.1.113883.6.90.
    scheme = Dataset()
    scheme.CodingSchemeDesignator = ICD10CM
    scheme.CodingSchemeUID = "2.16.840.1.113883.6.90"
    scheme.CodingSchemeName = "ICD-10-CM"
    scheme.CodingSchemeResponsibleOrganization = "CDC NCHS"
    return scheme


def _scheme() -> Dataset:
    scheme = Dataset()
    scheme.CodingSchemeDesignator = C.LOCAL_SCHEME
    scheme.CodingSchemeName = C.LOCAL_SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = C.LOCAL_SCHEME_ORGANIZATION
    return scheme


def export_sr(
    exam: ExamDocument,
    result: Result,
    path: Path,
    *,
    signed_by: str | None = None,
    signed_at: dt.datetime | None = None,
    organization: str = "venalab",
) -> None:
    """Write the SR to `path` (atomically: a failed export leaves no file behind)."""
    ds = build_sr(exam, result, signed_by=signed_by, signed_at=signed_at, organization=organization)
    fd, tmp = tempfile.mkstemp(prefix=".sr-", suffix=".dcm", dir=path.parent or Path("."))
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
