"""`venalab import ...` and `venalab export ...`: DICOM SR and FHIR R4 (loaded on first use)."""

from __future__ import annotations

import typer

from venalab.cli.fhir import fhir_export_cmd, fhir_import_cmd
from venalab.cli.sr import export_sr_cmd, import_sr_cmd

import_app = typer.Typer(help="Import exams from DICOM SR or FHIR R4.", no_args_is_help=True)
export_app = typer.Typer(help="Export exams to DICOM SR or FHIR R4.", no_args_is_help=True)
import_app.command("sr")(import_sr_cmd)
export_app.command("sr")(export_sr_cmd)
import_app.command("fhir")(fhir_import_cmd)
export_app.command("fhir")(fhir_export_cmd)


@import_app.callback()
def _import_group() -> None:
    """Import exams from DICOM SR or FHIR R4."""


@export_app.callback()
def _export_group() -> None:
    """Export exams to DICOM SR or FHIR R4."""
