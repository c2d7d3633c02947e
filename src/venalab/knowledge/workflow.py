"""Review workflow for knowledge entries: a pure state machine and a file-backed store.

    draft --submit--> submitted --start-review--> under-review --approve--> approved
      ^                   |                            |                       |
      +----send-back------+-----------send-back--------+                       |
      +------------------------------revise------------------------------------+

Every step records who and when, bumps the version and appends an event carrying the hash
of the content it applied to; approval binds that exact content (an edit after approval
fails validation until the entry is revised and reviewed again). The person who submitted
an entry cannot approve it. `transition` is pure and shared by the CLI and the web app;
`EntryStore` persists a step by rewriting the entry's metadata header.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from venalab.knowledge.entries import (
    KnowledgeBase,
    load_directory,
    read_entry,
    render_entry,
    write_atomic,
)
from venalab.knowledge.model import Entry, Review, ReviewAction, ReviewEvent, Status

ALLOWED: dict[Status, tuple[ReviewAction, ...]] = {
    "draft": ("submit",),
    "submitted": ("start-review", "send-back"),
    "under-review": ("approve", "send-back"),
    "approved": ("revise",),
}
RESULT: dict[ReviewAction, Status] = {
    "submit": "submitted",
    "start-review": "under-review",
    "approve": "approved",
    "send-back": "draft",
    "revise": "draft",
}


class WorkflowError(ValueError):
    """A step that the workflow does not allow from the entry's current state."""


def allowed_actions(status: Status) -> tuple[ReviewAction, ...]:
    return ALLOWED[status]


def _last_submitter(review: Review) -> str | None:
    for event in reversed(review.history):
        if event.action == "submit":
            return event.by
    return None


def transition(
    review: Review,
    action: ReviewAction,
    *,
    by: str,
    at: datetime,
    content_sha256: str,
    comment: str | None = None,
) -> Review:
    """The review record after one workflow step (pure; raises WorkflowError if not allowed)."""
    by = by.strip()
    if not by:
        raise WorkflowError("every step names who takes it (`by`)")
    if action == "create":
        raise WorkflowError("'create' starts a history; it is not a step on an existing entry")
    if action not in ALLOWED[review.status]:
        allowed = ", ".join(ALLOWED[review.status])
        raise WorkflowError(
            f"cannot {action} an entry that is {review.status} (allowed: {allowed})"
        )
    comment = comment.strip() if comment else None
    if action == "send-back" and not comment:
        raise WorkflowError("send-back needs a comment saying what to change")
    if action == "approve" and by == _last_submitter(review):
        raise WorkflowError(f"{by!r} submitted this entry and cannot also approve it")
    if at.tzinfo is None:
        raise WorkflowError("timestamps must carry a time zone")
    status = RESULT[action]
    version = review.version + 1
    reviewer, reviewed_at = review.reviewer, review.reviewed_at
    if action in ("submit", "revise"):
        reviewer, reviewed_at = None, None
    elif action == "start-review":
        reviewer, reviewed_at = by, None
    else:  # approve, send-back: a review outcome
        reviewer, reviewed_at = by, at
    event = ReviewEvent(
        version=version,
        action=action,
        status=status,
        by=by,
        at=at,
        content_sha256=content_sha256,
        comment=comment,
    )
    return Review(
        status=status,
        version=version,
        reviewer=reviewer,
        reviewed_at=reviewed_at,
        history=(*review.history, event),
    )


def apply_step(
    entry: Entry,
    action: ReviewAction,
    *,
    by: str,
    at: datetime | None = None,
    comment: str | None = None,
) -> Entry:
    """The entry after one workflow step, in memory (used by the store, tests and evaluation)."""
    review = transition(
        entry.meta.review,
        action,
        by=by,
        at=at or datetime.now(UTC),
        content_sha256=entry.content_sha256(),
        comment=comment,
    )
    return entry.model_copy(update={"meta": entry.meta.model_copy(update={"review": review})})


def replace_entry(kb: KnowledgeBase, entry: Entry) -> KnowledgeBase:
    """A knowledge base with one entry replaced (same id)."""
    entries = tuple(entry if e.id == entry.id else e for e in kb.entries)
    if entries == kb.entries and entry not in kb.entries:
        raise KeyError(entry.id)
    return kb.model_copy(update={"entries": entries})


class EntryStore:
    """Entries of one directory; a workflow step rewrites the entry's metadata header."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, entry_id: str) -> Path:
        path = self.directory / f"{entry_id}.md"
        if not path.is_file():
            raise KeyError(f"no entry {entry_id!r} in {self.directory.name}/")
        return path

    def load(self) -> KnowledgeBase:
        return load_directory(self.directory)

    def read(self, entry_id: str) -> Entry:
        return read_entry(self.path(entry_id), check_approval=False)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # One writer at a time across processes (CLI and web app may share a directory).
        with (self.directory / ".workflow.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def apply(
        self,
        entry_id: str,
        action: ReviewAction,
        *,
        by: str,
        comment: str | None = None,
        at: datetime | None = None,
    ) -> Entry:
        """Take one workflow step on a stored entry and persist it; returns the new entry."""
        with self._locked():
            path = self.path(entry_id)
            entry = read_entry(path, check_approval=False)
            updated = apply_step(entry, action, by=by, at=at, comment=comment)
            write_atomic(path, render_entry(updated.meta, entry.body))
            return read_entry(path, check_approval=False)
