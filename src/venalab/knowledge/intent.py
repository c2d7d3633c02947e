"""What a question asks before retrieval: urgent symptoms, its parts, and score values.

- Urgent symptoms (`urgent.toml`): a bleeding vein, chest pain or sudden breathlessness, a
  swollen painful leg. The answer then starts with the emergency advice of the data file.
- Parts: "How is a DVT found, and what is the treatment?" is two questions; each part is
  answered from the sections that match it.
- Score values: "my Villalta score is 11" is read against the engine's score data (the
  Villalta bands of `data/scores/villalta.toml`, the rVCSS severity rule of
  `data/scores/vcss.toml`), never against numbers copied into this module.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Annotated

from pydantic import Field, ValidationError

from venalab.citations import check_ids
from venalab.datafiles import read_toml
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen, compare
from venalab.knowledge.model import CITE_MARK, Audience, validation_problems
from venalab.rules.villalta import VILLALTA_SCALE
from venalab.vcss_scale import VCSS_SCALE

SCHEMA = "venalab-urgent/1"


class UrgentRule(Frozen):
    id: str
    audiences: Annotated[tuple[Audience, ...], Field(min_length=1)]
    all: Annotated[tuple[tuple[str, ...], ...], Field(min_length=1)]
    heading: str
    patient: tuple[str, ...]
    clinician: tuple[str, ...] = ()

    def advice(self, audience: Audience) -> tuple[str, ...]:
        return self.patient if audience == "patient" else self.clinician

    def fires(self, question: str) -> bool:
        text = question.lower()
        return all(any(re.search(p, text) for p in group) for group in self.all)


class DefaultHelp(Frozen):
    patient: Annotated[tuple[str, ...], Field(min_length=1)]


class UrgentTable(Frozen):
    schema_: str = Field(alias="schema")
    urgent: Annotated[tuple[UrgentRule, ...], Field(min_length=1)]
    default_help: DefaultHelp


def parse_urgent(raw: dict[str, object], name: str) -> UrgentTable:
    try:
        table = UrgentTable.model_validate(raw)
    except ValidationError as err:
        raise InvalidInput(validation_problems(err, name), what=f"urgent table {name}") from None
    problems: list[Problem] = []
    if table.schema_ != SCHEMA:
        problems.append(Problem(f"{name}:schema", f"expected {SCHEMA!r}"))
    texts: list[tuple[str, str]] = [
        (f"{name}:default_help.patient[{i}]", t) for i, t in enumerate(table.default_help.patient)
    ]
    for i, rule in enumerate(table.urgent):
        for g, group in enumerate(rule.all):
            for k, pattern in enumerate(group):
                try:
                    re.compile(pattern)
                except re.error as e:
                    problems.append(Problem(f"{name}:urgent[{i}].all[{g}][{k}]", str(e)))
        for aud in rule.audiences:
            if not rule.advice(aud):
                problems.append(Problem(f"{name}:urgent[{i}].{aud}", "advice text is missing"))
        texts += [(f"{name}:urgent[{i}].patient[{k}]", t) for k, t in enumerate(rule.patient)]
        texts += [(f"{name}:urgent[{i}].clinician[{k}]", t) for k, t in enumerate(rule.clinician)]
    for where, text in texts:
        ids = CITE_MARK.findall(text)
        if not ids:
            problems.append(Problem(where, "every advice line cites a source ([@ID])"))
        problems += check_ids(ids, where)
    if problems:
        raise InvalidInput(problems, what=f"urgent table {name}")
    return table


@cache
def load_urgent() -> UrgentTable:
    node = files("venalab.knowledge").joinpath("urgent.toml")
    return parse_urgent(read_toml(node), node.name)


def urgent_rules(question: str, audience: Audience) -> tuple[UrgentRule, ...]:
    """The urgent-symptom rules a question sets off for this audience (data-file order)."""
    return tuple(r for r in load_urgent().urgent if audience in r.audiences and r.fires(question))


# ------------------------------------------------------------------------------- parts

_QUESTION_WORD = (
    r"(?:how|what|whats|what's|when|why|which|who|where|should|can|could|do|does|did|is|are|"
    r"will|would|must|and is|and are)"
)
_SPLIT = re.compile(
    rf"\?+\s*|;\s*|,?\s+and\s+(?={_QUESTION_WORD}\b)|,\s+(?={_QUESTION_WORD}\b)|\.\s+(?=[A-Za-z])",
    re.I,
)


def question_parts(question: str) -> tuple[str, ...]:
    """The separate questions in a question ("What is X, and how long ...?" -> two)."""
    parts = [p.strip(" ,.?") for p in _SPLIT.split(question)]
    return tuple(p for p in parts if len(p.split()) >= 2)


# ------------------------------------------------------------------------ score values


class ScoreReading(Frozen):
    """A score total named in a question, read against the engine's score data."""

    scale: str  # "villalta" | "vcss"
    total: int
    statement: str  # clinician wording
    plain: str  # patient wording
    sources: tuple[str, ...]


_VILLALTA = re.compile(r"\bvill?alta\b", re.I)
_VCSS = re.compile(r"\b(?:r?vcss|(?:vein|venous|clinical) (?:clinical )?severity score)\b", re.I)
_INTEGER = re.compile(r"(?<![\w.])(\d{1,2})(?![\w.])")


def _marks(ids: tuple[str, ...]) -> str:
    return "".join(f"[@{i}]" for i in dict.fromkeys(ids))


def read_score(question: str) -> ScoreReading | None:
    """A Villalta or rVCSS total in the question, banded by the engine's score data."""
    numbers = [int(n) for n in _INTEGER.findall(question)]
    if len(numbers) != 1:
        return None
    total = numbers[0]
    if _VILLALTA.search(question) and 0 <= total <= VILLALTA_SCALE.max_total:
        band = VILLALTA_SCALE.band_of(total)
        rule = VILLALTA_SCALE.ulcer_rule
        ids = (*band.sources, *rule.sources)
        return ScoreReading(
            scale="villalta",
            total=total,
            statement=(
                f"A Villalta total of {total} falls in the {band.min}-{band.max} band: "
                f"{band.label} ({VILLALTA_SCALE.label}). {rule.text}. {_marks(ids)}"
            ),
            plain=(
                f"A Villalta score of {total} is in the {band.min} to {band.max} range. "
                f"That means {band.label.replace('PTS', 'post-thrombotic syndrome')}. "
                f"An open leg ulcer always counts as severe. {_marks(ids)}"
            ),
            sources=tuple(dict.fromkeys(ids)),
        )
    if _VCSS.search(question) and 0 <= total <= VCSS_SCALE.max_total:
        sev = VCSS_SCALE.severity
        at_or_above = compare(total, sev.comparison, sev.threshold)
        verdict = "meets" if at_or_above else "is below"
        return ScoreReading(
            scale="vcss",
            total=total,
            statement=(
                f"An rVCSS total of {total} {verdict} the threshold {sev.comparison} "
                f"{sev.threshold}, which marks {sev.text}. {_marks(sev.sources)}"
            ),
            plain=(
                f"A VCSS of {total} is "
                + (f"{sev.threshold} or more. " if at_or_above else f"below {sev.threshold}. ")
                + f"Doctors see a score of {sev.threshold} or more as severe vein disease that "
                "may get worse, so it needs more tests or treatment. " + _marks(sev.sources)
            ),
            sources=sev.sources,
        )
    return None
