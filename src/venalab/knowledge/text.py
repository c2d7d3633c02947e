"""Text processing for retrieval: tokens, light stemming, stop words, concept expansion.

Concepts (abbreviations and synonyms) come from `knowledge/synonyms.toml`, validated at load.
Where a concept's word or phrase occurs, the token stream gains the concept token
(`~gsv`), so a question and an entry that use different words for one thing still meet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Annotated

from pydantic import Field, ValidationError

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
    generic: bool = False


class ConceptTable(Frozen):
    concepts: tuple[Concept, ...]
    # first stemmed word -> (stemmed phrase, concept names), longest phrase first
    index: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]]
    # stemmed word -> concepts that have a term containing it
    word_concepts: dict[str, tuple[str, ...]]

    def expand(self, stemmed: Sequence[str]) -> list[str]:
        """Concept tokens for every concept phrase found in a stemmed content-word sequence.

        Phrases are matched without stop words, so "blood clot in my leg" meets the term
        "blood clot in the leg".
        """
        found: list[str] = []
        n = len(stemmed)
        covered: dict[str, int] = {}  # concept -> end of its last match (no double counting)
        for i, word in enumerate(stemmed):
            for phrase, names in self.index.get(word, ()):
                k = len(phrase)
                if i + k <= n and tuple(stemmed[i : i + k]) == phrase:
                    for name in names:
                        if covered.get(name, -1) <= i:
                            found.append(CONCEPT_PREFIX + name)
                            covered[name] = i + k
        return found

    def topical(self, token: str) -> bool:
        """Whether a concept token names a venous topic (not an everyday concept)."""
        name = token.removeprefix(CONCEPT_PREFIX)
        return token.startswith(CONCEPT_PREFIX) and any(
            c.name == name and not c.generic for c in self.concepts
        )

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


def analyse(text: str, concepts: ConceptTable | None = None) -> list[str]:
    """Index tokens of a text: stemmed content words plus concept tokens."""
    table = concepts or load_concepts()
    content = [stem(w) for w in words(text) if w not in STOPWORDS]
    return content + table.expand(content)


def plain(text: str) -> str:
    """Text without citation marks or Markdown emphasis (for readability and display)."""
    text = _CITE.sub("", text)
    text = re.sub(r"\*\*|__|`", "", text)
    return re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
