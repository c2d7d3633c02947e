"""The FHIR code tables are checked against the packages they come from (interop.md 2.4-2.5):
ICD-10-CM (venalab.diagnosis_codes) against simple-icd-10-cm, DICOM concepts against pydicom's
dictionaries."""

from __future__ import annotations

import re
from typing import get_args

import pytest
import simple_icd_10_cm as icd10
from pydicom.sr.codedict import Collection, codes

from venalab import diagnosis_codes as dc
from venalab.anatomy import VEINS
from venalab.exam import (
    Clinical,
    ExamInfo,
    History,
    LegImaging,
    VcssItems,
    VillaltaItems,
    WellsItems,
)
from venalab.interop import fhir_codes as fc

# FHIR R4 `code` datatype: no leading/trailing whitespace, single spaces only.
FHIR_CODE = re.compile(r"[^\s]+( [^\s]+)*")


@pytest.mark.parametrize("code", sorted(dc.ICD10CM_CODES))
def test_icd10cm_code_valid_billable_and_described_as_in_package(code: str) -> None:
    assert icd10.is_valid_item(code), code
    assert icd10.is_leaf(code), f"{code} is a category, not a billable code"
    assert dc.ICD10CM_CODES[code] == icd10.get_description(code)


def test_every_icd_code_the_builders_can_emit_is_in_the_checked_table() -> None:
    emitted = set()
    for side in ("left", "right"):
        for chronic in (False, True):
            for vein in [*dc.ICD_DEEP_VEIN_CATEGORY, "IVC", "PELV"]:
                emitted.add(dc.icd_deep_vein(vein, side, chronic).code)
            for proximal in (False, True):
                emitted.add(dc.icd_dvt_level(proximal, side, chronic).code)
        emitted.add(dc.icd_superficial_thrombosis(side).code)
        for ulcer in (False, True):
            for inflammation in (False, True):
                for pain in (False, True):
                    emitted.add(
                        dc.icd_varicose(
                            side, ulcer=ulcer, inflammation=inflammation, pain=pain
                        ).code
                    )
    emitted |= {"I87.2", "L94.2"}
    assert emitted == set(dc.ICD10CM_CODES)


@pytest.mark.parametrize(
    ("vein", "side", "chronic", "words"),
    [
        ("CFV", "right", False, ("Acute", "right femoral")),
        ("FV", "left", True, ("Chronic", "left femoral")),
        ("EIV", "left", False, ("left iliac",)),
        ("POPV", "right", False, ("right popliteal",)),
        ("PTV", "right", False, ("right tibial",)),
        ("ATV", "left", False, ("left tibial",)),
        ("PRV", "right", False, ("right peroneal",)),
        ("GAV", "left", False, ("left calf muscular",)),
        ("SOV", "right", True, ("Chronic", "right calf muscular")),
        ("DFV", "right", False, ("other specified deep vein of right",)),
        ("TPT", "left", False, ("other specified deep vein of left",)),
        ("IVC", "left", False, ("inferior vena cava",)),
    ],
)
def test_deep_vein_icd_code_names_the_vein_and_side(
    vein: str, side: str, chronic: bool, words: tuple[str, ...]
) -> None:
    description = icd10.get_description(dc.icd_deep_vein(vein, side, chronic).code)  # type: ignore[arg-type]
    for w in words:
        assert w in description


def test_dvt_level_codes_are_the_y_and_z_codes() -> None:
    assert dc.icd_dvt_level(True, "right", False).code == "I82.4Y1"
    assert dc.icd_dvt_level(False, "left", True).code == "I82.5Z2"
    assert "proximal" in dc.icd_dvt_level(True, "left", False).display  # type: ignore[operator]
    assert "distal" in dc.icd_dvt_level(False, "left", False).display  # type: ignore[operator]


def test_varicose_icd_codes_follow_ulcer_inflammation_pain() -> None:
    both = dc.icd_varicose("left", ulcer=True, inflammation=True, pain=True).display
    assert both == icd10.get_description("I83.229")
    assert (
        "with ulcer" in dc.icd_varicose("right", ulcer=True, inflammation=False, pain=True).display
    )  # type: ignore[operator]
    assert (
        "inflammation"
        in dc.icd_varicose("right", ulcer=False, inflammation=True, pain=False).display
    )  # type: ignore[operator]
    assert "pain" in dc.icd_varicose("left", ulcer=False, inflammation=False, pain=True).display  # type: ignore[operator]
    assert (
        "Asymptomatic"
        in dc.icd_varicose("left", ulcer=False, inflammation=False, pain=False).display
    )  # type: ignore[operator]


def test_dicom_concepts_come_from_pydicom() -> None:
    d = fc.dicom()
    cid244 = Collection("CID244")
    assert (d.laterality["left"].code, d.laterality["right"].code) == (
        cid244.Left.value,
        cid244.Right.value,
    )
    assert d.laterality["left"].system == fc.SCT
    assert d.vessel_lumen_diameter.code == Collection("CID12119").VesselLumenDiameter.value
    assert d.vessel_lumen_diameter.display == "Vessel lumen diameter"
    assert d.thrombus.code == codes.SCT.Thrombus.value
    assert {c.code for c in d.thrombus_finding.values()} == {
        getattr(Collection("CID3714"), k).value for k in Collection("CID3714").dir()
    }
    assert d.site["mid"].system == fc.NCIT and d.site["proximal"].system == fc.SCT
    assert d.measurement_group.system == fc.DCM
    # the two LOINC report codes DICOM lists for lower-extremity vessels / vein reports
    assert d.lower_extremity_vessels_report.code == "44174-1"
    assert d.vein_report.code == "39036-9"


def test_vein_codings_are_cid12110_snomed_plus_local_code() -> None:
    cid = Collection("CID12110")
    sct = {getattr(cid, k).value for k in cid.dir()}
    for code, vein in VEINS.items():
        codings = fc.vein_codings(code)
        assert codings[-1] == fc.Coding(fc.VEIN, code, vein.name)
        if vein.snomed is None and code in fc.BROADER_VEIN:
            # The nearest broader structure from pydicom's dictionaries (no typed code).
            assert codings[0].system == fc.SCT and codings[0].code in {"362072009", "122774002"}
        elif vein.snomed is None:
            assert len(codings) == 1
        else:
            assert codings[0].system == fc.SCT and codings[0].code in sct
    assert {c for c, v in VEINS.items() if v.snomed is None} == {
        "AASV", "NSV", "CPV", "IVC", "PELV", "PAGSV", "TPT",
    }  # fmt: skip


def test_named_perforator_label_gives_its_snomed_code() -> None:
    codings = fc.vein_codings("CPV", "Cockett's perforating vein")
    assert (codings[0].system, codings[0].code) == (fc.SCT, "128549006")
    assert fc.vein_codings("TPV", "Cockett's perforating vein")[0].code == "714759009"


def test_lab_loinc_codes_are_unique_per_property() -> None:
    assert len(fc.LAB_BY_LOINC) == len(fc.LAB_LOINC)
    for (analyte, unit), coding in fc.LAB_LOINC.items():
        assert coding.system == fc.LOINC
        # Mass units go with [Mass/volume] codes, molar units with [Moles/volume].
        molar = unit in ("mmol/L", "umol/L", "pmol/L", "nmol/L")
        assert ("[Moles/volume]" in (coding.display or "")) is molar, (analyte, unit)


def test_legacy_srt_vein_and_laterality_codes_are_accepted() -> None:
    assert fc.vein_by_code()[(fc.SRT, "T-49650")] == "POPV"
    assert fc.vein_by_code()[(fc.SCT, "56849005")] == "POPV"
    assert fc.dicom().laterality_srt["left"].code == "G-A101"


def test_other_cid12110_policies_cover_every_concept_without_exam_code() -> None:
    used = {v.snomed.code for v in VEINS.values() if v.snomed}
    cid = Collection("CID12110")
    rest = {getattr(cid, k).value for k in cid.dir()} - used
    assert {sct for (system, sct) in fc.other_cid12110() if system == fc.SCT} == rest


@pytest.mark.parametrize(
    "model", [ExamInfo, Clinical, History, LegImaging, WellsItems, VcssItems, VillaltaItems]
)
def test_every_exam_field_has_a_venous_exam_code(model: type) -> None:
    names = {f.name for f in fc.exam_fields().all()}
    for name in model.model_fields:  # type: ignore[attr-defined]
        if name in ("date", "operator"):  # ExamInfo: DiagnosticReport elements
            continue
        if name == "at_least":
            key = get_args(VcssItems.model_fields["at_least"].annotation)[0]
            assert set(get_args(get_args(key)[0])) <= names
            continue
        assert name in names, f"{model.__name__}.{name} has no FHIR code"


def test_local_codes_are_valid_fhir_codes_on_an_invalid_host() -> None:
    for system in fc.LOCAL_SYSTEMS:
        assert system.startswith("http://venalab.invalid/")
        for code, c in fc.local_concepts(system).items():
            assert FHIR_CODE.fullmatch(code), code
            assert c.display


def test_report_codes_per_laterality() -> None:
    assert {k: c.code for k, c in fc.REPORT_CODE.items()} == {
        "bilateral": "39420-5",
        "left": "39432-0",
        "right": "39443-7",
        "unspecified": "30881-7",
    }
