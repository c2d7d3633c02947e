"""`ask(question, audience)`: a cited answer composed from knowledge entries or the engine.

Order of decisions:
0. Urgent symptoms in the question (`intent.py`, `urgent.toml`: a bleeding vein, chest pain,
   sudden breathlessness, a hot swollen calf) put the emergency advice first, always.
1. A question about a measured value (a duration in ms or s and a named vein) goes to the
   engine (`measurement.py`): its verdict and evidence are the answer. A Villalta or rVCSS
   total in the question is read against the engine's score data and shown first.
2. Otherwise the entries the audience may see are searched (`retrieval.py`). Under the
   default review policy every entry is answered, an unreviewed one with a banner
   ("educational, not yet reviewed by a clinician at this service") and its status, as the
   seed Q&A page does; a lab can set the stricter policy "patients see approved entries only"
   (VENALAB_PATIENT_REVIEW_POLICY=approved-only). The answer is composed from the best entry
   and the best-matching sections across entries, one set per part of a multi-part question;
   a patient answer always says when to get help.
3. A question about something else (arterial disease, cardiology, oncology dosing,
   orthopaedics...) or that no entry answers gets an honest "no reviewed content on this" and
   the closest topics - never an invented answer.

Citations are written `[@ID]` in the entries and renumbered [1], [2] ... in order of first
appearance in the answer; the reference list holds exactly the numbers used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Literal, get_args

from venalab.citations import CITATIONS
from venalab.evidence import Evidence, Frozen
from venalab.knowledge.entries import KnowledgeBase, load_knowledge_base
from venalab.knowledge.intent import (
    ScoreReading,
    UrgentRule,
    load_urgent,
    question_parts,
    read_score,
    urgent_rules,
)
from venalab.knowledge.measurement import (
    MeasurementAnswer,
    answer_measurement,
    parse_measurement,
)
from venalab.knowledge.model import AUDIENCES, Audience, Entry, Section, Status
from venalab.knowledge.retrieval import (
    Bm25Index,
    Retrieval,
    RetrievalParams,
    RetrieverKind,
    SectionHit,
    build_index,
)

AnswerKind = Literal["knowledge", "measurement", "urgent", "declined"]
DeclineReason = Literal["out-of-scope", "not-yet-reviewed", "empty-question"]
ReviewPolicy = Literal["show-with-banner", "approved-only"]
REVIEW_POLICIES: tuple[ReviewPolicy, ...] = get_args(ReviewPolicy)
POLICY_ENV = "VENALAB_PATIENT_REVIEW_POLICY"
UNREVIEWED_BANNER = (
    "Educational, not yet reviewed by a clinician at this service (review status: {status})."
)
# A section from elsewhere joins the answer when it scores this share of the best section.
_SECTION_SHARE = 0.6
_MAX_EXTRA_SECTIONS = 3


def review_policy(env: Mapping[str, str] | None = None) -> ReviewPolicy:
    """The lab's patient review policy: VENALAB_PATIENT_REVIEW_POLICY, default show-with-banner.

    show-with-banner: patients get unreviewed entries with the banner and their status;
    approved-only: patients see approved entries only. Clinicians always see every entry,
    each with its status.
    """
    value = (os.environ if env is None else env).get(POLICY_ENV, "").strip() or "show-with-banner"
    for p in REVIEW_POLICIES:
        if value == p:
            return p
    raise ValueError(f"{POLICY_ENV} must be one of {', '.join(REVIEW_POLICIES)}, got {value!r}")


DISCLAIMER: dict[Audience, str] = {
    "clinician": "For healthcare professionals. This answer is assembled from venalab knowledge "
    "entries and the cited sources; check the primary literature and use clinical judgement "
    "before applying it to a patient.",
    "patient": "This is general information, not medical advice. It does not replace your own "
    "doctor or nurse, who know your health. If your leg suddenly swells, or you have chest pain "
    "or trouble breathing, get urgent help.",
}
STATUS_LABEL: dict[Status, str] = {
    "draft": "draft - not yet submitted for clinical review",
    "submitted": "submitted - waiting for clinical review, not yet approved",
    "under-review": "under review - not yet approved by a clinical reviewer",
    "approved": "approved by a clinical reviewer",
}
ENGINE_STATUS = (
    "computed by the venalab engine from its versioned criteria data; every rule still needs "
    "clinical sign-off before clinical use"
)
# Which source stands behind each built-in criteria set (data/criteria/*.toml), and which
# sets are research criteria rather than guideline criteria.
_CRITERIA_SOURCE = {
    "labropoulos-2003": "LAB03",
    "svs-avf-2011": "SVS11",
    "svs-avf-avls-2022": "SVS22",
}
_RESEARCH_CRITERIA = frozenset({"labropoulos-2003"})
_MARKS = re.compile(r"(?:\[@[A-Za-z0-9][A-Za-z0-9_-]*\])+")
_ONE_MARK = re.compile(r"\[@([A-Za-z0-9][A-Za-z0-9_-]*)\]")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


class Reference(Frozen):
    number: int
    id: str
    text: str
    doi: str | None = None
    pmid: str | None = None
    url: str | None = None


class SourceEntry(Frozen):
    id: str
    title: str
    topic: str
    audience: Audience
    status: Status
    status_label: str
    version: int
    reviewer: str | None = None
    score: float | None = None


class Part(Frozen):
    heading: str
    items: tuple[str, ...]


class RetrievalInfo(Frozen):
    retriever: str
    score: float | None = None
    coverage: float | None = None
    reason: str | None = None


class Answer(Frozen):
    question: str
    audience: Audience
    kind: AnswerKind
    urgent: tuple[Part, ...] = ()  # emergency advice, shown before everything else
    review_banner: str | None = None  # set when the entry used is not approved
    short_answer: str
    key_points: tuple[str, ...] = ()
    details: tuple[Part, ...] = ()
    from_guidelines: tuple[str, ...] = ()
    from_research: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    entry: SourceEntry | None = None
    review_status: Status | None = None
    status_note: str
    measurement: MeasurementAnswer | None = None
    declined_reason: DeclineReason | None = None
    closest_topics: tuple[SourceEntry, ...] = ()
    get_help: tuple[str, ...] = ()  # patients: when to get help
    disclaimer: str
    follow_up: tuple[str, ...] = ()
    retrieval: RetrievalInfo
    policy: ReviewPolicy = "show-with-banner"

    def prose(self) -> str:
        """The running text a reader sees (for readability checks): no references."""
        parts = [i for u in self.urgent for i in u.items]
        parts += [self.short_answer, *self.key_points]
        for d in self.details:
            parts += d.items
        parts += [*self.from_guidelines, *self.from_research, *self.get_help, self.disclaimer]
        return "\n".join(parts)

    def to_text(self) -> str:
        """Plain-text rendering (CLI); the web page renders the fields itself."""
        lines: list[str] = []
        for u in self.urgent:
            lines += [f"{u.heading.upper()}:", *[f"  - {i}" for i in u.items], ""]
        if self.review_banner:
            lines += [f"[{self.review_banner}]", ""]
        lines += [self.short_answer, ""]
        if self.key_points:
            lines += ["Key points:", *[f"  - {k}" for k in self.key_points], ""]
        for d in self.details:
            lines += [f"{d.heading}:", *[f"  {i}" for i in d.items], ""]
        if self.from_guidelines:
            lines += ["From the guidelines:", *[f"  - {g}" for g in self.from_guidelines], ""]
        if self.from_research:
            lines += ["From the research:", *[f"  - {r}" for r in self.from_research], ""]
        if self.get_help:
            lines += ["When to get help:", *[f"  - {h}" for h in self.get_help], ""]
        if self.closest_topics:
            lines += [
                "Closest topics:",
                *[f"  - {t.title} ({t.id}; {t.status})" for t in self.closest_topics],
                "",
            ]
        if self.references:
            lines += ["References:", *[f"  [{r.number}] {r.text}" for r in self.references], ""]
        lines += [f"Status: {self.status_note}", f"Note: {self.disclaimer}"]
        if self.follow_up:
            lines += ["", "You could also ask:", *[f"  - {q}" for q in self.follow_up]]
        return "\n".join(lines)


class _Citer:
    """Numbers citation ids in order of first appearance; builds the reference list."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def number(self, cid: str) -> int:
        if cid not in self.numbers:
            self.numbers[cid] = len(self.numbers) + 1
        return self.numbers[cid]

    def references(self) -> tuple[Reference, ...]:
        out: list[Reference] = []
        for cid, n in sorted(self.numbers.items(), key=lambda kv: kv[1]):
            c = CITATIONS[cid]
            out.append(Reference(number=n, id=cid, text=c.text, doi=c.doi, pmid=c.pmid, url=c.url))
        return tuple(out)


def _render_keeping_marks(text: str, citer: _Citer) -> str:
    # `plain` strips [@..] marks, so number them first, then clean emphasis.
    def repl(m: re.Match[str]) -> str:
        ids = _ONE_MARK.findall(m.group(0))
        nums = list(dict.fromkeys(citer.number(i) for i in ids))
        return "[" + ", ".join(str(n) for n in nums) + "]"

    out = _MARKS.sub(repl, text)
    out = re.sub(r"\*\*|__|`", "", out)
    return re.sub(r"[ \t]{2,}", " ", out).strip()


def _items(section: Section | None) -> tuple[str, ...]:
    """A section's text as display items: bullet lines, table rows or paragraphs."""
    if section is None:
        return ()
    items: list[str] = []
    for para in section.paragraphs:
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if all(ln.startswith(("- ", "* ")) or ln[:2].rstrip(".").isdigit() for ln in lines):
            items += [re.sub(r"^(?:[-*]|\d+\.)\s+", "", ln) for ln in lines]
        elif all(ln.startswith("|") for ln in lines):
            rows = [ln for ln in lines if not re.fullmatch(r"\|[\s|:-]+\|", ln)]
            cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
            header = cells[0] if cells else []
            for row in cells[1:]:
                pairs = [f"{h}: {v}" if h else v for h, v in zip(header, row, strict=False)]
                items.append("; ".join(pairs) + ".")
        else:
            items.append(" ".join(lines))
    return tuple(items)


def _source(entry: Entry, score: float | None = None) -> SourceEntry:
    r = entry.meta.review
    return SourceEntry(
        id=entry.id,
        title=entry.meta.title,
        topic=entry.meta.topic,
        audience=entry.meta.audience,
        status=r.status,
        status_label=STATUS_LABEL[r.status],
        version=r.version,
        reviewer=r.reviewer,
        score=None if score is None else round(score, 3),
    )


def _visible(kb: KnowledgeBase, audience: Audience, policy: ReviewPolicy) -> tuple[Entry, ...]:
    entries = kb.for_audience(audience)
    if audience == "patient" and policy == "approved-only":
        return tuple(e for e in entries if e.status == "approved")
    return entries


@lru_cache(maxsize=16)
def _index(
    kb: KnowledgeBase, audience: Audience, kind: RetrieverKind, params: RetrievalParams
) -> Bm25Index:
    # Built over every entry of the audience; searches are limited to the visible ones.
    return build_index(kb.for_audience(audience), kind, params)


def _follow_ups(
    entry: Entry, kb: KnowledgeBase, audience: Audience, policy: ReviewPolicy
) -> tuple[str, ...]:
    visible = {e.id for e in _visible(kb, audience, policy)}
    out = [f.question for f in entry.meta.follow_up if f.entry is None or f.entry in visible]
    return tuple(out[:4])


def _urgent_parts(
    rules: tuple[UrgentRule, ...], audience: Audience, citer: _Citer
) -> tuple[Part, ...]:
    return tuple(
        Part(
            heading=r.heading,
            items=tuple(_render_keeping_marks(t, citer) for t in r.advice(audience)),
        )
        for r in rules
    )


def _default_help(citer: _Citer) -> tuple[str, ...]:
    return tuple(_render_keeping_marks(t, citer) for t in load_urgent().default_help.patient)


def _declined(
    question: str,
    audience: Audience,
    reason: DeclineReason,
    closest: tuple[SourceEntry, ...],
    info: RetrievalInfo,
    policy: ReviewPolicy,
) -> Answer:
    if reason == "not-yet-reviewed":
        short = (
            "No reviewed content on this yet. We have a page on this topic, but a clinician "
            "has not approved it. Please ask your own doctor or nurse."
            if audience == "patient"
            else "No reviewed content on this yet: the matching entry is not approved."
        )
    elif reason == "empty-question":
        short = "Please type a question about leg veins, for example: what are varicose veins?"
    elif audience == "patient":
        short = (
            "No reviewed content on this. Our pages are about leg veins (varicose veins, "
            "clots, swelling, ulcers and vein tests) and do not cover this question, so we will "
            "not guess. Please ask your own doctor, nurse or pharmacist."
        )
    else:
        short = (
            "No reviewed content on this: venalab's knowledge base covers lower-limb venous "
            "disease, and no entry answers this question, so no answer is given. The closest "
            "topics are listed below."
        )
    return Answer(
        question=question,
        audience=audience,
        kind="declined",
        short_answer=short,
        status_note="no entry used",
        declined_reason=reason,
        closest_topics=closest,
        disclaimer=DISCLAIMER[audience],
        follow_up=tuple(f"What is {t.title.split(' (')[0].lower()}?" for t in closest[:2])
        if audience == "patient"
        else tuple(f"Tell me about {t.title.split(' (')[0].lower()}." for t in closest[:2]),
        retrieval=info,
        policy=policy,
    )


def _measurement_answer(
    question: str,
    audience: Audience,
    m: MeasurementAnswer,
    kb: KnowledgeBase,
    citer: _Citer,
    policy: ReviewPolicy,
) -> Answer:

    def cite(ev: Evidence) -> str:
        ids = [s for s in ev.sources or (ev.source,) if s in CITATIONS]
        return "".join(f"[@{i}]" for i in dict.fromkeys(ids))

    key_points: list[str] = []
    guidelines: list[str] = []
    research: list[str] = []
    for v in m.verdicts:
        ev = v.evidence
        if audience == "clinician":
            key_points.append(
                f"Rule {ev.rule}: measured {_num(v.measured_ms)} ms, threshold "
                f"{ev.comparison or ''} {_num(ev.threshold)} {ev.unit or ''} "
                f"({ev.criteria or m.criteria_id}; source {ev.source}; evidence level {ev.level}). "
                f"{cite(ev)}"
            )
            for chk in v.checks[1:]:
                measured = "not stated" if chk.measured is None else _num(chk.measured)
                key_points.append(
                    f"Check {chk.rule}: measured {measured}, threshold {chk.comparison or ''} "
                    f"{_num(chk.threshold)} {chk.unit or ''}{'; ' + chk.note if chk.note else ''}. "
                    f"{cite(chk)}"
                )
            guidelines.append(
                f"{m.criteria_title}: {v.vein_name} - cut-off {ev.comparison or ''} "
                f"{_num(ev.threshold)} {ev.unit or ''}. {cite(ev)}"
            )
        else:
            key_points.append(f"{v.plain_statement} {cite(ev)}")
            guidelines.append(
                f"The limit comes from the vein guidelines this service uses. {cite(ev)}"
            )
        for other in v.other_criteria:
            if other.criteria == m.criteria_id:
                continue
            src = _CRITERIA_SOURCE.get(other.criteria, "VENALAB")
            research_set = other.criteria in _RESEARCH_CRITERIA
            if audience == "clinician":
                verdict = "abnormal" if other.abnormal else "not abnormal"
                line = (
                    f"Criteria set {other.criteria} (cut-off {other.comparison} "
                    f"{_num(other.threshold_ms)} ms) would call this {verdict}. [@{src}]"
                )
                (research if research_set else guidelines).append(line)
            elif other.abnormal and other.threshold_ms is not None and research_set:
                research.append(
                    f"Some experts use a lower limit of {_num(other.threshold_ms)} ms. "
                    f"By that limit, this value would count as leaking. [@{src}]"
                )
    short = " ".join(
        v.statement if audience == "clinician" else v.plain_statement for v in m.verdicts
    )
    if m.question.notes and audience == "clinician":
        short += " Note: " + "; ".join(m.question.notes) + "."
    rendered_points = tuple(_render_keeping_marks(k, citer) for k in key_points)
    rendered_guidelines = tuple(_render_keeping_marks(g, citer) for g in dict.fromkeys(guidelines))
    rendered_research = tuple(_render_keeping_marks(r, citer) for r in dict.fromkeys(research))
    topic = (
        "perforator-veins-clinician"
        if any(v.is_perforator for v in m.verdicts)
        else "venous-reflux-clinician"
    )
    if audience == "patient":
        topic = "venous-reflux-patient"
    follow: tuple[str, ...] = ()
    if topic in kb.ids() and kb.get(topic) in _visible(kb, audience, policy):
        follow = _follow_ups(kb.get(topic), kb, audience, policy)
        follow = tuple(f for f in follow if not re.search(r"\d+\s*ms", f))
    return Answer(
        question=question,
        audience=audience,
        kind="measurement",
        short_answer=short,
        key_points=rendered_points,
        from_guidelines=rendered_guidelines,
        from_research=rendered_research,
        references=citer.references(),
        status_note=ENGINE_STATUS
        if audience == "clinician"
        else "worked out by the venalab program from vein guidelines",
        measurement=m,
        disclaimer=DISCLAIMER[audience],
        follow_up=follow,
        retrieval=RetrievalInfo(retriever="engine"),
        policy=policy,
    )


def _section_of(index: Bm25Index, hit: SectionHit) -> tuple[Entry, Section]:
    entry = index.entries[hit.entry_id]
    return entry, next(s for s in entry.sections if s.heading == hit.heading)


def _extra_sections(
    index: Bm25Index, found: Retrieval, main: Entry, taken: set[tuple[str, str]]
) -> list[tuple[Entry, Section]]:
    """The best sections of a search that the answer does not show yet.

    From the main entry only its detail sections (its summary, guidelines and research are
    shown anyway); from other entries any section but their help advice.
    """
    if not found.sections:
        return []
    best = found.sections[0].score
    out: list[tuple[Entry, Section]] = []
    for hit in found.sections:
        if hit.score < _SECTION_SHARE * best or len(out) >= _MAX_EXTRA_SECTIONS:
            break
        key = (hit.entry_id, hit.heading)
        if key in taken:
            continue
        entry, section = _section_of(index, hit)
        if section.kind == "help" or (entry.id == main.id and section.kind != "detail"):
            continue
        taken.add(key)
        out.append((entry, section))
    return out


def _knowledge_answer(
    question: str,
    audience: Audience,
    found: Retrieval,
    index: Bm25Index,
    kb: KnowledgeBase,
    citer: _Citer,
    policy: ReviewPolicy,
    urgent: tuple[Part, ...],
    score: ScoreReading | None,
    parts: tuple[str, ...],
    visible: frozenset[str],
    info: RetrievalInfo,
) -> Answer:
    top = found.hits[0]
    entry = index.entries[top.entry_id]
    cite: Callable[[str], str] = lambda t: _render_keeping_marks(t, citer)  # noqa: E731
    # Rendered (and so numbered) in reading order: short answer, key points, details...
    summary = entry.section("summary")
    short = cite(summary.paragraphs[0]) if summary and summary.paragraphs else entry.meta.title
    key_points = tuple(cite(k) for k in entry.meta.key_points)
    details: list[Part] = []
    if score is not None:
        details.append(
            Part(
                heading="Your score" if audience == "patient" else "Score interpretation",
                items=(cite(score.plain if audience == "patient" else score.statement),),
            )
        )
    taken: set[tuple[str, str]] = set()
    chosen = _extra_sections(index, found, entry, taken)
    # Every further part of a multi-part question brings the sections that match it.
    for part in parts if len(parts) > 1 else ():
        # A part that names no topic of its own ("how are they treated?") is about the
        # topic of the question's first part.
        _, anchoring, _ = index.concepts.scope_signals(
            [t for t in index.terms(part) if not t.startswith("~")]
        )
        sub = index.search(part if anchoring else f"{part} {entry.meta.title}", allowed=visible)
        if not sub.declined:
            chosen += _extra_sections(index, sub, entry, taken)
    for other, section in chosen:
        heading = (
            section.heading if other.id == entry.id else f"{section.heading} ({other.meta.title})"
        )
        if section.kind == "summary" and other.id != entry.id:
            heading = other.meta.title
        details.append(Part(heading=heading, items=tuple(cite(i) for i in _items(section))))
    guidelines = tuple(cite(i) for i in _items(entry.section("guidelines")))
    research = tuple(cite(i) for i in _items(entry.section("research")))
    get_help: tuple[str, ...] = ()
    if audience == "patient":
        own = entry.section("help")
        get_help = tuple(cite(i) for i in _items(own)) if own else _default_help(citer)
    src = _source(entry, top.score)
    note = f"{entry.meta.title}: {src.status_label}"
    if entry.status == "approved" and src.reviewer:
        note += f" ({src.reviewer}, version {src.version})"
    banner = None if entry.status == "approved" else UNREVIEWED_BANNER.format(status=entry.status)
    used = {entry.id} | {o.id for o, _ in chosen}
    for o, _ in chosen:
        if o.status != "approved" and o.id != entry.id:
            note += f"; {o.meta.title}: {STATUS_LABEL[o.status]}"
    if banner is None and any(index.entries[u].status != "approved" for u in used):
        banner = UNREVIEWED_BANNER.format(status="part of this answer is not approved")
    follow = list(_follow_ups(entry, kb, audience, policy))
    second_hit = found.hits[1] if len(found.hits) > 1 else None
    if second_hit is not None and second_hit.score >= 0.8 * top.score:
        second = index.entries[second_hit.entry_id]
        if second.meta.topic != entry.meta.topic:
            ask_next = (
                f"What is {second.meta.title.split(' (')[0].lower()}?"
                if audience == "patient"
                else f"Tell me about {second.meta.title.split(' (')[0].lower()}."
            )
            if ask_next not in follow:
                follow.append(ask_next)
    return Answer(
        question=question,
        audience=audience,
        kind="knowledge",
        urgent=urgent,
        review_banner=banner,
        short_answer=short,
        key_points=key_points,
        details=tuple(details),
        from_guidelines=guidelines,
        from_research=research,
        references=citer.references(),
        entry=src,
        review_status=entry.status,
        status_note=note,
        get_help=get_help,
        disclaimer=DISCLAIMER[audience],
        follow_up=tuple(follow[:4]),
        retrieval=info,
        policy=policy,
    )


def _urgent_answer(
    question: str,
    audience: Audience,
    urgent: tuple[Part, ...],
    citer: _Citer,
    info: RetrievalInfo,
    policy: ReviewPolicy,
) -> Answer:
    """Emergency advice alone, when no entry answers the rest of the question."""
    return Answer(
        question=question,
        audience=audience,
        kind="urgent",
        urgent=urgent,
        short_answer="This may be an emergency: follow the advice above first."
        if audience == "patient"
        else "Possible emergency: see the first-aid advice above.",
        references=citer.references(),
        status_note="emergency advice of venalab's urgent-symptom table (not an entry)",
        get_help=_default_help(citer) if audience == "patient" else (),
        disclaimer=DISCLAIMER[audience],
        retrieval=info,
        policy=policy,
    )


def ask(
    question: str,
    audience: Audience = "clinician",
    *,
    kb: KnowledgeBase | None = None,
    retriever: RetrieverKind = "bm25",
    params: RetrievalParams | None = None,
    use_engine: bool = True,
    policy: ReviewPolicy | None = None,
) -> Answer:
    """Answer a question for a clinician or a patient, with numbered citations.

    `kb` defaults to the entries shipped with venalab; `retriever="hybrid"` adds the optional
    embedding model (raises EmbeddingUnavailable when the extra is not installed); `policy`
    defaults to the lab's setting (`review_policy()`).
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}")
    question = " ".join(question.split())
    kb = kb or load_knowledge_base()
    params = params or RetrievalParams()
    policy = policy or review_policy()
    if policy not in REVIEW_POLICIES:
        raise ValueError(f"policy must be one of {', '.join(REVIEW_POLICIES)}, got {policy!r}")
    if not question:
        return _declined(
            question,
            audience,
            "empty-question",
            (),
            RetrievalInfo(retriever=retriever, reason="empty"),
            policy,
        )
    citer = _Citer()
    urgent = _urgent_parts(urgent_rules(question, audience), audience, citer)
    if use_engine:
        parsed = parse_measurement(question)
        if parsed is not None:
            answer = _measurement_answer(
                question, audience, answer_measurement(parsed), kb, citer, policy
            )
            return answer.model_copy(update={"urgent": urgent})
    index = _index(kb, audience, retriever, params)
    visible = frozenset(e.id for e in _visible(kb, audience, policy))
    found = index.search(question, allowed=visible)
    score = read_score(question)
    top = found.hits[0] if found.hits else None
    info = RetrievalInfo(
        retriever=retriever,
        score=top.score if top else None,
        coverage=top.coverage if top else None,
        reason=found.reason,
    )
    if found.declined or top is None:
        if urgent:
            return _urgent_answer(question, audience, urgent, citer, info, policy)
        reason: DeclineReason = "out-of-scope"
        closest = tuple(_source(index.entries[h.entry_id], h.score) for h in found.hits[:3])
        if audience == "patient" and policy == "approved-only":
            # Content that exists but is not approved is never shown to a patient; say so.
            everything = index.search(question)
            if not everything.declined and everything.hits[0].entry_id not in visible:
                reason = "not-yet-reviewed"
        return _declined(question, audience, reason, closest, info, policy)
    return _knowledge_answer(
        question,
        audience,
        found,
        index,
        kb,
        citer,
        policy,
        urgent,
        score,
        question_parts(question),
        visible,
        info,
    )
