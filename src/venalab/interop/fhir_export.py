"""Export an exam document and its result as a FHIR R4 Bundle (JSON).

Shape (interop.md 2.6, "Suggested R4 shape"; R4 elements only, so no BodyStructure):

- Bundle.type "collection": a set of resources, not a signed clinical document (a "document"
  Bundle would need a Composition and attestation the exam does not carry). Entries use
  `urn:uuid:` full URLs derived from the patient id, exam date and resource role (uuid5), so
  the same exam and result always give the same Bundle. Bundle.meta.tag marks venalab's
  exports (VENOUS_MEASUREMENTS "venalab-export").
- Patient: identifier (the exam's patient id), gender, birthDate.
- DiagnosticReport: category v2-0074 VUS; code LOINC US.doppler lower extremity vein by
  laterality (bilateral/left/right, interop.md 2.2); effectiveDateTime = exam date; performer
  (the operator's name); result = every Observation below; conclusion = the engine's findings
  of importance 1-3; conclusionCode = the Conditions' codes plus, per leg with DVT, the
  ICD-10-CM proximal (Y) / distal (Z) summary code.
- Observations, one per measured segment: code = local "venous-segment" + DICOM Measurement
  Group; bodySite = SNOMED CT vein (CID 12110) + local vein code, laterality in the HL7
  observation-structureLaterality extension (SCT 7771000 / 24028007 from pydicom);
  components: reflux duration (local code: no standard one exists, interop.md 2.3), peak
  reflux velocity (local), vessel lumen diameter (SCT 397413000), compressibility (local,
  valueCodeableConcept), thrombus (SCT 396339007 = SCT 373142009 "Definite thrombus"; age,
  occlusion, length, distance to the junction as local components), site (SCT 106233006
  topographical modifier = CID 12116), label, distance from the junction, beneath ulcer.
  interpretation A/N from the engine (reflux verdict, pathologic perforator, thrombus,
  incompressibility, obstruction); the reflux component carries the reflux verdict alone.
- Observations of the exam's other fields (VENOUS_EXAM codes, generated from the exam models
  so nothing is lost): exam context (age, purpose, position, provocation, indication, and
  "section-present" markers for sections recorded empty), the clinical signs of each leg
  (always present for an examined leg), radiograph findings per leg, one Observation per lab
  value, history, and BMI (SCT Body mass index from pydicom + LOINC 39156-5).
- Scores: CEAP (basic string, advanced as component) per leg; rVCSS and Villalta per leg
  and Wells: the engine's total as value, completeness as components, and the exam's items
  as VENOUS_EXAM components (an import reads the items; totals are re-derived).
- Conditions: one per `Result.diagnoses` item the engine coded (rules/diagnoses.py: DVT per
  leg and ICD-10-CM vein category, superficial vein thrombosis, I87.2, I83.x varicose veins,
  L94.2 calcinosis cutis, provisional: it requires clinicopathologic confirmation, REI11a),
  with its codes, body sites, note and supporting segment Observations. Nothing is chosen
  here.
- CodeSystem resources declaring every local code the Bundle uses (content "fragment").
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from venalab import __version__
from venalab.anatomy import VEINS
from venalab.exam import SIDES, ExamDocument, Segment, Side, Treatment
from venalab.interop import fhir_codes as fc
from venalab.interop.fhir_codes import Coding, FieldSpec, concept
from venalab.interop.findings import report_conclusion
from venalab.result import LegResult, Result
from venalab.rules.reflux import PerforatorResult, SegmentResult

JSON = dict[str, Any]
_SIDE_TITLE = {"left": "Left", "right": "Right"}
_NOT_PERFORMED = Coding(
    "http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed", "Not Performed"
)


class ExportError(ValueError):
    """The result does not belong to the exam (different patient, date or segments)."""


def _treatment_components(treatment: Treatment | None) -> list[JSON]:
    """A treated segment (venalab extension) as local-code components (issue 18)."""
    if treatment is None:
        return []
    out = [
        _component(
            fc.meas("treatment-method"),
            {"valueCodeableConcept": concept(fc.meas(f"treatment-method:{treatment.method}"))},
        )
    ]
    if treatment.date is not None:
        out.append(
            _component(fc.meas("treatment-date"), {"valueDateTime": treatment.date.isoformat()})
        )
    if treatment.status is not None:
        out.append(
            _component(
                fc.meas("treatment-status"),
                {"valueCodeableConcept": concept(fc.meas(f"treatment-status:{treatment.status}"))},
            )
        )
    return out


def _quantity(value: float, unit: str, ucum: str | None = None) -> JSON:
    return {"value": value, "unit": unit, "system": fc.UCUM, "code": ucum or unit}


def _component(code: Coding | list[Coding], value: JSON | None = None, **extra: Any) -> JSON:
    codes = code if isinstance(code, list) else [code]
    out: JSON = {"code": concept(*codes)}
    if value:
        out.update(value)
    out.update(extra)
    return out


def _field_value(spec: FieldSpec, value: Any) -> JSON:
    """value[x] of one exam field (one answer of an enum-multi field)."""
    if spec.kind == "bool":
        return {"valueBoolean": value}
    if spec.kind == "int":
        return {"valueInteger": value}
    if spec.kind == "string":
        return {"valueString": value}
    if spec.kind == "decimal":
        assert spec.unit is not None
        return {"valueQuantity": _quantity(value, spec.unit)}
    if spec.kind == "quantity":  # age (years)
        assert spec.unit is not None
        return {"valueQuantity": _quantity(value, spec.unit)}
    codings = [fc.exam_code(spec.value_code(value))]
    if value in spec.standard:
        codings.append(spec.standard[value])
    return {"valueCodeableConcept": concept(*codings)}


def _field_components(specs: Iterable[FieldSpec], obj: Any) -> list[JSON]:
    """Components for every recorded field of a model (absent = not recorded = no component)."""
    out: list[JSON] = []
    for spec in specs:
        if spec.code.count(".") == 2:  # vcss.at_least.<item>
            mapping = getattr(obj, "at_least", None) or {}
            if spec.name in mapping:
                out.append(
                    _component(fc.exam_code(spec.code), {"valueInteger": mapping[spec.name]})
                )
            continue
        value = getattr(obj, spec.name)
        if value is None:
            continue
        values = value if spec.kind == "enum-multi" else (value,)
        for v in values:
            out.append(_component(fc.exam_code(spec.code), _field_value(spec, v)))
    return out


def _empty_sections(doc: JSON, prefix: str = "") -> Iterator[str]:
    """Paths of sections recorded as empty objects (they differ from absent ones)."""
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if path in ("legs", "patient", "exam", "format"):
            continue
        if isinstance(value, dict):
            if not value:
                yield path
            else:
                yield from _empty_sections(value, f"{path}.")


class _Builder:
    def __init__(self, exam: ExamDocument, result: Result) -> None:
        self.exam = exam
        self.result = result
        self.codes = fc.dicom()
        self.entries: list[JSON] = []
        self.observation_refs: list[str] = []
        self.date = exam.exam.date.isoformat()
        self.patient_ref = self._url("patient")

    # --- plumbing ---------------------------------------------------------------------------

    def _uuid(self, role: str) -> str:
        key = f"venalab:{self.exam.patient.id}:{self.date}:{role}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, key))

    def _url(self, role: str) -> str:
        return f"urn:uuid:{self._uuid(role)}"

    def _add(self, role: str, resource: JSON) -> str:
        kind = resource.pop("resourceType")
        resource = {
            "resourceType": kind,
            "id": self._uuid(role),
            "text": narrative(kind, resource),
        } | resource
        url = self._url(role)
        self.entries.append({"fullUrl": url, "resource": resource})
        if resource["resourceType"] == "Observation":
            self.observation_refs.append(url)
        return url

    def _laterality_ext(self, side: Side, url: str = fc.EXT_STRUCTURE_LATERALITY) -> JSON:
        return {"url": url, "valueCodeableConcept": concept(self.codes.laterality[side])}

    def _limb_site(self, side: Side, ext: str = fc.EXT_STRUCTURE_LATERALITY) -> JSON:
        return {
            "extension": [self._laterality_ext(side, ext)],
            **concept(self.codes.lower_limb, text=f"{_SIDE_TITLE[side]} lower limb"),
        }

    def _vein_site(
        self,
        side: Side,
        vein: str,
        ext: str = fc.EXT_STRUCTURE_LATERALITY,
        label: str | None = None,
    ) -> JSON:
        return {
            "extension": [self._laterality_ext(side, ext)],
            **concept(
                *fc.vein_codings(vein, label), text=f"{_SIDE_TITLE[side]} {VEINS[vein].name}"
            ),
        }

    def _observation(
        self,
        role: str,
        code: list[Coding],
        *,
        category: str = "exam",
        body_site: JSON | None = None,
        value: JSON | None = None,
        components: list[JSON] | None = None,
        interpretation: bool | None = None,
    ) -> str:
        obs: JSON = {
            "resourceType": "Observation",
            "status": "final",
            "category": [concept(Coding(fc.OBSERVATION_CATEGORY, category))],
            "code": concept(*code),
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": self.date,
        }
        if value:
            obs.update(value)
        if interpretation is not None:
            obs["interpretation"] = [concept(fc.INTERPRETATION[interpretation])]
        if body_site:
            obs["bodySite"] = body_site
        if components:
            obs["component"] = components
        return self._add(role, obs)

    # --- resources --------------------------------------------------------------------------

    def patient(self) -> None:
        p = self.exam.patient
        res: JSON = {
            "resourceType": "Patient",
            "identifier": [{"system": fc.PATIENT_ID, "value": p.id}],
            "gender": p.sex,
        }
        if p.birth_date is not None:
            res["birthDate"] = p.birth_date.isoformat()
        self._add("patient", res)

    def exam_context(self) -> None:
        ef = fc.exam_fields()
        comps: list[JSON] = []
        if self.exam.patient.age_years is not None:
            comps += _field_components(ef.exam[:1], self.exam.patient)
        comps += _field_components(ef.exam[1:], self.exam.exam)
        doc = self.exam.model_dump(mode="json", exclude_none=True)
        for path in _empty_sections(doc):
            comps.append(_component(fc.exam_code("section-present"), {"valueString": path}))
        if comps:
            self._observation("exam-context", [fc.exam_code("exam-context")], components=comps)
        if self.exam.patient.bmi is not None:
            self._observation(
                "bmi",
                [self.codes.body_mass_index, fc.LOINC_BMI],
                category="vital-signs",
                value={"valueQuantity": _quantity(self.exam.patient.bmi, "kg/m2")},
            )

    def leg(self, side: Side) -> None:
        leg = self.exam.leg(side)
        assert leg is not None
        lr = self.result.leg(side)
        ef = fc.exam_fields()
        self._observation(
            f"{side}.clinical",
            [fc.exam_code("leg-clinical")],
            body_site=self._limb_site(side),
            components=_field_components(ef.clinical, leg.clinical),
        )
        perforators = iter(lr.perforators if lr else ())
        for i, seg in enumerate(leg.segments):
            sres = lr.segments[i] if lr else None
            pres = next(perforators) if VEINS[seg.vein].is_perforator and lr else None
            self.segment(side, i, seg, sres, pres)
        if lr is not None:
            self.ceap(side, lr)

    def segment(
        self,
        side: Side,
        index: int,
        seg: Segment,
        sres: SegmentResult | None,
        pres: PerforatorResult | None,
    ) -> None:
        c = self.codes
        comps: list[JSON] = []
        if seg.site is not None:
            comps.append(
                _component(
                    c.topographical_modifier,
                    {"valueCodeableConcept": concept(c.site[seg.site])},
                )
            )
        if seg.label is not None:
            comps.append(_component(fc.meas("segment-label"), {"valueString": seg.label}))
        if seg.reflux_ms is not None:
            extra: JSON = {}
            if sres is not None and sres.abnormal is not None:
                extra["interpretation"] = [concept(fc.INTERPRETATION[sres.abnormal])]
            comps.append(
                _component(
                    fc.meas("reflux-duration"),
                    {"valueQuantity": _quantity(seg.reflux_ms, "ms")},
                    **extra,
                )
            )
        if seg.peak_reflux_velocity_cm_s is not None:
            comps.append(
                _component(
                    fc.meas("peak-reflux-velocity"),
                    {"valueQuantity": _quantity(seg.peak_reflux_velocity_cm_s, "cm/s")},
                )
            )
        if seg.diameter_mm is not None:
            comps.append(
                _component(
                    c.vessel_lumen_diameter, {"valueQuantity": _quantity(seg.diameter_mm, "mm")}
                )
            )
        if seg.compressibility is not None:
            comps.append(
                _component(
                    fc.meas("compressibility"),
                    {
                        "valueCodeableConcept": concept(
                            fc.meas(f"compressibility:{seg.compressibility}")
                        )
                    },
                )
            )
        if seg.obstruction is not None:
            comps.append(_component(fc.meas("obstruction"), {"valueBoolean": seg.obstruction}))
        t = seg.thrombus
        if t is not None:
            comps.append(
                _component(
                    c.thrombus,
                    {"valueCodeableConcept": concept(c.thrombus_finding["DefiniteThrombus"])},
                )
            )
            if t.age is not None:
                comps.append(
                    _component(
                        fc.meas("thrombus-age"),
                        {"valueCodeableConcept": concept(fc.meas(f"thrombus-age:{t.age}"))},
                    )
                )
            if t.occlusive is not None:
                comps.append(
                    _component(fc.meas("thrombus-occlusive"), {"valueBoolean": t.occlusive})
                )
            if t.length_cm is not None:
                comps.append(
                    _component(
                        fc.meas("thrombus-length"),
                        {"valueQuantity": _quantity(t.length_cm, "cm")},
                    )
                )
            if t.distance_to_junction_cm is not None:
                comps.append(
                    _component(
                        fc.meas("thrombus-distance-to-junction"),
                        {"valueQuantity": _quantity(t.distance_to_junction_cm, "cm")},
                    )
                )
            if t.lumen_percent is not None:
                comps.append(
                    _component(
                        fc.meas("thrombus-lumen-percent"),
                        {"valueQuantity": _quantity(t.lumen_percent, "%")},
                    )
                )
        comps += _treatment_components(seg.treatment)
        if seg.position_cm is not None:
            comps.append(
                _component(
                    fc.meas("distance-from-junction"),
                    {"valueQuantity": _quantity(seg.position_cm, "cm")},
                )
            )
        if seg.beneath_ulcer is not None:
            comps.append(_component(fc.meas("beneath-ulcer"), {"valueBoolean": seg.beneath_ulcer}))

        abnormal_signs = [
            sres is not None and sres.abnormal is True,
            pres is not None and pres.pathologic,
            t is not None,
            seg.compressibility in ("partial", "none"),
            seg.obstruction is True,
        ]
        normal_basis = (sres is not None and sres.abnormal is False) or (
            seg.compressibility == "full"
        )
        interpretation = True if any(abnormal_signs) else (False if normal_basis else None)
        self._observation(
            f"{side}.segment.{index}",
            [fc.meas("venous-segment"), c.measurement_group],
            category="imaging",
            body_site=self._vein_site(side, seg.vein, label=seg.label),
            components=comps,
            interpretation=interpretation,
        )

    def ceap(self, side: Side, lr: LegResult) -> None:
        if lr.ceap is None:  # not assessed (venalab.assembly): no class is asserted
            reason = lr.ceap_not_assessed.reason if lr.ceap_not_assessed else "not assessed"
            self._observation(
                f"{side}.ceap",
                [fc.meas("ceap")],
                body_site=self._limb_site(side),
                value={"dataAbsentReason": {**concept(_NOT_PERFORMED), "text": reason}},
            )
            return
        self._observation(
            f"{side}.ceap",
            [fc.meas("ceap")],
            body_site=self._limb_site(side),
            value={"valueString": lr.ceap.basic},
            components=[_component(fc.meas("ceap-advanced"), {"valueString": lr.ceap.advanced})],
        )

    def scores(self) -> None:
        ef = fc.exam_fields()
        given = self.exam.scores
        for side in SIDES:
            lr = self.result.leg(side)
            items = getattr(given.vcss, side) if given and given.vcss else None
            vcss = lr.vcss if lr else None
            if items is not None or vcss is not None:
                comps = _field_components(ef.vcss, items) if items is not None else []
                value: JSON | None = None
                if vcss is not None:
                    value = {"valueInteger": vcss.total}
                    comps = [
                        _component(fc.meas("score-complete"), {"valueBoolean": vcss.complete}),
                        _component(
                            fc.meas("score-upper-bound"), {"valueInteger": vcss.upper_bound}
                        ),
                        *comps,
                    ]
                self._observation(
                    f"{side}.rvcss",
                    [fc.meas("rvcss")],
                    category="survey",
                    body_site=self._limb_site(side),
                    value=value,
                    components=comps,
                )
            v_items = getattr(given.villalta, side) if given and given.villalta else None
            villalta = lr.villalta if lr else None
            if v_items is not None or villalta is not None:
                comps = _field_components(ef.villalta, v_items) if v_items is not None else []
                value = None
                if villalta is not None:
                    value = {"valueInteger": villalta.total}
                    derived = [
                        _component(fc.meas("score-complete"), {"valueBoolean": villalta.complete}),
                        _component(
                            fc.meas("score-upper-bound"), {"valueInteger": villalta.upper_bound}
                        ),
                    ]
                    if villalta.category is not None:
                        derived.append(
                            _component(
                                fc.meas("villalta-category"), {"valueString": villalta.category}
                            )
                        )
                    comps = [*derived, *comps]
                self._observation(
                    f"{side}.villalta",
                    [fc.meas("villalta")],
                    category="survey",
                    body_site=self._limb_site(side),
                    value=value,
                    components=comps,
                )
        w_items = given.wells_dvt if given else None
        wells = self.result.wells_dvt
        if w_items is not None or wells is not None:
            comps = _field_components(ef.wells, w_items) if w_items is not None else []
            value = None
            if wells is not None:
                derived = [
                    _component(fc.meas("score-complete"), {"valueBoolean": wells.complete}),
                    _component(fc.meas("score-minimum"), {"valueInteger": wells.score_min}),
                    _component(fc.meas("score-maximum"), {"valueInteger": wells.score_max}),
                ]
                if wells.two_level is not None:
                    derived.append(
                        _component(fc.meas("wells-two-level"), {"valueString": wells.two_level})
                    )
                comps = [*derived, *comps]
                if wells.score is not None:
                    value = {"valueInteger": wells.score}
            self._observation(
                "wells", [fc.meas("wells-dvt")], category="survey", value=value, components=comps
            )

    def imaging(self) -> None:
        ef = fc.exam_fields()
        for side in SIDES:
            li = getattr(self.exam.imaging, side) if self.exam.imaging else None
            comps = _field_components(ef.imaging, li) if li is not None else []
            if comps:
                self._observation(
                    f"{side}.imaging",
                    [fc.exam_code("imaging")],
                    category="imaging",
                    body_site=self._limb_site(side),
                    components=comps,
                )

    def labs(self) -> None:
        labs = self.exam.labs
        if labs is None:
            return
        for spec in fc.exam_fields().labs:
            value = getattr(labs, spec.name)
            if value is None:
                continue
            codes = [fc.exam_code(spec.code)]
            if spec.kind == "bool":
                obs_value: JSON = {"valueBoolean": value}
            else:
                obs_value = {
                    "valueQuantity": _quantity(value.value, value.unit, fc.LAB_UCUM[value.unit])
                }
                loinc = fc.LAB_LOINC.get((spec.name, value.unit))
                if loinc is not None:
                    codes.insert(0, loinc)
            self._observation(spec.code, codes, category="laboratory", value=obs_value)

    def history(self) -> None:
        h = self.exam.history
        comps = _field_components(fc.exam_fields().history, h) if h is not None else []
        if comps:
            self._observation(
                "history", [fc.exam_code("history")], category="social-history", components=comps
            )

    # --- diagnoses --------------------------------------------------------------------------

    def _condition(
        self,
        role: str,
        codes: list[Coding],
        body_sites: list[JSON],
        *,
        verification: str = "confirmed",
        note: str | None = None,
        evidence: list[str] | None = None,
    ) -> JSON:
        res: JSON = {
            "resourceType": "Condition",
            "clinicalStatus": concept(Coding(fc.CONDITION_CLINICAL, "active", "Active")),
            "verificationStatus": concept(
                Coding(fc.CONDITION_VERIFICATION, verification, verification.capitalize())
            ),
            "category": [
                concept(Coding(fc.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis"))
            ],
            "code": concept(*codes),
            "bodySite": body_sites,
            "subject": {"reference": self.patient_ref},
            "recordedDate": self.date,
        }
        if evidence:
            res["evidence"] = [{"detail": [{"reference": r} for r in evidence]}]
        if note:
            res["note"] = [{"text": note}]
        self._add(role, res)
        return concept(*codes)

    def conditions(self) -> list[JSON]:
        """A Condition per engine diagnosis; returns DiagnosticReport.conclusionCode."""
        conclusion: list[JSON] = []
        mcode = fc.EXT_MCODE_LATERALITY
        for d in self.result.diagnoses:
            codes = [fc.coding(c) for c in d.codes]
            if not d.condition:
                conclusion.append(concept(*codes))
                continue
            if d.veins and d.leg is not None:
                sites = [self._vein_site(d.leg, v, mcode) for v in d.veins]
            else:
                sites = [self._limb_site(s, mcode) for s in d.sides]
            role = (
                f"{d.leg}.condition.{d.id.removeprefix(f'{d.leg}.')}"
                if d.leg
                else f"condition.{d.id}"
            )
            conclusion.append(
                self._condition(
                    role,
                    codes,
                    sites,
                    verification=d.verification,
                    note=d.note,
                    evidence=[self._url(f"{d.leg}.segment.{i}") for i in d.segments],
                )
            )
        return conclusion

    def report(self, conclusion_code: list[JSON]) -> None:
        legs = [side for side, _ in self.exam.legs.items()]
        laterality = legs[0] if len(legs) == 1 else "bilateral"
        res: JSON = {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [concept(fc.CATEGORY_VUS)],
            "code": concept(fc.REPORT_CODE[laterality]),
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": self.date,
            "result": [{"reference": r} for r in self.observation_refs],
            "conclusion": report_conclusion(self.exam, self.result),
        }
        if self.exam.exam.operator is not None:
            res["performer"] = [{"display": self.exam.exam.operator}]
        unique: dict[str, JSON] = {}
        for cc in conclusion_code:
            unique.setdefault(repr(cc["coding"]), cc)
        if unique:
            res["conclusionCode"] = list(unique.values())
        # The report goes right after the Patient, where readers look for it.
        body = {k: v for k, v in res.items() if k != "resourceType"}
        res = {
            "resourceType": "DiagnosticReport",
            "id": self._uuid("report"),
            "text": narrative("DiagnosticReport", body),
        } | body
        self.entries.insert(1, {"fullUrl": self._url("report"), "resource": res})

    def code_systems(self) -> None:
        used: dict[str, set[str]] = {s: set() for s in fc.LOCAL_SYSTEMS}
        for system, code in _codings(self.entries):
            if system in used:
                used[system].add(code)
        names = {
            fc.VENOUS_MEASUREMENTS: ("VenalabVenousMeasurements", "venalab venous measurements"),
            fc.VENOUS_EXAM: ("VenalabVenousExam", "venalab venous-exam/1 fields"),
            fc.VEIN: ("VenalabVein", "venalab vein codes"),
        }
        for system, codes in used.items():
            if not codes:
                continue
            table = fc.local_concepts(system)
            concepts = []
            for code in sorted(codes):
                c = table[code]
                entry: JSON = {"code": c.code, "display": c.display}
                if c.definition:
                    entry["definition"] = c.definition
                concepts.append(entry)
            name, title = names[system]
            self._add(
                f"codesystem.{name}",
                {
                    "resourceType": "CodeSystem",
                    "url": system,
                    "version": __version__,
                    "name": name,
                    "title": title,
                    "status": "active",
                    "experimental": False,
                    "publisher": "venalab",
                    "description": "Local codes of venalab (no standard code exists); "
                    "the .invalid host never resolves.",
                    "caseSensitive": True,
                    "content": "fragment",
                    "count": len(table),
                    "concept": concepts,
                },
            )

    def bundle(self) -> JSON:
        self.patient()
        self.exam_context()
        for side, _ in self.exam.legs.items():
            self.leg(side)
        self.scores()
        self.imaging()
        self.labs()
        self.history()
        conclusion = self.conditions()
        self.report(conclusion)
        self.code_systems()
        return {
            "resourceType": "Bundle",
            "id": self._uuid("bundle"),
            "meta": {
                "tag": [
                    {
                        "system": fc.VENOUS_MEASUREMENTS,
                        "code": "venalab-export",
                        "display": f"Exported by venalab {__version__} (venous-exam/1)",
                    }
                ]
            },
            "type": "collection",
            "entry": self.entries,
        }


def _display(cc: Any) -> str:
    """A CodeableConcept as words: its text, else its first display, else its first code."""
    if not isinstance(cc, dict):
        return ""
    if cc.get("text"):
        return str(cc["text"])
    for coding in cc.get("coding", []):
        if coding.get("display"):
            return str(coding["display"])
    codings = cc.get("coding") or [{}]
    return str(codings[0].get("code", ""))


def _value_words(res: JSON) -> str:
    if "valueQuantity" in res:
        q = res["valueQuantity"]
        return f"{q['value']:g} {q.get('unit', '')}".strip()
    if "valueCodeableConcept" in res:
        return _display(res["valueCodeableConcept"])
    for key in ("valueString", "valueInteger", "valueBoolean"):
        if key in res:
            value = res[key]
            return ("yes" if value else "no") if isinstance(value, bool) else str(value)
    return ""


def narrative(kind: str, res: JSON) -> JSON:
    """Resource.text: a generated, escaped XHTML summary (FHIR R4 Narrative, status
    "generated": entirely produced from the structured data)."""
    parts: list[str] = []
    if kind == "Patient":
        ident = res.get("identifier", [{}])[0].get("value", "")
        parts = [f"Patient {ident}", res.get("gender", ""), res.get("birthDate", "")]
    elif kind == "Observation":
        parts = [_display(res.get("code"))]
        if "bodySite" in res:
            parts.append(_display(res["bodySite"]))
        if (value := _value_words(res)) != "":
            parts.append(value)
        for comp in res.get("component", []):
            words = _value_words(comp)
            parts.append(f"{_display(comp.get('code'))}: {words}" if words else "")
    elif kind == "Condition":
        parts = [_display(res.get("code"))]
        parts += [_display(site) for site in res.get("bodySite", [])]
        parts.append(_display(res.get("verificationStatus")))
    elif kind == "DiagnosticReport":
        parts = [_display(res.get("code")), res.get("effectiveDateTime", "")]
        parts.append(res.get("conclusion", ""))
    elif kind == "CodeSystem":
        parts = [str(res.get("title", "")), f"{len(res.get('concept', []))} concept(s) used"]
    text = "; ".join(p for p in parts if p) or kind
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(text)}</p></div>',
    }


def _codings(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and isinstance(node.get("code"), str):
            yield node["system"], node["code"]
        for v in node.values():
            yield from _codings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _codings(v)


# FHIR R4 `string`: at least one character, whitespace only as space, tab, CR or LF
# (R4 datatypes, string regex `[ \r\n\t\S]+`).
_FHIR_STRING = re.compile(r"[ \r\n\t\S]+")


def _strings(exam: ExamDocument) -> Iterator[tuple[str, str]]:
    yield "patient.id", exam.patient.id
    if exam.exam.indication is not None:
        yield "exam.indication", exam.exam.indication
    if exam.exam.operator is not None:
        yield "exam.operator", exam.exam.operator
    for side, leg in exam.legs.items():
        for i, seg in enumerate(leg.segments):
            if seg.label is not None:
                yield f"legs.{side}.segments[{i}].label", seg.label


def export_bundle(exam: ExamDocument, result: Result) -> JSON:
    """The exam and the engine's result as a FHIR R4 Bundle (a JSON-ready dict).

    `result` must be `venalab.engine.assess(exam, ...)` of this exam (any options). Raises
    ExportError when they do not belong together, or when a free-text field cannot be a FHIR
    string (empty, or whitespace other than space/tab/CR/LF): the export would not round-trip.
    """
    bad = [path for path, text in _strings(exam) if not _FHIR_STRING.fullmatch(text)]
    if bad:
        raise ExportError(
            f"{', '.join(bad)}: FHIR strings cannot be empty or hold whitespace other than "
            "space, tab, CR and LF"
        )
    if result.exam.patient_id != exam.patient.id or result.exam.date != exam.exam.date:
        raise ExportError("the result belongs to another exam (patient id or date differ)")
    for side, leg in exam.legs.items():
        lr = result.leg(side)
        if lr is None or len(lr.segments) != len(leg.segments):
            raise ExportError(f"the result's {side} leg does not match the exam's segments")
    return _Builder(exam, result).bundle()
