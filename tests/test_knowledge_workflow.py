"""Review workflow: allowed and refused steps, who/when/version on every step, persistence by
rewriting the entry header, and the rule that an unapproved entry never reaches a patient."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venalab.knowledge.answer import ask
from venalab.knowledge.entries import ENTRIES_DIR, load_directory, read_entry
from venalab.knowledge.model import Review, ReviewAction, ReviewEvent
from venalab.knowledge.workflow import (
    ALLOWED,
    EntryStore,
    WorkflowError,
    allowed_actions,
    apply_step,
    replace_entry,
    transition,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SHA = "a" * 64
AUTHOR = "Author A"
REVIEWER = "Dr Reviewer"


def _review(status: str = "draft") -> Review:
    r = Review(
        status="draft",
        version=1,
        history=(
            ReviewEvent(
                version=1, action="create", status="draft", by=AUTHOR, at=T0, content_sha256=SHA
            ),
        ),
    )
    path = {
        "draft": [],
        "submitted": ["submit"],
        "under-review": ["submit", "start-review"],
        "approved": ["submit", "start-review", "approve"],
    }[status]
    for i, action in enumerate(path):
        by = AUTHOR if action == "submit" else REVIEWER
        r = transition(r, action, by=by, at=T0 + timedelta(minutes=i + 1), content_sha256=SHA)  # type: ignore[arg-type]
    return r


def test_happy_path_records_who_when_and_bumps_the_version() -> None:
    r = _review()
    r = transition(r, "submit", by=AUTHOR, at=T0, content_sha256=SHA)
    assert (r.status, r.version, r.reviewer) == ("submitted", 2, None)
    r = transition(r, "start-review", by=REVIEWER, at=T0, content_sha256=SHA)
    assert (r.status, r.version, r.reviewer, r.reviewed_at) == ("under-review", 3, REVIEWER, None)
    at = T0 + timedelta(hours=2)
    r = transition(
        r, "approve", by=REVIEWER, at=at, content_sha256=SHA, comment="checked against SVS22"
    )
    assert (r.status, r.version, r.reviewer, r.reviewed_at) == ("approved", 4, REVIEWER, at)
    last = r.history[-1]
    assert (last.action, last.by, last.at, last.comment, last.version) == (
        "approve",
        REVIEWER,
        at,
        "checked against SVS22",
        4,
    )
    assert [e.version for e in r.history] == [1, 2, 3, 4]


@pytest.mark.parametrize("status", ["draft", "submitted", "under-review", "approved"])
@pytest.mark.parametrize("action", ["submit", "start-review", "approve", "send-back", "revise"])
def test_every_status_action_pair(status: str, action: ReviewAction) -> None:
    r = _review(status)
    allowed = action in ALLOWED[r.status]
    try:
        out = transition(r, action, by="Someone Else", at=T0, content_sha256=SHA, comment="why")
    except WorkflowError as e:
        assert not allowed
        assert "allowed:" in str(e)
    else:
        assert allowed
        assert out.version == r.version + 1


def test_send_back_needs_a_comment_and_returns_to_draft() -> None:
    r = _review("under-review")
    with pytest.raises(WorkflowError, match="comment"):
        transition(r, "send-back", by=REVIEWER, at=T0, content_sha256=SHA)
    out = transition(
        r,
        "send-back",
        by=REVIEWER,
        at=T0,
        content_sha256=SHA,
        comment="cite STE21 for the 3 months",
    )
    assert out.status == "draft"
    assert out.history[-1].comment == "cite STE21 for the 3 months"


def test_the_submitter_cannot_approve_and_steps_need_a_name_and_time_zone() -> None:
    r = transition(_review("submitted"), "start-review", by=AUTHOR, at=T0, content_sha256=SHA)
    with pytest.raises(WorkflowError, match="cannot also approve"):
        transition(r, "approve", by=AUTHOR, at=T0, content_sha256=SHA)
    with pytest.raises(WorkflowError, match="who"):
        transition(_review(), "submit", by="  ", at=T0, content_sha256=SHA)
    with pytest.raises(WorkflowError, match="time zone"):
        transition(_review(), "submit", by=AUTHOR, at=datetime(2026, 1, 1), content_sha256=SHA)


def test_allowed_actions_table() -> None:
    assert allowed_actions("draft") == ("submit",)
    assert allowed_actions("approved") == ("revise",)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["submit", "start-review", "approve", "send-back", "revise"]), max_size=12
    ),
    st.lists(st.sampled_from([AUTHOR, REVIEWER, "Third Person"]), min_size=12, max_size=12),
)
def test_any_sequence_keeps_the_record_consistent(
    actions: list[ReviewAction], people: list[str]
) -> None:
    r = _review()
    for action, by in zip(actions, people, strict=False):
        try:
            r = transition(r, action, by=by, at=T0, content_sha256=SHA, comment="note")
        except WorkflowError:
            continue
    assert r.version == len(r.history) == r.history[-1].version
    assert r.status == r.history[-1].status
    if r.status == "approved":
        assert r.history[-1].action == "approve"
        assert r.reviewer == r.history[-1].by
        last_submit = next(e.by for e in reversed(r.history) if e.action == "submit")
        assert r.reviewer != last_submit


@pytest.fixture
def entries_dir(tmp_path: Path) -> Path:
    d = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, d)
    return d


def test_store_rewrites_the_header_and_keeps_the_body(entries_dir: Path) -> None:
    path = entries_dir / "cvi-patient.md"
    before = read_entry(path)
    store = EntryStore(entries_dir)
    store.apply("cvi-patient", "start-review", by=REVIEWER)
    after = store.apply("cvi-patient", "approve", by=REVIEWER, comment="plain and correct")
    assert (
        after.status == "approved" and after.meta.review.version == before.meta.review.version + 2
    )
    assert after.body == before.body
    reread = read_entry(path)  # validated from disk, approval hash included
    assert reread.meta.review == after.meta.review
    assert reread.meta.review.history[-1].content_sha256 == before.content_sha256()
    assert load_directory(entries_dir).get("cvi-patient").status == "approved"


def test_store_refuses_without_writing(entries_dir: Path) -> None:
    path = entries_dir / "cvi-patient.md"
    text = path.read_text()
    with pytest.raises(WorkflowError):
        EntryStore(entries_dir).apply("cvi-patient", "approve", by=REVIEWER)
    assert path.read_text() == text
    with pytest.raises(KeyError):
        EntryStore(entries_dir).apply("no-such-entry", "submit", by=AUTHOR)


def test_unapproved_entry_never_reaches_a_patient(entries_dir: Path) -> None:
    question = "What are varicose veins?"
    store = EntryStore(entries_dir)
    # submitted (as shipped): declined for the patient, answered (and labelled) for the clinician
    a = ask(question, "patient", kb=store.load(), policy="approved-only")
    assert a.kind == "declined" and a.entry is None and a.declined_reason == "not-yet-reviewed"
    assert "varicose" not in a.short_answer.lower()
    c = ask(question, "clinician", kb=store.load())
    assert c.kind == "knowledge" and c.review_status == "submitted"
    assert "not yet approved" in c.status_note
    # under review: still hidden from patients
    store.apply("varicose-veins-patient", "start-review", by=REVIEWER)
    assert ask(question, "patient", kb=store.load(), policy="approved-only").kind == "declined"
    # approved: the patient gets it
    store.apply("varicose-veins-patient", "approve", by=REVIEWER)
    a = ask(question, "patient", kb=store.load(), policy="approved-only")
    assert a.kind == "knowledge" and a.entry is not None
    assert a.entry.id == "varicose-veins-patient" and a.review_status == "approved"
    # reopened for editing: hidden again
    store.apply("varicose-veins-patient", "revise", by=AUTHOR, comment="update after ESVS 2026")
    assert ask(question, "patient", kb=store.load(), policy="approved-only").kind == "declined"


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.sampled_from(["submit", "start-review", "approve", "send-back", "revise"]), max_size=8
    )
)
def test_patient_sees_an_entry_if_and_only_if_it_is_approved(actions: list[ReviewAction]) -> None:
    from venalab.knowledge.entries import load_knowledge_base

    kb = load_knowledge_base()
    entry = kb.get("compression-therapy-patient")
    for action in actions:
        by = AUTHOR if action in ("submit", "revise") else REVIEWER
        try:
            entry = apply_step(entry, action, by=by, at=T0, comment="c")
        except WorkflowError:
            continue
    answer = ask(
        "How do compression stockings work?",
        "patient",
        kb=replace_entry(kb, entry),
        policy="approved-only",
    )
    shown = answer.entry.id if answer.entry else None
    assert (shown == "compression-therapy-patient") == (entry.status == "approved")
