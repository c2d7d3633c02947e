"""`venalab assess`, `report`, `serve`, `schema` and `criteria`: the exam commands.

Exit status: 0 success, 2 invalid input (every problem listed with its JSON path; nothing
written), 1 unexpected failure.
"""

from __future__ import annotations

import io
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from venalab.cli._errors import fail_invalid, print_invalid
from venalab.criteria import CRITERIA, DEFAULT_CRITERIA_ID, CriteriaSet, get_criteria
from venalab.engine import assess
from venalab.errors import InvalidInput, Problem
from venalab.exam import ExamDocument, load_exam, load_exam_stdin
from venalab.private_files import write_private
from venalab.result import EngineOptions, Result
from venalab.textsummary import summary_renderable

criteria_app = typer.Typer(help="List and inspect the reflux criteria sets.", no_args_is_help=True)

# Wide enough for the segment tables when output goes to a pipe or a file.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


class OutputFormat(StrEnum):
    json = "json"
    text = "text"


class SchemaKind(StrEnum):
    exam = "exam"
    result = "result"


class DetailOption(StrEnum):
    full = "full"
    decisions = "decisions"


class TptOption(StrEnum):
    distal = "distal"
    proximal = "proximal"


def _read_exams(files: list[str]) -> list[tuple[str, ExamDocument]]:
    """Validate every input before anything is written; the first bad file stops the run."""
    exams: list[tuple[str, ExamDocument]] = []
    bad: list[tuple[str, InvalidInput]] = []
    for name in files:
        try:
            if name == "-":
                exams.append(("<stdin>", load_exam_stdin()))
            else:
                path = Path(name)
                if not path.is_file():
                    raise InvalidInput([], what=f"path: no such file {name!r}")
                exams.append((name, load_exam(path)))
        except InvalidInput as e:
            bad.append((name, e))
    if bad:
        for name, problem in bad[:-1]:
            print_invalid(name, problem)
        fail_invalid(*bad[-1])
    return exams


def _assess_with_prior(
    name: str,
    exam: ExamDocument,
    cs: CriteriaSet,
    options: EngineOptions,
    prior: ExamDocument | None,
) -> Result:
    try:
        return assess(exam, cs, options, prior=prior)
    except InvalidInput as e:  # the prior is of another patient, or not earlier
        fail_invalid(name, e)


def _decisions_json(
    exams: list[tuple[str, ExamDocument]],
    cs: CriteriaSet,
    options: EngineOptions,
    prior: ExamDocument | None,
) -> list[dict[str, object]]:
    """The lean documents (`--detail decisions`, venalab.decisions)."""
    docs: list[dict[str, object]] = []
    for name, ex in exams:
        try:
            docs.append(assess(ex, cs, options, prior, detail="decisions").to_dict())
        except InvalidInput as e:
            fail_invalid(name, e)
    return docs


def _write_json(doc: object, output: Path | None) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output:
        write_private(output, text)
    else:
        sys.stdout.write(text)


def assess_cmd(
    files: Annotated[
        list[str], typer.Argument(help="Exam documents (.json/.yaml); '-' reads stdin.")
    ],
    criteria: Annotated[
        str, typer.Option("--criteria", "-c", help=f"Criteria set id ({', '.join(CRITERIA)}).")
    ] = DEFAULT_CRITERIA_ID,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="json or text.")
    ] = OutputFormat.json,
    tibioperoneal_trunk: Annotated[
        TptOption,
        typer.Option(
            help="Count a tibioperoneal-trunk thrombus as distal (UTT16) or proximal (CACTUS)."
        ),
    ] = TptOption.distal,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    prior: Annotated[
        str | None,
        typer.Option(
            "--prior",
            metavar="PRIOR",
            help="An earlier exam of the same patient: the result adds the serial comparison "
            "(thrombus course, reflux and diameter changes) and the distal DVT follow-up.",
        ),
    ] = None,
    detail: Annotated[
        DetailOption,
        typer.Option(
            "--detail",
            help="full: the result document with evidence and texts; decisions: only the "
            "decisions with their rule ids (JSON, fast; README 'Result detail').",
        ),
    ] = DetailOption.full,
) -> None:
    """Interpret exam documents: reflux verdicts, patterns, perforators, thrombosis, with evidence."""
    try:
        cs = get_criteria(criteria)
    except InvalidInput as e:
        fail_invalid("--criteria", e)
    exams = _read_exams(files)
    before = _read_exams([prior])[0][1] if prior is not None else None
    options = EngineOptions(criteria=cs.id, tibioperoneal_trunk=tibioperoneal_trunk.value)
    if detail is DetailOption.decisions:
        if fmt is not OutputFormat.json:
            problem = Problem("--detail", "decisions are written as JSON only (--format json)")
            fail_invalid("--detail", InvalidInput([problem], what="option"))
        lean = _decisions_json(exams, cs, options, before)
        _write_json(lean[0] if len(lean) == 1 else lean, output)
        return
    results = [(ex, _assess_with_prior(name, ex, cs, options, before)) for name, ex in exams]
    if fmt is OutputFormat.json:
        docs = [json.loads(r.to_json()) for _, r in results]
        _write_json(docs[0] if len(docs) == 1 else docs, output)
        return
    buffer = io.StringIO()
    console = Console(file=buffer, width=120) if output else out
    for (name, _), (exam, result) in zip(exams, results, strict=True):
        console.rule(f"[bold]{name}")
        console.print(summary_renderable(result, exam))
    console.print(
        "[dim]Decision support for clinicians; not a substitute for clinical judgement.[/]"
    )
    if output:
        write_private(output, buffer.getvalue())


class Audience(StrEnum):
    clinician = "clinician"
    patient = "patient"


class ReportFormat(StrEnum):
    html = "html"
    pdf = "pdf"


def report_cmd(
    exam_file: Annotated[
        str, typer.Argument(metavar="EXAM", help="Exam document; '-' reads stdin.")
    ],
    audience: Annotated[Audience, typer.Option(help="clinician or patient.")] = Audience.clinician,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="html or pdf.")
    ] = ReportFormat.html,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path(
        "report.html"
    ),
    criteria: Annotated[
        str, typer.Option("--criteria", "-c", help="Criteria set id.")
    ] = DEFAULT_CRITERIA_ID,
    lab_name: Annotated[
        str | None,
        typer.Option(help="Laboratory name in the report header (overrides --lab's name)."),
    ] = None,
    lab_file: Annotated[
        Path | None,
        typer.Option(
            "--lab",
            metavar="LAB_TOML",
            help="The laboratory's identity: a TOML file with name, address, accreditation, "
            "report_title and logo (README, Reports). Default: $VENALAB_LAB_FILE if set.",
        ),
    ] = None,
    prior: Annotated[
        str | None,
        typer.Option(
            "--prior", metavar="PRIOR", help="An earlier exam of the same patient to compare with."
        ),
    ] = None,
) -> None:
    """Write the clinician report (with venous map) or the plain-language patient letter."""
    from pydantic import ValidationError

    from venalab.errors import problems_from_validation
    from venalab.report.lab import LabInfo, load_lab
    from venalab.report.render import render_report

    try:
        cs = get_criteria(criteria)
    except InvalidInput as e:
        fail_invalid("--criteria", e)
    ((name, exam),) = _read_exams([exam_file])
    before = _read_exams([prior])[0][1] if prior is not None else None
    result = _assess_with_prior(name, exam, cs, EngineOptions(criteria=cs.id), before)
    env_lab = os.environ.get("VENALAB_LAB_FILE")
    try:
        lab = load_lab(lab_file or (Path(env_lab) if env_lab else None))
    except InvalidInput as e:
        fail_invalid("--lab", e)
    if lab_name:
        try:
            lab = LabInfo.model_validate({**lab.model_dump(), "name": lab_name})
        except ValidationError as e:
            fail_invalid("--lab-name", InvalidInput(problems_from_validation(e), what="lab"))
    data = render_report(exam, result, audience.value, fmt.value, lab=lab)
    write_private(output, data)
    err.print(f"wrote {output} ({fmt.value}, {audience.value}, {len(data):,} bytes)")


def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    examples: Annotated[
        bool, typer.Option(help="Load the example exams into an empty database.")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (default: the number of CPU cores)."),
    ] = None,
    dicom_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Also run the DICOM SR receiver on this port (0: any free)."
        ),
    ] = None,
    hl7_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Also run the HL7 v2 order listener on this port and write the results of "
            "signed exams (0: any free port).",
        ),
    ] = None,
) -> None:
    """Start the web application (worksheet, stored exams, reports, API; /openapi.json), and
    with --dicom-port / --hl7-port the scanner and order listeners beside it (one Ctrl+C stops
    all).

    The database is DATABASE_URL, else the SQLite file var/venalab.db; its schema is migrated
    first. On first start an 'admin' account gets a one-time password, printed here once.
    """
    from venalab.web.server import serve

    try:
        serve(
            host,
            port,
            workers=workers,
            load_examples=examples,
            dicom_port=dicom_port,
            hl7_port=hl7_port,
            echo=lambda line: out.print(line, highlight=False),
        )
    except InvalidInput as e:  # a malformed or missing setting: say which, do not start
        fail_invalid("venalab serve", e)


def schema_cmd(kind: Annotated[SchemaKind, typer.Argument(help="exam or result")]) -> None:
    """Print the JSON Schema of the exam document or of the result document."""
    from venalab.exam import ExamDocument as Exam

    model = Exam if kind is SchemaKind.exam else Result
    schema = model.model_json_schema(
        mode="validation" if kind is SchemaKind.exam else "serialization"
    )
    schema["$id"] = (
        f"https://venalab.invalid/schema/{'venous-exam' if kind is SchemaKind.exam else 'venous-result'}-1.json"
    )
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")


@criteria_app.command("list")
def criteria_list() -> None:
    """The built-in criteria sets."""
    table = Table("id", "version", "default", "title", "sources")
    for cs in CRITERIA.values():
        table.add_row(
            cs.id, cs.version, "yes" if cs.default else "", cs.title, ", ".join(cs.sources)
        )
    out.print(table)


@criteria_app.command("show")
def criteria_show(
    criteria_id: Annotated[str, typer.Argument(metavar="ID", help="A criteria set id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the set as JSON.")] = False,
) -> None:
    """Thresholds, comparisons, perforator rule and citations of one set."""
    try:
        cs = get_criteria(criteria_id)
    except InvalidInput as e:
        fail_invalid("criteria", e)
    if as_json:
        sys.stdout.write(cs.model_dump_json(indent=2, by_alias=True) + "\n")
        return
    out.print(f"[bold]{cs.id}[/] v{cs.version}: {cs.title}\nsources: {', '.join(cs.sources)}")
    table = Table("vein group", "reflux if", "evidence", "sources", "note")
    for name, g in cs.groups.items():
        table.add_row(
            name,
            f"{g.comparison} {g.threshold_ms:g} ms",
            g.evidence,
            ", ".join(g.sources),
            g.note or "",
        )
    out.print(table)
    p, summary = cs.perforator, cs.describe()
    out.print(
        f"pathologic perforator: {summary.perforator} ({', '.join(p.sources)}, "
        f"evidence {p.evidence})"
    )
    out.print(summary.accessory_axial)
