"""How every command prints invalid input: each problem on its own line as `path: message`
on stderr, then exit status 2 (nothing was written)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from venalab.errors import InvalidInput

# soft_wrap: long messages stay on one line, greppable in logs.
err = Console(stderr=True, soft_wrap=True)


def print_invalid(source: str, error: InvalidInput, *, whole: str = "(document)") -> None:
    """`source: invalid WHAT, N problem(s):` then one line per problem (`whole` = no path)."""
    err.print(
        f"[bold red]{source}[/]: invalid {error.what}, {len(error.problems)} problem(s):",
        highlight=False,
    )
    for p in error.problems:
        err.print(f"  {p.path or whole}: {p.message}", highlight=False, markup=False)


def fail_invalid(
    source: str, error: InvalidInput, *, whole: str = "(document)", note: str | None = None
) -> NoReturn:
    print_invalid(source, error, whole=whole)
    if note:
        err.print(note, style="dim")
    raise typer.Exit(2)
