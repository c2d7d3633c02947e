"""Knowledge entries and their review record (the metadata header of each Markdown entry).

An entry is one topic written for one audience. Its body is a list of `## ` sections; three
are required (Summary, From the guidelines, From the research). Citations are written
`[@ID]` in the text and resolve into the source register (`data/citations.toml`). The review record
holds the status (draft, submitted, under-review, approved), the reviewer and the dated
history of every workflow step, each with the hash of the content it applied to.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from venalab.errors import Problem, problems_from_validation
from venalab.evidence import Frozen

Audience = Literal["clinician", "patient"]
AUDIENCES: tuple[Audience, Audience] = ("clinician", "patient")
Status = Literal["draft", "submitted", "under-review", "approved"]
STATUSES: tuple[Status, ...] = ("draft", "submitted", "under-review", "approved")
ReviewAction = Literal["create", "submit", "start-review", "approve", "send-back", "revise"]
SectionKind = Literal["summary", "guidelines", "research", "help", "detail"]

# Headings with a fixed role in composed answers (compared case-insensitively).
SECTION_KINDS: dict[str, SectionKind] = {
    "summary": "summary",
    "from the guidelines": "guidelines",
    "from the research": "research",
    "when to get help": "help",
}
REQUIRED_SECTIONS: tuple[str, ...] = ("Summary", "From the guidelines", "From the research")
# Every patient entry also says when to get help (issue 19).
REQUIRED_PATIENT_SECTIONS: tuple[str, ...] = ("When to get help",)

ENTRY_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
CITE_MARK = re.compile(r"\[@([A-Za-z0-9][A-Za-z0-9_-]*)\]")


class ReviewEvent(Frozen):
    """One workflow step: who did what, when, to which content (by hash), with what comment."""

    version: Annotated[int, Field(ge=1)]
    action: ReviewAction
    status: Status
    by: Annotated[str, Field(min_length=1)]
    at: datetime
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    comment: str | None = None


class Review(Frozen):
    status: Status
    version: Annotated[int, Field(ge=1)]
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    history: Annotated[tuple[ReviewEvent, ...], Field(min_length=1)]


class FollowUp(Frozen):
    question: Annotated[str, Field(min_length=5)]
    entry: Annotated[str, Field(pattern=ENTRY_ID)] | None = None


class EntryMeta(Frozen):
    """The YAML front matter of an entry file."""

    id: Annotated[str, Field(pattern=ENTRY_ID)]
    title: Annotated[str, Field(min_length=3)]
    topic: Annotated[str, Field(pattern=ENTRY_ID)]
    audience: Audience
    keywords: tuple[str, ...] = ()
    key_points: Annotated[tuple[str, ...], Field(min_length=1)]
    citations: Annotated[tuple[str, ...], Field(min_length=1)]
    follow_up: tuple[FollowUp, ...] = ()
    related: tuple[Annotated[str, Field(pattern=ENTRY_ID)], ...] = ()
    review: Review


class Section(Frozen):
    heading: str
    kind: SectionKind
    text: str

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in re.split(r"\n\s*\n", self.text) if p.strip())


class Entry(Frozen):
    meta: EntryMeta
    sections: tuple[Section, ...]
    body: str
    source: str  # file name the entry was read from (for messages)

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def status(self) -> Status:
        return self.meta.review.status

    def section(self, kind: SectionKind) -> Section | None:
        return next((s for s in self.sections if s.kind == kind), None)

    def content_sha256(self) -> str:
        return content_hash(self.meta, self.body)


def content_hash(meta: EntryMeta, body: str) -> str:
    """Hash of everything a reader sees (not the review record), so approval binds content."""
    seen = {
        "title": meta.title,
        "topic": meta.topic,
        "audience": meta.audience,
        "key_points": list(meta.key_points),
        "citations": list(meta.citations),
        "follow_up": [f.model_dump() for f in meta.follow_up],
        "body": body.strip(),
    }
    blob = json.dumps(seen, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def validation_problems(err: ValidationError, where: str) -> list[Problem]:
    """Pydantic errors as problems `<file>:<field>` with messages that say what is allowed."""
    out: list[Problem] = []
    for p in problems_from_validation(err):
        message = p.message.replace("(not part of venous-exam/1)", "(not an entry field)")
        out.append(Problem(f"{where}:{p.path}" if p.path else where, message))
    return out
