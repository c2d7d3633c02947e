"""What every outgoing report says in conclusion, and its coded diagnoses, in one place.

The FHIR DiagnosticReport, the DICOM SR summary and the HL7 v2 ORU^R01 all take their
conclusion text from `report_conclusion` (one function, so a physician-edited conclusion
can replace the engine's text everywhere at once) and their coded diagnoses from
`coded_findings`, which reads them from the FHIR export's Conditions: the diagnosis coding
rules (ICD-10-CM by vein and side, SNOMED CT where known) live only in fhir_export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from venalab.exam import SIDES, ExamDocument, Side
from venalab.interop import fhir_codes as fc
from venalab.interop.fhir_codes import Coding
from venalab.result import Result

NO_FINDING = "No abnormal finding recorded."


def report_conclusion(exam: ExamDocument, result: Result) -> str:
    """The report's conclusion: the engine's findings of importance 1-3 in the engine's
    order (the same text in FHIR, SR and HL7 v2)."""
    del exam  # part of the signature: a stored, physician-edited conclusion will need it
    return " ".join(f.text for f in result.findings if f.importance <= 3) or NO_FINDING


@dataclass(frozen=True, slots=True)
class CodedFinding:
    """One coded diagnosis: its codings (SNOMED CT first when known), the legs it is about
    and whether it is confirmed or provisional (calcinosis cutis needs histology)."""

    codings: tuple[Coding, ...]
    sides: tuple[Side, ...]
    verification: str

    @property
    def text(self) -> str:
        return next((c.display for c in self.codings if c.display), self.codings[0].code)

    def coding(self, system: str) -> Coding | None:
        return next((c for c in self.codings if c.system == system), None)


def _sides(condition: dict[str, Any]) -> tuple[Side, ...]:
    by_code = {c.code: side for side, c in fc.dicom().laterality.items()}
    found: list[Side] = []
    for site in condition.get("bodySite", []):
        for ext in site.get("extension", []):
            for coding in ext.get("valueCodeableConcept", {}).get("coding", []):
                side = by_code.get(coding.get("code"))
                if side is not None and side not in found:
                    found.append(side)
    return tuple(s for s in SIDES if s in found)


def coded_findings(exam: ExamDocument, result: Result) -> list[CodedFinding]:
    """The Conditions of the FHIR export as coded findings, in the export's order."""
    from venalab.interop.fhir_export import export_bundle

    out: list[CodedFinding] = []
    for entry in export_bundle(exam, result)["entry"]:
        res = entry["resource"]
        if res["resourceType"] != "Condition":
            continue
        codings = tuple(
            Coding(c["system"], c["code"], c.get("display")) for c in res["code"]["coding"]
        )
        status = res["verificationStatus"]["coding"][0]["code"]
        out.append(CodedFinding(codings, _sides(res), status))
    return out
