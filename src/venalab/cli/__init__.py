"""venalab command line: one command per user task; `venalab X` is defined in `cli/X.py`.

    assess, report, serve, schema, criteria   cli/assess.py
    score                                      cli/score.py
    import / export (sr, fhir)                 cli/interop.py, cli/sr.py, cli/fhir.py
    dicom, hl7                                 cli/dicom.py, cli/hl7.py
    user, audit                                cli/user.py, cli/audit.py
    knowledge, ask                             cli/knowledge.py
    cohort, synth                              cli/cohort.py

Exit status: 0 success, 2 invalid input (every problem listed with its JSON path; nothing
written; cli/_errors.py), 1 unexpected failure.
"""

from __future__ import annotations

import importlib
from typing import ClassVar

import typer
from typer import _click as click  # typer 0.29 vendors its own click
from typer.core import TyperGroup

from venalab.cli.assess import assess_cmd, criteria_app, report_cmd, schema_cmd, serve_cmd
from venalab.cli.score import score_app


class LazyGroup(TyperGroup):
    """Command groups whose modules load only when used, so `venalab assess` starts fast
    (the web, storage, DICOM and cohort stacks take seconds to import)."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "user": ("venalab.cli.user", "user_app"),
        "audit": ("venalab.cli.audit", "audit_app"),
        "import": ("venalab.cli.interop", "import_app"),
        "export": ("venalab.cli.interop", "export_app"),
        "dicom": ("venalab.cli.dicom", "dicom_app"),
        "hl7": ("venalab.cli.hl7", "hl7_app"),
        "knowledge": ("venalab.cli.knowledge", "knowledge_app"),
        "ask": ("venalab.cli.knowledge", "ask_command"),
        "cohort": ("venalab.cli.cohort", "cohort_app"),
        "synth": ("venalab.cli.cohort", "synth_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self.lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attr = self.lazy[cmd_name]
            target = getattr(importlib.import_module(module), attr)
            if not isinstance(target, typer.Typer):  # a single command function
                single = typer.Typer()
                single.command()(target)
                target = single
            command = typer.main.get_command(target)
            command.name = cmd_name
            return command
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=LazyGroup,
    help="venalab: lower-limb venous duplex interpretation with cited evidence.\n\n"
    "Supports clinicians; it is not a substitute for clinical judgement.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("assess")(assess_cmd)
app.command("report")(report_cmd)
app.command("serve")(serve_cmd)
app.command("schema")(schema_cmd)
app.add_typer(criteria_app, name="criteria")
app.add_typer(score_app, name="score")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
