"""Readable clinician summary of a result for a terminal (tables per leg, verdicts, patterns).

A view of the result document only: nothing here decides anything clinical.
"""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from venalab.exam import ExamDocument
from venalab.result import LegResult, Result
from venalab.rules.calcinosis import calcification_caveat
from venalab.rules.comparison import course_text
from venalab.rules.reflux import boundary_decision

_VERDICT_STYLE = {
    "present": "bold red",
    "boundary": "bold yellow",
    "absent": "green",
    "not-assessed": "dim",
}


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _segments_table(leg: LegResult) -> Table:
    table = Table(title="Segments", title_justify="left", expand=False, pad_edge=False)
    for col in (
        "Vein",
        "Site",
        "Reflux ms",
        "Criterion",
        "Verdict",
        "Diam mm",
        "Compress.",
        "Thrombus",
        "Source",
    ):
        table.add_column(col)
    for s in leg.segments:
        verdict = Text(s.reflux, style=_VERDICT_STYLE[s.reflux])
        if s.reflux == "boundary":
            verdict.append(f" ({boundary_decision(s.abnormal)})")
        if s.criteria_disagreement:
            verdict.append(" *", style="yellow")
        t = s.thrombus
        thrombus = (
            "-"
            if t is None
            else ", ".join(
                x
                for x in (
                    t.age,
                    "occlusive"
                    if t.occlusive
                    else ("non-occlusive" if t.occlusive is False else None),
                    f"{t.length_cm:g} cm" if t.length_cm is not None else None,
                )
                if x
            )
        )
        criterion = "-" if s.threshold_ms is None else f"{s.comparison} {s.threshold_ms:g}"
        table.add_row(
            s.vein + (f" ({s.label})" if s.label else ""),
            s.site or "",
            _num(s.measured_ms),
            criterion,
            verdict,
            _num(s.diameter_mm),
            s.compressibility or "-",
            Text(thrombus, style="bold red" if t else ""),
            s.evidence.source,
        )
    return table


def _perforator_table(leg: LegResult) -> Table:
    table = Table(title="Perforators", title_justify="left", pad_edge=False)
    for col in ("Vein", "Outward ms", "Diam mm", "Beneath ulcer", "Pathologic", "Why"):
        table.add_column(col)
    for p in leg.perforators:
        table.add_row(
            p.vein + (f" ({p.label})" if p.label else ""),
            _num(p.measured_ms),
            _num(p.diameter_mm),
            "-" if p.beneath_ulcer is None else str(p.beneath_ulcer).lower(),
            Text("yes", style="bold red") if p.pathologic else Text("no"),
            p.evidence.note or "",
        )
    return table


def _critical_panel(result: Result) -> list[Panel]:
    if not result.critical:
        return []
    critical = Text()
    for c in result.critical:
        critical.append(f"{c.text}", style="bold red")
        critical.append(f"  ({c.label}; {c.evidence.rule})\n", style="dim")
    return [Panel(critical, title="CRITICAL RESULTS: communicate", title_align="left")]


def _comparison_text(result: Result) -> list[Text]:
    cmp = result.comparison
    if cmp is None:
        return []
    lines = [f"\nCompared with {cmp.prior_date} ({cmp.interval_days} days earlier):"]
    for side, lc in cmp.legs.items():
        serial = f"; serial imaging result {lc.serial_result}" if lc.serial_result else ""
        lines.append(f"  {side}: {course_text(lc.course)}{serial}")
        lines += [f"    {c.text}" for c in lc.changes if c.changed]
    if cmp.unchanged:
        lines.append("  no change")
    return [Text("\n".join(lines))]


def summary_renderable(result: Result, exam: ExamDocument) -> Group:
    pt, ex = exam.patient, exam.exam
    age = f"{pt.age_years} y" if pt.age_years is not None else f"born {pt.birth_date}"
    header = Text.assemble(
        (f"Patient {pt.id}", "bold"),
        f"  {pt.sex}, {age}   ",
        ("Exam ", "bold"),
        f"{ex.date} {ex.purpose or ''}  position: {ex.position or 'not stated'}",
        f"  provocation: {', '.join(ex.provocation) or 'not stated'}\n",
        ("Criteria ", "bold"),
        f"{result.criteria.id} v{result.criteria.version} ({', '.join(result.criteria.sources)})",
    )
    parts: list[Table | Text | Panel] = [header, *_critical_panel(result)]
    for side in ("left", "right"):
        leg = result.leg(side)
        if leg is None:
            continue
        parts.append(Text(f"\n{side.upper()} LEG", style="bold underline"))
        if leg.segments:
            parts.append(_segments_table(leg))
        if leg.perforators:
            parts.append(_perforator_table(leg))
        patterns = ", ".join(f"{k} {v}" for k, v in leg.pattern_labels().items()) or "no reflux"
        parts.append(Text(f"Reflux patterns: {patterns}"))
        t = leg.thrombosis
        parts.append(
            Text(
                f"Thrombosis: {t.classification}"
                + (f" ({', '.join(t.veins_involved)})" if t.veins_involved else ""),
                style="bold red" if t.classification != "none" else "",
            )
        )
        for e in leg.ehit:
            parts.append(Text(f"After ablation: {e.label} at the {e.junction}", style="bold"))
        if leg.pathway.pathway != "none":
            parts.append(Text(f"Pathway: {leg.pathway.pathway} -> {leg.pathway.decision}"))
        scores = [
            f"CEAP {leg.ceap.basic}  (advanced {leg.ceap.advanced})"
            if leg.ceap
            else "CEAP not assessed"
        ]
        if leg.vcss is not None:
            v = leg.vcss
            scores.append(
                f"rVCSS {v.total}" + ("" if v.complete else f" to {v.upper_bound} (incomplete)")
            )
        if leg.villalta is not None:
            scores.append(f"Villalta {leg.villalta.total} ({leg.villalta.category or 'undecided'})")
        parts.append(Text("  |  ".join(scores)))
    if result.wells_dvt is not None:
        w = result.wells_dvt
        parts.append(Text(f"\nWells DVT ({w.version}): {w.statement}"))
    parts += _comparison_text(result)
    if result.calcinosis is not None:
        c = result.calcinosis
        product = f"Ca x P {c.ca_x_p.value:g} mg²/dL²; " if c.ca_x_p is not None else ""
        caveat = calcification_caveat(c)
        parts.append(
            Text(
                f"\nCalcinosis workup: {product}subtype {c.subtype}"
                + (f" ({caveat})" if caveat else "")
            )
        )
    findings = Text()
    for i, f in enumerate(result.findings, 1):
        ev = f.evidence
        flag = " [unverified]" if ev.unverified else (" [convention]" if ev.level == "D" else "")
        findings.append(f"{i}. {f.text}", style="bold" if f.importance <= 2 else "")
        findings.append(f"  ({ev.rule}; {', '.join(ev.sources)}{flag})\n", style="dim")
    if not result.findings:
        findings.append("No abnormal finding in the segments examined.\n")
    parts.append(Panel(findings, title="Findings (most important first)", title_align="left"))
    if result.recommendations:
        recs = Text()
        for i, r in enumerate(result.recommendations, 1):
            ev = r.evidence
            flag = (
                " [unverified]" if ev.unverified else (" [convention]" if ev.level == "D" else "")
            )
            strength = f" ({r.strength})" if r.strength else ""
            recs.append(f"{i}. {r.text}{strength}")
            recs.append(f"  ({', '.join(ev.sources)}{flag})\n", style="dim")
        parts.append(Panel(recs, title="Recommendations", title_align="left"))
    if any(
        s.criteria_disagreement
        for leg in (result.legs.left, result.legs.right)
        if leg
        for s in leg.segments
    ):
        parts.append(
            Text("* criteria sets disagree on this measurement; see findings.", style="yellow")
        )
    return Group(*parts)
