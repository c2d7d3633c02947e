"""`venalab export fhir` and `venalab import fhir`: the FHIR R4 Bundle on the command line.

    venalab export fhir EXAM [-o bundle.json] [--criteria ID]
    venalab import fhir BUNDLE [-o exam.json] [--local-codes MAP.json] [--plain-gsv by-site]

Exit status as for the rest of the CLI: 0 success, 2 invalid input (the problems listed with
their paths; nothing written). An import that leaves items unmapped still succeeds: every
unmapped item is printed to stderr with its path in the Bundle and the reason.

Mounting: cli/interop.py shares its `import` / `export` groups with DICOM SR, so it adds
the commands themselves:
    import_app.command("fhir")(fhir_import_cmd); export_app.command("fhir")(fhir_export_cmd)
(fhir_export_app / fhir_import_app below are the same commands as stand-alone groups.)
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from venalab.bounded import decode_json, read_limited, read_stream
from venalab.cli._errors import fail_invalid
from venalab.criteria import DEFAULT_CRITERIA_ID, get_criteria
from venalab.engine import assess
from venalab.errors import InvalidInput, Problem
from venalab.exam import load_exam, load_exam_stdin
from venalab.limits import LIMITS
from venalab.private_files import write_private
from venalab.result import EngineOptions

err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


class PlainGsv(StrEnum):
    by_site = "by-site"
    thigh = "thigh"
    calf = "calf"
    skip = "skip"


def _fail(source: str, error: InvalidInput) -> NoReturn:
    fail_invalid(source, error)


def _read_json(name: str, what: str) -> Any:
    """A JSON file ('-': stdin) within the input limits (venalab.limits: upload size)."""
    try:
        if name == "-":
            data = read_stream(sys.stdin.buffer, LIMITS.upload_bytes, what)
        else:
            data = read_limited(Path(name), LIMITS.upload_bytes, what)
        return decode_json(data, what, size_limit=LIMITS.upload_bytes, name=name)
    except InvalidInput as e:
        _fail(name, e)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_private(output, text)


def fhir_export_cmd(
    exam_file: Annotated[
        str, typer.Argument(metavar="EXAM", help="Exam document (.json/.yaml); '-' reads stdin.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Bundle here, not stdout.")
    ] = None,
    criteria: Annotated[
        str, typer.Option("--criteria", "-c", help="Criteria set id for the interpretation.")
    ] = DEFAULT_CRITERIA_ID,
) -> None:
    """Export an exam and its interpretation as a FHIR R4 Bundle (JSON)."""
    from venalab.interop.fhir_export import export_bundle

    try:
        cs = get_criteria(criteria)
    except InvalidInput as e:
        _fail("--criteria", e)
    try:
        if exam_file == "-":
            exam = load_exam_stdin()
        else:
            path = Path(exam_file)
            if not path.is_file():
                raise InvalidInput([Problem("", f"no such file {exam_file!r}")])
            exam = load_exam(path)
    except InvalidInput as e:
        _fail(exam_file, e)
    bundle = export_bundle(exam, assess(exam, cs, EngineOptions(criteria=cs.id)))
    _write(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", output)
    if output is not None:
        err.print(f"wrote {output} (FHIR R4 Bundle, {len(bundle['entry'])} resources)")


def fhir_import_cmd(
    bundle_file: Annotated[
        str, typer.Argument(metavar="BUNDLE", help="FHIR R4 Bundle (JSON); '-' reads stdin.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the exam here, not stdout.")
    ] = None,
    local_codes: Annotated[
        Path | None,
        typer.Option(
            "--local-codes",
            help='JSON map of another system\'s codes: {"system|code": "reflux_ms", ...} '
            "(targets reflux_ms, diameter_mm, peak_reflux_velocity_cm_s, position_cm).",
        ),
    ] = None,
    plain_gsv: Annotated[
        PlainGsv,
        typer.Option(
            help="Great saphenous vein without thigh/calf: by-site (proximal -> GSVa, "
            "distal -> GSVb), thigh, calf, or skip."
        ),
    ] = PlainGsv.by_site,
) -> None:
    """Import a FHIR R4 Bundle as an exam document; unmapped items are listed on stderr."""
    from venalab.interop.fhir_import import import_bundle

    bundle = _read_json(bundle_file, "FHIR bundle")
    codes: dict[str, str] = {}
    if local_codes is not None:
        loaded = _read_json(str(local_codes), "local code map")
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            _fail(
                "--local-codes",
                InvalidInput(
                    [Problem("", 'expected a JSON object {"system|code": "field", ...}')],
                    what="local code map",
                ),
            )
        codes = loaded
    try:
        result = import_bundle(bundle, local_codes=codes, plain_gsv=plain_gsv.value)
    except InvalidInput as e:
        _fail(bundle_file, e)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False, markup=False)
    for path, reason in result.unmapped:
        err.print(f"unmapped: {path}: {reason}", highlight=False, markup=False)
    if result.derived:
        err.print(
            f"{len(result.derived)} derived item(s) (interpretations, score totals, diagnoses) "
            "not imported: venalab recomputes them from the exam.",
            highlight=False,
        )
    _write(result.exam.to_json(indent=2) + "\n", output)
    if output is not None:
        err.print(f"wrote {output} ({len(result.unmapped)} unmapped item(s))", highlight=False)


fhir_export_app = typer.Typer(help="Export an exam to other standards.", no_args_is_help=True)
fhir_export_app.command("fhir")(fhir_export_cmd)
fhir_import_app = typer.Typer(help="Import an exam from other standards.", no_args_is_help=True)
fhir_import_app.command("fhir")(fhir_import_cmd)
