"""The knowledge base's single bibliography (`knowledge/bibliography.toml`), validated at load.

Ids follow the source register of shared/reference/clinical.md section 0.2 (the same ids as
`data/citations.toml`); each record carries authors, title, journal, year and a DOI, PMID,
trial id or URL, or says why it has none.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from venalab.citations import EvidenceLevel
from venalab.datafiles import read_toml
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen
from venalab.knowledge.model import validation_problems

SCHEMA = "venalab-bibliography/1"
RecordKind = Literal["guideline", "article", "trial", "review", "case", "web"]


class BibRecord(Frozen):
    id: str
    kind: RecordKind
    authors: Annotated[tuple[str, ...], Field(min_length=1)]
    title: Annotated[str, Field(min_length=3)]
    journal: Annotated[str, Field(min_length=2)]
    year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    citation: str | None = None
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    pmid: Annotated[str, Field(pattern=r"^\d{1,9}$")] | None = None
    nct: Annotated[str, Field(pattern=r"^NCT\d{8}$")] | None = None
    url: Annotated[str, Field(pattern=r"^https://\S+$")] | None = None
    status: EvidenceLevel
    identifiers_seen: Literal["register", "secondary"] | None = None
    no_identifier: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> BibRecord:
        has_id = any((self.doi, self.pmid, self.nct, self.url))
        if not has_id and not self.no_identifier:
            raise ValueError("give a doi, pmid, nct or url, or a `no_identifier` reason")
        if self.kind != "web" and self.year is None and not self.no_identifier:
            raise ValueError("`year` is required for a published record")
        return self

    def formatted(self) -> str:
        """One-line Vancouver-style reference: authors. Title. Journal year;citation. DOI/PMID."""
        authors = ", ".join(self.authors).rstrip(".")
        where = self.journal
        if self.year is not None:
            where += f" {self.year}"
        if self.citation:
            where += f";{self.citation}"
        ids = []
        if self.doi:
            ids.append(f"doi:{self.doi}")
        if self.pmid:
            ids.append(f"PMID {self.pmid}")
        if self.nct:
            ids.append(self.nct)
        if self.url and not (self.doi or self.pmid):
            ids.append(self.url)
        tail = f" {'; '.join(ids)}." if ids else ""
        return f"{authors}. {self.title}. {where}.{tail}"


def bibliography_file() -> Traversable:
    return files("venalab.knowledge").joinpath("bibliography.toml")


def parse_bibliography(raw: dict[str, object], name: str) -> dict[str, BibRecord]:
    problems: list[Problem] = []
    if raw.get("schema") != SCHEMA:
        problems.append(Problem(f"{name}:schema", f"expected {SCHEMA!r}"))
    out: dict[str, BibRecord] = {}
    for key, body in raw.items():
        if key == "schema":
            continue
        if not isinstance(body, dict):
            problems.append(Problem(f"{name}:{key}", "expected a table of fields"))
            continue
        try:
            out[key] = BibRecord.model_validate({"id": key, **body})
        except ValidationError as err:
            for p in validation_problems(err, name):
                field = p.path.partition(":")[2]
                problems.append(
                    Problem(f"{name}:{key}" + (f".{field}" if field else ""), p.message)
                )
    if problems:
        raise InvalidInput(problems, what=f"bibliography {name}")
    return out


@cache
def load_bibliography() -> dict[str, BibRecord]:
    node = bibliography_file()
    return parse_bibliography(read_toml(node), node.name)
