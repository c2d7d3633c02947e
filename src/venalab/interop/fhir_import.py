"""Import a FHIR R4 Bundle as an exam document (the reverse of fhir_export).

Reads venalab's own Bundles exactly (export then import gives back the same document) and
other systems' Bundles that use the same standard codes: Observations coded with the DICOM
CID 12119 measurement codes (vessel lumen diameter SCT 397413000), SCT 396339007 thrombus
with CID 3714 answers, SCT 312004007 retrograde flow with a time value (= reflux duration,
interop.md 2.3), SNOMED CT vein body sites (DICOM CID 12110; legacy SRT ids accepted) and
laterality (SCT 7771000 / 24028007, also SRT G-A101 / G-A100) from the HL7
observation-structureLaterality or mCODE laterality-qualifier extension, a laterality coding
beside the vein, or a post-coordinated SNOMED CT expression (vein:272741003=side).

Conventions (interop.md section 10; venalab decisions, reported in `notes`):
- What cannot be mapped is listed in `unmapped` as (JSON path in the Bundle, reason); never
  dropped silently. Values the engine derives (CEAP, score totals, interpretations,
  Conditions, the report's conclusion) go to `derived`: they are recomputed from the exam.
- Another system's local codes: `local_codes` maps "system|code" to a segment field
  (reflux_ms, diameter_mm, peak_reflux_velocity_cm_s, position_cm).
- Units are converted into the exam's (ms, mm, cm/s, cm); an unknown unit is unmapped.
- Plain "great saphenous vein" (SCT 60734001, no thigh/calf) follows `plain_gsv`, as in the
  SR importer: "by-site" (default) maps a proximal site to GSVa and a distal one to GSVb and
  reports the rest as unmapped; "thigh" / "calf" map every plain GSV to GSVa / GSVb; "skip"
  reports them all. Named calf perforators (Cockett, Boyd,
  lateral calf) become CPV and the Hunterian perforator TPV, with the named vein kept as the
  segment label; Giacomini, posterior arch and unspecified saphenous veins are unmapped.
- A measurement without laterality goes to the only leg the report's code names; otherwise
  it is unmapped. A coded "No thrombus" is a finding, not a thrombus: no thrombus is recorded
  (the exam format has no field for a negative) and a note says so; "Possible thrombus" is
  unmapped.
- Separate single-measurement Observations of the same side, vein and site are merged into
  one segment while each field is free; a repeated field starts a new segment.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from venalab.errors import InvalidInput, Problem
from venalab.exam import SIDES, ExamDocument, Side, parse_exam_obj
from venalab.interop import fhir_codes as fc
from venalab.interop.fhir_codes import FieldSpec

JSON = dict[str, Any]
PlainGsvPolicy = Literal["by-site", "thigh", "calf", "skip"]
LOCAL_CODE_FIELDS: dict[str, tuple[dict[str, float], str]] = {
    "reflux_ms": (fc.TIME_TO_MS, "time (ms, s)"),
    "diameter_mm": (fc.LENGTH_TO_MM, "length (mm, cm, m)"),
    "peak_reflux_velocity_cm_s": (fc.VELOCITY_TO_CM_S, "velocity (cm/s, mm/s, m/s)"),
    "position_cm": (fc.LENGTH_TO_CM, "length (mm, cm, m)"),
}

# Elements of other FHIR versions that tell a Bundle is not R4 (resource type -> element ->
# version). STU3 and R5 Bundles look alike at the top; these elements differ.
_NOT_R4: dict[str, dict[str, str]] = {
    "Observation": {
        "bodyStructure": "R5",
        "triggeredBy": "R5",
        "instantiatesCanonical": "R5",
        "instantiatesReference": "R5",
        "comment": "STU3",
        "context": "STU3",
        "related": "STU3",
    },
    "DiagnosticReport": {
        "study": "R5",
        "supportingInfo": "R5",
        "composition": "R5",
        "note": "R5",
        "codedDiagnosis": "STU3",
        "image": "STU3",
        "context": "STU3",
    },
    "Condition": {"participant": "R5", "assertedDate": "STU3", "context": "STU3"},
}
_R4_OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected"}
_POSTCOORDINATED = re.compile(
    r"^\s*(\d+)\s*(?:\|[^|]*\|)?\s*:\s*\{?\s*"
    + fc.SCT_LATERALITY_ATTRIBUTE
    + r"\s*(?:\|[^|]*\|)?\s*=\s*(\d+)"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_VALUES = frozenset(
    {"valueQuantity", "valueCodeableConcept", "valueBoolean", "valueString", "valueInteger"}
)


@dataclass(frozen=True)
class ImportResult:
    """An imported exam and what the Bundle held that the exam does not."""

    exam: ExamDocument
    unmapped: list[tuple[str, str]] = field(default_factory=list)
    derived: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Skip(Exception):
    """One item cannot be mapped (already reported)."""


def _codings(cc: Any) -> list[tuple[str, str, str]]:
    """(system, code, display) of a CodeableConcept's codings, ignoring malformed ones."""
    if not isinstance(cc, dict):
        return []
    out = []
    for c in _list(cc.get("coding")):
        if (
            isinstance(c, dict)
            and isinstance(c.get("system"), str)
            and isinstance(c.get("code"), str)
        ):
            out.append((c["system"], c["code"], str(c.get("display") or "")))
    return out


def _list(value: Any) -> list[Any]:
    """A FHIR array, or nothing (the schema types are checked where the value is read)."""
    return value if isinstance(value, list) else []


def _keys(cc: Any) -> set[tuple[str, str]]:
    return {(s, c) for s, c, _ in _codings(cc)}


def _describe(cc: Any) -> str:
    cs = _codings(cc)
    if not cs:
        text = cc.get("text") if isinstance(cc, dict) else None
        return f"text {text!r}" if text else "no coding"
    return ", ".join(f"{s}|{c}" + (f" ({d})" if d else "") for s, c, d in cs)


def _has(seg: JSON, name: str) -> bool:
    if name.startswith(("thrombus.", "treatment.")):
        group, key = name.split(".", 1)
        return key in seg.get(group, {})
    return name in seg


def _set_path(doc: JSON, path: str) -> None:
    node = doc
    for part in path.split("."):
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            return
        node = nxt


class _Reader:
    def __init__(
        self,
        bundle: Any,
        local_codes: Mapping[str, str] | None,
        plain_gsv: PlainGsvPolicy,
    ) -> None:
        self.bundle = bundle
        self.local_codes: dict[tuple[str, str], str] = {}
        problems = []
        for key, target in (local_codes or {}).items():
            system, sep, code = key.rpartition("|")
            if not sep or not system or not code:
                problems.append(Problem(f"local_codes[{key!r}]", "expected 'system|code'"))
            elif target not in LOCAL_CODE_FIELDS:
                problems.append(
                    Problem(
                        f"local_codes[{key!r}]",
                        f"unknown target {target!r}; allowed: {', '.join(LOCAL_CODE_FIELDS)}",
                    )
                )
            else:
                self.local_codes[(system, code)] = target
        if problems:
            raise InvalidInput(problems, what="local code map")
        self.plain_gsv = plain_gsv
        self.codes = fc.dicom()
        self.lat: dict[tuple[str, str], Side] = {}
        for side in SIDES:
            self.lat[self.codes.laterality[side].key] = side
            self.lat[self.codes.laterality_srt[side].key] = side
        self.site_by_code = {c.key: s for s, c in self.codes.site.items()}
        self.ef = fc.exam_fields()
        self.unmapped: list[tuple[str, str]] = []
        self.derived: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.doc: JSON = {"format": "venous-exam/1", "patient": {}, "exam": {}, "legs": {}}
        self.report_sides: tuple[Side, ...] = ()
        self.flat_segments: dict[Side, list[JSON]] = {"left": [], "right": []}
        self.sections: list[str] = []
        self.ours = False
        self.dates: list[str] = []

    # --- reporting --------------------------------------------------------------------------

    def miss(self, path: str, reason: str) -> None:
        self.unmapped.append((path, reason))

    def skip(self, path: str, reason: str) -> _Skip:
        self.miss(path, reason)
        return _Skip()

    def items(self, res: JSON, key: str, rp: str) -> list[JSON]:
        """The objects of an array element; anything else there is reported."""
        value = res.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.miss(f"{rp}.{key}", "expected an array")
            return []
        out = []
        for j, item in enumerate(value):
            if isinstance(item, dict):
                out.append(item)
            else:
                self.miss(f"{rp}.{key}[{j}]", "expected an object")
        return out

    def components(self, rp: str, res: JSON) -> Iterator[tuple[str, JSON]]:
        value = res.get("component")
        if value is not None and not isinstance(value, list):
            self.miss(f"{rp}.component", "expected an array")
            return
        for j, comp in enumerate(value or []):
            if isinstance(comp, dict):
                yield f"{rp}.component[{j}]", comp
            else:
                self.miss(f"{rp}.component[{j}]", "expected an object")

    # --- shape ------------------------------------------------------------------------------

    def check_shape(self) -> list[tuple[str, JSON, str | None]]:
        b = self.bundle
        if not isinstance(b, dict):
            raise InvalidInput(
                [Problem("", f"expected a JSON object (a FHIR Bundle), got {type(b).__name__}")],
                what="FHIR bundle",
            )
        rt = b.get("resourceType")
        if rt != "Bundle":
            msg = (
                "not a FHIR resource: no resourceType"
                if rt is None
                else f"expected a FHIR Bundle, got resourceType {rt!r}"
            )
            raise InvalidInput([Problem("resourceType", msg)], what="FHIR bundle")
        entries = b.get("entry")
        if not isinstance(entries, list) or not entries:
            raise InvalidInput(
                [Problem("entry", "a Bundle with no entries holds no exam")], what="FHIR bundle"
            )
        problems: list[Problem] = []
        out: list[tuple[str, JSON, str | None]] = []
        for i, e in enumerate(entries):
            path = f"entry[{i}]"
            res = e.get("resource") if isinstance(e, dict) else None
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                problems.append(Problem(path, "an entry without a resource (resourceType)"))
                continue
            for element, version in _NOT_R4.get(res["resourceType"], {}).items():
                if element in res:
                    problems.append(
                        Problem(
                            f"{path}.resource.{element}",
                            f"a FHIR {version} element; this importer reads FHIR R4 (4.0.1)",
                        )
                    )
            if res["resourceType"] == "Observation" and isinstance(res.get("interpretation"), dict):
                problems.append(
                    Problem(
                        f"{path}.resource.interpretation",
                        "a single CodeableConcept (FHIR STU3); R4 has a list",
                    )
                )
            if res["resourceType"] == "Condition" and isinstance(
                res.get("verificationStatus"), str
            ):
                problems.append(
                    Problem(
                        f"{path}.resource.verificationStatus",
                        "a code (FHIR STU3); R4 has a CodeableConcept",
                    )
                )
            full = e.get("fullUrl")
            out.append((path, res, full if isinstance(full, str) else None))
        if problems:
            raise InvalidInput(problems, what="FHIR R4 bundle")
        tags = (b.get("meta") or {}).get("tag") if isinstance(b.get("meta"), dict) else None
        self.ours = any(
            isinstance(t, dict)
            and t.get("system") == fc.VENOUS_MEASUREMENTS
            and t.get("code") == "venalab-export"
            for t in _list(tags)
        )
        return out

    # --- entry point ------------------------------------------------------------------------

    def run(self) -> ImportResult:
        entries = self.check_shape()
        by_ref: dict[str, int] = {}
        for i, (_, res, full) in enumerate(entries):
            if full is not None:
                by_ref[full] = i
            if isinstance(res.get("id"), str):
                by_ref[f"{res['resourceType']}/{res['id']}"] = i
        self.by_ref = by_ref
        resources = [(path, res) for path, res, _ in entries]
        self.resources = resources
        done: set[int] = set()

        patients = [i for i, (_, r) in enumerate(resources) if r["resourceType"] == "Patient"]
        reports = [
            i
            for i, (_, r) in enumerate(resources)
            if r["resourceType"] == "DiagnosticReport" and self._report_laterality(r)
        ]
        report = reports[0] if reports else None
        subject = None
        if report is not None:
            subject = self._resolve(resources[report][1].get("subject"))
        patient = subject if subject in patients else (patients[0] if patients else None)
        if patient is None:
            raise InvalidInput(
                [Problem("entry", "no Patient resource: the exam needs the patient's id and age")],
                what="FHIR bundle",
            )
        self.patient(*resources[patient])
        done.add(patient)
        order: list[int] = []
        if report is not None:
            done.add(report)
            order = self.report(*resources[report])
        for i, (_, r) in enumerate(resources):
            if r["resourceType"] == "Observation" and i not in order:
                order.append(i)
        members: set[int] = set()
        for i in order:
            if i in done or i in members:
                continue
            done.add(i)
            path, res = resources[i]
            members |= self.observation(path, res)
        for i, (path, res) in enumerate(resources):
            if i in done or i in members:
                continue
            self.other(path, res)
        return self.finish()

    def _resolve(self, ref: Any) -> int | None:
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return self.by_ref.get(ref["reference"])
        return None

    # --- Patient, DiagnosticReport ----------------------------------------------------------

    def patient(self, path: str, res: JSON) -> None:
        p = self.doc["patient"]
        ids = self.items(res, "identifier", f"{path}.resource")
        ours = [x for x in ids if x.get("system") == fc.PATIENT_ID]
        chosen: JSON | None = (ours or ids)[0] if ours or ids else None
        if chosen is not None and isinstance(chosen.get("value"), str):
            p["id"] = chosen["value"]
            if not ours:
                self.notes.append(
                    f"patient.id taken from the Patient identifier {chosen.get('system')}|"
                    f"{chosen['value']}"
                )
        elif isinstance(res.get("id"), str):
            p["id"] = res["id"]
            self.notes.append("patient.id taken from the Patient resource id (no identifier)")
        for j, x in enumerate(ids):
            if x is not chosen:
                self.miss(f"{path}.resource.identifier[{j}]", "one patient id is kept")
        gender = res.get("gender")
        if gender in ("male", "female", "other", "unknown"):
            p["sex"] = gender
        elif gender is not None:
            self.miss(f"{path}.resource.gender", f"unknown gender {gender!r}")
        bd = res.get("birthDate")
        if isinstance(bd, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", bd):
            p["birth_date"] = bd
        elif bd is not None:
            self.miss(f"{path}.resource.birthDate", f"{bd!r} is not a full date (YYYY-MM-DD)")
        ignored = {"resourceType", "id", "meta", "text", "identifier", "gender", "birthDate"}
        for key in res:
            if key not in ignored:
                self.miss(f"{path}.resource.{key}", "not part of the exam document")

    def _report_laterality(self, res: JSON) -> str | None:
        for system, code, _ in _codings(res.get("code")):
            if system != fc.LOINC:
                continue
            for lat, c in fc.REPORT_CODE.items():
                if c.code == code:
                    return lat
            if code in fc.REPORT_CODE_NON_DOPPLER:
                return fc.REPORT_CODE_NON_DOPPLER[code]
            if code in (
                self.codes.lower_extremity_vessels_report.code,
                self.codes.vein_report.code,
            ):
                return "unspecified"
        return None

    def report(self, path: str, res: JSON) -> list[int]:
        lat = self._report_laterality(res)
        by_lat: dict[str, tuple[Side, ...]] = {
            "left": ("left",),
            "right": ("right",),
            "bilateral": SIDES,
        }
        self.report_sides = by_lat.get(lat or "", ())
        for side in self.report_sides:
            self.doc["legs"].setdefault(side, {})
        eff = res.get("effectiveDateTime")
        if not isinstance(eff, str):
            period = res.get("effectivePeriod")
            eff = period.get("start") if isinstance(period, dict) else None
        if isinstance(eff, str) and _DATE.match(eff):
            self.doc["exam"]["date"] = eff[:10]
        for j, perf in enumerate(_list(res.get("performer"))):
            name = perf.get("display") if isinstance(perf, dict) else None
            if j == 0 and isinstance(name, str):
                self.doc["exam"]["operator"] = name
            else:
                self.miss(f"{path}.resource.performer[{j}]", "the exam keeps one operator name")
        for key in ("conclusion", "conclusionCode"):
            if key in res:
                self._derived_or_missed(
                    f"{path}.resource.{key}", "the report's interpretation; venalab re-derives it"
                )
        order: list[int] = []
        for j, ref in enumerate(_list(res.get("result"))):
            i = self._resolve(ref)
            if i is None:
                self.miss(f"{path}.resource.result[{j}]", "reference not found in the Bundle")
            elif i not in order:
                order.append(i)
        known = {
            "resourceType", "id", "meta", "text", "status", "category", "code", "subject",
            "effectiveDateTime", "effectivePeriod", "issued", "performer", "result",
            "conclusion", "conclusionCode",
        }  # fmt: skip
        for key in res:
            if key not in known:
                self.miss(f"{path}.resource.{key}", "not part of the exam document")
        return order

    def _derived_or_missed(self, path: str, reason: str) -> None:
        (self.derived if self.ours else self.unmapped).append((path, reason))

    # --- Observations -----------------------------------------------------------------------

    def observation(self, path: str, res: JSON) -> set[int]:
        """Map one Observation; returns the indexes of its hasMember Observations."""
        status = res.get("status")
        if not isinstance(status, str) or status not in _R4_OBSERVATION_STATUS:
            self.miss(path, f"Observation status {status!r}: not a result to import")
            return set()
        eff = res.get("effectiveDateTime")
        if isinstance(eff, str) and _DATE.match(eff):
            self.dates.append(eff[:10])
        keys = _keys(res.get("code"))
        rp = f"{path}.resource"
        if "interpretation" in res:
            self._derived_or_missed(f"{rp}.interpretation", "interpretation; re-derived")
        try:
            if (fc.VENOUS_MEASUREMENTS, "venous-segment") in keys or (
                self.codes.measurement_group.key in keys
            ):
                return self.segment_group(rp, res)
            exam_codes = {c for s, c in keys if s == fc.VENOUS_EXAM}
            meas_codes = {c for s, c in keys if s == fc.VENOUS_MEASUREMENTS}
            if "exam-context" in exam_codes:
                self.exam_context(rp, res)
            elif "leg-clinical" in exam_codes:
                side = self.side_of(res.get("bodySite"), f"{rp}.bodySite")
                leg = self.doc["legs"].setdefault(side, {})
                self.fields(rp, res, self.ef.clinical, leg.setdefault("clinical", {}))
            elif "history" in exam_codes:
                self.fields(rp, res, self.ef.history, self.doc.setdefault("history", {}))
            elif "imaging" in exam_codes:
                side = self.side_of(res.get("bodySite"), f"{rp}.bodySite")
                imaging = self.doc.setdefault("imaging", {}).setdefault(side, {})
                self.fields(rp, res, self.ef.imaging, imaging)
            elif exam_codes & {f.code for f in self.ef.labs}:
                self.lab(rp, res, next(iter(exam_codes & {f.code for f in self.ef.labs})))
            elif loinc_lab := next(
                (fc.LAB_BY_LOINC[c] for s, c in keys if s == fc.LOINC and c in fc.LAB_BY_LOINC),
                None,
            ):
                self.lab(rp, res, f"labs.{loinc_lab}")
            elif meas_codes & {"rvcss", "villalta", "wells-dvt"}:
                self.score(rp, res, next(iter(meas_codes & {"rvcss", "villalta", "wells-dvt"})))
            elif "ceap" in meas_codes:
                self._derived_or_missed(rp, "CEAP classification; re-derived from the findings")
            elif keys & {self.codes.body_mass_index.key, fc.LOINC_BMI.key}:
                self.bmi(rp, res)
            elif self._measurement_field(keys) is not None:
                self.flat_measurement(rp, res)
            else:
                self.miss(rp, f"Observation code not known: {_describe(res.get('code'))}")
        except _Skip:
            pass
        return set()

    def _check_keys(self, rp: str, res: JSON, extra: frozenset[str] = frozenset()) -> None:
        known = {
            "resourceType", "id", "meta", "text", "status", "category", "code", "subject",
            "effectiveDateTime", "effectivePeriod", "issued", "interpretation", "bodySite",
            "component", "performer",
        } | extra  # fmt: skip
        for key in res:
            if key not in known:
                self.miss(f"{rp}.{key}", "not part of the exam document")

    def side_of(self, site: Any, path: str) -> Side:
        side = self._laterality(site)
        if side == "bilateral":
            raise self.skip(path, "laterality 'right and left': a finding belongs to one leg")
        if side is not None:
            return side
        if len(self.report_sides) == 1:
            self.notes.append(
                f"{path}: no laterality; assigned to the {self.report_sides[0]} leg, the only "
                "leg the report's code names"
            )
            return self.report_sides[0]
        raise self.skip(path, "no laterality (left/right) and the report names no single leg")

    def _laterality(self, site: Any) -> Side | Literal["bilateral"] | None:
        if not isinstance(site, dict):
            return None
        found: set[Side] = set()
        for ext in _list(site.get("extension")):
            if not isinstance(ext, dict) or ext.get("url") not in fc.LATERALITY_EXTENSIONS:
                continue
            codings = _keys(ext.get("valueCodeableConcept"))
            vc = ext.get("valueCoding")
            if isinstance(vc, dict):
                codings.add((str(vc.get("system")), str(vc.get("code"))))
            found |= {self.lat[k] for k in codings if k in self.lat}
            if (fc.SCT, "51440002") in codings:
                found |= {"left", "right"}
        found |= {self.lat[k] for k in _keys(site) if k in self.lat}
        for system, code, _ in _codings(site):
            m = _POSTCOORDINATED.match(code) if system == fc.SCT else None
            if m and (fc.SCT, m.group(2)) in self.lat:
                found.add(self.lat[(fc.SCT, m.group(2))])
        if len(found) > 1:
            return "bilateral"
        return next(iter(found), None)

    def vein_of(self, site: Any, path: str) -> tuple[str, str | None]:
        """(exam vein code, label for a named vein folded into a generic code)."""
        if not isinstance(site, dict):
            raise self.skip(path, "no bodySite: the vein is unknown")
        codings = _codings(site)
        for system, code, _ in codings:
            if system == fc.VEIN and code in fc.vein_concepts():
                return code, None
        for system, code, _ in codings:
            focus = code
            m = _POSTCOORDINATED.match(code) if system == fc.SCT else None
            if m:
                focus = m.group(1)
            vein = fc.vein_by_code().get((system, focus))
            if vein is not None:
                return vein, None
            other = fc.other_cid12110().get((system, focus))
            if other is None:
                continue
            meaning, policy = other
            if policy == "plain-gsv":
                return "plain-gsv", f"{meaning} ({system}|{focus})"
            if policy is None:
                raise self.skip(path, f"{meaning} ({system}|{focus}) has no exam vein code")
            self.notes.append(f"{path}: {meaning} imported as {policy}, named in the label")
            return policy, meaning
        raise self.skip(path, f"vein not known: {_describe(site)}")

    def plain_gsv_vein(self, what: str, site: str | None, path: str) -> str:
        """The segment code of a great saphenous vein code without thigh/calf."""
        policy = self.plain_gsv
        vein = {"thigh": "GSVa", "calf": "GSVb"}.get(policy)
        if policy == "by-site":
            vein = {"proximal": "GSVa", "distal": "GSVb"}.get(site or "")
        if vein is None:
            raise self.skip(
                path,
                f"{what} does not say thigh (GSVa) or calf (GSVb)"
                + (f" and its site is {site or 'not given'}" if policy == "by-site" else "")
                + f" (plain_gsv={policy})",
            )
        self.notes.append(f"{path}: {what} imported as {vein} (plain_gsv={policy})")
        return vein

    def _quantity(self, q: Any, table: Mapping[str, float], what: str, path: str) -> float:
        if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
            raise self.skip(path, f"expected a valueQuantity ({what})")
        if isinstance(q.get("value"), bool):
            raise self.skip(path, f"expected a number ({what})")
        system = q.get("system")
        unit = q.get("code") if system in (fc.UCUM, None) else None
        unit = unit if isinstance(unit, str) else q.get("unit")
        if not isinstance(unit, str) or unit not in table:
            raise self.skip(path, f"unit {unit!r} is not a {what}")
        factor = table[unit]
        value = float(q["value"])
        return value if factor == 1.0 else round(value * factor, 6)

    # Segment fields a single Observation or component may carry (by its code).
    def _measurement_field(self, keys: set[tuple[str, str]]) -> str | None:
        c = self.codes
        for k in keys:
            if k in self.local_codes:
                return self.local_codes[k]
        table = {
            (fc.VENOUS_MEASUREMENTS, "reflux-duration"): "reflux_ms",
            c.retrograde_flow.key: "reflux_ms",
            (fc.VENOUS_MEASUREMENTS, "peak-reflux-velocity"): "peak_reflux_velocity_cm_s",
            c.vessel_lumen_diameter.key: "diameter_mm",
            (fc.VENOUS_MEASUREMENTS, "compressibility"): "compressibility",
            (fc.VENOUS_MEASUREMENTS, "obstruction"): "obstruction",
            c.thrombus.key: "thrombus",
            (fc.VENOUS_MEASUREMENTS, "thrombus-age"): "thrombus.age",
            (fc.VENOUS_MEASUREMENTS, "thrombus-occlusive"): "thrombus.occlusive",
            (fc.VENOUS_MEASUREMENTS, "thrombus-length"): "thrombus.length_cm",
            (fc.VENOUS_MEASUREMENTS, "thrombus-distance-to-junction"): (
                "thrombus.distance_to_junction_cm"
            ),
            (fc.VENOUS_MEASUREMENTS, "thrombus-lumen-percent"): "thrombus.lumen_percent",
            (fc.VENOUS_MEASUREMENTS, "treatment-method"): "treatment.method",
            (fc.VENOUS_MEASUREMENTS, "treatment-date"): "treatment.date",
            (fc.VENOUS_MEASUREMENTS, "treatment-status"): "treatment.status",
            (fc.VENOUS_MEASUREMENTS, "distance-from-junction"): "position_cm",
            (fc.VENOUS_MEASUREMENTS, "beneath-ulcer"): "beneath_ulcer",
            (fc.VENOUS_MEASUREMENTS, "segment-label"): "label",
            c.topographical_modifier.key: "site",
        }
        for k in keys:
            if k in table:
                return table[k]
        return None

    def _value(self, name: str, item: JSON, path: str) -> tuple[str, Any]:
        """(field, value) of one measurement (an Observation or a component)."""
        if name in LOCAL_CODE_FIELDS:
            table, what = LOCAL_CODE_FIELDS[name]
            return name, self._quantity(item.get("valueQuantity"), table, what, path)
        if name in ("thrombus.length_cm", "thrombus.distance_to_junction_cm"):
            return name, self._quantity(
                item.get("valueQuantity"), fc.LENGTH_TO_CM, "length (mm, cm, m)", path
            )
        if name == "thrombus.lumen_percent":
            q = item.get("valueQuantity")
            if not isinstance(q, dict) or q.get("code", q.get("unit")) != "%":
                raise self.skip(path, "expected valueQuantity in %")
            return name, q.get("value")
        if name == "treatment.date":
            v = item.get("valueDateTime")
            if not isinstance(v, str):
                raise self.skip(path, "expected valueDateTime")
            return name, v[:10]
        if name in ("obstruction", "beneath_ulcer", "thrombus.occlusive"):
            v = item.get("valueBoolean")
            if not isinstance(v, bool):
                raise self.skip(path, "expected valueBoolean")
            return name, v
        if name == "label":
            v = item.get("valueString")
            if not isinstance(v, str):
                raise self.skip(path, "expected valueString")
            return name, v
        keys = _keys(item.get("valueCodeableConcept"))
        if name == "site":
            for k in keys:
                if k in self.site_by_code:
                    return name, self.site_by_code[k]
            raise self.skip(path, "topographical modifier not proximal/middle/distal")
        prefixes = {
            "compressibility": "compressibility:",
            "thrombus.age": "thrombus-age:",
            "treatment.method": "treatment-method:",
            "treatment.status": "treatment-status:",
        }
        if name in prefixes:
            prefix = prefixes[name]
            for system, code in keys:
                if system == fc.VENOUS_MEASUREMENTS and code.startswith(prefix):
                    return name, code[len(prefix) :]
            raise self.skip(
                path, f"answer not known: {_describe(item.get('valueCodeableConcept'))}"
            )
        if name == "thrombus":
            f = self.codes.thrombus_finding
            if keys & {f["DefiniteThrombus"].key, f["SevereThrombus"].key} or (
                item.get("valueBoolean") is True
            ):
                return name, True
            if f["NoThrombus"].key in keys or item.get("valueBoolean") is False:
                self.notes.append(
                    f"{path}: coded 'No thrombus'; recorded as no thrombus (the exam has no "
                    "field for a negative finding)"
                )
                return name, False
            raise self.skip(
                path,
                f"thrombus answer not mapped: {_describe(item.get('valueCodeableConcept'))}",
            )
        raise self.skip(path, f"no mapping for {name}")  # pragma: no cover

    def _put(self, seg: JSON, name: str, value: Any, path: str) -> None:
        if name == "thrombus":
            if value:
                seg.setdefault("thrombus", {})
            return
        target = seg
        key = name
        if name.startswith(("thrombus.", "treatment.")):
            group, key = name.split(".", 1)
            target = seg.setdefault(group, {})
        if key in target:
            raise self.skip(path, f"{name} given twice for one segment")
        target[key] = value

    def segment_group(self, rp: str, res: JSON) -> set[int]:
        self._check_keys(rp, res, frozenset({"hasMember", "derivedFrom"}))
        side = self.side_of(res.get("bodySite"), f"{rp}.bodySite")
        vein, label = self.vein_of(res.get("bodySite"), f"{rp}.bodySite")
        seg: JSON = {"vein": vein}
        plain_gsv = label if vein == "plain-gsv" else None
        if plain_gsv:
            label = None
        for cp, comp in self.components(rp, res):
            name = self._measurement_field(_keys(comp.get("code")))
            if name is None:
                self.miss(cp, f"component code not known: {_describe(comp.get('code'))}")
                continue
            if "interpretation" in comp:
                self._derived_or_missed(f"{cp}.interpretation", "interpretation; re-derived")
            with contextlib.suppress(_Skip):
                self._put(seg, *self._value(name, comp, cp), cp)
        members: set[int] = set()
        for j, ref in enumerate(_list(res.get("hasMember"))):
            i = self._resolve(ref)
            mp = f"{rp}.hasMember[{j}]"
            if i is None:
                self.miss(mp, "reference not found in the Bundle")
                continue
            members.add(i)
            mpath, member = self.resources[i]
            name = self._measurement_field(_keys(member.get("code")))
            if member.get("resourceType") != "Observation" or name is None:
                self.miss(mpath, f"member code not known: {_describe(member.get('code'))}")
                continue
            with contextlib.suppress(_Skip):
                self._put(seg, *self._value(name, member, f"{mpath}.resource"), mpath)
        if plain_gsv:
            seg["vein"] = self.plain_gsv_vein(plain_gsv, seg.get("site"), f"{rp}.bodySite")
        if label and "label" not in seg:
            seg["label"] = label
        self.doc["legs"].setdefault(side, {}).setdefault("segments", []).append(seg)
        return members

    def flat_measurement(self, rp: str, res: JSON) -> None:
        self._check_keys(rp, res, _VALUES)
        name = self._measurement_field(_keys(res.get("code")))
        assert name is not None
        side = self.side_of(res.get("bodySite"), f"{rp}.bodySite")
        vein, label = self.vein_of(res.get("bodySite"), f"{rp}.bodySite")
        field_, value = self._value(name, res, rp)
        site = None
        for cp, comp in self.components(rp, res):
            if self._measurement_field(_keys(comp.get("code"))) == "site":
                site = self._value("site", comp, cp)[1]
            else:
                self.miss(cp, f"component code not known: {_describe(comp.get('code'))}")
        if vein == "plain-gsv":
            assert label is not None
            vein, label = self.plain_gsv_vein(label, site, f"{rp}.bodySite"), None
        for seg in self.flat_segments[side]:
            if seg["vein"] == vein and seg.get("site") == site and not _has(seg, field_):
                self._put(seg, field_, value, rp)
                return
        seg = {"vein": vein}
        if site is not None:
            seg["site"] = site
        if label:
            seg["label"] = label
        self._put(seg, field_, value, rp)
        self.flat_segments[side].append(seg)
        self.doc["legs"].setdefault(side, {}).setdefault("segments", []).append(seg)

    # --- the exam's own fields -------------------------------------------------------------

    def _field(self, spec: FieldSpec, item: JSON, path: str) -> Any:
        kind = spec.kind
        if kind == "bool":
            v = item.get("valueBoolean")
            if isinstance(v, bool):
                return v
            raise self.skip(path, "expected valueBoolean")
        if kind == "int":
            v = item.get("valueInteger")
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            raise self.skip(path, "expected valueInteger")
        if kind == "string":
            v = item.get("valueString")
            if isinstance(v, str):
                return v
            raise self.skip(path, "expected valueString")
        if kind in ("decimal", "quantity"):
            assert spec.unit is not None
            value = self._quantity(item.get("valueQuantity"), {spec.unit: 1.0}, spec.unit, path)
            if kind == "quantity":  # whole years
                if value != int(value):
                    raise self.skip(path, "expected whole years")
                return int(value)
            return value
        cc = item.get("valueCodeableConcept")
        for system, code in _keys(cc):
            if system == fc.VENOUS_EXAM and code.startswith(f"{spec.code}:"):
                answer = code[len(spec.code) + 1 :]
                if answer in spec.values:
                    return answer
        for answer, coding in spec.standard.items():
            if coding.key in _keys(cc):
                return answer
        raise self.skip(path, f"answer not known for {spec.code}: {_describe(cc)}")

    def fields(self, rp: str, res: JSON, specs: list[FieldSpec], target: JSON) -> None:
        self._check_keys(rp, res)
        by_code = {s.code: s for s in specs}
        for cp, comp in self.components(rp, res):
            codes = [c for s, c in _keys(comp.get("code")) if s == fc.VENOUS_EXAM]
            spec = next((by_code[c] for c in codes if c in by_code), None)
            if spec is None:
                self.miss(cp, f"component code not known here: {_describe(comp.get('code'))}")
                continue
            try:
                value = self._field(spec, comp, cp)
            except _Skip:
                continue
            self._store(spec, value, target, cp)

    def _store(self, spec: FieldSpec, value: Any, target: JSON, path: str) -> None:
        if spec.code.count(".") == 2:  # vcss.at_least.<item>
            target = target.setdefault("at_least", {})
        if spec.kind == "enum-multi":
            target.setdefault(spec.name, []).append(value)
        elif spec.name in target:
            self.miss(path, f"{spec.code} given twice")
        else:
            target[spec.name] = value

    def exam_context(self, rp: str, res: JSON) -> None:
        self._check_keys(rp, res)
        by_code = {s.code: s for s in self.ef.exam}
        for cp, comp in self.components(rp, res):
            codes = [c for s, c in _keys(comp.get("code")) if s == fc.VENOUS_EXAM]
            try:
                if "section-present" in codes:
                    v = comp.get("valueString")
                    if not isinstance(v, str):
                        raise self.skip(cp, "expected valueString")
                    self.sections.append(v)
                    continue
                spec = next((by_code[c] for c in codes if c in by_code), None)
                if spec is None:
                    raise self.skip(cp, f"component code not known: {_describe(comp.get('code'))}")
                value = self._field(spec, comp, cp)
            except _Skip:
                continue
            section = self.doc["patient"] if spec.code.startswith("patient.") else self.doc["exam"]
            self._store(spec, value, section, cp)

    def lab(self, rp: str, res: JSON, code: str) -> None:
        self._check_keys(rp, res, _VALUES)
        spec = self.ef.by_code[code]
        labs = self.doc.setdefault("labs", {})
        if spec.name in labs:
            raise self.skip(rp, f"{code} given twice")
        if spec.kind == "bool":
            labs[spec.name] = self._field(spec, res, rp)
            return
        q = res.get("valueQuantity")
        ucum = {u: e for e, u in fc.LAB_UCUM.items()}
        unit = q.get("code") if isinstance(q, dict) else None
        unit = ucum.get(unit) if isinstance(unit, str) else None
        if unit is None or not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
            raise self.skip(rp, "expected a valueQuantity in one of " + ", ".join(fc.LAB_UCUM))
        labs[spec.name] = {"value": float(q["value"]), "unit": unit}

    def bmi(self, rp: str, res: JSON) -> None:
        self._check_keys(rp, res, _VALUES)
        self.doc["patient"]["bmi"] = self._quantity(
            res.get("valueQuantity"), {"kg/m2": 1.0}, "kg/m2", f"{rp}.valueQuantity"
        )

    def score(self, rp: str, res: JSON, code: str) -> None:
        self._check_keys(rp, res, _VALUES)
        specs = {"rvcss": self.ef.vcss, "villalta": self.ef.villalta, "wells-dvt": self.ef.wells}[
            code
        ]
        by_code = {s.code: s for s in specs}
        items: JSON = {}
        for cp, comp in self.components(rp, res):
            keys = _keys(comp.get("code"))
            spec = next((by_code[c] for s, c in keys if s == fc.VENOUS_EXAM and c in by_code), None)
            if spec is None:
                if any(s == fc.VENOUS_MEASUREMENTS for s, _ in keys):
                    self._derived_or_missed(cp, "score result; re-derived from the items")
                else:
                    self.miss(cp, f"component code not known: {_describe(comp.get('code'))}")
                continue
            try:
                self._store(spec, self._field(spec, comp, cp), items, cp)
            except _Skip:
                continue
        if "valueInteger" in res:
            self._derived_or_missed(f"{rp}.valueInteger", "score total; re-derived from the items")
        if not items:
            return
        scores = self.doc.setdefault("scores", {})
        if code == "wells-dvt":
            if "wells_dvt" in scores:
                raise self.skip(rp, "Wells items given twice")
            scores["wells_dvt"] = items
            return
        side = self.side_of(res.get("bodySite"), f"{rp}.bodySite")
        per_side = scores.setdefault("vcss" if code == "rvcss" else "villalta", {})
        if side in per_side:
            raise self.skip(rp, f"{code} items of the {side} leg given twice")
        per_side[side] = items

    # --- other resources --------------------------------------------------------------------

    def other(self, path: str, res: JSON) -> None:
        rt = res["resourceType"]
        if rt == "Condition":
            self._derived_or_missed(
                path, "a diagnosis; the exam holds findings and venalab re-derives diagnoses"
            )
        elif rt == "CodeSystem" and res.get("url") in fc.LOCAL_SYSTEMS:
            pass  # venalab's declaration of its local codes: no exam content
        elif rt == "DiagnosticReport":
            self.miss(path, "a second or non-venous DiagnosticReport; one exam is imported")
        else:
            self.miss(path, f"{rt}: not part of the exam document")

    # --- result -----------------------------------------------------------------------------

    def finish(self) -> ImportResult:
        doc = self.doc
        if "date" not in doc["exam"]:
            dates = sorted(set(self.dates))
            if dates:
                doc["exam"]["date"] = dates[0]
                self.notes.append(f"exam.date taken from the Observations ({dates[0]})")
        if len(set(self.dates)) > 1:
            self.notes.append(f"Observations carry several dates: {sorted(set(self.dates))}")
        for path in self.sections:
            if path.split(".")[0] in ("labs", "history", "imaging", "scores"):
                _set_path(doc, path)
            else:
                self.miss(f"section-present {path!r}", "not an optional exam section")
        legs = doc["legs"]
        doc["legs"] = {side: legs[side] for side in SIDES if side in legs}
        problems: list[Problem] = []
        if "id" not in doc["patient"]:
            problems.append(Problem("patient.id", "no Patient identifier or id in the Bundle"))
        if "date" not in doc["exam"]:
            problems.append(
                Problem("exam.date", "no DiagnosticReport or Observation effective date")
            )
        if not doc["legs"]:
            problems.append(
                Problem("legs", "no leg: no laterality in the report code or the Observations")
            )
        if problems:
            raise InvalidInput(problems, what="exam document built from the FHIR bundle")
        exam = parse_exam_obj(doc)
        return ImportResult(
            exam=exam, unmapped=self.unmapped, derived=self.derived, notes=self.notes
        )


def import_bundle(
    bundle: Any,
    *,
    local_codes: Mapping[str, str] | None = None,
    plain_gsv: PlainGsvPolicy = "by-site",
) -> ImportResult:
    """Build an exam document from a FHIR R4 Bundle (decoded JSON).

    Raises InvalidInput when the input is not an R4 Bundle, or when what it holds cannot make
    a valid exam document (no patient id or age, no date, no leg); problems name their paths.
    """
    return _Reader(bundle, local_codes, plain_gsv).run()
