"""Checking the stored history: the audit chain and the signed exam versions.

`verify(s)` walks the audit log in chain order and recomputes every entry's hash
(store/audit.py): an entry changed after it was written, a deleted or inserted entry, or a
chain head that does not name the last entry is reported at the first row where the chain
breaks. Then every signed exam version is checked twice: its stored document must still give
its stored hash, and the audit log must hold the `exam-sign` entry that recorded that same
hash when it was signed (so replacing both a document and its hash is found too).

`check_signed(version)` is the cheap half of that, run whenever a signed version is served:
a mismatch raises `Tampered` instead of showing a changed document under its signature.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

import venalab.store.audit as audit
from venalab.store.errors import StoreError
from venalab.store.models import AuditChainHead, AuditEntry, ExamVersion, document_hash


class Tampered(StoreError):
    """Stored data no longer matches its recorded hash: it was changed outside venalab."""


@dataclass(frozen=True)
class Break:
    """Where the stored history stops being trustworthy."""

    where: str  # "audit_log id 57 (seq 57)", "exam 3 version 2"
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class Report:
    entries: int = 0
    signed_versions: int = 0
    head_seq: int = 0
    head_hash: str = audit.GENESIS
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def check_signed(version: ExamVersion) -> ExamVersion:
    """`version`, after checking that a signed version's document still gives its hash."""
    if version.status == "signed" and document_hash(version.document) != version.doc_hash:
        raise Tampered(
            f"exam {version.exam_id} version {version.version} does not match its signed hash "
            "(the stored document was changed outside venalab), so it is not shown; an "
            "administrator should run `venalab audit verify`"
        )
    return version


def _chain_breaks(s: Session, report: Report, anchor: tuple[int, str] | None) -> Iterator[Break]:
    prev_hash, expected_seq = audit.GENESIS, 1
    stmt = select(AuditEntry).order_by(AuditEntry.chain_seq).execution_options(yield_per=1000)
    for entry in s.scalars(stmt):
        report.entries += 1
        where = f"audit_log id {entry.id} (seq {entry.chain_seq})"
        if entry.chain_seq != expected_seq:
            yield Break(
                where,
                f"expected sequence number {expected_seq}: entries before it were deleted "
                "or the sequence was changed",
            )
            return
        if entry.prev_hash != prev_hash:
            yield Break(where, "does not link to the entry before it (an entry was removed, "
                        "inserted or changed)")  # fmt: skip
            return
        if audit.digest_of(entry) != entry.entry_hash:
            yield Break(where, "its content does not match its hash (changed after it was written)")
            return
        if anchor is not None and anchor[0] == entry.chain_seq and anchor[1] != entry.entry_hash:
            yield Break(where, "its hash differs from the anchor given (the chain was rewritten)")
            return
        prev_hash, expected_seq = entry.entry_hash, expected_seq + 1
    head = s.get(AuditChainHead, 1)
    if head is None:
        yield Break("audit_chain_head", "missing")
        return
    report.head_seq, report.head_hash = head.seq, head.last_hash
    if (head.seq, head.last_hash) != (expected_seq - 1, prev_hash):
        yield Break(
            "audit_chain_head",
            f"names entry {head.seq} but the chain ends at entry {expected_seq - 1} "
            "(entries after it were deleted, or the head was changed)",
        )
    if anchor is not None and anchor[0] >= expected_seq:
        yield Break("audit_log", f"the anchor's entry {anchor[0]} is not in the log (deleted)")


def _signed_breaks(s: Session, report: Report) -> Iterator[Break]:
    signed: dict[tuple[str, int], set[str]] = {}
    stmt = select(AuditEntry.entity_id, AuditEntry.version, AuditEntry.doc_hash).where(
        AuditEntry.action == audit.ACTION_EXAM_SIGN, AuditEntry.entity == "exam"
    )
    for entity_id, version, digest in s.execute(stmt):
        signed.setdefault((str(entity_id), int(version or 0)), set()).add(str(digest))
    versions = (
        select(ExamVersion)
        .where(ExamVersion.status == "signed")
        .order_by(ExamVersion.exam_id, ExamVersion.version)
        .execution_options(yield_per=200)
    )
    for v in s.scalars(versions):
        report.signed_versions += 1
        where = f"exam {v.exam_id} version {v.version} (exam_versions id {v.id})"
        if document_hash(v.document) != v.doc_hash:
            yield Break(where, "the stored document does not match its signed hash")
        elif v.doc_hash not in signed.get((str(v.exam_id), v.version), set()):
            yield Break(where, "no exam-sign audit entry records this hash")


def verify(s: Session, *, anchor: tuple[int, str] | None = None) -> Report:
    """Check the audit chain (from the first entry, or against `anchor` = (seq, hash) noted
    earlier) and every signed version; `Report.breaks` lists the first chain break and each
    signed version that fails."""
    report = Report()
    report.breaks.extend(_chain_breaks(s, report, anchor))
    report.breaks.extend(_signed_breaks(s, report))
    return report
