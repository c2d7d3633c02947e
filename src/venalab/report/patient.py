"""The plain-language patient letter, built from the result document.

Every sentence comes from `patient_phrases.toml`; which sentences appear is decided by what
the engine concluded (classification, patterns, recommendations), never re-judged here.
Readability is measured with textstat 0.7.8 (Flesch-Kincaid grade; the bound is 8).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import textstat

from venalab.assembly import side_label
from venalab.datafiles import read_toml
from venalab.evidence import Frozen
from venalab.exam import SIDES, ExamDocument
from venalab.report.view import missing_data
from venalab.result import LegResult, Result

READABILITY_MAX_GRADE = 8.0

# Recommendation ids (rules/pathways) -> the "what usually comes next" phrase they map to.
# Order matters: the first matching fragment wins.
_NEXT_BY_RECOMMENDATION: tuple[tuple[str, str], ...] = (
    ("ehit.III", "anticoagulation"),
    ("ehit.IV", "anticoagulation"),
    ("ehit.II.", "serial_imaging"),
    ("serial-imaging", "serial_imaging"),
    ("surveillance", "serial_imaging"),
    ("svt", "svt"),
    ("anticoag", "anticoagulation"),
    ("perforator", "perforator"),
    ("ablation", "ablation"),
    ("ulcer", "ulcer"),
    ("compression", "compression"),
    ("calcinosis", "labs"),
)


class Section(Frozen):
    key: str
    heading: str
    paragraphs: tuple[str, ...]
    urgent: bool = False


class PatientLetter(Frozen):
    sections: tuple[Section, ...]
    text: str
    flesch_kincaid_grade: float
    flesch_reading_ease: float


@cache
def phrases() -> dict[str, Any]:
    return read_toml(files("venalab.report").joinpath("patient_phrases.toml"))


def readability(text: str) -> tuple[float, float]:
    """(Flesch-Kincaid grade, Flesch reading ease) of a text."""
    return float(textstat.flesch_kincaid_grade(text)), float(textstat.flesch_reading_ease(text))


def _side_findings(side: str, leg: LegResult) -> list[str]:
    p = phrases()["found"]
    veins = phrases()["veins"]
    out: list[str] = []
    t = leg.thrombosis
    if t.classification != "none":
        key = "clot_old" if t.chronic_only else f"clot_{t.classification.replace('-', '_')}"
        out.append(p[key].format(side=side))
    if t.superficial:
        out.append(p["clot_superficial"].format(side=side))
    trunks = [veins[trunk] for trunk in leg.reflux_patterns if trunk in veins]
    if trunks:
        joined = trunks[0] if len(trunks) == 1 else ", ".join(trunks[:-1]) + " and " + trunks[-1]
        out.append(p["reflux"].format(side=side, veins=joined))
    if any(perf.pathologic for perf in leg.perforators):
        out.append(p["perforator"].format(side=side))
    if any(s.reflux == "boundary" for s in leg.segments):
        out.append(p["boundary"].format(side=side))
    if t.non_compressible_without_thrombus:
        out.append(p["unclear"].format(side=side))
    out += _treated_findings(side, leg)
    if leg.imaging is not None:
        if leg.imaging.soft_tissue_calcification:
            out.append(p["calcification"].format(side=side))
        if leg.imaging.stasis_periostitis_suggested:
            out.append(p["periostitis"].format(side=side))
    if not out:
        out.append(p["nothing" if _reflux_measured(leg) else "no_clot"].format(side=side))
    if not _reflux_measured(leg) and not leg.treated:
        out.append(p["valves_not_checked"].format(side=side))
    return out


def _reflux_measured(leg: LegResult) -> bool:
    """Whether any valve of the leg was tested (a reflux time recorded): the letter never
    says "no leaky valves" about a leg whose valves were not tested."""
    return any(s.measured_ms is not None for s in leg.segments)


def _treated_findings(side: str, leg: LegResult) -> list[str]:
    p = phrases()["found"]
    statuses = {t.status for t in leg.treated}
    out = []
    if "occluded" in statuses:
        out.append(p["treated"].format(side=side))
    if statuses & {"partially-recanalised", "fully-recanalised"}:
        out.append(p["treated_open"].format(side=side))
    if "absent" in statuses:
        out.append(p["treated_removed"].format(side=side))
    graded = [e for e in leg.ehit if e.ehit_class is not None or e.decision == "undetermined"]
    if graded:
        deep = any(e.ehit_class != "I" for e in graded)
        out.append(p["ehit_deep" if deep else "ehit"].format(side=side))
    return out


def _compared(result: Result) -> Section | None:
    """Plain words for the serial comparison (the engine's course and changes)."""
    cmp = result.comparison
    if cmp is None:
        return None
    ph = phrases()["compared"]
    out = [ph["intro"].format(date=cmp.prior_date.strftime("%d %B %Y"))]
    for side, lc in cmp.legs.items():
        if lc.course not in ("none",):
            key = lc.course.replace("-", "_")
            out.append(ph[key].format(side=side))
        statuses = {(c.kind, c.status) for c in lc.changes}
        for kind, status, key in (
            ("reflux", "new", "reflux_new"),
            ("reflux", "resolved", "reflux_resolved"),
            ("treatment", "recanalised", "treated_open"),
        ):
            if (kind, status) in statuses:
                out.append(ph[key].format(side=side))
    if cmp.unchanged:
        out.append(ph["unchanged"])
    return Section(key="compared", heading=ph["heading"], paragraphs=tuple(out))


def _next_steps(result: Result) -> list[tuple[str, str | None]]:
    """(phrase key, side label) of "what usually comes next", in the engine's order: each
    recommendation maps to a phrase, said once per side it applies to ("Right leg", "Both
    legs"; None for a patient-level item). A phrase given for each leg separately is said
    once, for both legs."""
    sides: dict[str, set[str]] = {}
    for rec in result.recommendations:
        key = next((k for fragment, k in _NEXT_BY_RECOMMENDATION if fragment in rec.id), None)
        if key is not None:
            sides.setdefault(key, set()).update(rec.sides or ("patient",))
    out: list[tuple[str, str | None]] = []
    for key, on in sides.items():
        legs = tuple(s for s in SIDES if s in on)
        out.append((key, side_label(legs) if legs and "patient" not in on else None))
    return out


def _urgent(exam: ExamDocument, clot: bool, reflux: bool) -> Section:
    """When to get help, for what was found: a clot (deep, superficial, or after treatment)
    -> the signs of a clot moving to the lungs and of a growing clot; an ulcer -> the signs
    of infection; varicose veins -> what to do if one bleeds; otherwise the signs of a new
    clot."""
    urgent = phrases()["urgent"]
    has_ulcer = any(
        s.startswith("ulcer") for _, leg in exam.legs.items() for s in leg.clinical.signs
    )
    lines = [urgent["chest_clot"], urgent["leg_clot"]] if clot else [urgent["leg_new"]]
    if has_ulcer:
        lines.append(urgent["ulcer"])
    if reflux:
        lines.append(urgent["bleeding"])
    return Section(key="urgent", heading=urgent["heading"], paragraphs=tuple(lines), urgent=True)


def patient_letter(exam: ExamDocument, result: Result) -> PatientLetter:
    ph = phrases()
    legs = [(side, leg) for side in ("left", "right") if (leg := result.leg(side)) is not None]
    legs_text = "legs" if len(legs) == 2 else f"{legs[0][0]} leg"
    purpose = exam.exam.purpose if exam.exam.purpose in ("thrombosis", "insufficiency") else "other"
    sections = [
        Section(
            key="checked",
            heading=ph["checked"]["heading"],
            paragraphs=(
                ph["checked"]["intro"].format(
                    date=exam.exam.date.strftime("%d %B %Y"), legs=legs_text
                ),
                ph["checked"][purpose or "other"],
            ),
        ),
        Section(
            key="found",
            heading=ph["found"]["heading"],
            paragraphs=tuple(
                sentence for side, leg in legs for sentence in _side_findings(side, leg)
            ),
        ),
    ]

    compared = _compared(result)
    if compared is not None:
        sections.append(compared)

    any_reflux = any(leg.reflux_patterns for _, leg in legs)
    any_dvt = any(
        (leg.thrombosis.classification != "none" and not leg.thrombosis.chronic_only)
        or any(e.ehit_class in ("II", "III", "IV") for e in leg.ehit)
        for _, leg in legs
    )
    any_svt = any(leg.thrombosis.superficial for _, leg in legs)
    meaning = ph["meaning"]
    means = [
        meaning[k]
        for k, present in (
            ("clot", any_dvt),
            ("clot_superficial", any_svt),
            ("reflux", any_reflux),
            ("calcinosis", result.calcinosis is not None),
        )
        if present
    ] or [meaning["normal"]]
    sections.append(Section(key="meaning", heading=meaning["heading"], paragraphs=tuple(means)))

    nxt = ph["next"]
    sections.append(
        Section(
            key="next",
            heading=nxt["heading"],
            paragraphs=tuple(
                [f"{label}: {nxt[k]}" if label else nxt[k] for k, label in _next_steps(result)]
                + [nxt["default"]]
            ),
        )
    )

    sections.append(_urgent(exam, any_dvt or any_svt, any_reflux))

    note = ph["note"]
    notes = [note["disclaimer"]]
    if missing_data(exam, result):
        notes.append(note["missing"])
    sections.append(Section(key="note", heading=note["heading"], paragraphs=tuple(notes)))

    text = "\n\n".join(p for s in sections for p in s.paragraphs)
    grade, ease = readability(text)
    return PatientLetter(
        sections=tuple(sections), text=text, flesch_kincaid_grade=grade, flesch_reading_ease=ease
    )
