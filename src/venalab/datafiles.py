"""Access to the versioned data files shipped in `venalab/data` (read-only, validated by their loaders)."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from venalab.errors import InvalidInput, Problem


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
