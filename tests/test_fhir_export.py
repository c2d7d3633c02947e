"""FHIR R4 export: every Bundle is checked against the official R4 JSON schema and parsed by
fhir.resources (R4B models), and its codes are the ones interop.md 2.2-2.5 names."""

from __future__ import annotations

import copy
import json
import time
import warnings
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from helpers import EXAMPLES, exam_dict, leg, load_example, make_exam
from test_fhir_schema import assert_valid_r4, schema_errors
from venalab.engine import assess
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.impression import proposal_text
from venalab.interop import fhir_codes as fc
from venalab.interop.fhir_export import ExportError, export_bundle

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10_cm as icd10

# An exam that sets every field of the format at least once (both legs, all sections).
FULL: dict[str, Any] = {
    "format": "venous-exam/1",
    "patient": {"id": "FULL-1", "sex": "female", "birth_date": "1961-03-04", "bmi": 27.5},
    "exam": {
        "date": "2024-11-05",
        "purpose": "follow-up",
        "position": "reverse-trendelenburg",
        "provocation": ["valsalva", "distal-compression"],
        "indication": "Leg swelling\nand pain",
        "operator": "J. Doe, RVT",
    },
    "legs": {
        "left": {
            "clinical": {
                "signs": ["varicose", "eczema", "ulcer-active", "edema"],
                "symptomatic": True,
                "recurrent": ["varicose", "ulcer"],
                "etiology": "secondary-intravenous",
            },
            "segments": [
                {
                    "vein": "GSVa",
                    "site": "proximal",
                    "label": "mid-thigh",
                    "reflux_ms": 1200,
                    "diameter_mm": 6.5,
                    "peak_reflux_velocity_cm_s": 32.5,
                    "position_cm": 12,
                },
                {"vein": "AASV", "reflux_ms": 800, "position_cm": 6},
                {
                    "vein": "CFV",
                    "compressibility": "partial",
                    "obstruction": True,
                    "thrombus": {"age": "chronic", "occlusive": False, "length_cm": 8.5},
                },
                {"vein": "CFV", "site": "distal", "reflux_ms": 1000},
                {"vein": "CPV", "reflux_ms": 600, "diameter_mm": 4.2, "beneath_ulcer": True},
                {
                    "vein": "GSVb",
                    "thrombus": {"age": "acute", "length_cm": 5, "distance_to_junction_cm": 2.5},
                },
                {"vein": "TPT", "thrombus": {}},
                {"vein": "PELV", "thrombus": {"age": "indeterminate"}},
                {"vein": "SOV"},
            ],
        },
        "right": {
            "clinical": {"signs": ["telangiectasia"], "symptomatic": False, "etiology": "none"},
            "segments": [
                {"vein": "SSV", "site": "mid", "reflux_ms": 300, "diameter_mm": 3},
                {"vein": "POPV", "compressibility": "full", "thrombus": {"occlusive": True}},
                {"vein": "TPV", "beneath_ulcer": False},
            ],
        },
    },
    "labs": {
        "calcium": {"value": 2.4, "unit": "mmol/L"},
        "phosphate": {"value": 1.2, "unit": "mmol/L"},
        "pth": {"value": 6.1, "unit": "pmol/L"},
        "creatinine": {"value": 80, "unit": "umol/L"},
        "vitamin_d_25oh": {"value": 75, "unit": "nmol/L"},
        "egfr": {"value": 85, "unit": "mL/min/1.73m2"},
        "dialysis": False,
    },
    "history": {
        "tissue_injury_at_site": False,
        "calcium_or_phosphate_infusion_at_site": False,
        "connective_tissue_disease": False,
        "malignancy": True,
        "retiform_purpura_or_necrosis": False,
        "d_dimer_positive": True,
        "inpatient": False,
        "reversible_provoking_factor": True,
        "active_cancer": False,
        "prior_vte": True,
        "prior_svt": False,
        "known_thrombophilia": False,
        "recent_surgery": True,
        "severe_symptoms": False,
        "high_bleeding_risk": False,
        "thrombus_near_proximal_veins": True,
        "serial_imaging_result": "no-extension",
    },
    "imaging": {
        "left": {"calcification": "reticular", "periosteal_reaction": "undulating"},
        "right": {"calcification": "phlebolith"},
    },
    "scores": {
        "wells_dvt": {"active_cancer": False, "previous_dvt": True, "pitting_edema": True},
        "vcss": {
            "left": {
                "pain": 2,
                "varicose_veins": 2,
                "edema": 1,
                "ulcer_size_cm": 3.5,
                "ulcer_duration_months": 4,
                "at_least": {"active_ulcers": 1},
            },
            "right": {"corona_phlebectatica_only": True, "compression": 0},
        },
        "villalta": {"left": {"pain": 1, "cramps": 0, "ulcer": True}, "right": {}},
    },
}


def full_exam() -> ExamDocument:
    return parse_exam_obj(copy.deepcopy(FULL))


def export(exam: ExamDocument) -> dict[str, Any]:
    bundle = export_bundle(exam, assess(exam))
    # What goes over the wire: JSON text, not Python objects.
    loaded: dict[str, Any] = json.loads(json.dumps(bundle))
    return loaded


def resources(bundle: dict[str, Any], rt: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rt]


def by_code(bundle: dict[str, Any], system: str, code: str) -> list[dict[str, Any]]:
    return [
        r
        for e in bundle["entry"]
        for r in [e["resource"]]
        if any(
            c["system"] == system and c["code"] == code for c in r.get("code", {}).get("coding", [])
        )
    ]


def codings(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if isinstance(node.get("system"), str) and "code" in node else []
        return own + [c for v in node.values() for c in codings(v)]
    if isinstance(node, list):
        return [c for v in node for c in codings(v)]
    return []


def coding_keys(cc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in cc.get("coding", [])}


def component(obs: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    (comp,) = [c for c in obs.get("component", []) if (system, code) in coding_keys(c["code"])]
    return comp


def segment_obs(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return by_code(bundle, fc.VENOUS_MEASUREMENTS, "venous-segment")


# --- validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_example_exports_are_valid_fhir_r4(name: str) -> None:
    exam = parse_exam_obj(load_example(name))
    bundle = export(exam)
    started = time.perf_counter()
    assert_valid_r4(bundle)
    assert time.perf_counter() - started < 10
    assert bundle["type"] == "collection"
    assert resources(bundle, "Patient") and len(resources(bundle, "DiagnosticReport")) == 1


def test_full_exam_export_is_valid_fhir_r4() -> None:
    bundle = export(full_exam())
    assert_valid_r4(bundle)
    counts: dict[str, int] = {}
    for e in bundle["entry"]:
        counts[e["resource"]["resourceType"]] = counts.get(e["resource"]["resourceType"], 0) + 1
    assert counts["Observation"] >= 12 + 10  # 12 segments, clinical x2, labs, scores...
    assert counts["Condition"] >= 5


def test_export_is_deterministic() -> None:
    exam = full_exam()
    assert export(exam) == export(exam)
    refs = {e["fullUrl"] for e in export(exam)["entry"]}
    assert all(r.startswith("urn:uuid:") for r in refs)


def test_every_reference_resolves_inside_the_bundle() -> None:
    bundle = export(full_exam())
    urls = {e["fullUrl"] for e in bundle["entry"]}

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["reference"]] if isinstance(node.get("reference"), str) else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    found = refs(bundle)
    assert found and set(found) <= urls


# --- report ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sides", "code"),
    [(["left"], "39432-0"), (["right"], "39443-7"), (["left", "right"], "39420-5")],
)
def test_report_code_follows_laterality(sides: list[str], code: str) -> None:
    legs = {s: {"segments": [{"vein": "CFV", "compressibility": "full"}]} for s in sides}
    bundle = export(make_exam(**legs))
    (report,) = resources(bundle, "DiagnosticReport")
    assert coding_keys(report["code"]) == {(fc.LOINC, code)}
    assert coding_keys(report["category"][0]) == {(fc.V2_0074, "VUS")}
    assert report["effectiveDateTime"] == "2025-01-15"
    assert len(report["result"]) == len(resources(bundle, "Observation"))


def test_report_conclusion_is_the_findings(calf_dvt: ExamDocument) -> None:
    bundle = export(calf_dvt)
    (report,) = resources(bundle, "DiagnosticReport")
    result = assess(calf_dvt)
    assert report["conclusion"] == proposal_text(result)  # no physician's conclusion yet
    assert report["conclusion"].startswith("Right leg:\n- Isolated distal deep vein")
    assert "C3" not in report["conclusion"] and "CEAP: not assessed" in report["conclusion"]
    conclusion = {k for cc in report["conclusionCode"] for k in coding_keys(cc)}
    # vein-specific codes of the two thrombosed calf veins, and the leg-level distal (Z) code
    assert {(fc.ICD10CM, "I82.451"), (fc.ICD10CM, "I82.441"), (fc.ICD10CM, "I82.4Z1")} <= conclusion


# --- segments ------------------------------------------------------------------------------------


def test_segment_observation_codes_body_site_and_laterality(calf_dvt: ExamDocument) -> None:
    bundle = export(calf_dvt)
    segs = segment_obs(bundle)
    assert len(segs) == len(calf_dvt.legs.right.segments)  # type: ignore[union-attr]
    prv = segs[3]
    assert (fc.SCT, "71758008") in coding_keys(prv["bodySite"])  # CID 12110 peroneal vein
    assert (fc.VEIN, "PRV") in coding_keys(prv["bodySite"])
    (lat,) = prv["bodySite"]["extension"]
    assert lat["url"] == fc.EXT_STRUCTURE_LATERALITY
    assert coding_keys(lat["valueCodeableConcept"]) == {(fc.SCT, "24028007")}  # right
    assert coding_keys(prv["interpretation"][0]) == {(fc.V3_INTERPRETATION, "A")}
    thrombus = component(prv, fc.SCT, "396339007")
    assert coding_keys(thrombus["valueCodeableConcept"]) == {(fc.SCT, "373142009")}
    age = component(prv, fc.VENOUS_MEASUREMENTS, "thrombus-age")
    assert coding_keys(age["valueCodeableConcept"]) == {
        (fc.VENOUS_MEASUREMENTS, "thrombus-age:acute")
    }
    assert component(prv, fc.VENOUS_MEASUREMENTS, "thrombus-length")["valueQuantity"] == {
        "value": 6.0,
        "unit": "cm",
        "system": fc.UCUM,
        "code": "cm",
    }
    cfv = segs[0]  # fully compressible, no reflux measured: normal
    assert coding_keys(cfv["interpretation"][0]) == {(fc.V3_INTERPRETATION, "N")}


def test_reflux_duration_uses_the_local_code_and_the_engine_verdict(seed001: ExamDocument) -> None:
    bundle = export(seed001)
    gsva = segment_obs(bundle)[3]
    reflux = component(gsva, fc.VENOUS_MEASUREMENTS, "reflux-duration")
    assert reflux["valueQuantity"]["value"] == 1500 and reflux["valueQuantity"]["code"] == "ms"
    assert coding_keys(reflux["interpretation"][0]) == {(fc.V3_INTERPRETATION, "A")}
    # the local code is declared in the Bundle, with a definition
    (cs,) = [r for r in resources(bundle, "CodeSystem") if r["url"] == fc.VENOUS_MEASUREMENTS]
    declared = {c["code"]: c for c in cs["concept"]}
    assert "no LOINC or DICOM code" in declared["reflux-duration"]["definition"].replace("No", "no")


def test_reflux_below_cutoff_is_normal() -> None:
    exam = make_exam(left={"segments": [{"vein": "GSVa", "reflux_ms": 300}]})
    (seg,) = segment_obs(export(exam))
    reflux = component(seg, fc.VENOUS_MEASUREMENTS, "reflux-duration")
    assert coding_keys(reflux["interpretation"][0]) == {(fc.V3_INTERPRETATION, "N")}


def test_diameter_site_and_veins_without_snomed_code() -> None:
    bundle = export(full_exam())
    segs = segment_obs(bundle)
    gsva, aasv = segs[0], segs[1]
    diameter = component(gsva, fc.SCT, "397413000")
    assert diameter["code"]["coding"][0]["display"] == "Vessel lumen diameter"
    assert diameter["valueQuantity"]["value"] == 6.5 and diameter["valueQuantity"]["code"] == "mm"
    site = component(gsva, fc.SCT, "106233006")
    assert coding_keys(site["valueCodeableConcept"]) == {(fc.SCT, "40415009")}  # proximal
    # No CID 12110 concept: the broader SNOMED CT structure beside the local code.
    assert coding_keys(aasv["bodySite"]) == {(fc.VEIN, "AASV"), (fc.SCT, "362072009")}
    (lat,) = aasv["bodySite"]["extension"]
    assert coding_keys(lat["valueCodeableConcept"]) == {(fc.SCT, "7771000")}  # left
    ssv = segs[9]
    assert coding_keys(component(ssv, fc.SCT, "106233006")["valueCodeableConcept"]) == {
        (fc.NCIT, "C25569")
    }


# --- scores ---------------------------------------------------------------------------------------


def test_score_observations_carry_totals_and_items() -> None:
    exam = full_exam()
    result = assess(exam)
    bundle = export(exam)
    vcss = by_code(bundle, fc.VENOUS_MEASUREMENTS, "rvcss")
    assert len(vcss) == 2
    left = vcss[0]
    assert left["valueInteger"] == result.legs.left.vcss.total  # type: ignore[union-attr]
    complete = component(left, fc.VENOUS_MEASUREMENTS, "score-complete")
    assert complete["valueBoolean"] is result.legs.left.vcss.complete  # type: ignore[union-attr]
    assert component(left, fc.VENOUS_EXAM, "vcss.pain")["valueInteger"] == 2
    assert component(left, fc.VENOUS_EXAM, "vcss.ulcer_size_cm")["valueQuantity"]["value"] == 3.5
    assert component(left, fc.VENOUS_EXAM, "vcss.at_least.active_ulcers")["valueInteger"] == 1
    ceap = by_code(bundle, fc.VENOUS_MEASUREMENTS, "ceap")
    assert [c["valueString"] for c in ceap] == [
        result.legs.left.ceap.basic,  # type: ignore[union-attr]
        result.legs.right.ceap.basic,  # type: ignore[union-attr]
    ]
    (wells,) = by_code(bundle, fc.VENOUS_MEASUREMENTS, "wells-dvt")
    assert component(wells, fc.VENOUS_EXAM, "wells_dvt.previous_dvt")["valueBoolean"] is True
    assert len(by_code(bundle, fc.VENOUS_MEASUREMENTS, "villalta")) == 2


# --- diagnoses ------------------------------------------------------------------------------------


def conditions(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for c in resources(bundle, "Condition"):
        (icd,) = [x["code"] for x in c["code"]["coding"] if x["system"] == fc.ICD10CM]
        out[icd] = c
    return out


def test_every_icd10cm_code_in_a_bundle_is_valid_in_the_package() -> None:
    for bundle in (export(full_exam()), export(parse_exam_obj(load_example("calf-dvt.json")))):
        icd_codes = {c["code"]: c["display"] for c in codings(bundle) if c["system"] == fc.ICD10CM}
        assert icd_codes
        for code, display in icd_codes.items():
            assert icd10.is_valid_item(code) and icd10.get_description(code) == display


def test_calf_dvt_conditions(calf_dvt: ExamDocument) -> None:
    conds = conditions(export(calf_dvt))
    assert set(conds) == {"I82.451", "I82.441"}
    prv = conds["I82.451"]
    assert (fc.SCT, "404223003") in coding_keys(prv["code"])
    assert coding_keys(prv["verificationStatus"]) == {(fc.CONDITION_VERIFICATION, "confirmed")}
    (site,) = prv["bodySite"]
    assert (fc.SCT, "71758008") in coding_keys(site)
    assert site["extension"][0]["url"] == fc.EXT_MCODE_LATERALITY
    assert len(prv["evidence"][0]["detail"]) == 1


def test_seed001_conditions(seed001: ExamDocument) -> None:
    conds = conditions(export(seed001))
    assert set(conds) == {"I87.2", "L94.2"}  # reflux; calcinosis; no varicose sign, no DVT
    calc = conds["L94.2"]
    assert coding_keys(calc["verificationStatus"]) == {(fc.CONDITION_VERIFICATION, "provisional")}
    assert "dystrophic" in calc["note"][0]["text"]
    assert len(conds["I87.2"]["evidence"][0]["detail"]) == 2  # GSVa and GSVb reflux


def test_full_exam_conditions() -> None:
    bundle = export(full_exam())
    conds = conditions(bundle)
    # left: varicose veins with ulcer and inflammation (eczema); chronic femoral DVT (CFV);
    # TPT "other specified"; pelvic veins; superficial thrombosis (GSVb); venous insufficiency.
    assert {"I83.229", "I82.512", "I82.492", "I82.890", "I82.812", "I87.2"} <= set(conds)
    assert (fc.SCT, "72866009") in coding_keys(conds["I83.229"]["code"])
    assert (fc.SCT, "128053003") in coding_keys(conds["I82.890"]["code"])  # not a leg vein
    assert "coded as acute" in conds["I82.492"]["note"][0]["text"]
    # right: acute popliteal DVT (age not stated -> acute), venous insufficiency (SSV reflux?)
    assert "I82.431" in conds
    (report,) = resources(bundle, "DiagnosticReport")
    conclusion = {k for cc in report["conclusionCode"] for k in coding_keys(cc)}
    assert (fc.ICD10CM, "I82.4Y1") in conclusion  # right proximal (popliteal), acute
    assert (fc.ICD10CM, "I82.4Y2") in conclusion  # left proximal (CFV chronic + acute TPT)


def test_every_local_coding_is_declared_in_the_bundle() -> None:
    bundle = export(full_exam())
    declared = {
        (cs["url"], c["code"]): c["display"]
        for cs in resources(bundle, "CodeSystem")
        for c in cs["concept"]
    }
    used = [
        c
        for e in bundle["entry"]
        if e["resource"]["resourceType"] != "CodeSystem"
        for c in codings(e["resource"])
        if c["system"] in fc.LOCAL_SYSTEMS
    ]
    assert used
    for c in used:
        assert (c["system"], c["code"]) in declared, c
        assert declared[(c["system"], c["code"])] == c["display"]


# --- refusals -------------------------------------------------------------------------------------


def test_result_of_another_exam_is_refused(calf_dvt: ExamDocument, seed001: ExamDocument) -> None:
    with pytest.raises(ExportError, match="another exam"):
        export_bundle(calf_dvt, assess(seed001))


def test_free_text_that_cannot_be_a_fhir_string_is_refused() -> None:
    doc = exam_dict(left={"segments": [{"vein": "CFV", "label": ""}]})
    with pytest.raises(ExportError, match=r"legs\.left\.segments\[0\]\.label"):
        export_bundle(parse_exam_obj(doc), assess(parse_exam_obj(doc)))


def test_schema_rejects_what_the_export_refuses() -> None:
    """Why the refusal: an empty string is not a FHIR string."""
    bundle = export(make_exam(left={"segments": [{"vein": "CFV", "label": "x"}]}))
    for seg in segment_obs(bundle):
        component(seg, fc.VENOUS_MEASUREMENTS, "segment-label")["valueString"] = ""
    assert any("valueString" in e for e in schema_errors(bundle, whole=False))


def test_every_resource_has_a_generated_escaped_narrative() -> None:
    doc = load_example("seed-001-calcinosis.json")
    doc["exam"]["indication"] = "<b>swollen</b> & sore"
    doc["legs"]["left"]["segments"][0]["label"] = "<script>x</script>"
    exam = parse_exam_obj(doc)
    bundle = export_bundle(exam, assess(exam))
    for entry in bundle["entry"]:
        text = entry["resource"]["text"]
        assert text["status"] == "generated"
        div = text["div"]
        assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
        assert "<script>" not in div and "<b>" not in div
        ET.fromstring(div)  # well-formed XHTML
    assert any("&lt;script&gt;" in e["resource"]["text"]["div"] for e in bundle["entry"])


def test_labs_carry_loinc_beside_the_local_code() -> None:
    exam = parse_exam_obj(load_example("seed-001-calcinosis.json"))
    bundle = export_bundle(exam, assess(exam))
    labs = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["category"][0]["coding"][0]["code"] == "laboratory"
    ]
    assert labs
    for res in labs:
        systems = [c["system"] for c in res["code"]["coding"]]
        assert fc.VENOUS_EXAM in systems
    loinc = {c["code"] for r in labs for c in r["code"]["coding"] if c["system"] == fc.LOINC}
    assert loinc, "no LOINC lab code"
    # A LOINC-only lab Observation (from another system) imports too.
    from venalab.interop.fhir_import import import_bundle

    for res in labs:
        res["code"]["coding"] = [
            c for c in res["code"]["coding"] if c["system"] == fc.LOINC
        ] or res["code"]["coding"]
    assert import_bundle(bundle).exam.labs == exam.labs


def test_treated_segments_and_lumen_share_round_trip() -> None:
    # Issue 18: the post-treatment extension survives export and import, and stays valid R4.
    from venalab.interop.fhir_import import import_bundle

    exam = make_exam(
        left=leg(
            {
                "vein": "GSVa",
                "compressibility": "none",
                "treatment": {
                    "method": "thermal-ablation",
                    "date": "2025-01-10",
                    "status": "occluded",
                },
            },
            {"vein": "SFJ", "thrombus": {"age": "acute"}},
            {"vein": "CFV", "thrombus": {"age": "acute", "occlusive": False, "lumen_percent": 70}},
            {"vein": "SSV", "treatment": {"method": "stripping", "status": "absent"}},
        ),
        exam={"date": "2025-01-15", "purpose": "follow-up"},
    )
    bundle = export_bundle(exam, assess(exam))
    assert_valid_r4(bundle)
    imported = import_bundle(bundle)
    assert imported.exam == exam and not imported.unmapped
