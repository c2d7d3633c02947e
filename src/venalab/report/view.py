"""Report view model: what a report shows, built from the exam and its result only.

A report is a view of the result document, never a second implementation of a rule: this
module orders, groups and numbers what the engine concluded (impression by clinical
importance, citations numbered by first use) and lists what is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from venalab.citations import CITATIONS
from venalab.evidence import Evidence, Finding, Frozen, Recommendation
from venalab.exam import ExamDocument
from venalab.result import LegResult, Result

ReportStatus = Literal["draft", "signed", "amended"]


class Communication(Frozen):
    """A documented communication of critical results (web app, issue 18)."""

    recipient: str
    method: str
    communicated_at: dt.datetime
    read_back: bool
    documented_by: str


class SignOff(Frozen):
    """Report status as the store knows it (draft until a physician signs)."""

    status: ReportStatus = "draft"
    signer: str | None = None
    signed_at: dt.datetime | None = None
    version: int | None = None
    amendment_reason: str | None = None
    communications: tuple[Communication, ...] = ()


class LabInfo(Frozen):
    name: str = "Vascular Laboratory"
    address: str | None = None


class Reference(Frozen):
    number: int
    id: str
    text: str
    status: str


class CitedItem(Frozen):
    text: str
    numbers: tuple[int, ...]
    evidence: Evidence
    unverified: bool
    derived: bool
    leg: str | None = None
    strength: str | None = None
    importance: int = 3


class ClinicianView(Frozen):
    lab: LabInfo
    signoff: SignOff
    exam: ExamDocument
    result: Result
    legs: tuple[tuple[str, LegResult], ...]
    impression: tuple[CitedItem, ...]
    recommendations: tuple[CitedItem, ...]
    references: tuple[Reference, ...]
    missing: tuple[str, ...]
    generated_at: dt.datetime


class _Numbering:
    """Numbers citation ids in order of first use."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}

    def cite(self, ev: Evidence) -> tuple[int, ...]:
        numbers = []
        for source in ev.sources or (ev.source,):
            if source not in self.order:
                self.order[source] = len(self.order) + 1
            numbers.append(self.order[source])
        return tuple(dict.fromkeys(numbers))

    def references(self) -> tuple[Reference, ...]:
        return tuple(
            Reference(number=n, id=cid, text=CITATIONS[cid].text, status=CITATIONS[cid].status)
            for cid, n in self.order.items()
        )


def _cited(item: Finding | Recommendation, numbering: _Numbering) -> CitedItem:
    ev = item.evidence
    return CitedItem(
        text=item.text,
        numbers=numbering.cite(ev),
        evidence=ev,
        unverified=ev.unverified,
        derived=ev.level == "D",
        leg=item.leg,
        strength=item.strength if isinstance(item, Recommendation) else None,
        importance=item.importance if isinstance(item, Finding) else 3,
    )


def missing_data(exam: ExamDocument, result: Result) -> tuple[str, ...]:
    """What the exam does not say that a complete report would: stated, never guessed."""
    out: list[str] = []
    if exam.exam.position is None:
        out.append("Patient position during the study is not recorded.")
    if exam.exam.purpose != "thrombosis" and not exam.exam.provocation:
        out.append("The reflux provocation manoeuvre is not recorded.")
    for side, leg in exam.legs.items():
        if not leg.segments:
            out.append(f"{side.capitalize()} leg: no vein segment was recorded.")
            continue
        unmeasured = [
            s.vein
            for s in leg.segments
            if s.reflux_ms is None and s.thrombus is None and s.compressibility is None
        ]
        if unmeasured:
            out.append(
                f"{side.capitalize()} leg: no measurement recorded for {', '.join(unmeasured)}."
            )
        if leg.clinical.symptomatic is None:
            out.append(f"{side.capitalize()} leg: symptoms not recorded (CEAP S/A undetermined).")
    for side in ("left", "right"):
        if exam.leg(side) is None:
            out.append(f"{side.capitalize()} leg: not examined.")
    return tuple(out)


def build_clinician_view(
    exam: ExamDocument,
    result: Result,
    signoff: SignOff | None = None,
    lab: LabInfo | None = None,
    now: dt.datetime | None = None,
) -> ClinicianView:
    numbering = _Numbering()
    impression = tuple(_cited(f, numbering) for f in result.findings)
    recommendations = tuple(_cited(r, numbering) for r in result.recommendations)
    legs = tuple((side, leg) for side in ("left", "right") if (leg := result.leg(side)) is not None)
    return ClinicianView(
        lab=lab or LabInfo(),
        signoff=signoff or SignOff(),
        exam=exam,
        result=result,
        legs=legs,
        impression=impression,
        recommendations=recommendations,
        references=numbering.references(),
        missing=missing_data(exam, result),
        generated_at=now or dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
