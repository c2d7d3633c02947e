"""Report view model: what a report shows, built from the exam and its result only.

A report is a view of the result document, never a second implementation of a rule: this
module orders, groups and numbers what the engine concluded (the per-leg impression of
venalab.impression, the recommendations by side, the measurements of both legs side by
side, citations numbered by first use) and lists what is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from venalab.assembly import SIDE_LABEL, segment_reading, side_label, unsided_text
from venalab.citations import CITATIONS
from venalab.evidence import Evidence, Finding, Frozen, Recommendation
from venalab.exam import SIDES, Conclusion, ExamDocument, Side
from venalab.impression import ImpressionLine, build_impression
from venalab.report.lab import LabInfo
from venalab.result import LegResult, Result
from venalab.rules.reflux import PerforatorResult, SegmentResult

ReportStatus = Literal["draft", "signed", "amended"]
IN_SCORES_TABLE: tuple[str, ...] = (
    *("ceap.left", "ceap.right", "ceap.ambiguity."),
    *("vcss.left", "vcss.right"),
)
"""Findings the "Classification and scores" table already states (the CEAP class, advanced
class and what was not derivable; the rVCSS and its statement), left out of the notes so
that nothing is printed twice."""
NOT_EXAMINED = ": not examined."
REPORT_SIDES: tuple[Side, Side] = ("right", "left")
"""Right leg first, as the venous map and most vascular-lab reports read."""

__all__ = ["LabInfo", "ReportStatus", "SignOff", "build_clinician_view", "missing_data"]


class Communication(Frozen):
    """A documented communication of critical results (web app, issue 18)."""

    recipient: str
    method: str
    communicated_at: dt.datetime
    read_back: bool
    documented_by: str


class SignOff(Frozen):
    """Report status as the store knows it (draft until a physician signs). `signer` is
    the name printed as the signer ("Jane Doe, MD, RPVI": display name and credentials at
    the time of signing)."""

    status: ReportStatus = "draft"
    signer: str | None = None
    signed_at: dt.datetime | None = None
    version: int | None = None
    amendment_reason: str | None = None
    communications: tuple[Communication, ...] = ()


class Reference(Frozen):
    number: int
    id: str
    text: str
    status: str


class CitedItem(Frozen):
    text: str
    numbers: tuple[int, ...]
    unverified: bool = False
    derived: bool = False
    leg: str | None = None
    strength: str | None = None
    importance: int = 3


class LegBlock(Frozen):
    """One leg's impression lines (cited), or not examined."""

    side: Side
    label: str
    examined: bool
    lines: tuple[CitedItem, ...] = ()


class RecommendationGroup(Frozen):
    label: str
    items: tuple[CitedItem, ...]


class Cell(Frozen):
    """One leg's entry in a measurement row."""

    reflux_ms: str = ""
    finding: str = ""
    diameter_mm: str = ""
    css: str = ""


class MeasurementRow(Frozen):
    vein: str
    name: str
    cells: dict[str, Cell]


class ClinicianView(Frozen):
    lab: LabInfo
    signoff: SignOff
    exam: ExamDocument
    result: Result
    sides: tuple[Side, ...]
    """The examined legs in report order (right first)."""
    impression: tuple[LegBlock, ...]
    general: tuple[CitedItem, ...]
    conclusion: Conclusion | None
    recommendations: tuple[RecommendationGroup, ...]
    measurements: tuple[MeasurementRow, ...]
    notes: tuple[CitedItem, ...]
    references: tuple[Reference, ...]
    missing: tuple[str, ...]
    generated_at: dt.datetime


class _Numbering:
    """Numbers citation ids in order of first use."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}

    def cite(self, *evs: Evidence) -> tuple[int, ...]:
        numbers = []
        for ev in evs:
            for source in ev.sources or (ev.source,):
                if source not in self.order:
                    self.order[source] = len(self.order) + 1
                numbers.append(self.order[source])
        return tuple(dict.fromkeys(numbers))

    def references(self) -> tuple[Reference, ...]:
        return tuple(
            Reference(
                number=n, id=cid, text=CITATIONS[cid].short_text, status=CITATIONS[cid].status
            )
            for cid, n in self.order.items()
        )


def _cited(item: Finding | Recommendation, numbering: _Numbering, text: str) -> CitedItem:
    ev = item.evidence
    return CitedItem(
        text=text,
        numbers=numbering.cite(ev),
        unverified=ev.unverified,
        derived=ev.level == "D",
        leg=item.leg,
        strength=item.strength if isinstance(item, Recommendation) else None,
        importance=item.importance if isinstance(item, Finding) else 3,
    )


def _cited_line(line: ImpressionLine, numbering: _Numbering) -> CitedItem:
    return CitedItem(
        text=line.text,
        numbers=numbering.cite(*line.evidence),
        unverified=any(e.unverified for e in line.evidence),
        derived=bool(line.evidence) and all(e.level == "D" for e in line.evidence),
        importance=line.importance,
    )


def _recommendation_groups(
    recs: tuple[Recommendation, ...], numbering: _Numbering
) -> tuple[RecommendationGroup, ...]:
    """Recommendations under their side (Right leg, Left leg, Both legs, then the patient's
    work-up), each group in the engine's order."""
    order = [SIDE_LABEL[("right",)], SIDE_LABEL[("left",)], SIDE_LABEL[("left", "right")]]
    groups: dict[str, list[CitedItem]] = {}
    for rec in recs:
        label = side_label(rec.sides) or "Patient"
        groups.setdefault(label, []).append(_cited(rec, numbering, unsided_text(rec)))
    return tuple(
        RecommendationGroup(label=label, items=tuple(groups[label]))
        for label in [*order, "Patient"]
        if label in groups
    )


# --- measurements: both legs side by side -------------------------------------------------

_SUPERFICIAL_ORDER = ("SFJ", "GSVa", "GSVb", "AASV", "PAGSV", "SPJ", "SSV", "NSV")
_DEEP_ORDER = (  # proximal to distal
    *("IVC", "CIV", "EIV", "IIV", "PELV", "CFV", "DFV", "FV", "POPV"),
    *("TPT", "PTV", "ATV", "PRV", "GAV", "SOV"),
)
_ROW_ORDER = {v: i for i, v in enumerate((*_DEEP_ORDER, *_SUPERFICIAL_ORDER, "TPV", "CPV"))}
_SITE_ORDER = {None: 0, "proximal": 1, "mid": 2, "distal": 3}


def _thrombus_text(s: SegmentResult) -> str:
    t = s.thrombus
    if t is None:
        return "chronic obstruction" if s.obstruction else ""
    parts: list[str] = [t.age or "age not stated"]
    if t.occlusive is not None:
        parts.append("occlusive" if t.occlusive else "non-occlusive")
    if t.length_cm is not None:
        parts.append(f"{t.length_cm:g} cm")
    if t.distance_to_junction_cm is not None:
        parts.append(f"{t.distance_to_junction_cm:g} cm from junction")
    text = "thrombus: " + ", ".join(parts)
    return text + ("; chronic obstruction" if s.obstruction else "")


_COMPRESS = {
    "full": "compressible",
    "partial": "partially compressible",
    "none": "non-compressible",
}


def _reflux_text(s: SegmentResult) -> str:
    if s.reflux == "present":
        text = f"REFLUX ({s.comparison} {s.threshold_ms:g})"
    elif s.reflux == "absent" and s.threshold_ms is not None:
        text = f"no reflux ({s.comparison} {s.threshold_ms:g})"
    else:
        text = segment_reading(s)
    return text + (" *" if s.criteria_disagreement else "")


def _segment_cell(s: SegmentResult) -> Cell:
    if s.measured_ms is None and s.thrombus is None and not s.obstruction:
        finding = segment_reading(s)  # "compressible, reflux not measured", ...
    else:
        parts = [_thrombus_text(s)]
        if s.compressibility:
            parts.append(_COMPRESS[s.compressibility])
        parts.append(_reflux_text(s) if s.measured_ms is not None else "reflux not measured")
        finding = "; ".join(p for p in parts if p)
    if s.thrombus is not None:
        css = "thrombus"
    elif s.reflux == "boundary":
        css = "boundary"
    else:
        css = "abnormal" if s.abnormal else ("" if s.examined else "muted")
    return Cell(
        reflux_ms="" if s.measured_ms is None else f"{s.measured_ms:g}",
        finding=finding,
        diameter_mm="" if s.diameter_mm is None else f"{s.diameter_mm:g}",
        css=css,
    )


def _perforator_cell(p: PerforatorResult) -> Cell:
    if p.pathologic:
        text, css = "PATHOLOGIC perforator", "abnormal"
    elif p.incompetent:
        text, css = "incompetent, not pathologic", "boundary"
    elif p.incompetent is False:
        text, css = "competent", ""
    else:
        text, css = "outward flow not measured", "muted"
    if p.beneath_ulcer:
        text += "; beneath ulcer"
    return Cell(
        reflux_ms="" if p.measured_ms is None else f"{p.measured_ms:g}",
        finding=text,
        diameter_mm="" if p.diameter_mm is None else f"{p.diameter_mm:g}",
        css=css,
    )


def _entries(lr: LegResult) -> list[tuple[tuple[str, str | None, str | None], str, Cell]]:
    perforators = iter(lr.perforators)
    out = []
    for s in lr.segments:
        cell = _perforator_cell(next(perforators)) if s.system == "perforator" else None
        out.append(((s.vein, s.site, s.label), s.name, cell or _segment_cell(s)))
    return out


def measurement_rows(result: Result, sides: tuple[Side, ...]) -> tuple[MeasurementRow, ...]:
    """One row per (vein, site, label), legs side by side; an entry recorded twice in one
    leg gets a row of its own. Deep veins proximal to distal, then junctions and superficial
    veins, then perforators."""
    rows: list[tuple[tuple[str, str | None, str | None], str, dict[str, Cell]]] = []
    for side in sides:
        lr = result.leg(side)
        if lr is None:
            continue
        for key, name, cell in _entries(lr):
            row = next((r for r in rows if r[0] == key and side not in r[2]), None)
            if row is None:
                rows.append((key, name, {side: cell}))
            else:
                row[2][side] = cell
    rows.sort(key=lambda r: (_ROW_ORDER.get(r[0][0], 99), _SITE_ORDER.get(r[0][1], 4)))

    def vein(key: tuple[str, str | None, str | None]) -> str:
        v, site, label = key
        return v + (f" {site}" if site else "") + (f" ({label})" if label else "")

    return tuple(MeasurementRow(vein=vein(k), name=name, cells=cells) for k, name, cells in rows)


# --- missing data --------------------------------------------------------------------------


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
        lr = result.leg(side)
        if leg.clinical.symptomatic is None and lr is not None and lr.ceap is not None:
            out.append(f"{side.capitalize()} leg: symptoms not recorded (CEAP S/A undetermined).")
    for side in SIDES:
        if exam.leg(side) is None:
            out.append(f"{side.capitalize()} leg{NOT_EXAMINED}")
    return tuple(out)


def build_clinician_view(
    exam: ExamDocument,
    result: Result,
    signoff: SignOff | None = None,
    lab: LabInfo | None = None,
    now: dt.datetime | None = None,
) -> ClinicianView:
    numbering = _Numbering()
    impression = build_impression(result)
    blocks = tuple(
        LegBlock(
            side=leg.side,
            label=leg.label,
            examined=leg.examined,
            lines=tuple(_cited_line(x, numbering) for x in leg.lines),
        )
        for leg in impression.legs
    )
    general = tuple(_cited_line(x, numbering) for x in impression.general)
    recommendations = _recommendation_groups(result.recommendations, numbering)
    notes = tuple(
        _cited(f, numbering, f.text)
        for f in result.findings
        if f.importance >= 4 and not f.id.startswith(IN_SCORES_TABLE)
    )
    sides = tuple(side for side in REPORT_SIDES if result.leg(side) is not None)
    return ClinicianView(
        lab=lab or LabInfo(),
        signoff=signoff or SignOff(),
        exam=exam,
        result=result,
        sides=sides,
        impression=blocks,
        general=general,
        conclusion=exam.conclusion,
        recommendations=recommendations,
        measurements=measurement_rows(result, sides),
        notes=notes,
        references=numbering.references(),
        # a leg not examined is said in the impression already
        missing=tuple(m for m in missing_data(exam, result) if not m.endswith(NOT_EXAMINED)),
        generated_at=now or dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
