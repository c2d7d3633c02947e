"""`venalab ask` and `venalab knowledge ...`: cited Q&A and the review workflow on the CLI.

    venalab ask "Is 600 ms of reflux in the great saphenous vein abnormal?" [--audience patient]
                [--format text|json] [--json] [--policy show-with-banner|approved-only]
    venalab knowledge list [--audience A] [--status S] [--json]
    venalab knowledge show ID [--json]
    venalab knowledge validate
    venalab knowledge submit ID --by NAME          (draft -> submitted)
    venalab knowledge review ID --by NAME          (submitted -> under-review)
    venalab knowledge approve ID --by NAME         (under-review -> approved)
    venalab knowledge send-back ID --by NAME --comment TEXT
    venalab knowledge revise ID --by NAME          (approved -> draft, before editing)

`--dir` (or VENALAB_KNOWLEDGE_DIR) selects the entry directory (default: the entries shipped
with venalab); `--by` may come from VENALAB_USER. Exit status: 0 success, 2 invalid input
or a step the workflow does not allow (nothing written), 1 unexpected failure.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import textstat
import typer
from rich.console import Console
from rich.table import Table

from venalab.citations import CITATIONS, load_register
from venalab.errors import InvalidInput, Problem
from venalab.knowledge.answer import POLICY_ENV, ask
from venalab.knowledge.entries import ENTRIES_DIR, KnowledgeBase, load_directory
from venalab.knowledge.evaluation import load_questions
from venalab.knowledge.model import Entry, ReviewAction
from venalab.knowledge.retrieval import EmbeddingUnavailable
from venalab.knowledge.text import load_concepts, plain
from venalab.knowledge.workflow import EntryStore, WorkflowError
from venalab.report.patient import READABILITY_MAX_GRADE

knowledge_app = typer.Typer(
    help="Knowledge entries: list, show, validate, and the review workflow "
    "(submit, review, approve, send-back, revise).",
    no_args_is_help=True,
)
out = Console(width=None if sys.stdout.isatty() else 110)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 110)


class AudienceOption(StrEnum):
    clinician = "clinician"
    patient = "patient"


class StatusOption(StrEnum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under-review"
    approved = "approved"


class AskFormat(StrEnum):
    text = "text"
    json = "json"


class PolicyOption(StrEnum):
    show_with_banner = "show-with-banner"
    approved_only = "approved-only"


class RetrieverOption(StrEnum):
    bm25 = "bm25"
    hybrid = "hybrid"


DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="VENALAB_KNOWLEDGE_DIR",
        help="Directory of entry files (default: the entries shipped with venalab).",
        show_default=False,
    ),
]
ByOption = Annotated[
    str,
    typer.Option("--by", envvar="VENALAB_USER", help="Who takes this step (recorded)."),
]


def _fail(what: str, problems: list[Problem] | tuple[Problem, ...]) -> NoReturn:
    err.print(f"[bold red]{what}[/]: {len(problems)} problem(s):")
    for p in problems:
        err.print(f"  {p.path or '(knowledge)'}: {p.message}", markup=False, highlight=False)
    raise typer.Exit(2)


def _directory(directory: Path | None) -> Path:
    d = directory or ENTRIES_DIR
    if not d.is_dir():
        _fail("--dir", [Problem(str(d), "not a directory")])
    return d


def _load(directory: Path | None) -> KnowledgeBase:
    try:
        return load_directory(_directory(directory))
    except InvalidInput as e:
        _fail(f"invalid {e.what}", e.problems)


def ask_command(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    audience: Annotated[
        AudienceOption, typer.Option("--audience", "-a", help="Who is asking.")
    ] = AudienceOption.clinician,
    fmt: Annotated[
        AskFormat, typer.Option("--format", "-f", help="text (default) or json.")
    ] = AskFormat.text,
    as_json: Annotated[
        bool, typer.Option("--json", help="Same as --format json (kept for scripts).")
    ] = False,
    policy: Annotated[
        PolicyOption | None,
        typer.Option(
            help="Review policy for patients: show-with-banner (unreviewed entries answered "
            "with a banner) or approved-only. Default: VENALAB_PATIENT_REVIEW_POLICY, else "
            "show-with-banner.",
            show_default=False,
        ),
    ] = None,
    retriever: Annotated[
        RetrieverOption,
        typer.Option(help="bm25, or hybrid (needs the optional 'embeddings' extra)."),
    ] = RetrieverOption.bm25,
    directory: DirOption = None,
) -> None:
    """Answer a question from the knowledge base (or the engine, for a measured value)."""
    kb = _load(directory)
    try:
        answer = ask(
            question,
            audience.value,
            kb=kb,
            retriever=retriever.value,
            policy=policy.value if policy is not None else None,
        )
    except EmbeddingUnavailable as e:
        _fail("--retriever hybrid", [Problem("--retriever", str(e))])
    except ValueError as e:  # a bad VENALAB_PATIENT_REVIEW_POLICY
        _fail("review policy", [Problem(POLICY_ENV, str(e))])
    if as_json or fmt is AskFormat.json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    out.print(answer.to_text(), markup=False, highlight=False)


@knowledge_app.command("list")
def list_cmd(
    audience: Annotated[AudienceOption | None, typer.Option(help="Only this audience.")] = None,
    status: Annotated[StatusOption | None, typer.Option(help="Only this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    directory: DirOption = None,
) -> None:
    """List the entries with their audience, review status and version."""
    kb = _load(directory)
    rows = [
        e
        for e in kb.entries
        if (audience is None or e.meta.audience == audience.value)
        and (status is None or e.status == status.value)
    ]
    if as_json:
        data = [
            {
                "id": e.id,
                "title": e.meta.title,
                "topic": e.meta.topic,
                "audience": e.meta.audience,
                "status": e.status,
                "version": e.meta.review.version,
                "reviewer": e.meta.review.reviewer,
            }
            for e in rows
        ]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table("id", "audience", "status", "v", "reviewer", "title")
    for e in rows:
        r = e.meta.review
        table.add_row(
            e.id, e.meta.audience, e.status, str(r.version), r.reviewer or "-", e.meta.title
        )
    out.print(table)
    approved = sum(e.status == "approved" for e in rows)
    out.print(f"{len(rows)} entries, {approved} approved (patients see approved entries only).")


def _show_text(e: Entry) -> str:
    r = e.meta.review
    lines = [
        f"{e.meta.title}  [{e.id}]",
        f"audience {e.meta.audience}; topic {e.meta.topic}; status {r.status}; version {r.version}"
        + (f"; reviewer {r.reviewer}" if r.reviewer else ""),
        "",
        "Key points:",
        *[f"  - {k}" for k in e.meta.key_points],
        "",
        e.body.rstrip(),
        "",
        "Citations:",
    ]
    lines += [f"  {c}: {CITATIONS[c].text}" for c in e.meta.citations]
    lines += ["", "Review history:"]
    for ev in r.history:
        note = f" - {ev.comment}" if ev.comment else ""
        lines.append(
            f"  v{ev.version} {ev.at.isoformat()} {ev.action} -> {ev.status} by {ev.by}{note}"
        )
    return "\n".join(lines)


@knowledge_app.command("show")
def show_cmd(
    entry_id: Annotated[str, typer.Argument(help="Entry id, e.g. cvi-clinician.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    directory: DirOption = None,
) -> None:
    """Show one entry: key points, text, citations and review history."""
    kb = _load(directory)
    try:
        entry = kb.get(entry_id)
    except KeyError:
        _fail(
            "show", [Problem(entry_id, f"no such entry (known: {len(kb.entries)} ids; see `list`)")]
        )
    if as_json:
        sys.stdout.write(entry.model_dump_json(indent=2) + "\n")
        return
    out.print(_show_text(entry), markup=False, highlight=False)


def readability_problems(kb: KnowledgeBase) -> list[Problem]:
    """Patient entries above the readability bound (Flesch-Kincaid grade, textstat 0.7.8)."""
    problems: list[Problem] = []
    for e in kb.for_audience("patient"):
        text = plain(" ".join(e.meta.key_points) + "\n" + e.body)
        grade = float(textstat.flesch_kincaid_grade(text))
        if grade > READABILITY_MAX_GRADE:
            problems.append(
                Problem(
                    f"{e.source}:body",
                    f"Flesch-Kincaid grade {grade:.1f} is above {READABILITY_MAX_GRADE:g}",
                )
            )
    return problems


@knowledge_app.command("validate")
def validate_cmd(directory: DirOption = None) -> None:
    """Check every entry, the source register, the synonym table, the question set and readability."""
    problems: list[Problem] = []
    for loader in (load_register, load_concepts, load_questions):
        try:
            loader()
        except InvalidInput as e:
            problems += e.problems
    try:
        kb = load_directory(_directory(directory))
    except InvalidInput as e:
        problems += e.problems
    else:
        problems += readability_problems(kb)
    if problems:
        _fail("knowledge base not valid", problems)
    by_status: dict[str, int] = {}
    for entry in kb.entries:
        by_status[entry.status] = by_status.get(entry.status, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    out.print(f"{len(kb.entries)} entries valid ({counts}).")


def _step(
    action: ReviewAction, entry_id: str, by: str, comment: str | None, directory: Path | None
) -> None:
    store = EntryStore(_directory(directory))
    try:
        entry = store.apply(entry_id, action, by=by, comment=comment)
    except KeyError as e:
        _fail(action, [Problem(entry_id, str(e).strip("'\""))])
    except (WorkflowError, InvalidInput) as e:
        problems = e.problems if isinstance(e, InvalidInput) else (Problem(entry_id, str(e)),)
        _fail(f"{action} refused", problems)
    r = entry.meta.review
    out.print(
        f"{entry.id}: {action} by {by} -> {r.status} (version {r.version})",
        markup=False,
        highlight=False,
    )


CommentOption = Annotated[str | None, typer.Option("--comment", "-m", help="Note for the record.")]


@knowledge_app.command("submit")
def submit_cmd(
    entry_id: str, by: ByOption, comment: CommentOption = None, directory: DirOption = None
) -> None:
    """Submit a draft entry for clinical review."""
    _step("submit", entry_id, by, comment, directory)


@knowledge_app.command("review")
def review_cmd(
    entry_id: str, by: ByOption, comment: CommentOption = None, directory: DirOption = None
) -> None:
    """Start reviewing a submitted entry (you become its reviewer)."""
    _step("start-review", entry_id, by, comment, directory)


@knowledge_app.command("approve")
def approve_cmd(
    entry_id: str, by: ByOption, comment: CommentOption = None, directory: DirOption = None
) -> None:
    """Approve an entry under review; patients will see it. The submitter cannot approve."""
    _step("approve", entry_id, by, comment, directory)


@knowledge_app.command("send-back")
def send_back_cmd(
    entry_id: str,
    by: ByOption,
    comment: Annotated[str, typer.Option("--comment", "-m", help="What to change (required).")],
    directory: DirOption = None,
) -> None:
    """Return a submitted or under-review entry to draft, saying what to change."""
    _step("send-back", entry_id, by, comment, directory)


@knowledge_app.command("revise")
def revise_cmd(
    entry_id: str, by: ByOption, comment: CommentOption = None, directory: DirOption = None
) -> None:
    """Reopen an approved entry as a draft before editing it (patients stop seeing it)."""
    _step("revise", entry_id, by, comment, directory)
