"""Retrieval evaluation of `venalab ask` on the question set `knowledge/eval/questions.toml`.

Reports top-1 and top-3 retrieval accuracy for in-scope questions (per audience and overall),
the share of in-scope questions wrongly declined, the share of out-of-scope questions
correctly declined, and whether value questions reach the engine with the expected verdict.

Patients only ever see approved entries, and the shipped entries are not approved (no
clinician has reviewed them). To measure retrieval for patient questions the evaluation
therefore runs a *simulated* review in memory - start-review and approve by the account
`SIMULATED_REVIEWER` through the same workflow functions the CLI uses - and never writes it
to the entry files. The report says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from venalab.datafiles import read_toml
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen
from venalab.knowledge.answer import Answer, ReviewPolicy, ask
from venalab.knowledge.entries import KnowledgeBase
from venalab.knowledge.model import AUDIENCES, Audience, validation_problems
from venalab.knowledge.retrieval import RetrievalParams, RetrieverKind, build_index
from venalab.knowledge.workflow import apply_step

SCHEMA = "venalab-knowledge-questions/1"
SIMULATED_REVIEWER = "evaluation (simulated review - not a clinical sign-off)"
QuestionKind = Literal["in-scope", "out-of-scope", "measurement"]


class EvalQuestion(Frozen):
    text: Annotated[str, Field(min_length=3)]
    audience: Audience
    kind: QuestionKind = "in-scope"
    expect: tuple[str, ...] = ()
    vein: str | None = None
    verdict: str | None = None


class QuestionResult(Frozen):
    question: EvalQuestion
    top: tuple[str, ...]
    declined: bool
    top1: bool
    top3: bool
    ok: bool  # in-scope: answered with a right entry first; out-of-scope: declined; measurement: verdict


class Rates(Frozen):
    n: int
    top1: float
    top3: float
    answered_top1: float  # not declined and the first entry is a right one
    false_decline: float


class EvalReport(Frozen):
    retriever: str
    simulated_review: bool
    in_scope: Rates
    by_audience: dict[str, Rates]
    out_of_scope_n: int
    out_of_scope_declined: float
    measurement_n: int
    measurement_ok: float
    results: tuple[QuestionResult, ...]

    def failures(self) -> tuple[QuestionResult, ...]:
        return tuple(r for r in self.results if not r.ok)


def parse_questions(raw: dict[str, object], name: str) -> tuple[EvalQuestion, ...]:
    problems: list[Problem] = []
    if raw.get("schema") != SCHEMA:
        problems.append(Problem(f"{name}:schema", f"expected {SCHEMA!r}"))
    items = raw.get("question")
    if not isinstance(items, list) or not items:
        raise InvalidInput([Problem(f"{name}:question", "expected [[question]] tables")], what=name)
    out: list[EvalQuestion] = []
    for i, item in enumerate(items):
        try:
            q = EvalQuestion.model_validate(item)
        except ValidationError as err:
            for p in validation_problems(err, name):
                field = p.path.partition(":")[2]
                problems.append(Problem(f"{name}:question[{i}].{field}", p.message))
            continue
        if q.kind == "in-scope" and not q.expect:
            problems.append(Problem(f"{name}:question[{i}].expect", "in-scope needs entry ids"))
        if q.kind == "measurement" and (q.vein is None or q.verdict is None):
            problems.append(Problem(f"{name}:question[{i}]", "measurement needs vein and verdict"))
        out.append(q)
    if problems:
        raise InvalidInput(problems, what=f"question set {name}")
    return tuple(out)


@cache
def load_questions() -> tuple[EvalQuestion, ...]:
    node = files("venalab.knowledge").joinpath("eval", "questions.toml")
    return parse_questions(read_toml(node), node.name)


def simulate_review(kb: KnowledgeBase, reviewer: str = SIMULATED_REVIEWER) -> KnowledgeBase:
    """Every entry taken through start-review and approve in memory (never written)."""
    now = datetime.now(UTC)
    entries = []
    for e in kb.entries:
        if e.status == "draft":
            e = apply_step(e, "submit", by="evaluation (simulated author)", at=now)
        if e.status == "submitted":
            e = apply_step(e, "start-review", by=reviewer, at=now)
        if e.status == "under-review":
            e = apply_step(e, "approve", by=reviewer, at=now, comment="simulated for evaluation")
        entries.append(e)
    return kb.model_copy(update={"entries": tuple(entries)})


def _rates(results: list[QuestionResult]) -> Rates:
    n = len(results)
    if n == 0:
        return Rates(n=0, top1=0.0, top3=0.0, answered_top1=0.0, false_decline=0.0)
    return Rates(
        n=n,
        top1=sum(r.top1 for r in results) / n,
        top3=sum(r.top3 for r in results) / n,
        answered_top1=sum(r.ok for r in results) / n,
        false_decline=sum(r.declined for r in results) / n,
    )


def evaluate(
    kb: KnowledgeBase,
    questions: tuple[EvalQuestion, ...] | None = None,
    *,
    retriever: RetrieverKind = "bm25",
    params: RetrievalParams | None = None,
    simulate: bool = True,
) -> EvalReport:
    questions = questions if questions is not None else load_questions()
    params = params or RetrievalParams()
    if simulate:
        kb = simulate_review(kb)
    indexes = {aud: build_index(kb.for_audience(aud), retriever, params) for aud in AUDIENCES}
    visible = {
        aud: frozenset(
            e.id for e in kb.for_audience(aud) if aud == "clinician" or e.status == "approved"
        )
        for aud in AUDIENCES
    }
    results: list[QuestionResult] = []
    for q in questions:
        if q.kind == "measurement":
            a = ask(q.text, q.audience, kb=kb, retriever=retriever, params=params)
            m = a.measurement
            ok = (
                m is not None
                and len(m.verdicts) == 1
                and m.verdicts[0].vein == q.vein
                and m.verdicts[0].verdict == q.verdict
            )
            results.append(
                QuestionResult(question=q, top=(), declined=False, top1=ok, top3=ok, ok=ok)
            )
            continue
        found = indexes[q.audience].search(q.text, top=3, allowed=visible[q.audience])
        top = tuple(h.entry_id for h in found.hits)
        top1 = bool(top) and top[0] in q.expect
        top3 = any(t in q.expect for t in top[:3])
        ok = found.declined if q.kind == "out-of-scope" else (top1 and not found.declined)
        results.append(
            QuestionResult(
                question=q, top=top, declined=found.declined, top1=top1, top3=top3, ok=ok
            )
        )
    in_scope = [r for r in results if r.question.kind == "in-scope"]
    oos = [r for r in results if r.question.kind == "out-of-scope"]
    meas = [r for r in results if r.question.kind == "measurement"]
    return EvalReport(
        retriever=retriever,
        simulated_review=simulate,
        in_scope=_rates(in_scope),
        by_audience={
            aud: _rates([r for r in in_scope if r.question.audience == aud])
            for aud in ("clinician", "patient")
        },
        out_of_scope_n=len(oos),
        out_of_scope_declined=sum(r.declined for r in oos) / len(oos) if oos else 0.0,
        measurement_n=len(meas),
        measurement_ok=sum(r.ok for r in meas) / len(meas) if meas else 0.0,
        results=tuple(results),
    )


# --------------------------------------------------------------------------------------
# Answer-level evaluation (issue 19): does the answer carry the expected facts and a
# citation, does an urgent question start with the emergency advice, is an out-of-scope
# question declined? Two sets in eval/: tuning.toml (used to develop retrieval and
# composition) and heldout.toml (written before the entries were read, never tuned on).
# They run on the shipped entries under the default review policy, as a user sees them.

FactSetName = Literal["tuning", "heldout"]


class FactQuestion(Frozen):
    id: str
    audience: Audience
    scope: Literal["in", "out"]
    question: Annotated[str, Field(min_length=3)]
    urgent: bool = False
    facts: tuple[tuple[str, ...], ...] = ()
    parts: Annotated[int, Field(ge=1)] = 1


class FactResult(Frozen):
    question: FactQuestion
    kind: str
    entry: str | None
    missing: tuple[tuple[str, ...], ...]
    cited: bool
    urgent_first: bool
    ok: bool


class FactReport(Frozen):
    name: str
    results: tuple[FactResult, ...]

    def _of(self, scope: str, audience: str | None = None) -> list[FactResult]:
        return [
            r
            for r in self.results
            if r.question.scope == scope and audience in (None, r.question.audience)
        ]

    def counts(self, scope: str, audience: str | None = None) -> tuple[int, int]:
        rs = self._of(scope, audience)
        return sum(r.ok for r in rs), len(rs)

    def failures(self) -> tuple[FactResult, ...]:
        return tuple(r for r in self.results if not r.ok)


class _FactFile(Frozen):
    version: int
    question: Annotated[tuple[FactQuestion, ...], Field(min_length=1)]


def parse_fact_set(raw: dict[str, object], name: str) -> tuple[FactQuestion, ...]:
    try:
        doc = _FactFile.model_validate(raw)
    except ValidationError as err:
        raise InvalidInput(validation_problems(err, name), what=f"question set {name}") from None
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, q in enumerate(doc.question):
        if q.id in seen:
            problems.append(Problem(f"{name}:question[{i}].id", f"duplicate id {q.id!r}"))
        seen.add(q.id)
        if q.scope == "in" and not q.facts:
            problems.append(Problem(f"{name}:question[{i}].facts", "in-scope needs facts"))
        if q.scope == "out" and q.facts:
            problems.append(Problem(f"{name}:question[{i}].facts", "out-of-scope has no facts"))
    if problems:
        raise InvalidInput(problems, what=f"question set {name}")
    return doc.question


@cache
def load_fact_set(name: FactSetName) -> tuple[FactQuestion, ...]:
    node = files("venalab.knowledge").joinpath("eval", f"{name}.toml")
    return parse_fact_set(read_toml(node), node.name)


def score_answer(q: FactQuestion, answer: Answer) -> FactResult:
    """An in-scope answer is right when it is not declined, names every expected fact (any
    of its alternatives, case-insensitive), cites a source, and - for an urgent question -
    starts with the emergency advice. An out-of-scope answer is right when declined."""
    text = answer.to_text().lower()
    missing = tuple(f for f in q.facts if not any(alt.lower() in text for alt in f))
    cited = bool(answer.references)
    urgent_first = bool(answer.urgent) and text.startswith(answer.urgent[0].heading.lower())
    if q.scope == "out":
        ok = answer.kind == "declined"
    else:
        ok = answer.kind != "declined" and not missing and cited
        ok = ok and (urgent_first or not q.urgent)
    return FactResult(
        question=q,
        kind=answer.kind,
        entry=answer.entry.id if answer.entry else None,
        missing=missing,
        cited=cited,
        urgent_first=urgent_first,
        ok=ok,
    )


def evaluate_facts(
    kb: KnowledgeBase,
    name: FactSetName,
    *,
    retriever: RetrieverKind = "bm25",
    policy: ReviewPolicy = "show-with-banner",
) -> FactReport:
    results = [
        score_answer(q, ask(q.question, q.audience, kb=kb, retriever=retriever, policy=policy))
        for q in load_fact_set(name)
    ]
    return FactReport(name=name, results=tuple(results))
