"""Serial comparison: this exam against an earlier exam of the same patient (issue 18).

Per leg and segment entry (matched by vein, site and label): thrombus new / extended / stable /
regressed / resolved, recanalisation of a thrombus or of a treated vein, reflux new / resolved
/ persistent (both exams judged under the same criteria set), diameter larger / smaller.
Per leg: the course of the deep thrombus - extended into the popliteal vein or above (proximal
extension), extended within the distal veins, or not extended - with the terms of CHEST 2021
(STE21) statement 2, which the isolated distal DVT pathway reads when the prior exam lies
within the serial-imaging interval.

Limits that decide a change (diameter, thrombus length) and the interval are in
`data/comparison.toml`: venalab conventions [D], labelled so in the evidence. A segment
examined at one exam only is reported as not compared, never as new or resolved.
Pure: both exams in, a ComparisonResult out; evidence is built in `_evidence` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from pydantic import Field

from venalab.anatomy import VEINS
from venalab.citations import EvidenceLevel, check_ids
from venalab.criteria import CriteriaSet
from venalab.datafiles import StrictData, load_data_file, validate_document
from venalab.errors import Problem
from venalab.evidence import Comparison, Evidence, Finding, Frozen, Importance, compare, evidence
from venalab.exam import SIDES, ExamDocument, Leg, Segment, Side
from venalab.rules.ehit import classify_ehit, post_treatment_indices
from venalab.rules.reflux import assess_segment
from venalab.rules.thrombosis import ThrombosisResult, TptPolicy, classify_thrombosis

SerialResult = Literal["no-extension", "distal-extension", "proximal-extension"]
ChangeKind = Literal["thrombus", "recanalisation", "reflux", "diameter", "treatment"]
ThrombusCourse = Literal[
    "none", "new", "extended-proximal", "extended-distal", "stable", "regressed", "resolved"
]


class _Limit(StrictData):
    comparison: Literal[">", ">="]
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel


class DiameterLimit(_Limit):
    change_mm: Annotated[float, Field(gt=0, le=20)]


class LengthLimit(_Limit):
    change_cm: Annotated[float, Field(gt=0, le=50)]


class SerialLimit(StrictData):
    max_days: Annotated[int, Field(ge=1, le=365)]
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel


class ComparisonData(StrictData):
    schema_: Literal["venalab-comparison/1"] = Field(alias="schema")
    version: str
    diameter: DiameterLimit
    thrombus_length: LengthLimit
    serial_imaging: SerialLimit


def _problems(data: ComparisonData) -> list[Problem]:
    return [
        *check_ids(data.diameter.sources, "diameter.sources"),
        *check_ids(data.thrombus_length.sources, "thrombus_length.sources"),
        *check_ids(data.serial_imaging.sources, "serial_imaging.sources"),
    ]


def parse_comparison_data(raw: object, name: str = "comparison.toml") -> ComparisonData:
    return validate_document(raw, ComparisonData, f"data file {name}", _problems)


@cache
def _load() -> ComparisonData:
    return load_data_file("comparison.toml", ComparisonData, _problems)


COMPARISON: ComparisonData = _load()


class Change(Frozen):
    """One compared item of one segment entry."""

    vein: str
    site: str | None = None
    label: str | None = None
    kind: ChangeKind
    status: str
    """thrombus: new, extended, stable, regressed, resolved, not-reassessed, not-compared;
    recanalisation: partial, complete; reflux: new, resolved, persistent; diameter: larger,
    smaller, stable; treatment: recanalised, treated-since."""
    prior: str | None = None
    current: str | None = None
    text: str
    evidence: Evidence

    @property
    def changed(self) -> bool:
        return self.status not in ("stable", "persistent", "not-reassessed", "not-compared")


class LegComparison(Frozen):
    side: Side
    changes: tuple[Change, ...] = ()
    course: ThrombusCourse
    """Deep thrombus of the leg: none at either exam, new, extended into the popliteal vein or
    above, extended within the distal veins, stable, regressed or resolved."""
    serial_result: SerialResult | None = None
    """STE21 statement 2 result, when the prior exam had distal DVT within the interval."""
    serial_note: str | None = None
    not_compared: tuple[str, ...] = ()
    evidence: Evidence


class ComparisonResult(Frozen):
    prior_date: dt.date
    interval_days: int
    legs: dict[Side, LegComparison]
    legs_not_compared: tuple[Side, ...] = ()
    unchanged: bool
    evidence: Evidence

    def leg(self, side: Side) -> LegComparison | None:
        return self.legs.get(side)


def prior_problems(current: ExamDocument, prior: ExamDocument) -> list[Problem]:
    """A prior exam must be of the same patient and earlier; each problem names its field."""
    problems: list[Problem] = []
    if prior.patient.id != current.patient.id:
        problems.append(
            Problem(
                "prior.patient.id",
                f"the prior exam is of patient {prior.patient.id!r}, this exam of "
                f"{current.patient.id!r}: a comparison needs two exams of the same patient",
            )
        )
    if prior.exam.date >= current.exam.date:
        problems.append(
            Problem(
                "prior.exam.date",
                f"the prior exam ({prior.exam.date.isoformat()}) is not earlier than this exam "
                f"({current.exam.date.isoformat()}): give an exam from before this one",
            )
        )
    return problems


# --- evidence, built in one place ---------------------------------------------------------

EvidenceKind = ChangeKind | Literal["course", "serial", "leg"]
_SOURCES: dict[EvidenceKind, tuple[tuple[str, ...], EvidenceLevel]] = {
    "thrombus": (("VENALAB", "STE21"), "D"),
    "recanalisation": (("VENALAB", "SRU18"), "D"),
    "treatment": (("VENALAB", "KAB21"), "D"),
    "course": (("STE21", "VENALAB"), "D"),
    "serial": (("STE21", "VENALAB"), "D"),
    "leg": (("VENALAB",), "D"),
}


def _evidence(
    kind: EvidenceKind,
    note: str,
    *,
    sources: tuple[str, ...] | None = None,
    level: EvidenceLevel | None = None,
    criteria: str | None = None,
    threshold: float | None = None,
    measured: float | None = None,
    comparison: Comparison | None = None,
    unit: str | None = None,
) -> Evidence:
    default_sources, default_level = _SOURCES.get(kind, (("VENALAB",), "D"))
    return evidence(
        f"comparison.{kind}",
        list(sources or default_sources),
        level=level or default_level,
        criteria=criteria,
        threshold=threshold,
        measured=measured,
        comparison=comparison,
        unit=unit,
        note=note,
    )


# --- segment matching -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Pair:
    key: tuple[str, str | None, str | None]
    prior: Segment | None
    current: Segment | None

    @property
    def where(self) -> str:
        vein, site, label = self.key
        return vein + (f" {site}" if site else "") + (f" ({label})" if label else "")


def _pairs(prior: Leg, current: Leg) -> Iterator[_Pair]:
    """Entries matched by (vein, site, label), in order of appearance within each key."""
    keyed: dict[tuple[str, str | None, str | None], tuple[list[Segment], list[Segment]]] = {}
    for which, leg in ((0, prior), (1, current)):
        for s in leg.segments:
            keyed.setdefault((s.vein, s.site, s.label), ([], []))[which].append(s)
    for key, (before, now) in keyed.items():
        for i in range(max(len(before), len(now))):
            yield _Pair(
                key, before[i] if i < len(before) else None, now[i] if i < len(now) else None
            )


def _thrombus_text(seg: Segment) -> str:
    t = seg.thrombus
    if t is None:
        return "no thrombus"
    parts = [
        t.age or "age not stated",
        "occlusive" if t.occlusive else "non-occlusive" if t.occlusive is False else "",
    ]
    if t.length_cm is not None:
        parts.append(f"{t.length_cm:g} cm")
    if t.lumen_percent is not None:
        parts.append(f"{t.lumen_percent:g}% of the lumen")
    return "thrombus " + ", ".join(p for p in parts if p)


def _change(
    pair: _Pair,
    kind: ChangeKind,
    status: str,
    text: str,
    ev: Evidence,
    prior: str | None,
    current: str | None,
) -> Change:
    vein, site, label = pair.key
    return Change(
        vein=vein, site=site, label=label, kind=kind, status=status, prior=prior, current=current,
        text=f"{pair.where}: {text}", evidence=ev,
    )  # fmt: skip


def _thrombus_change(pair: _Pair) -> Change | None:
    p, c = pair.prior, pair.current
    before = p.thrombus if p else None
    now = c.thrombus if c else None
    if before is None and now is None:
        return None
    prior_text = _thrombus_text(p) if p else None
    current_text = _thrombus_text(c) if c else None
    if p is None:
        return _change(pair, "thrombus", "not-compared",
                       "thrombus now; this segment was not examined at the prior exam",
                       _evidence("thrombus", "Not examined at the prior exam: not called new."),
                       None, current_text)  # fmt: skip
    if c is None:
        return _change(pair, "thrombus", "not-reassessed",
                       "thrombus at the prior exam; this segment was not examined now",
                       _evidence("thrombus", "Not examined at this exam: not called resolved."),
                       prior_text, None)  # fmt: skip
    if before is None:
        return _change(pair, "thrombus", "new", "new thrombus",
                       _evidence("thrombus", "No thrombus at the prior exam, thrombus now."),
                       prior_text, current_text)  # fmt: skip
    if now is None:
        return _change(pair, "thrombus", "resolved", "thrombus resolved",
                       _evidence("thrombus", "Thrombus at the prior exam, none recorded now."),
                       prior_text, current_text)  # fmt: skip
    return _length_change(pair, prior_text, current_text)


def _length_change(pair: _Pair, prior_text: str | None, current_text: str | None) -> Change:
    assert pair.prior and pair.current and pair.prior.thrombus and pair.current.thrombus
    lim = COMPARISON.thrombus_length
    a, b = pair.prior.thrombus.length_cm, pair.current.thrombus.length_cm
    if a is None or b is None:
        return _change(pair, "thrombus", "stable", "thrombus at both exams (length not measured at both)",
                       _evidence("thrombus", "Thrombus at both exams; its length was not measured "
                                 "at both, so extension within the segment cannot be judged."),
                       prior_text, current_text)  # fmt: skip
    delta = round(b - a, 6)
    status = "stable"
    if compare(abs(delta), lim.comparison, lim.change_cm):
        status = "extended" if delta > 0 else "regressed"
    text = {"stable": "thrombus stable", "extended": "thrombus extended",
            "regressed": "thrombus regressed"}[status] + f" ({a:g} -> {b:g} cm)"  # fmt: skip
    ev = _evidence(
        "thrombus",
        f"Length {a:g} cm -> {b:g} cm (change {delta:+g} cm); a change of "
        f"{lim.comparison} {lim.change_cm:g} cm counts (venalab convention).",
        sources=("VENALAB", "STE21"),
        level=lim.level,
        threshold=lim.change_cm,
        measured=abs(delta),
        comparison=lim.comparison,
        unit="cm",
    )
    return _change(pair, "thrombus", status, text, ev, prior_text, current_text)


def _recanalisation(pair: _Pair) -> Change | None:
    p, c = pair.prior, pair.current
    if not (p and c and p.thrombus and c.thrombus):
        return None
    order = {"none": 0, "partial": 1, "full": 2}
    before, now = p.compressibility, c.compressibility
    opened = p.thrombus.occlusive is True and c.thrombus.occlusive is False
    compresses = before is not None and now is not None and order[now] > order[before]
    if not (opened or compresses):
        return None
    status = "complete" if now == "full" else "partial"
    what = []
    if opened:
        what.append("occlusive -> non-occlusive")
    if compresses:
        what.append(f"compressibility {before} -> {now}")
    return _change(pair, "recanalisation", status, f"{status} recanalisation ({'; '.join(what)})",
                   _evidence("recanalisation", "Thrombus at both exams: " + "; ".join(what) + "."),
                   _thrombus_text(p), _thrombus_text(c))  # fmt: skip


def _reflux_change(pair: _Pair, cs: CriteriaSet) -> Change | None:
    p, c = pair.prior, pair.current
    if not (p and c) or p.reflux_ms is None or c.reflux_ms is None:
        return None
    vein = VEINS[p.vein]
    before, now = assess_segment(p, vein, cs), assess_segment(c, vein, cs)
    if before.abnormal is None or now.abnormal is None or not (before.abnormal or now.abnormal):
        return None
    status = (
        "persistent" if before.abnormal and now.abnormal else "new" if now.abnormal else "resolved"
    )
    rule = now.evidence
    ev = _evidence(
        "reflux",
        f"{p.reflux_ms:g} ms -> {c.reflux_ms:g} ms, both judged under {cs.label} "
        f"({rule.comparison} {rule.threshold:g} ms).",
        sources=tuple(rule.sources),
        level=rule.level,
        criteria=cs.label,
        threshold=rule.threshold,
        measured=c.reflux_ms,
        comparison=rule.comparison,
        unit="ms",
    )
    text = {"new": "new reflux", "resolved": "reflux resolved", "persistent": "reflux persists"}[
        status
    ]
    return _change(pair, "reflux", status, f"{text} ({p.reflux_ms:g} -> {c.reflux_ms:g} ms)", ev,
                   f"{p.reflux_ms:g} ms", f"{c.reflux_ms:g} ms")  # fmt: skip


def _diameter_change(pair: _Pair) -> Change | None:
    p, c = pair.prior, pair.current
    if not (p and c) or p.diameter_mm is None or c.diameter_mm is None:
        return None
    lim = COMPARISON.diameter
    delta = round(c.diameter_mm - p.diameter_mm, 6)
    status = "stable"
    if compare(abs(delta), lim.comparison, lim.change_mm):
        status = "larger" if delta > 0 else "smaller"
    ev = _evidence(
        "diameter",
        f"Diameter {p.diameter_mm:g} mm -> {c.diameter_mm:g} mm (change {delta:+g} mm); a change of "
        f"{lim.comparison} {lim.change_mm:g} mm counts (venalab convention).",
        sources=lim.sources,
        level=lim.level,
        threshold=lim.change_mm,
        measured=abs(delta),
        comparison=lim.comparison,
        unit="mm",
    )
    text = {
        "stable": "diameter stable",
        "larger": "diameter larger",
        "smaller": "diameter smaller",
    }[status]
    return _change(pair, "diameter", status, f"{text} ({p.diameter_mm:g} -> {c.diameter_mm:g} mm)",
                   ev, f"{p.diameter_mm:g} mm", f"{c.diameter_mm:g} mm")  # fmt: skip


def _treatment_change(pair: _Pair) -> Change | None:
    p, c = pair.prior, pair.current
    now = c.treatment if c else None
    if now is None or p is None:
        return None
    before = p.treatment
    if before is None:
        return _change(pair, "treatment", "treated-since", f"treated since the prior exam ({now.method})",
                       _evidence("treatment", "No treatment recorded at the prior exam."),
                       None, now.method)  # fmt: skip
    opened = before.status == "occluded" and now.status in (
        "partially-recanalised",
        "fully-recanalised",
    )
    if not opened:
        return None
    return _change(pair, "treatment", "recanalised", f"treated vein recanalised ({before.status} -> {now.status})",
                   _evidence("treatment", f"Treated segment: {before.status} -> {now.status}."),
                   before.status, now.status)  # fmt: skip


def _segment_changes(pair: _Pair, cs: CriteriaSet) -> list[Change]:
    found = (
        _thrombus_change(pair),
        _recanalisation(pair),
        _reflux_change(pair, cs),
        _diameter_change(pair),
        _treatment_change(pair),
    )
    return [c for c in found if c is not None]


# --- leg level -----------------------------------------------------------------------------


def _thrombosis(leg: Leg, date: dt.date, side: Side, tpt: TptPolicy) -> ThrombosisResult:
    return classify_thrombosis(
        leg, tpt, post_treatment_indices(leg, date, classify_ehit(side, leg, date))
    )


def _active_deep(t: ThrombosisResult) -> dict[str, str]:
    return {d.vein: d.level for d in t.deep if d.age != "chronic"}


def _course(before: dict[str, str], now: dict[str, str], changes: list[Change]) -> ThrombusCourse:
    if not before and not now:
        return "none"
    if not before:
        return "new"
    if not now:
        return "resolved"
    added = set(now) - set(before)
    longer = any(
        c.kind == "thrombus" and c.status in ("extended", "new", "not-compared") and c.vein in now
        for c in changes
    )
    if "proximal" in now.values() and "proximal" not in before.values():
        return "extended-proximal"
    if added or longer:
        return "extended-distal" if "proximal" not in now.values() else "extended-proximal"
    if any(c.kind == "thrombus" and c.status in ("regressed", "resolved") for c in changes) or set(
        before
    ) - set(now):
        return "regressed"
    return "stable"


_COURSE_TEXT: dict[ThrombusCourse, str] = {
    "none": "no deep vein thrombus at either exam",
    "new": "new deep vein thrombus",
    "extended-proximal": "deep vein thrombus extended into the popliteal vein or above",
    "extended-distal": "deep vein thrombus extended within the distal (calf) veins",
    "stable": "deep vein thrombus stable",
    "regressed": "deep vein thrombus regressed",
    "resolved": "deep vein thrombus resolved",
}


def course_text(course: ThrombusCourse) -> str:
    return _COURSE_TEXT[course]


def _serial(
    before: dict[str, str], course: ThrombusCourse, interval: int
) -> tuple[SerialResult | None, str | None]:
    """STE21 statement 2 result when the prior exam had distal DVT (only) within the interval."""
    if not before or "proximal" in before.values():
        return None, None
    limit = COMPARISON.serial_imaging.max_days
    result: SerialResult = (
        "proximal-extension" if course == "extended-proximal"
        else "distal-extension" if course == "extended-distal"
        else "no-extension"
    )  # fmt: skip
    if interval > limit:
        return None, (
            f"The prior exam with distal DVT is {interval} days earlier, beyond the {limit}-day "
            "serial-imaging interval: the change is reported but not taken as a surveillance "
            f"result (it would read '{result}')."
        )
    return result, (
        f"The prior exam {interval} days earlier showed distal DVT: taken as an earlier scan of "
        f"serial imaging (interval <= {limit} days), the follow-up result is '{result}'."
    )


def _compare_leg(
    side: Side,
    prior: ExamDocument,
    current: ExamDocument,
    cs: CriteriaSet,
    tpt: TptPolicy,
    interval: int,
) -> LegComparison:
    before_leg, now_leg = prior.leg(side), current.leg(side)
    assert before_leg is not None and now_leg is not None
    pairs = list(_pairs(before_leg, now_leg))
    changes = [c for pair in pairs for c in _segment_changes(pair, cs)]
    before = _active_deep(_thrombosis(before_leg, prior.exam.date, side, tpt))
    now = _active_deep(_thrombosis(now_leg, current.exam.date, side, tpt))
    course = _course(before, now, changes)
    serial, serial_note = _serial(before, course, interval)
    not_compared = tuple(p.where for p in pairs if p.prior is None or p.current is None)
    note = (
        f"{_COURSE_TEXT[course].capitalize()} (prior deep thrombus: {', '.join(before) or 'none'}; "
        f"now: {', '.join(now) or 'none'})."
    )
    if serial_note:
        note += f" {serial_note}"
    return LegComparison(
        side=side,
        changes=tuple(changes),
        course=course,
        serial_result=serial,
        serial_note=serial_note,
        not_compared=not_compared,
        evidence=_evidence("serial" if serial else "course", note),
    )


def compare_exams(
    prior: ExamDocument, current: ExamDocument, cs: CriteriaSet, tpt: TptPolicy = "distal"
) -> ComparisonResult:
    """Compare `current` with an earlier exam of the same patient (check `prior_problems` first)."""
    interval = (current.exam.date - prior.exam.date).days
    legs = {
        side: _compare_leg(side, prior, current, cs, tpt, interval)
        for side in SIDES
        if prior.leg(side) is not None and current.leg(side) is not None
    }
    one_only = tuple(s for s in SIDES if (prior.leg(s) is None) != (current.leg(s) is None))
    unchanged = all(
        lc.course in ("none", "stable") and not any(c.changed for c in lc.changes)
        for lc in legs.values()
    )
    return ComparisonResult(
        prior_date=prior.exam.date,
        interval_days=interval,
        legs=legs,
        legs_not_compared=one_only,
        unchanged=unchanged,
        evidence=_evidence(
            "leg",
            f"Compared with the exam of {prior.exam.date.isoformat()} ({interval} days earlier)"
            + (f"; examined at one exam only: {', '.join(one_only)} leg" if one_only else "")
            + ("; no change." if unchanged else "."),
        ),
    )


_IMPORTANCE: dict[str, Importance] = {
    "extended-proximal": 1, "new": 2, "extended-distal": 2, "regressed": 3, "resolved": 3, "stable": 4,
}  # fmt: skip


def comparison_findings(result: ComparisonResult) -> list[Finding]:
    """Findings for the result document: one per leg course, one per changed item."""
    out: list[Finding] = []
    date = result.prior_date.isoformat()
    for side, lc in result.legs.items():
        name = side.capitalize()
        if lc.course != "none":
            out.append(
                Finding(
                    id=f"comparison.course.{side}",
                    leg=side,
                    importance=_IMPORTANCE[lc.course],
                    text=f"{name} leg, compared with {date}: {_COURSE_TEXT[lc.course]}."
                    + (f" Serial imaging result: {lc.serial_result}." if lc.serial_result else ""),
                    evidence=lc.evidence,
                )
            )
        for i, c in enumerate(lc.changes):
            if c.changed:
                out.append(
                    Finding(
                        id=f"comparison.{c.kind}.{side}.{c.vein}.{i}",
                        leg=side,
                        importance=2
                        if c.kind == "thrombus" and c.status in ("new", "extended")
                        else 3,
                        text=f"{name} {c.text} (since {date}).",
                        evidence=c.evidence,
                    )
                )
    if result.unchanged:
        out.append(
            Finding(
                id="comparison.unchanged",
                importance=4,
                text=f"No change since the exam of {date}.",
                evidence=result.evidence,
            )
        )
    return out
