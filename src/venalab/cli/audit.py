"""`venalab audit verify`: check that the stored history was not changed behind venalab's back.

    venalab audit verify [--anchor SEQ:HASH] [--json]

Exit status: 0 the audit chain and every signed version check out; 1 something is broken
(the first broken audit row, and each signed version that fails, are named); 2 invalid
option. The database is DATABASE_URL, else SQLite at var/venalab.db. It only reads.

The chain proves that rows were not changed, removed or inserted between the first entry and
the head. Someone able to rewrite the whole database could recompute every hash after a
change; to catch that, keep the printed `head` (seq and hash) somewhere else now and then and
pass it back later as `--anchor`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer
from rich.console import Console

from venalab.store.db import database_url, make_engine, session_factory, upgrade
from venalab.store.integrity import Report, verify

audit_app = typer.Typer(help="Check the audit log and signed exams for tampering.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_ANCHOR = re.compile(r"^(\d{1,18}):([0-9a-f]{64})$")


@audit_app.callback()
def _group() -> None:
    """Check the audit log and signed exams for tampering."""


@audit_app.command("verify")
def verify_cmd(
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH of an entry noted earlier (from a previous verify)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the audit log's hash chain and the hashes of signed exam versions."""
    parsed: tuple[int, str] | None = None
    if anchor is not None:
        m = _ANCHOR.match(anchor.strip().lower())
        if m is None:
            err.print("--anchor: expected SEQ:HASH, e.g. 1234:<64 hex digits>", markup=False)
            raise typer.Exit(2)
        parsed = (int(m.group(1)), m.group(2))
    engine = make_engine(database_url())
    try:
        upgrade(engine)
        with session_factory(engine)() as s:
            report = verify(s, anchor=parsed)
    finally:
        engine.dispose()
    _print(report, as_json)
    raise typer.Exit(0 if report.ok else 1)


def _print(report: Report, as_json: bool) -> None:
    if as_json:
        doc = {
            "ok": report.ok,
            "entries": report.entries,
            "signed_versions": report.signed_versions,
            "head": {"seq": report.head_seq, "hash": report.head_hash},
            "breaks": [{"where": b.where, "problem": b.problem} for b in report.breaks],
        }
        print(json.dumps(doc, indent=2))
        return
    out.print(
        f"audit log: {report.entries} entries checked; signed exam versions: "
        f"{report.signed_versions} checked",
        highlight=False,
    )
    out.print(f"head: {report.head_seq}:{report.head_hash}", highlight=False)
    if report.ok:
        out.print("OK: the chain is intact and every signed version matches its hash.")
        return
    for brk in report.breaks:
        err.print(f"BROKEN {brk}", markup=False, highlight=False)
