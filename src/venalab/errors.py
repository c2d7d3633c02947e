"""One error type for invalid input: a list of (JSON path, message) problems.

The CLI maps it to exit status 2, the API to 422 with the same list, a web form to
messages beside the fields (design.md, "small things").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input document, at a JSON path such as `legs.left.segments[2].vein`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(document)'}: {self.message}"


class InvalidInput(ValueError):
    """Raised when an input document (exam, criteria file, data file) is not acceptable."""

    def __init__(self, problems: Sequence[Problem], what: str = "exam document") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.what = what
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {what}: {len(self.problems)} problem(s)\n{lines}")

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"path": p.path, "message": p.message} for p in self.problems]


def format_path(loc: Iterable[int | str]) -> str:
    """Render a pydantic location tuple as a JSON path: ('legs','left','segments',2) -> legs.left.segments[2]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += part if not out else f".{part}"
    return out


def problems_from_validation(err: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into problems whose message says what is allowed."""
    problems: list[Problem] = []
    for e in err.errors(include_url=False):
        # Drop the union/function-validator tags pydantic inserts into locations.
        loc = [
            p
            for p in e["loc"]
            if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
        ]
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not part of venous-exam/1)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        problems.append(Problem(format_path(loc), msg.removeprefix("Value error, ")))
    return problems
