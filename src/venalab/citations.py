"""The one source register (`data/citations.toml`): every citation id used by the rules, the
criteria sets, the cohort parameters and the knowledge entries resolves here.

Ids follow shared/reference/clinical.md section 0.2. Each record carries authors, title,
journal, year and a DOI, PMID, trial id or URL (or says why it has none), the evidence tag of
the record and, where it differs, of each identifier.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput, Problem, problems_from_validation

EvidenceLevel = Literal["V", "V2", "S", "U", "D"]
RecordKind = Literal[
    "guideline", "article", "trial", "review", "case", "web", "compilation", "convention"
]
SCHEMA = "venalab-citations/2"
# Kinds that are not a publication: a compiled table of values or a product convention.
_UNPUBLISHED: frozenset[str] = frozenset({"compilation", "convention", "web"})


SHORT_TITLE_WORDS = 10


class Citation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    kind: RecordKind
    authors: tuple[str, ...] = ()
    title: Annotated[str, Field(min_length=3)]
    journal: str | None = None
    year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    citation: str | None = None
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    doi_status: EvidenceLevel | None = None
    pmid: Annotated[str, Field(pattern=r"^\d{1,9}$")] | None = None
    pmid_status: EvidenceLevel | None = None
    nct: Annotated[str, Field(pattern=r"^NCT\d{8}$")] | None = None
    url: Annotated[str, Field(pattern=r"^https://\S+$")] | None = None
    status: EvidenceLevel
    no_identifier: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> Citation:
        if not any((self.doi, self.pmid, self.nct, self.url)) and not self.no_identifier:
            raise ValueError("give a doi, pmid, nct or url, or a `no_identifier` reason")
        if self.kind not in _UNPUBLISHED:
            if not self.authors or not self.journal:
                raise ValueError("`authors` and `journal` are required for a publication")
            if self.year is None and not self.no_identifier:
                raise ValueError("`year` is required for a published record")
        if self.doi_status and not self.doi:
            raise ValueError("`doi_status` without a `doi`")
        if self.pmid_status and not self.pmid:
            raise ValueError("`pmid_status` without a `pmid`")
        return self

    @property
    def text(self) -> str:
        """One-line Vancouver-style reference: authors. Title. Journal year;citation. DOI/PMID."""
        head = ", ".join(self.authors).rstrip(".")
        parts = [head] if head else []
        parts.append(self.title.rstrip("."))
        if self.journal:
            where = self.journal
            if self.year is not None:
                where += f" {self.year}"
            if self.citation:
                where += f";{self.citation}"
            parts.append(where)
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
        return ". ".join(parts) + "." + tail

    @property
    def short_text(self) -> str:
        """Compact reference for a printed report: first author et al. The title's first
        SHORT_TITLE_WORDS words. Journal year;citation. The DOI (else PMID, NCT or URL)."""
        first = [a for a in self.authors if a != "et al."][:1]
        head = (first[0] + (" et al" if len(self.authors) > 1 else "")) if first else ""
        parts = [head] if head else []
        words = self.title.rstrip(".").split()
        parts.append(
            " ".join(words[:SHORT_TITLE_WORDS]) + ("…" if len(words) > SHORT_TITLE_WORDS else "")
        )
        if self.journal:
            where = self.journal + (f" {self.year}" if self.year is not None else "")
            parts.append(where + (f";{self.citation}" if self.citation else ""))
        ident = (
            f"doi:{self.doi}"
            if self.doi
            else f"PMID {self.pmid}"
            if self.pmid
            else self.nct or self.url
        )
        text = ". ".join(parts).replace("…. ", "… ")
        text += "" if text.endswith("…") else "."
        return text + (f" {ident}." if ident else "")


def parse_register(raw: dict[str, object], name: str) -> dict[str, Citation]:
    """Validate a decoded register; every problem names `<file>:<id>.<field>`."""
    problems: list[Problem] = []
    if raw.get("schema") != SCHEMA:
        problems.append(Problem(f"{name}:schema", f"expected {SCHEMA!r}"))
    out: dict[str, Citation] = {}
    for key, body in raw.items():
        if key == "schema":
            continue
        if not isinstance(body, dict):
            problems.append(Problem(f"{name}:{key}", "expected a table of fields"))
            continue
        try:
            out[key] = Citation.model_validate({"id": key, **body})
        except ValidationError as err:
            problems += [
                Problem(
                    f"{name}:{key}" + (f".{p.path}" if p.path else ""),
                    p.message.replace("(not part of venous-exam/1)", "(not a register field)"),
                )
                for p in problems_from_validation(err)
            ]
    if problems:
        raise InvalidInput(problems, what=f"source register {name}")
    return out


@cache
def load_register() -> dict[str, Citation]:
    node = data_path("citations.toml")
    return parse_register(read_toml(node), node.name)


CITATIONS: dict[str, Citation] = load_register()


def check_ids(ids: list[str] | tuple[str, ...], where: str) -> list[Problem]:
    """Problems for every id that is not in the register."""
    return [Problem(where, f"unknown citation id {i!r}") for i in ids if i not in CITATIONS]
