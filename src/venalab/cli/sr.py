"""`venalab import sr` and `venalab export sr`: DICOM SR (TID 5100 vascular ultrasound).

    venalab import sr FILE [--local-codes MAP.json] [--side left|right]
                           [--plain-gsv by-site|thigh|calf|skip] [--strict] [-o exam.json]
                           [--patient-id ID] [--age YEARS | --birth-date D] [--exam-date D]
    venalab export sr EXAM -o out.dcm [--signed-by NAME] [--organization ORG] [--criteria ID]

Exit status: 0 success, 2 invalid input (a damaged or unusable file, a bad map, an invalid
exam; every problem listed, nothing written), 1 unexpected failure. The import prints the
exam JSON (or writes it with -o) and reports on stderr what it did not import and which
conventions it applied (sr_import module docstring).

Mounted by cli/interop.py: `import_app.command("sr")(import_sr_cmd)` and
`export_app.command("sr")(export_sr_cmd)`.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from venalab.cli._errors import fail_invalid
from venalab.criteria import CRITERIA, DEFAULT_CRITERIA_ID, get_criteria
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import load_exam
from venalab.interop.sr_codes import read_local_codes
from venalab.interop.sr_export import export_sr
from venalab.interop.sr_import import SrImport, import_sr
from venalab.private_files import write_private
from venalab.result import EngineOptions

# soft_wrap: long reasons stay on one line (greppable in logs).
err = Console(stderr=True, soft_wrap=True)


class SideOption(StrEnum):
    left = "left"
    right = "right"


class PlainGsvOption(StrEnum):
    by_site = "by-site"
    thigh = "thigh"
    calf = "calf"
    skip = "skip"


# The importer's messages name what to choose, not how (the web page has no flags); the
# command line adds its own flag for each.
_CLI_HINTS = (
    ("choose the leg", "--side left|right"),
    ("local-code map", "--local-codes MAP.json"),
    ("plain-GSV policy", "--plain-gsv thigh|calf"),
    ("patient.id", "--patient-id ID"),
    ("patient.age_years", "--age YEARS (or --birth-date YYYY-MM-DD)"),
    ("exam.date", "--exam-date YYYY-MM-DD"),
)


def _hints(texts: list[str]) -> None:
    joined = " ".join(texts)
    flags = [flag for words, flag in _CLI_HINTS if words in joined]
    if flags:
        err.print(f"hint: {'; '.join(flags)}", highlight=False, markup=False)


def _fail(source: str, error: InvalidInput) -> NoReturn:
    _hints([f"{p.path} {p.message}" for p in error.problems])
    fail_invalid(source, error, whole="(file)", note="nothing written")


def _report(name: str, result: SrImport) -> None:
    legs = ", ".join(f"{side} {len(leg.segments)}" for side, leg in result.exam.legs.items())
    err.print(f"{name}: imported segments: {legs}", highlight=False, markup=False)
    if result.unmapped:
        err.print(f"not imported ({len(result.unmapped)}):", style="bold yellow")
        for item in result.unmapped:
            err.print(f"  {item.path}: {item.reason}", highlight=False, markup=False)
    if result.decisions:
        err.print(f"decisions ({len(result.decisions)}):", style="bold")
        for line in result.decisions:
            err.print(f"  {line}", highlight=False, markup=False)
    _hints([u.reason for u in result.unmapped])


def import_sr_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="DICOM SR file (TID 5100).")],
    local_codes: Annotated[
        Path | None,
        typer.Option(
            "--local-codes",
            metavar="MAP.json",
            help='Private codes of your scanner: {"SCHEME:CODE": "reflux_ms", ...}.',
        ),
    ] = None,
    side: Annotated[
        SideOption | None,
        typer.Option(help="Leg for sections that state no laterality (else they are skipped)."),
    ] = None,
    plain_gsv: Annotated[
        PlainGsvOption,
        typer.Option(
            help="Great saphenous vein without thigh/calf: by-site (proximal->GSVa, "
            "distal->GSVb, others reported), thigh, calf, or skip."
        ),
    ] = PlainGsvOption.by_site,
    strict: Annotated[
        bool, typer.Option(help="Fail (exit 2, nothing written) if anything is not imported.")
    ] = False,
    patient_id: Annotated[
        str | None, typer.Option(help="Patient id, when the file has none.")
    ] = None,
    age: Annotated[
        int | None,
        typer.Option(min=0, max=130, help="Patient age in years, when the file has no age."),
    ] = None,
    birth_date: Annotated[
        str | None, typer.Option(help="Birth date YYYY-MM-DD, when the file has no age.")
    ] = None,
    exam_date: Annotated[
        str | None, typer.Option(help="Exam date YYYY-MM-DD, when the file has none.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the exam JSON here.")
    ] = None,
) -> None:
    """Import a DICOM SR vascular ultrasound report (TID 5100) as an exam document."""
    extra: dict[str, object] | None = None
    if local_codes is not None:
        try:
            extra = read_local_codes(local_codes)
        except InvalidInput as e:
            _fail(str(local_codes), e)
    try:
        result = import_sr(
            file,
            extra,
            side=side.value if side is not None else None,
            plain_gsv=plain_gsv.value,
            patient={
                "id": patient_id,
                "age_years": age,
                "birth_date": birth_date,
                "date": exam_date,
            },
        )
    except InvalidInput as e:
        _fail(str(file), e)
    _report(file.name, result)
    if result.exam_or_none is None:
        _fail(str(file), InvalidInput(list(result.missing), "DICOM SR file"))
    if strict and result.unmapped:
        err.print(
            f"[bold red]--strict[/]: {len(result.unmapped)} item(s) not imported; nothing written"
        )
        raise typer.Exit(2)
    text = result.exam.to_json(indent=2) + "\n"
    if output is not None:
        write_private(output, text)
        err.print(f"wrote {output}", highlight=False)
    else:
        sys.stdout.write(text)


def export_sr_cmd(
    exam_file: Annotated[Path, typer.Argument(metavar="EXAM", help="Exam document (.json/.yaml).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="DICOM SR file to write.")],
    signed_by: Annotated[
        str | None,
        typer.Option(help="Physician who signed the exam: the SR is marked VERIFIED by them."),
    ] = None,
    organization: Annotated[
        str, typer.Option(help="Verifying organization (with --signed-by).")
    ] = "venalab",
    criteria: Annotated[
        str, typer.Option("--criteria", "-c", help=f"Criteria set id ({', '.join(CRITERIA)}).")
    ] = DEFAULT_CRITERIA_ID,
) -> None:
    """Export an exam and its interpretation as a DICOM Comprehensive SR (TID 5100)."""
    try:
        cs = get_criteria(criteria)
    except InvalidInput as e:
        _fail("--criteria", e)
    if not exam_file.is_file():
        err.print(f"[bold red]{exam_file}[/]: no such file; nothing written", highlight=False)
        raise typer.Exit(2)
    try:
        exam = load_exam(exam_file)
        result = assess(exam, cs, EngineOptions(criteria=cs.id))
        export_sr(exam, result, output, signed_by=signed_by, organization=organization)
    except InvalidInput as e:
        _fail(str(exam_file), e)
    segments = sum(len(leg.segments) for _, leg in exam.legs.items())
    state = f"VERIFIED by {signed_by}" if signed_by else "UNVERIFIED (no --signed-by)"
    err.print(
        f"wrote {output} (Comprehensive SR, TID 5100, {segments} segment(s), {state})",
        highlight=False,
        markup=False,
    )
