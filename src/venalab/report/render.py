"""Render reports: clinician HTML/PDF and the plain-language patient version.

Python API (the CLI and the web app call these):
    render_clinician_html(exam, result, signoff=None, lab=None) -> str
    render_patient_html(exam, result, signoff=None, lab=None) -> str
    html_to_pdf(html) -> bytes                      (WeasyPrint, A4)
    render_report(exam, result, audience, fmt, ...) -> bytes
"""

from __future__ import annotations

import base64
import datetime as dt
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any, Literal

import jinja2

from venalab.exam import ExamDocument
from venalab.report.scores_table import score_rows
from venalab.report.venous_map import map_summary, render_venous_map
from venalab.report.view import LabInfo, SignOff, build_clinician_view
from venalab.result import Result
from venalab.rules.comparison import course_text
from venalab.rules.thrombosis import ThrombosisResult

Audience = Literal["clinician", "patient"]
Format = Literal["html", "pdf"]


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("venalab.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt=_fmt, thrombosis_text=_thrombosis_text, course_text=course_text)
    return env


@cache
def _css() -> str:
    return files("venalab.report").joinpath("templates", "report.css").read_text("utf-8")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _thrombosis_text(t: ThrombosisResult) -> str:
    label = t.label + (" in the segments examined" if t.classification == "none" else "")
    if t.veins_involved:
        label += f" ({', '.join(t.veins_involved)}; {', '.join(t.ages)})"
    if t.superficial:
        label += "; superficial vein thrombosis: " + ", ".join(s.vein for s in t.superficial)
    if t.post_treatment:
        label += "; thrombus after treatment (see Treated segments): " + ", ".join(
            s.vein for s in t.post_treatment
        )
    return label


def _criteria_text(result: Result) -> str:
    return result.criteria.summary or "custom criteria set."


def _age(exam: ExamDocument) -> str:
    p = exam.patient
    if p.age_years is not None:
        return f"{p.age_years} years"
    assert p.birth_date is not None
    years = (exam.exam.date - p.birth_date).days // 365
    return f"born {p.birth_date} ({years} years)"


def _legs_examined(exam: ExamDocument) -> str:
    sides = [s for s, _ in exam.legs.items()]
    return "both lower limbs" if len(sides) == 2 else f"the {sides[0]} lower limb"


def _status_line(signoff: SignOff) -> str:
    if signoff.status == "draft":
        return "DRAFT - not signed"
    who = f" by {signoff.signer}" if signoff.signer else ""
    when = f" {signoff.signed_at:%Y-%m-%d}" if signoff.signed_at else ""
    return f"{signoff.status.upper()}{who}{when}"


def _map_width_mm(result: Result) -> int:
    """Print width of the venous map: narrower for one leg, so a one-leg report keeps its
    conclusion, measurements and map to two pages (the drawing shows both legs)."""
    return 150 if result.legs.left and result.legs.right else 135


def _map_image(result: Result) -> str:
    """The venous map as an <img> of the same SVG (for the PDF). Inline, every element of the
    drawing went through the page's CSS cascade and box layout; as an image WeasyPrint only
    draws it: about 30% less CPU per PDF (benchmarks/bench_reports.py)."""
    svg = base64.b64encode(render_venous_map(result).encode("utf-8")).decode("ascii")
    alt = escape(map_summary(result), quote=True)
    return f'<img class="venous-map" alt="{alt}" src="data:image/svg+xml;base64,{svg}">'


def render_clinician_html(
    exam: ExamDocument,
    result: Result,
    signoff: SignOff | None = None,
    lab: LabInfo | None = None,
    now: dt.datetime | None = None,
    *,
    map_as_image: bool = False,
) -> str:
    """The clinician report; `map_as_image`: the venous map as an <img> (what the PDF uses)
    instead of inline SVG (what a browser shows, with its elements addressable)."""
    view = build_clinician_view(exam, result, signoff, lab, now)
    context: dict[str, Any] = {
        "css": _css(),
        "view": view,
        "lab": view.lab,
        "signoff": view.signoff,
        "status_line": _status_line(view.signoff),
        "exam": exam,
        "result": result,
        "age": _age(exam),
        "legs_examined": _legs_examined(exam),
        "criteria_text": _criteria_text(result),
        "legs": tuple((side, result.leg(side)) for side in view.sides),
        "venous_map": _map_image(result) if map_as_image else render_venous_map(result),
        "map_width_mm": _map_width_mm(result),
        "scores_rows": score_rows(result),
        "references": view.references,
        "missing": view.missing,
        "generated_at": view.generated_at,
    }
    return _env().get_template("clinician.html.j2").render(**context)


def render_patient_html(
    exam: ExamDocument,
    result: Result,
    signoff: SignOff | None = None,
    lab: LabInfo | None = None,
    now: dt.datetime | None = None,
) -> str:
    from venalab.report.patient import patient_letter

    letter = patient_letter(exam, result)
    return (
        _env()
        .get_template("patient.html.j2")
        .render(
            css=_css(),
            lab=lab or LabInfo(),
            exam=exam,
            letter=letter,
            signoff=signoff or SignOff(),
            status_line=_status_line(signoff or SignOff()),
            generated_at=now or dt.datetime.now(dt.UTC).replace(microsecond=0),
        )
    )


def html_to_pdf(html: str) -> bytes:
    """A4 PDF through WeasyPrint (page header and numbers come from the stylesheet)."""
    import weasyprint

    pdf: bytes = weasyprint.HTML(string=html).write_pdf()
    return pdf


def render_report(
    exam: ExamDocument,
    result: Result,
    audience: Audience = "clinician",
    fmt: Format = "html",
    signoff: SignOff | None = None,
    lab: LabInfo | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    if audience == "clinician":
        page = render_clinician_html(exam, result, signoff, lab, now, map_as_image=fmt == "pdf")
    else:
        page = render_patient_html(exam, result, signoff, lab, now)
    return html_to_pdf(page) if fmt == "pdf" else page.encode("utf-8")
