"""What every outgoing report says in conclusion, and its coded diagnoses, in one place.

The FHIR DiagnosticReport, the DICOM SR summary and the HL7 v2 ORU^R01 all take their
conclusion text from `report_conclusion` (one function, so a physician-edited conclusion
can replace the engine's text everywhere at once) and their coded diagnoses from
`coded_findings`, which prints the engine's `Result.diagnoses`: the diagnosis coding rules
(ICD-10-CM by vein and side, SNOMED CT where known) live only in rules/diagnoses.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from venalab.exam import SIDES, ExamDocument, Side
from venalab.impression import proposal_text
from venalab.interop import fhir_codes as fc
from venalab.interop.fhir_codes import Coding
from venalab.result import Result

NO_FINDING = "No abnormal finding recorded."


def report_conclusion(exam: ExamDocument, result: Result) -> str:
    """The report's conclusion (the same text in FHIR, SR and HL7 v2): the physician's
    conclusion stored in the exam (`exam.conclusion`, with its comment), else the engine's
    proposed impression per leg (impression.proposal_text)."""
    c = exam.conclusion
    if c is not None:
        return c.text.strip() + (
            f"\n\n{c.comment.strip()}" if c.comment and c.comment.strip() else ""
        )
    return proposal_text(result) or NO_FINDING


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


def coded_findings(exam: ExamDocument, result: Result) -> list[CodedFinding]:
    """The engine's coded diagnoses that are conditions (`Result.diagnoses`), in its order:
    the same ones, with the same codes, as the FHIR export's Conditions."""
    del exam  # part of the signature, as in report_conclusion
    return [
        CodedFinding(
            tuple(fc.coding(c) for c in d.codes),
            tuple(s for s in SIDES if s in d.sides),
            d.verification,
        )
        for d in result.diagnoses
        if d.condition
    ]
