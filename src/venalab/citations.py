"""The source register (citation ids of shared/reference/clinical.md section 0.2)."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput, Problem, problems_from_validation

EvidenceLevel = Literal["V", "V2", "S", "U", "D"]


class Citation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    text: str
    doi: str | None = None
    pmid: str | None = None
    status: EvidenceLevel


@cache
def _load() -> dict[str, Citation]:
    raw = read_toml(data_path("citations.toml"))
    out: dict[str, Citation] = {}
    problems: list[Problem] = []
    for key, body in raw.items():
        if not isinstance(body, dict):
            continue
        try:
            out[key] = Citation.model_validate({"id": key, **body})
        except ValidationError as err:
            problems += [
                Problem(f"{key}.{p.path}", p.message) for p in problems_from_validation(err)
            ]
    if problems:
        raise InvalidInput(problems, what="citations.toml")
    return out


CITATIONS: dict[str, Citation] = _load()


def check_ids(ids: list[str] | tuple[str, ...], where: str) -> list[Problem]:
    """Problems for every id that is not in the register."""
    return [Problem(where, f"unknown citation id {i!r}") for i in ids if i not in CITATIONS]
