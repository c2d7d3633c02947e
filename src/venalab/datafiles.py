"""Access to the versioned data files shipped in `venalab/data` (read-only, validated by their loaders)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from venalab.crossfield import cross_field_problems, merge_problems
from venalab.errors import InvalidInput, Problem, problems_from_validation

M = TypeVar("M", bound=BaseModel)


class StrictData(BaseModel):
    """Base of data-file models: frozen, unknown keys refused, no type coercion."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def data_path(*parts: str) -> Traversable:
    node: Traversable = files("venalab").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return node


def read_toml(node: Traversable) -> dict[str, Any]:
    """Parse a TOML data file; a syntax error names the file and line."""
    try:
        return tomllib.loads(node.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(
            [Problem("", f"{node.name}: {err}")], what=f"data file {node.name}"
        ) from None


def validate_document(
    raw: object,
    model: type[M],
    what: str,
    checks: Callable[[M], list[Problem]] | None = None,
) -> M:
    """Validate a decoded data document against its model, strictly, then its cross-field
    `checks` (citation ids, bands, coverage).

    Through JSON, so strict mode accepts TOML arrays as tuples but never "500" for a number;
    every problem is reported with its path, under `what` (e.g. "criteria file x.toml").
    """
    try:
        doc = model.model_validate_json(json.dumps(raw))
    except ValidationError as err:
        problems = merge_problems(problems_from_validation(err), cross_field_problems(model, raw))
        raise InvalidInput(problems, what=what) from None
    problems = checks(doc) if checks else []
    if problems:
        raise InvalidInput(problems, what=what)
    return doc


def load_data_file(
    name: str, model: type[M], checks: Callable[[M], list[Problem]] | None = None
) -> M:
    """Read and validate the shipped data file `data/<name>` (TOML)."""
    return validate_document(read_toml(data_path(name)), model, f"data file {name}", checks)
