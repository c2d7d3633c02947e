"""Read, validate and write knowledge entry files (Markdown with a YAML metadata header).

File layout:

    ---
    id: cvi-clinician            # must equal the file name without `.md`
    title: ...
    topic: cvi
    audience: clinician          # clinician | patient
    key_points: [...]            # may carry [@ID] citation marks
    citations: [SVS11, ...]      # ids of the source register data/citations.toml
    follow_up: [{question: ..., entry: ...}]
    related: [...]
    review: {status, version, reviewer, reviewed_at, history: [...]}
    ---
    ## Summary
    ...
    ## From the guidelines
    ...
    ## From the research
    ...

Validation at load names the file and the field of every problem: unknown citation id, a
cited id missing from `citations` (or listed but never cited), missing required section, bad
status or audience, an inconsistent review history, and content changed after approval.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from venalab.citations import Citation, load_register
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen
from venalab.knowledge.model import (
    CITE_MARK,
    REQUIRED_PATIENT_SECTIONS,
    REQUIRED_SECTIONS,
    SECTION_KINDS,
    Audience,
    Entry,
    EntryMeta,
    Section,
    content_hash,
    validation_problems,
)

ENTRIES_DIR = Path(__file__).resolve().parent / "entries"
_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n(.*)\Z", re.S)
_HEADING = re.compile(r"^## +(.+?)\s*$", re.M)


class KnowledgeBase(Frozen):
    """Every entry of one directory, validated together."""

    entries: tuple[Entry, ...]
    directory: str

    def get(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)

    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.entries)

    def for_audience(self, audience: Audience) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.meta.audience == audience)


def split_front_matter(text: str, where: str) -> tuple[dict[str, Any], str]:
    m = _FRONT.match(text.replace("\r\n", "\n"))
    if m is None:
        raise InvalidInput(
            [
                Problem(
                    where, "missing metadata header: the file must start with '---', YAML, '---'"
                )
            ],
            what="knowledge entry",
        )
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as err:
        raise InvalidInput(
            [Problem(f"{where}:(header)", f"not valid YAML: {err}")], what="knowledge entry"
        ) from None
    if not isinstance(meta, dict):
        raise InvalidInput(
            [Problem(f"{where}:(header)", "the header must be a YAML mapping of fields")],
            what="knowledge entry",
        )
    return meta, m.group(2)


def parse_sections(body: str, where: str) -> tuple[tuple[Section, ...], list[Problem]]:
    problems: list[Problem] = []
    heads = list(_HEADING.finditer(body))
    if not heads:
        return (), [Problem(f"{where}:sections", "no '## ' sections in the body")]
    if body[: heads[0].start()].strip():
        problems.append(Problem(f"{where}:sections", "text before the first '## ' heading"))
    sections: list[Section] = []
    seen: set[str] = set()
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(body)
        heading = h.group(1).strip()
        text = body[h.end() : end].strip()
        key = heading.lower()
        if key in seen:
            problems.append(Problem(f"{where}:sections.{heading}", "duplicate section heading"))
        seen.add(key)
        if not text:
            problems.append(Problem(f"{where}:sections.{heading}", "empty section"))
        sections.append(Section(heading=heading, kind=SECTION_KINDS.get(key, "detail"), text=text))
    for required in REQUIRED_SECTIONS:
        if required.lower() not in seen:
            problems.append(
                Problem(
                    f"{where}:sections.{required}",
                    f"missing required section '## {required}' (required: "
                    f"{', '.join(REQUIRED_SECTIONS)})",
                )
            )
    return tuple(sections), problems


def _citation_problems(
    meta: EntryMeta, body: str, where: str, register: dict[str, Citation]
) -> list[Problem]:
    problems = [
        Problem(
            f"{where}:citations[{i}]",
            f"unknown citation id {cid!r} (not in the source register data/citations.toml)",
        )
        for i, cid in enumerate(meta.citations)
        if cid not in register
    ]
    listed = set(meta.citations)
    used: set[str] = set()
    for field, text in [("body", body)] + [
        (f"key_points[{i}]", kp) for i, kp in enumerate(meta.key_points)
    ]:
        for m in CITE_MARK.finditer(text):
            used.add(m.group(1))
            if m.group(1) not in listed:
                known = "" if m.group(1) in register else " and unknown to the source register"
                problems.append(
                    Problem(
                        f"{where}:{field}",
                        f"cites [@{m.group(1)}], which is not listed in `citations`{known}",
                    )
                )
    problems += [
        Problem(f"{where}:citations", f"{cid!r} is listed but never cited in the text")
        for cid in meta.citations
        if cid not in used
    ]
    return problems


def _review_problems(meta: EntryMeta, body: str, where: str) -> list[Problem]:
    review = meta.review
    problems: list[Problem] = []
    versions = [e.version for e in review.history]
    if versions != list(range(1, len(versions) + 1)):
        problems.append(
            Problem(f"{where}:review.history", "event versions must count 1, 2, 3, ... in order")
        )
    last = review.history[-1]
    if review.version != last.version:
        problems.append(
            Problem(
                f"{where}:review.version",
                f"is {review.version} but the last history event is version {last.version}",
            )
        )
    if review.status != last.status:
        problems.append(
            Problem(
                f"{where}:review.status",
                f"is {review.status!r} but the last history event left it {last.status!r}",
            )
        )
    if review.history[0].action != "create":
        problems.append(Problem(f"{where}:review.history[0]", "the first event must be 'create'"))
    if review.status == "approved":
        if not review.reviewer or review.reviewed_at is None:
            problems.append(
                Problem(f"{where}:review.reviewer", "an approved entry names its reviewer and date")
            )
        if last.content_sha256 != content_hash(meta, body):
            problems.append(
                Problem(
                    f"{where}:review.history[{len(review.history) - 1}].content_sha256",
                    "the content changed after approval; run `venalab knowledge revise` and "
                    "submit it for review again",
                )
            )
    return problems


def parse_entry(
    text: str,
    where: str,
    *,
    register: dict[str, Citation] | None = None,
    check_approval: bool = True,
) -> Entry:
    """Parse and validate one entry; raises InvalidInput listing every problem found."""
    register = load_register() if register is None else register
    raw, body = split_front_matter(text, where)
    problems: list[Problem] = []
    try:
        meta = EntryMeta.model_validate(raw)
    except ValidationError as err:
        raise InvalidInput(validation_problems(err, where), what="knowledge entry") from None
    stem = Path(where).stem
    if where.endswith(".md") and meta.id != stem:
        problems.append(Problem(f"{where}:id", f"is {meta.id!r} but the file is named {stem!r}"))
    sections, section_problems = parse_sections(body, where)
    problems += section_problems
    problems += _citation_problems(meta, body, where, register)
    if meta.audience == "patient":
        headings = {sec.heading.lower() for sec in sections}
        problems += [
            Problem(f"{where}:body", f"a patient entry needs the section '## {h}'")
            for h in REQUIRED_PATIENT_SECTIONS
            if h.lower() not in headings
        ]
    review_problems = _review_problems(meta, body, where)
    if not check_approval:
        review_problems = [p for p in review_problems if "content_sha256" not in p.path]
    problems += review_problems
    if problems:
        raise InvalidInput(problems, what="knowledge entry")
    return Entry(meta=meta, sections=sections, body=body.strip() + "\n", source=where)


def read_entry(path: Path, *, check_approval: bool = True) -> Entry:
    return parse_entry(path.read_text(encoding="utf-8"), path.name, check_approval=check_approval)


def _cross_problems(entries: Iterable[Entry]) -> list[Problem]:
    entries = list(entries)
    ids = {e.id for e in entries}
    problems: list[Problem] = []
    for e in entries:
        for i, f in enumerate(e.meta.follow_up):
            if f.entry is not None and f.entry not in ids:
                problems.append(
                    Problem(f"{e.source}:follow_up[{i}].entry", f"unknown entry id {f.entry!r}")
                )
        for i, r in enumerate(e.meta.related):
            if r not in ids:
                problems.append(Problem(f"{e.source}:related[{i}]", f"unknown entry id {r!r}"))
    return problems


def load_directory(directory: Path, *, check_approval: bool = True) -> KnowledgeBase:
    """Load every `*.md` entry of a directory; all problems of all files in one error."""
    problems: list[Problem] = []
    entries: list[Entry] = []
    paths = sorted(directory.glob("*.md"))
    if not paths:
        raise InvalidInput(
            [Problem(str(directory.name), "no entries (*.md) found")], what="knowledge base"
        )
    for path in paths:
        try:
            entries.append(read_entry(path, check_approval=check_approval))
        except InvalidInput as err:
            problems += err.problems
    problems += _cross_problems(entries)
    if problems:
        raise InvalidInput(problems, what="knowledge base")
    return KnowledgeBase(entries=tuple(entries), directory=str(directory))


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(directory.glob("*.md"))
    )


@cache
def _load_cached(directory: str, fingerprint: tuple[tuple[str, int, int], ...]) -> KnowledgeBase:
    return load_directory(Path(directory))


def load_knowledge_base(directory: Path | None = None) -> KnowledgeBase:
    """The knowledge base of `directory` (default: the entries shipped with venalab).

    Cached per directory and file fingerprint, so a workflow step that rewrites a file is
    seen by the next call.
    """
    d = (directory or ENTRIES_DIR).resolve()
    return _load_cached(str(d), _fingerprint(d))


# --- writing (the file-backed store of the review workflow uses this) ------------------------

_META_ORDER = (
    "id",
    "title",
    "topic",
    "audience",
    "keywords",
    "key_points",
    "citations",
    "follow_up",
    "related",
    "review",
)


class _HeaderDumper(yaml.SafeDumper):
    """Short lists of short words on one line ([SVS11, LAB03]); everything else in blocks."""

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        short = all(isinstance(x, str) and len(x) <= 40 for x in data) and len(data) <= 20
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=short)


_HeaderDumper.add_representer(list, _HeaderDumper.represent_list)


def render_entry(meta: EntryMeta, body: str) -> str:
    """The file text of an entry: YAML header in a stable field order, then the body as is."""
    dumped = meta.model_dump(mode="json", exclude_none=True)
    review = dumped["review"]
    dumped["review"] = {
        "status": review["status"],
        "version": review["version"],
        "reviewer": review.get("reviewer"),
        "reviewed_at": review.get("reviewed_at"),
        "history": review["history"],
    }
    ordered = {k: dumped[k] for k in _META_ORDER if k in dumped and dumped[k] not in ((), [])}
    header = yaml.dump(ordered, Dumper=_HeaderDumper, sort_keys=False, allow_unicode=True, width=96)
    return f"---\n{header}---\n{body.strip()}\n"


def write_atomic(path: Path, text: str) -> None:
    """Replace a file in one step, so a reader never sees half an entry."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
