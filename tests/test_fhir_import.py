"""FHIR R4 import: venalab's own Bundles round-trip exactly (examples, an exam with every
field, and hypothesis-generated exams); another system's Bundle with the same standard codes
becomes an exam, and what cannot be mapped is reported, never dropped."""

from __future__ import annotations

import copy
import json
import re
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from helpers import EXAMPLES, load_example
from test_fhir_export import FULL, export, full_exam
from test_fhir_schema import assert_valid_r4, model_parse, schema_errors
from venalab.errors import InvalidInput
from venalab.exam import (
    ExamDocument,
    History,
    Sign,
    VeinCode,
    parse_exam_obj,
)
from venalab.interop import fhir_codes as fc
from venalab.interop.fhir_import import ImportResult, import_bundle
from venalab.units import LAB_UNITS


def round_trip(exam: ExamDocument) -> ImportResult:
    return import_bundle(export(exam))


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_examples_round_trip_exactly(name: str) -> None:
    exam = parse_exam_obj(load_example(name))
    got = round_trip(exam)
    assert got.exam == exam
    assert got.exam.to_json() == exam.to_json()
    assert got.unmapped == [] and got.notes == []
    assert got.derived  # interpretations, CEAP, scores, conditions: recomputed, listed


def test_exam_with_every_field_round_trips_exactly() -> None:
    exam = full_exam()
    got = round_trip(exam)
    assert got.exam == exam
    assert got.unmapped == []


def test_empty_sections_round_trip() -> None:
    doc = copy.deepcopy(FULL)
    doc["history"] = {}
    doc["labs"] = {}
    doc["imaging"] = {"left": {}}
    doc["scores"] = {"vcss": {"left": {"at_least": {}}}, "villalta": {}, "wells_dvt": {}}
    doc["legs"]["right"] = {}
    exam = parse_exam_obj(doc)
    assert exam.history is not None and exam.scores.wells_dvt is not None  # type: ignore[union-attr]
    assert round_trip(exam).exam == exam


# --- property: any valid exam round-trips, and its Bundle is valid R4 -------------------------

_FHIR_TEXT = re.compile(r"[ \r\n\t\S]+")
text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Z")) | st.sampled_from(" \n\t"),
    min_size=1,
    max_size=24,
).filter(lambda s: bool(_FHIR_TEXT.fullmatch(s)))


def floats(lo: float, hi: float, *, exclude_min: bool = False) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, exclude_min=exclude_min)


def optional(d: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=d)


thrombus = optional(
    {
        "age": st.sampled_from(["acute", "subacute", "chronic", "indeterminate"]),
        "occlusive": st.booleans(),
        "length_cm": floats(0, 120, exclude_min=True),
        "distance_to_junction_cm": floats(0, 120),
    }
)
segment = st.fixed_dictionaries(
    {"vein": st.sampled_from(get_args(VeinCode))},
    optional={
        "site": st.sampled_from(["proximal", "mid", "distal"]),
        "reflux_ms": floats(0, 20000),
        "diameter_mm": floats(0, 60, exclude_min=True),
        "compressibility": st.sampled_from(["full", "partial", "none"]),
        "obstruction": st.booleans(),
        "thrombus": thrombus,
        "label": text,
        "peak_reflux_velocity_cm_s": floats(0, 500),
        "position_cm": floats(0, 120),
        "beneath_ulcer": st.booleans(),
    },
).map(
    lambda s: (
        s if s["vein"] in ("TPV", "CPV") else {k: v for k, v in s.items() if k != "beneath_ulcer"}
    )
)
leg = st.fixed_dictionaries(
    {},
    optional={
        "clinical": optional(
            {
                "signs": st.lists(st.sampled_from(get_args(Sign)), max_size=4),
                "symptomatic": st.booleans(),
                "etiology": st.sampled_from(
                    [
                        "primary",
                        "secondary-intravenous",
                        "secondary-extravenous",
                        "congenital",
                        "none",
                    ]
                ),
            }
        ),
        "segments": st.lists(segment, max_size=6),
    },
)
score03 = st.integers(0, 3)


@st.composite
def lab(draw: st.DrawFn, analyte: str) -> dict[str, Any]:
    spec = LAB_UNITS[analyte]
    unit = draw(st.sampled_from(spec.units))
    lo, hi = spec.plausible
    factor = 1.0 if unit == spec.conventional else (spec.si_per_conventional or 1.0)
    return {"value": draw(floats(lo * factor * 1.001, hi * factor * 0.999)), "unit": unit}


vcss_items = optional(
    {
        **{
            k: score03
            for k in (
                "pain",
                "varicose_veins",
                "edema",
                "pigmentation",
                "inflammation",
                "induration",
                "active_ulcers",
                "compression",
            )
        },
        "ulcer_duration_months": floats(0, 1200),
        "ulcer_size_cm": floats(0, 100, exclude_min=True),
        "corona_phlebectatica_only": st.booleans(),
        "at_least": st.dictionaries(
            st.sampled_from(["ulcer_duration", "ulcer_size"]), st.integers(1, 3)
        ),
    }
)
villalta_items = optional(
    {
        **{
            k: score03
            for k in (
                "pain",
                "cramps",
                "heaviness",
                "paresthesia",
                "pruritus",
                "pretibial_edema",
                "skin_induration",
                "hyperpigmentation",
                "redness",
                "venous_ectasia",
                "calf_compression_pain",
            )
        },
        "ulcer": st.booleans(),
    }
)
wells_items = optional(
    {
        k: st.booleans()
        for k in (
            "active_cancer",
            "paralysis_or_cast",
            "bedridden_or_major_surgery",
            "localized_tenderness",
            "entire_leg_swollen",
            "calf_swelling_3cm",
            "pitting_edema",
            "collateral_superficial_veins",
            "previous_dvt",
            "alternative_diagnosis_as_likely",
        )
    }
)
sides = lambda items: optional({"left": items, "right": items})  # noqa: E731


@st.composite
def exam_docs(draw: st.DrawFn) -> dict[str, Any]:
    date = draw(st.dates(min_value=__import__("datetime").date(1990, 1, 1)))
    patient: dict[str, Any] = {"id": draw(text)}
    patient |= draw(optional({"sex": st.sampled_from(["male", "female", "other", "unknown"]),
                              "bmi": floats(8, 100)}))  # fmt: skip
    if draw(st.booleans()):
        patient["age_years"] = draw(st.integers(0, 130))
    else:
        patient["birth_date"] = draw(st.dates(max_value=date)).isoformat()
    exam = {"date": date.isoformat()} | draw(
        optional(
            {
                "purpose": st.sampled_from(["insufficiency", "thrombosis", "follow-up", "other"]),
                "position": st.sampled_from(
                    ["standing", "sitting", "reverse-trendelenburg", "supine"]
                ),
                "provocation": st.lists(
                    st.sampled_from(["distal-compression", "valsalva", "cuff"]), max_size=3
                ),
                "indication": text,
                "operator": text,
            }
        )
    )
    legs = draw(st.sampled_from([["left"], ["right"], ["left", "right"]]))
    doc: dict[str, Any] = {
        "format": "venous-exam/1",
        "patient": patient,
        "exam": exam,
        "legs": {s: draw(leg) for s in legs},
    }
    doc |= draw(
        optional(
            {
                "labs": optional(
                    {a: lab(a) for a in ("calcium", "phosphate", "pth", "creatinine", "vitamin_d_25oh", "egfr")}
                    | {"dialysis": st.booleans()}
                ),
                "history": optional(
                    {k: st.booleans() for k in History.model_fields if k != "serial_imaging_result"}
                    | {"serial_imaging_result": st.sampled_from(["no-extension", "distal-extension", "proximal-extension"])}
                ),
                "imaging": sides(
                    optional(
                        {
                            "calcification": st.sampled_from(["none", "punctate", "sheet", "phlebolith", "amorphous"]),
                            "periosteal_reaction": st.sampled_from(["none", "undulating", "other"]),
                        }
                    )
                ),
                "scores": optional(
                    {"wells_dvt": wells_items, "vcss": sides(vcss_items), "villalta": sides(villalta_items)}
                ),
            }
        )
    )  # fmt: skip
    return doc


@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(exam_docs())
def test_any_valid_exam_round_trips_through_a_valid_r4_bundle(doc: dict[str, Any]) -> None:
    try:
        exam = parse_exam_obj(doc)
    except InvalidInput:
        reject()
    bundle = export(exam)
    errors = schema_errors(bundle, whole=False)
    assert not errors, "\n".join(errors)
    model_parse(bundle)
    got = import_bundle(bundle)
    assert got.exam == exam
    assert got.unmapped == [] and got.notes == []


# --- another system's Bundle ------------------------------------------------------------------


def lat_ext(code: str, url: str = fc.EXT_STRUCTURE_LATERALITY) -> dict[str, Any]:
    return {"url": url, "valueCodeableConcept": {"coding": [{"system": fc.SCT, "code": code}]}}


def obs(
    code: tuple[str, str],
    site: list[tuple[str, str]] | None,
    lat: str | None = "7771000",
    **value: Any,
) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": code[0], "code": code[1]}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-03-02T10:15:00Z",
    }
    if site is not None:
        o["bodySite"] = {"coding": [{"system": s, "code": c} for s, c in site]}
        if lat:
            o["bodySite"]["extension"] = [lat_ext(lat)]
    return o | value


def q(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit, "system": fc.UCUM, "code": unit}}


def foreign_bundle(
    observations: list[dict[str, Any]], report_code: str = "39432-0"
) -> dict[str, Any]:
    """Shaped like another system's export: standard codes only, no venalab codes or tags."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "http://other.invalid/fhir/Patient/p1",
            "resource": {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [{"system": "urn:oid:1.2.3.4", "value": "MRN-77"}],
                "gender": "female",
                "birthDate": "1955-07-01",
            },
        }
    ]
    refs = []
    for i, o in enumerate(observations):
        o = {"id": f"o{i}"} | o
        entries.append({"fullUrl": f"http://other.invalid/fhir/Observation/o{i}", "resource": o})
        refs.append({"reference": f"Observation/o{i}"})
    entries.insert(
        1,
        {
            "fullUrl": "http://other.invalid/fhir/DiagnosticReport/r1",
            "resource": {
                "resourceType": "DiagnosticReport",
                "id": "r1",
                "status": "final",
                "code": {"coding": [{"system": fc.LOINC, "code": report_code}]},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": "2024-03-02T10:15:00Z",
                "result": refs,
                "conclusion": "Left GSV reflux.",
            },
        },
    )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


GSV_THIGH = [(fc.SCT, "414369008")]
POPV_SRT = [(fc.SRT, "T-49650")]  # legacy SNOMED-RT id of the popliteal vein
DIAMETER = (fc.SCT, "397413000")
RETROGRADE = (fc.SCT, "312004007")
THROMBUS = (fc.SCT, "396339007")


def finding(code: str) -> dict[str, Any]:
    return {"valueCodeableConcept": {"coding": [{"system": fc.SCT, "code": code}]}}


def test_foreign_bundle_with_standard_codes_becomes_an_exam() -> None:
    bundle = foreign_bundle(
        [
            obs(DIAMETER, GSV_THIGH, **q(0.62, "cm")),  # converted to mm
            obs(RETROGRADE, GSV_THIGH, **q(1.8, "s")),  # reflux duration, converted to ms
            obs(THROMBUS, POPV_SRT, lat=None, **finding("373142009")),  # laterality from report
            obs(DIAMETER, [(fc.SCT, "26805005:272741003=7771000")], lat=None, **q(4, "mm")),
        ]
    )
    assert_valid_r4(bundle)  # the test input itself is valid R4
    got = import_bundle(bundle)
    exam = got.exam
    assert exam.patient.id == "MRN-77" and exam.patient.sex == "female"
    assert str(exam.exam.date) == "2024-03-02"
    left = exam.legs.left
    assert left is not None and exam.legs.right is None
    gsva, popv, ssv = left.segments
    assert (gsva.vein, gsva.diameter_mm, gsva.reflux_ms) == ("GSVa", 6.2, 1800.0)
    assert popv.vein == "POPV" and popv.thrombus is not None
    assert (ssv.vein, ssv.diameter_mm) == ("SSV", 4.0)
    assert any("no laterality; assigned to the left leg" in n for n in got.notes)
    assert any("patient.id taken from the Patient identifier" in n for n in got.notes)
    assert (
        "entry[1].resource.conclusion",
        "the report's interpretation; venalab re-derives it",
    ) in got.unmapped


def test_mcode_laterality_and_srt_laterality_are_read() -> None:
    o1 = obs(DIAMETER, GSV_THIGH, lat=None, **q(5, "mm"))
    o1["bodySite"]["extension"] = [lat_ext("24028007", fc.EXT_MCODE_LATERALITY)]
    o2 = obs(DIAMETER, [(fc.SCT, "26805005"), (fc.SRT, "G-A101")], lat=None, **q(3, "mm"))
    got = import_bundle(foreign_bundle([o1, o2], report_code="39420-5"))
    assert got.exam.legs.right.segments[0].vein == "GSVa"  # type: ignore[union-attr]
    assert got.exam.legs.left.segments[0].vein == "SSV"  # type: ignore[union-attr]


def test_no_thrombus_is_a_finding_not_a_thrombus() -> None:
    got = import_bundle(foreign_bundle([obs(THROMBUS, POPV_SRT, **finding("373140001"))]))
    (seg,) = got.exam.legs.left.segments  # type: ignore[union-attr]
    assert seg.vein == "POPV" and seg.thrombus is None
    assert any("No thrombus" in n for n in got.notes)


def test_possible_thrombus_unknown_codes_and_other_resources_are_reported() -> None:
    bundle = foreign_bundle(
        [
            obs(THROMBUS, POPV_SRT, **finding("373141002")),  # possible thrombus
            obs(("http://vendor.invalid/codes", "RFX-T"), GSV_THIGH, **q(900, "ms")),
            obs(DIAMETER, [(fc.SCT, "397437000")], **q(3, "mm")),  # Giacomini vein
            obs(DIAMETER, GSV_THIGH, **q(3, "[in_i]")),  # unit not a length we convert
        ]
    )
    bundle["entry"].append(
        {"resource": {"resourceType": "Practitioner", "name": [{"family": "Doe"}]}}
    )
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": fc.ICD10CM, "code": "I87.2"}]},
            }
        }
    )
    got = import_bundle(bundle)
    reasons = dict(got.unmapped)
    assert "thrombus answer not mapped" in reasons["entry[2].resource"]
    assert (
        "Observation code not known: http://vendor.invalid/codes|RFX-T"
        in reasons["entry[3].resource"]
    )
    assert "Giacomini vein" in reasons["entry[4].resource.bodySite"]
    assert "unit '[in_i]'" in reasons["entry[5].resource"]
    assert reasons["entry[6]"] == "Practitioner: not part of the exam document"
    assert "diagnosis" in reasons["entry[7]"]
    assert got.derived == []  # a foreign Bundle's interpretations are unmapped, not "ours"
    assert got.exam.legs.left is not None  # named by the report code, though no segment mapped


def test_local_code_map_reads_another_systems_reflux_code() -> None:
    bundle = foreign_bundle(
        [obs(("http://vendor.invalid/codes", "RFX-T"), GSV_THIGH, **q(0.9, "s"))]
    )
    got = import_bundle(bundle, local_codes={"http://vendor.invalid/codes|RFX-T": "reflux_ms"})
    assert got.exam.legs.left.segments[0].reflux_ms == 900.0  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="unknown target"):
        import_bundle(bundle, local_codes={"http://vendor.invalid/codes|RFX-T": "colour"})


def test_flat_measurements_of_one_vein_merge_until_a_field_repeats() -> None:
    bundle = foreign_bundle(
        [
            obs(DIAMETER, GSV_THIGH, **q(5, "mm")),
            obs(RETROGRADE, GSV_THIGH, **q(800, "ms")),
            obs(DIAMETER, GSV_THIGH, **q(4, "mm")),  # a second measuring point
        ]
    )
    segs = import_bundle(bundle).exam.legs.left.segments  # type: ignore[union-attr]
    assert [(s.diameter_mm, s.reflux_ms) for s in segs] == [(5.0, 800.0), (4.0, None)]


@pytest.mark.parametrize(
    ("policy", "site", "vein"),
    [("by-site", "40415009", "GSVa"), ("by-site", "46053002", "GSVb"), ("calf", None, "GSVb")],
)
def test_plain_great_saphenous_vein_policy(policy: str, site: str | None, vein: str) -> None:
    o = obs(DIAMETER, [(fc.SCT, "60734001")], **q(5, "mm"))
    if site:
        o["component"] = [
            {"code": {"coding": [{"system": fc.SCT, "code": "106233006"}]}, **finding(site)}
        ]
    got = import_bundle(foreign_bundle([o]), plain_gsv=policy)  # type: ignore[arg-type]
    assert got.exam.legs.left.segments[0].vein == vein  # type: ignore[union-attr]
    assert any("plain_gsv" in n for n in got.notes)


def test_plain_great_saphenous_vein_without_site_is_reported() -> None:
    got = import_bundle(foreign_bundle([obs(DIAMETER, [(fc.SCT, "60734001")], **q(5, "mm"))]))
    assert (
        "does not say thigh (GSVa) or calf (GSVb)"
        in dict(got.unmapped)["entry[2].resource.bodySite"]
    )
    assert got.exam.legs.left.segments == ()  # type: ignore[union-attr]


def test_named_calf_perforator_becomes_cpv_with_its_name() -> None:
    got = import_bundle(foreign_bundle([obs(DIAMETER, [(fc.SCT, "128549006")], **q(4, "mm"))]))
    (seg,) = got.exam.legs.left.segments  # type: ignore[union-attr]
    assert (seg.vein, seg.label) == ("CPV", "Cockett's perforating vein")


def test_measurement_without_laterality_in_a_bilateral_report_is_unmapped() -> None:
    got = import_bundle(
        foreign_bundle([obs(DIAMETER, GSV_THIGH, lat=None, **q(5, "mm"))], report_code="39420-5")
    )
    assert "no laterality" in dict(got.unmapped)["entry[2].resource.bodySite"]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bundle", "path", "message"),
    [
        ([], "", "expected a JSON object"),
        ({"hello": 1}, "resourceType", "no resourceType"),
        ({"resourceType": "Patient"}, "resourceType", "expected a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "collection"}, "entry", "no entries"),
        ({"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}, "entry[0]", "without a resource"),
    ],
)
def test_not_a_fhir_bundle_is_refused_with_its_path(bundle: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidInput) as e:
        import_bundle(bundle)
    assert [p.path for p in e.value.problems] == [path]
    assert message in e.value.problems[0].message


def test_r5_and_stu3_shapes_are_refused() -> None:
    r5 = foreign_bundle([obs(DIAMETER, GSV_THIGH, **q(5, "mm"))])
    r5["entry"][2]["resource"]["bodyStructure"] = {"reference": "BodyStructure/b1"}
    with pytest.raises(InvalidInput, match="R5 element") as e:
        import_bundle(r5)
    assert e.value.problems[0].path == "entry[2].resource.bodyStructure"
    stu3 = foreign_bundle([obs(DIAMETER, GSV_THIGH, **q(5, "mm"))])
    stu3["entry"][2]["resource"]["interpretation"] = {"text": "abnormal"}
    with pytest.raises(InvalidInput, match="STU3"):
        import_bundle(stu3)


def test_bundle_without_patient_or_date_is_refused() -> None:
    bundle = foreign_bundle([obs(DIAMETER, GSV_THIGH, **q(5, "mm"))])
    no_patient = copy.deepcopy(bundle)
    del no_patient["entry"][0]
    with pytest.raises(InvalidInput, match="no Patient"):
        import_bundle(no_patient)
    no_age = copy.deepcopy(bundle)
    del no_age["entry"][0]["resource"]["birthDate"]
    with pytest.raises(InvalidInput) as e:
        import_bundle(no_age)
    assert "age" in str(e.value) or "birth_date" in str(e.value)


def test_json_text_of_our_export_is_what_is_imported() -> None:
    """The export is plain JSON: dumping and loading it changes nothing."""
    bundle = export(full_exam())
    assert import_bundle(json.loads(json.dumps(bundle))).exam == full_exam()


# --- robustness: a damaged Bundle is refused or reported, never a crash ------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


_CALF_BUNDLE = export(parse_exam_obj(load_example("calf-dvt.json")))
_CALF_PATHS = _paths(_CALF_BUNDLE)
junk = st.sampled_from([None, 0, -1, 1.5, True, "", "x", [], {}, [1], {"a": 1}])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_CALF_PATHS), junk), min_size=1, max_size=3))
def test_damaged_bundle_is_refused_or_reported_never_a_crash(
    changes: list[tuple[tuple[Any, ...], Any]],
) -> None:
    bundle = copy.deepcopy(_CALF_BUNDLE)
    for path, value in changes:
        node: Any = bundle
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this path
    try:
        got = import_bundle(bundle)
    except InvalidInput as e:
        assert e.problems and all(p.message for p in e.problems)
        return
    assert isinstance(got.exam, ExamDocument)
