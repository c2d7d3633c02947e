"""Questions about a measured value are answered by the engine, never by a second rule.

"Is 600 ms of reflux in the great saphenous vein abnormal?" -> vein GSVa, 600 ms -> a small
exam document -> `venalab.engine.assess` -> the segment (or perforator) verdict with its
evidence: rule, threshold, comparison, measured value, source, criteria set, and every
built-in criteria set's verdict where they disagree (the 350 vs 500 ms perforator question).
This module only reads the question and the engine's result; the cut-offs live in the
criteria data files the engine uses.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from venalab.anatomy import VEINS
from venalab.criteria import CRITERIA, get_criteria
from venalab.engine import assess
from venalab.evidence import Evidence, Frozen
from venalab.exam import parse_exam_obj
from venalab.result import EngineOptions

_DURATION = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(ms|msec|millisec(?:ond)?s?|s|sec|secs|seconds?)\b", re.I
)
_DIAMETER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(mm|millimet(?:er|re)s?)\b", re.I)

# Phrases naming a vein, most specific first; matched on whole words, case-insensitive.
# A vein named without its segment takes the default segment and says so in a note.
_VEIN_PHRASES: tuple[tuple[str, str], ...] = (
    (r"saphen[o-]*femoral junction|sfj", "SFJ"),
    (r"saphen[o-]*popliteal junction|spj", "SPJ"),
    (r"anterior accessory (?:great )?saphenous(?: vein)?|aa?gsv|aasv", "AASV"),
    (r"posterior accessory (?:great )?saphenous(?: vein)?|pagsv", "PAGSV"),
    (r"gsvb|(?:great|greater|long) saphenous(?: vein)? below(?: the)? knee", "GSVb"),
    (r"gsva|(?:great|greater|long) saphenous(?: vein)?|gsv|lsv", "GSVa"),
    (r"(?:small|short|lesser) saphenous(?: vein)?|ssv", "SSV"),
    (r"common femoral(?: vein)?|cfv", "CFV"),
    (r"deep femoral(?: vein)?|profunda(?: femoris)?(?: vein)?|dfv", "DFV"),
    (r"(?:superficial )?femoral vein|sfv|fv", "FV"),
    (r"popliteal(?: vein)?|popv", "POPV"),
    (r"tibioperoneal trunk|tpt", "TPT"),
    (r"posterior tibial(?: veins?)?|ptv", "PTV"),
    (r"anterior tibial(?: veins?)?|atv", "ATV"),
    (r"peroneal(?: veins?)?|fibular(?: veins?)?|prv", "PRV"),
    (r"gastrocnemi(?:us|al)(?: veins?)?|gav", "GAV"),
    (r"sole(?:al|us)(?: veins?)?|sov", "SOV"),
    (r"thigh perforat(?:or|ing)(?: veins?)?|tpv", "TPV"),
    (r"(?:calf )?perforat(?:or|ors|ing veins?)|cpv|ipv", "CPV"),
    (r"non-?saphenous(?: veins?)?|nsv", "NSV"),
)
_VEIN_RE = [(re.compile(rf"\b(?:{p})\b", re.I), code) for p, code in _VEIN_PHRASES]
_DEFAULT_SEGMENT_NOTE = {
    "GSVa": "the great saphenous vein was named without a segment; the above-knee segment "
    "(GSVa) was used - the cut-off is the same for the whole trunk",
    "CPV": "a perforator was named without a level; a calf perforator (CPV) was used - thigh "
    "and calf perforators share the rule",
}
_ULCER_BENEATH = re.compile(
    r"\b(beneath|under|underneath|below|near|next to)\b[^.?!]{0,20}\bulcer", re.I
)
_HEALED = re.compile(r"\bhealed\b", re.I)
_CRITERIA_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"labropoulos|2003|research criteri", re.I), "labropoulos-2003"),
    (re.compile(r"\b2011\b", re.I), "svs-avf-2011"),
)

Verdict = Literal["reflux", "no reflux", "boundary", "pathologic", "not pathologic"]


class CriteriaView(Frozen):
    """How one built-in criteria set judges the same measurement."""

    criteria: str
    abnormal: bool | None
    threshold_ms: float | None
    comparison: str | None


class MeasurementVerdict(Frozen):
    vein: str
    vein_name: str
    measured_ms: float
    diameter_mm: float | None = None
    is_perforator: bool
    verdict: Verdict
    abnormal: bool | None
    statement: str  # clinician wording
    plain_statement: str  # patient wording (grade <= 8)
    evidence: Evidence  # the deciding evidence object of the engine
    checks: tuple[Evidence, ...] = ()  # perforator: duration, diameter, location checks
    other_criteria: tuple[CriteriaView, ...] = ()  # only when the built-in sets disagree


class MeasurementQuestion(Frozen):
    """What was read from the question: (vein, duration, diameter) and context."""

    measurements: tuple[tuple[str, float, float | None], ...]
    beneath_ulcer: bool
    healed_ulcer: bool
    criteria: str | None
    notes: tuple[str, ...]


class MeasurementAnswer(Frozen):
    question: MeasurementQuestion
    criteria_id: str
    criteria_title: str
    verdicts: tuple[MeasurementVerdict, ...]
    exam: dict[str, Any]  # the exam document given to the engine


def _to_ms(value: float, unit: str) -> float:
    return value if unit.lower().startswith("m") else value * 1000.0


def parse_measurement(question: str) -> MeasurementQuestion | None:
    """The measurement a question asks about, or None when it does not ask about a value."""
    if re.match(r"\s*why\b", question, re.I):
        return None  # "why is 1000 ms used in the femoral vein" asks for a rationale
    durations = [
        (m.start(), _to_ms(float(m.group(1)), m.group(2))) for m in _DURATION.finditer(question)
    ]
    if not durations:
        return None
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for rx, code in _VEIN_RE:
        for m in rx.finditer(question):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), code))
    if not found:
        return None
    found.sort()
    veins = [code for _, code in found]
    diameters = [float(m.group(1)) for m in _DIAMETER.finditer(question)]
    notes = [_DEFAULT_SEGMENT_NOTE[c] for c in dict.fromkeys(veins) if c in _DEFAULT_SEGMENT_NOTE]
    values = [ms for _, ms in durations]
    if len(values) == len(veins):
        pairs = list(zip(veins, values, strict=True))
    elif len(values) == 1:
        pairs = [(v, values[0]) for v in dict.fromkeys(veins)]
    else:
        pairs = list(zip(veins, values, strict=False))
        notes.append("more values than veins (or the reverse): values were paired in order")
    measurements = []
    for vein, ms in pairs:
        diameter = diameters[0] if diameters and VEINS[vein].is_perforator else None
        measurements.append((vein, ms, diameter))
    criteria = next((cid for rx, cid in _CRITERIA_HINTS if rx.search(question)), None)
    beneath = bool(_ULCER_BENEATH.search(question))
    return MeasurementQuestion(
        measurements=tuple(measurements),
        beneath_ulcer=beneath,
        healed_ulcer=beneath and bool(_HEALED.search(question)),
        criteria=criteria,
        notes=tuple(notes),
    )


def _exam_for(q: MeasurementQuestion) -> dict[str, Any]:
    segments: list[dict[str, Any]] = []
    for vein, ms, diameter in q.measurements:
        seg: dict[str, Any] = {"vein": vein, "reflux_ms": ms}
        if diameter is not None:
            seg["diameter_mm"] = diameter
        if VEINS[vein].is_perforator and q.beneath_ulcer:
            seg["beneath_ulcer"] = True
        segments.append(seg)
    signs = ["ulcer-healed" if q.healed_ulcer else "ulcer-active"] if q.beneath_ulcer else []
    return {
        "format": "venous-exam/1",
        "patient": {"id": "question", "sex": "unknown", "age_years": 50},
        "exam": {
            "date": date.today().isoformat(),
            "purpose": "insufficiency",
            "position": "standing",
            "indication": "Synthetic exam built from a question to `venalab ask`; patient "
            "fields are placeholders that the reflux rules do not use.",
        },
        "legs": {"left": {"clinical": {"signs": signs}, "segments": segments}},
    }


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:g}"


def _limit_words(comparison: str | None, threshold: float | None) -> str:
    """'500 ms or more' / 'more than 500 ms' (patient wording)."""
    if comparison == ">=":
        return f"{_fmt(threshold)} ms or more"
    return f"more than {_fmt(threshold)} ms"


def _op_words(comparison: str | None) -> str:
    return {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}.get(
        comparison or "", comparison or ""
    )


def answer_measurement(q: MeasurementQuestion) -> MeasurementAnswer:
    """Run the engine on the question's measurement and report its verdicts with evidence."""
    cs = get_criteria(q.criteria)
    exam_doc = _exam_for(q)
    result = assess(parse_exam_obj(exam_doc), cs, EngineOptions(criteria=cs.id))
    leg = result.legs.left
    assert leg is not None  # the exam has a left leg
    verdicts: list[MeasurementVerdict] = []
    perforators = iter(leg.perforators)
    for seg in leg.segments:
        vein = VEINS[seg.vein]
        ms = seg.measured_ms if seg.measured_ms is not None else 0.0
        others = tuple(
            CriteriaView(
                criteria=v.criteria,
                abnormal=v.abnormal,
                threshold_ms=v.threshold_ms,
                comparison=v.comparison,
            )
            for v in seg.criteria_disagreement
        )
        if vein.is_perforator:
            p = next(perforators)
            checks = tuple(c.evidence for c in p.checks)
            unmet = [c.criterion for c in p.checks if c.met is False]
            unknown = [c.criterion for c in p.checks if c.met is None]
            verdict: Verdict = "pathologic" if p.pathologic else "not pathologic"
            dur = p.checks[0].evidence
            text = (
                f"{vein.name} with outward flow {_fmt(ms)} ms: "
                f"{'pathologic' if p.pathologic else 'not pathologic'} under {cs.title} "
                f"(duration {_op_words(dur.comparison)} {_fmt(dur.threshold)} ms"
            )
            for c in p.checks[1:]:
                if c.criterion == "diameter":
                    text += f", diameter {_op_words(c.evidence.comparison)} {_fmt(c.evidence.threshold)} mm"
                elif c.criterion == "location":
                    text += ", beneath a healed or open ulcer in a C5-C6 limb"
            text += ")."
            if unmet:
                text += f" Not met: {', '.join(unmet)}."
            if unknown:
                text += f" Not stated in the question: {', '.join(unknown)}."
            abnormal_duration = p.checks[0].met
            limit = _limit_words(dur.comparison, dur.threshold)
            if abnormal_duration:
                plain = (
                    f"The outward flow of {_fmt(ms)} ms in this connecting vein counts as "
                    f"leaking by the limit used here ({limit})."
                )
                if not p.pathologic:
                    plain += (
                        " Doctors only treat such a vein when it is also wide enough, and in "
                        "some cases near a leg sore."
                    )
            else:
                plain = (
                    f"The outward flow of {_fmt(ms)} ms in this connecting vein is below the "
                    f"limit used here. Flow counts as leaking at {limit}."
                )
            verdicts.append(
                MeasurementVerdict(
                    vein=seg.vein,
                    vein_name=vein.name,
                    measured_ms=ms,
                    diameter_mm=p.diameter_mm,
                    is_perforator=True,
                    verdict=verdict,
                    abnormal=p.pathologic,
                    statement=text,
                    plain_statement=plain,
                    evidence=p.evidence,
                    checks=checks,
                    other_criteria=others,
                )
            )
            continue
        ev = seg.evidence
        v: Verdict = {"present": "reflux", "absent": "no reflux", "boundary": "boundary"}.get(
            seg.reflux, "no reflux"
        )  # type: ignore[assignment]
        if seg.reflux == "boundary":
            text = (
                f"{vein.name}: {_fmt(ms)} ms is exactly at the cut-off of {_fmt(seg.threshold_ms)} ms; "
                f"under the '{seg.comparison}' comparison of {cs.title} it "
                f"{'counts' if seg.abnormal else 'does not count'} as reflux."
            )
            plain = (
                f"{_fmt(ms)} ms is exactly at the limit of {_fmt(seg.threshold_ms)} ms for this vein. "
                f"By the rule used here it {'counts' if seg.abnormal else 'does not count'} as reflux."
            )
        else:
            text = (
                f"{vein.name}: {_fmt(ms)} ms {'is' if seg.abnormal else 'is not'} reflux under "
                f"{cs.title} (cut-off {_op_words(seg.comparison)} {_fmt(seg.threshold_ms)} ms)."
            )
            plain = (
                f"For this vein, backward flow counts as reflux when it lasts "
                f"{_op_words(seg.comparison)} {_fmt(seg.threshold_ms)} ms. "
                f"So {_fmt(ms)} ms {'counts as reflux, which means the valves leak' if seg.abnormal else 'is in the normal range'}."
            )
        verdicts.append(
            MeasurementVerdict(
                vein=seg.vein,
                vein_name=vein.name,
                measured_ms=ms,
                is_perforator=False,
                verdict=v,
                abnormal=seg.abnormal,
                statement=text,
                plain_statement=plain,
                evidence=ev,
                other_criteria=others,
            )
        )
    return MeasurementAnswer(
        question=q,
        criteria_id=cs.id,
        criteria_title=cs.title,
        verdicts=tuple(verdicts),
        exam=exam_doc,
    )


def criteria_titles() -> dict[str, str]:
    return {cid: cs.title for cid, cs in CRITERIA.items()}
