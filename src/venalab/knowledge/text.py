"""Text processing for retrieval: tokens, light stemming, stop words, concept expansion.

Concepts (abbreviations and synonyms) come from `knowledge/synonyms.toml`, validated at load.
Where a concept's word or phrase occurs, the token stream gains the concept token
(`~gsv`), so a question and an entry that use different words for one thing still meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache, cached_property, lru_cache
from importlib.resources import files
from typing import Annotated

from pydantic import Field, ValidationError
from rapidfuzz import fuzz, process

from venalab.datafiles import read_toml
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen
from venalab.knowledge.model import validation_problems

SCHEMA = "venalab-synonyms/1"
CONCEPT_PREFIX = "~"

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_CITE = re.compile(r"\[@[^\]]+\]")

# Function words and the conversational words of questions ("my doctor said ... what does it
# mean"), which carry no topic.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each else
    ever few for from further get gets getting got had has have having he her here hers him
    his how i if in into is it its itself just let lets like may me might more most much must
    my myself need needs no nor not now of off on once one only or other our ours out over own
    please quite rather really same say says said she should so some such tell than that the
    their them then there these they this those through to too told under until up upon us
    very vs versus was we were what whats when where which while who whom why will with would
    you your yours yourself mean means meaning explain know thing things anything something
    someone kind sort type ok okay hi hello thanks thank want wanted wonder wondering dear
    doctor doctors nurse said told asked ask im ive id dont doesnt isnt arent cant wont
    result results show shows showed shown matter matters difference differences different
    between role best good bad better worse serious important happen happens work works
    instead give giving given put keep still use used using way ways medicine medicines
    medication medications drug drugs look looks find found often see seen
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def stem(word: str) -> str:
    """A light, deterministic suffix stripper (plurals, -ation, -ssion, -ment, -ing, -ed, final e)."""
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "ches", "shes", "xes", "zes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "ous")):
        w = w[:-1]
    if len(w) > 7 and w.endswith("ation"):
        w = w[:-3]  # indication, indicated -> indicat; ablation, ablate -> ablat
    elif len(w) > 7 and w.endswith("ssion"):
        w = w[:-3]  # compression, compressed -> compress
    elif len(w) > 7 and w.endswith("ment"):
        w = w[:-4]
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def words(text: str) -> list[str]:
    """Lower-case word tokens, citation marks removed, hyphenated words split."""
    text = _CITE.sub(" ", text).lower().replace("’", "'").replace("'", "")
    return _WORD.findall(text)


class Concept(Frozen):
    name: str
    terms: Annotated[tuple[str, ...], Field(min_length=1)]
    # Everyday concepts (treatment, leg, symptoms): they help matching but do not show that a
    # question is about venous disease.
    generic: bool = False
    # Venous concepts that other specialties share (anticoagulants, swelling, clots): they do
    # not keep a question in scope when it also names an out-of-scope topic.
    shared: bool = False
    # Topics outside lower-limb venous disease (arterial disease, cardiology, oncology
    # dosing, orthopaedics...): a question naming one is declined unless it also names a
    # venous condition.
    out_of_scope: bool = False
    # Out-of-scope sites of venous disease (arm, brain, pelvis...): the question is declined
    # even when it names a venous condition ("upper extremity DVT").
    overrides: bool = False


class ConceptTable(Frozen):
    concepts: tuple[Concept, ...]
    # first stemmed word -> (stemmed phrase, concept names), longest phrase first
    index: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]
    # stemmed word -> concepts that have a term containing it
    word_concepts: dict[str, tuple[str, ...]]

    def matches(self, stemmed: Sequence[str]) -> list[tuple[str, int, int]]:
        """(concept, start, end) for every concept phrase in a stemmed content-word sequence.

        Phrases are matched without stop words, so "blood clot in my leg" meets the term
        "blood clot in the leg".
        """
        found: list[tuple[str, int, int]] = []
        n = len(stemmed)
        covered: dict[str, int] = {}  # concept -> end of its last match (no double counting)
        for i, word in enumerate(stemmed):
            for phrase, names in self.index.get(word, ()):
                k = len(phrase)
                if i + k <= n and tuple(stemmed[i : i + k]) == phrase:
                    for name in names:
                        if covered.get(name, -1) <= i:
                            found.append((name, i, i + k))
                            covered[name] = i + k
        return found

    def expand(self, stemmed: Sequence[str]) -> list[str]:
        """Concept tokens for every concept phrase found in a stemmed content-word sequence."""
        return [CONCEPT_PREFIX + name for name, _, _ in self.matches(stemmed)]

    def scope_signals(self, stemmed: Sequence[str]) -> tuple[bool, bool, bool]:
        """(topical, anchoring, off-topic) concepts named in a stemmed question; an
        overriding out-of-scope concept (another site of venous disease) cancels anchoring.

        A venous concept inside the phrase of an out-of-scope one does not count ("ulcer" in
        "diabetic foot ulcer", "femoropopliteal" in "femoropopliteal bypass").
        """
        found = self.matches(stemmed)
        off = [(a, b) for name, a, b in found if self.by_name[name].out_of_scope]

        def inside(a: int, b: int) -> bool:
            return any(x <= a and b <= y and (x, y) != (a, b) for x, y in off)

        live = [self.by_name[name] for name, a, b in found if not inside(a, b)]
        topical = any(not c.generic and not c.out_of_scope for c in live)
        anchoring = any(not (c.generic or c.out_of_scope or c.shared) for c in live)
        if any(self.by_name[name].overrides for name, _, _ in found):
            anchoring = False
        return topical, anchoring, bool(off)

    def topical(self, token: str) -> bool:
        """Whether a concept token names a venous topic (not an everyday concept)."""
        c = self._concept(token)
        return c is not None and not c.generic and not c.out_of_scope

    def anchoring(self, token: str) -> bool:
        """A venous topic no other specialty shares (keeps a question in scope)."""
        c = self._concept(token)
        return c is not None and not (c.generic or c.out_of_scope or c.shared)

    def off_topic(self, token: str) -> bool:
        c = self._concept(token)
        return c is not None and c.out_of_scope

    def _concept(self, token: str) -> Concept | None:
        if not token.startswith(CONCEPT_PREFIX):
            return None
        return self.by_name.get(token.removeprefix(CONCEPT_PREFIX))

    @cached_property
    def by_name(self) -> dict[str, Concept]:
        return {c.name: c for c in self.concepts}

    def concept_of(self, name: str) -> Concept:
        for c in self.concepts:
            if c.name == name:
                return c
        raise KeyError(name)


def parse_concepts(raw: dict[str, object], name: str) -> ConceptTable:
    problems: list[Problem] = []
    if raw.get("schema") != SCHEMA:
        problems.append(Problem(f"{name}:schema", f"expected {SCHEMA!r}"))
    body = raw.get("concepts")
    if not isinstance(body, dict) or not body:
        problems.append(Problem(f"{name}:concepts", "expected [concepts.<name>] tables"))
        raise InvalidInput(problems, what=f"synonym table {name}")
    concepts: list[Concept] = []
    for key, value in body.items():
        try:
            concepts.append(Concept.model_validate({"name": key, **value}))
        except (ValidationError, TypeError) as err:
            if isinstance(err, ValidationError):
                for p in validation_problems(err, name):
                    field = p.path.partition(":")[2]
                    problems.append(Problem(f"{name}:concepts.{key}.{field}", p.message))
            else:
                problems.append(Problem(f"{name}:concepts.{key}", "expected a table"))
    by_phrase: dict[tuple[str, ...], list[str]] = {}
    for c in concepts:
        for i, term in enumerate(c.terms):
            phrase = tuple(stem(w) for w in words(term) if w not in STOPWORDS)
            if not phrase:
                problems.append(Problem(f"{name}:concepts.{c.name}.terms[{i}]", "no content words"))
                continue
            by_phrase.setdefault(phrase, [])
            if c.name not in by_phrase[phrase]:
                by_phrase[phrase].append(c.name)
    if problems:
        raise InvalidInput(problems, what=f"synonym table {name}")
    index: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    word_concepts: dict[str, list[str]] = {}
    for phrase, names in sorted(by_phrase.items(), key=lambda item: (-len(item[0]), item[0])):
        index.setdefault(phrase[0], []).append((phrase, tuple(names)))
        for word in phrase:
            bucket = word_concepts.setdefault(word, [])
            bucket += [n for n in names if n not in bucket]
    return ConceptTable(
        concepts=tuple(concepts),
        index={k: tuple(v) for k, v in index.items()},
        word_concepts={k: tuple(v) for k, v in word_concepts.items()},
    )


@cache
def load_concepts() -> ConceptTable:
    node = files("venalab.knowledge").joinpath("synonyms.toml")
    return parse_concepts(read_toml(node), node.name)


class Vocabulary:
    """The words the knowledge base knows (entry text and synonym terms), for typo repair.

    A question word the knowledge base does not know ("thiners", "vericose", "refulx") is
    replaced by the closest known word when they are close enough (rapidfuzz's normalised
    Indel similarity): a typo then neither hides the topic nor counts as an unknown word.
    Short words need a closer match, and numbers are never changed.
    """

    def __init__(self, known: Iterable[str]) -> None:
        self.words = sorted({w for w in known if len(w) >= 3 and w.isalpha()})
        self.known = frozenset(self.words)
        self.stems = frozenset(stem(w) for w in self.words)

    @lru_cache(maxsize=4096)  # noqa: B019 - one vocabulary per index, kept for its life
    def correct(self, word: str) -> str:
        if len(word) < 4 or not word.isalpha() or word in self.known or stem(word) in self.stems:
            return word
        cutoff = 74.0 if len(word) == 4 else 80.0
        match = process.extractOne(word, self.words, scorer=fuzz.ratio, score_cutoff=cutoff)
        if match is None or (len(word) == 4 and match[0][0] != word[0]):
            return word
        return str(match[0])


def concept_words(table: ConceptTable) -> set[str]:
    return {w for c in table.concepts for t in c.terms for w in words(t)}


def analyse(
    text: str, concepts: ConceptTable | None = None, vocabulary: Vocabulary | None = None
) -> list[str]:
    """Index tokens of a text: stemmed content words (typos repaired when a vocabulary is
    given) plus concept tokens."""
    table = concepts or load_concepts()
    raw = [w for w in words(text) if w not in STOPWORDS]
    if vocabulary is not None:
        raw = [vocabulary.correct(w) for w in raw]
    content = [stem(w) for w in raw if w not in STOPWORDS]
    return content + table.expand(content)


def plain(text: str) -> str:
    """Text without citation marks or Markdown emphasis (for readability and display)."""
    text = _CITE.sub("", text)
    text = re.sub(r"\*\*|__|`", "", text)
    return re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
