"""The rVCSS scale as data (`data/scores/vcss.toml`, `venalab-vcss/1`): items, descriptors,
raw-measurement conversions, the ulcer-item links and their resolution into bounds.

Reference data below the exam model: `exam.VcssItems` checks its items against this module
(as it checks labs against `units`), and rules/vcss.py scores with it. It does not import
the exam model; rules/vcss.py checks at import that the file covers every VcssItems field.
Sources and conventions: rules/vcss.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import Problem
from venalab.evidence import Comparison, compare

ULCER_NUMBER = "active_ulcers"
ULCER_DETAILS: tuple[str, str] = ("ulcer_duration", "ulcer_size")
ULCER_GROUP = (ULCER_NUMBER, *ULCER_DETAILS)
MAX_ITEM = 3


# ---------------------------------------------------------------------------------------
# The scale as data


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class VcssItemSpec(_Strict):
    name: str
    label: str
    scope: str
    levels: Annotated[
        tuple[str, ...],
        Field(min_length=4, max_length=4, description="descriptors of scores 0, 1, 2, 3"),
    ]


class ConversionStep(_Strict):
    threshold: Annotated[float, Field(ge=0)]
    comparison: Literal[">", ">="]
    score: Annotated[int, Field(ge=1, le=3)]


class Conversion(_Strict):
    """A raw measurement -> item score: `base_score`, raised by every step that holds."""

    field: str
    unit: str
    base_score: Annotated[int, Field(ge=1, le=3)]
    steps: Annotated[tuple[ConversionStep, ...], Field(min_length=1)]
    unassigned_in_source: tuple[float, ...] = ()
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    note: str

    @model_validator(mode="after")
    def _ascending(self) -> Conversion:
        thresholds = [s.threshold for s in self.steps]
        scores = [self.base_score, *(s.score for s in self.steps)]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("`steps` thresholds must be strictly ascending")
        if scores != sorted(set(scores)):
            raise ValueError("`steps` scores must rise strictly above `base_score`")
        return self


class CoronaRule(_Strict):
    field: str
    item: str
    score: Annotated[int, Field(ge=0, le=3)]
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel


class SeverityRule(_Strict):
    threshold: Annotated[int, Field(ge=0, le=30)]
    comparison: Literal[">", ">="]
    text: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel


class VcssScale(_Strict):
    schema_: Literal["venalab-vcss/1"] = Field(alias="schema")
    id: str
    label: str
    version: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    items: Annotated[tuple[VcssItemSpec, ...], Field(min_length=1)]
    conversions: dict[str, Conversion]
    corona_phlebectatica: CoronaRule
    severity: SeverityRule

    @cached_property
    def item_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.items)

    @cached_property
    def _by_name(self) -> dict[str, VcssItemSpec]:
        return {i.name: i for i in self.items}

    def item(self, name: str) -> VcssItemSpec:
        return self._by_name[name]

    @property
    def max_total(self) -> int:
        return MAX_ITEM * len(self.items)


def scale_problems(scale: VcssScale) -> list[Problem]:
    """The file's own consistency: citations, unique names, the ulcer items, references."""
    names = scale.item_names
    problems = check_ids(scale.sources, "sources")
    problems += check_ids(scale.severity.sources, "severity.sources")
    problems += check_ids(scale.corona_phlebectatica.sources, "corona_phlebectatica.sources")
    if len(set(names)) != len(names):
        problems.append(Problem("items", "item names must be unique"))
    for item in ULCER_GROUP:
        if item not in names:
            problems.append(Problem("items", f"the ulcer item {item!r} is required"))
    for key, conv in scale.conversions.items():
        where = f"conversions.{key}"
        problems += check_ids(conv.sources, f"{where}.sources")
        if key not in names:
            problems.append(Problem(where, f"{key!r} is not an item of this scale"))
    corona = scale.corona_phlebectatica
    if corona.item not in names:
        problems.append(Problem("corona_phlebectatica.item", f"{corona.item!r} is not an item"))
    if scale.severity.threshold > scale.max_total:
        problems.append(Problem("severity.threshold", f"above the maximum {scale.max_total}"))
    return problems


@cache
def _builtin() -> VcssScale:
    raw = read_toml(data_path("scores", "vcss.toml"))
    return validate_document(raw, VcssScale, "score file scores/vcss.toml", scale_problems)


VCSS_SCALE: VcssScale = _builtin()
LABEL: str = VCSS_SCALE.label


ItemStatus = Literal["scored", "converted", "not-applicable", "inferred", "at-least", "missing"]
"""scored: given as a score; converted: from a raw measurement or corona phlebectatica;
not-applicable: ulcer duration/size with no active ulcer (0); inferred: ulcer number 0 implied
by an ulcer detail of 0; at-least: only a minimum is known; missing: nothing known."""


# ---------------------------------------------------------------------------------------
# Resolution of the items into bounds


@dataclass(frozen=True, slots=True)
class Converted:
    score: int
    measured: float
    threshold: float
    comparison: Comparison
    boundary: bool


@dataclass(frozen=True, slots=True)
class Bound:
    low: int
    high: int
    status: ItemStatus
    origin: str | None = None
    converted: Converted | None = None

    @property
    def known(self) -> bool:
        return self.low == self.high


NEGATE: dict[str, Comparison] = {">=": "<", ">": "<="}


def convert(conv: Conversion, measured: float) -> Converted:
    """Item score of a raw measurement under the conversion's steps (boundary convention)."""
    score = conv.base_score
    threshold, comparison = conv.steps[0].threshold, NEGATE[conv.steps[0].comparison]
    for step in conv.steps:
        if compare(measured, step.comparison, step.threshold):
            score, threshold, comparison = step.score, step.threshold, step.comparison
    boundary = any(math.isclose(measured, b) for b in conv.unassigned_in_source)
    return Converted(score, measured, threshold, comparison, boundary)


def fmt(value: float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}"


def resolve(items: object, scale: VcssScale) -> tuple[dict[str, Bound], list[str]]:
    """Bounds of every item from an items object (exam.VcssItems: one attribute per item,
    raw measurement and `at_least`), with the messages of what contradicts what."""
    conflicts: list[str] = []
    minimums: dict[str, int] = getattr(items, "at_least", None) or {}
    bounds: dict[str, Bound] = {}
    conv_by_item = scale.conversions
    corona = scale.corona_phlebectatica
    for name in scale.item_names:
        explicit: int | None = getattr(items, name)
        derived: Bound | None = None
        if name in conv_by_item:
            conv = conv_by_item[name]
            raw: float | None = getattr(items, conv.field)
            if raw is not None:
                c = convert(conv, raw)
                derived = Bound(c.score, c.score, "converted", conv.field, c)
                if explicit is not None and explicit != c.score:
                    conflicts.append(
                        f"`{conv.field}` = {fmt(raw)} {conv.unit} gives {name} {c.score} "
                        f"(boundary convention) but `{name}` = {explicit}; give one of them "
                        "or make them agree"
                    )
        if name == corona.item and getattr(items, corona.field) is True:
            derived = Bound(corona.score, corona.score, "converted", corona.field)
            if explicit is not None and explicit != corona.score:
                conflicts.append(
                    f"`{corona.field}` = true scores {name} {corona.score} but `{name}` = "
                    f"{explicit}; set one of them"
                )
        if explicit is not None:
            bound = Bound(explicit, explicit, "scored", name)
        elif derived is not None:
            bound = derived
        elif name in minimums:
            bound = Bound(minimums[name], MAX_ITEM, "at-least", f"at_least.{name}")
        else:
            bound = Bound(0, MAX_ITEM, "missing")
        if name in minimums and bound.known and bound.low < minimums[name]:
            conflicts.append(
                f"`at_least.{name}` = {minimums[name]} is above `{bound.origin}` "
                f"(= {bound.low} for {name})"
            )
        if name in minimums and minimums[name] == MAX_ITEM and not bound.known:
            bound = Bound(MAX_ITEM, MAX_ITEM, "at-least", f"at_least.{name}")
        bounds[name] = bound

    # The ulcer items describe one thing: whether there is an active ulcer, and if so which.
    zeros = [n for n in ULCER_GROUP if bounds[n].known and bounds[n].low == 0]
    positives = [n for n in ULCER_GROUP if bounds[n].low >= 1]
    if zeros and positives:
        z, p = bounds[zeros[0]], bounds[positives[0]]
        conflicts.append(
            f"`{z.origin}` = 0 means no active ulcer but `{p.origin}` records one "
            f"({positives[0]} >= {p.low}); correct one of them"
        )
    elif zeros:
        for n in ULCER_GROUP:
            if not bounds[n].known:
                status: ItemStatus = "not-applicable" if n in ULCER_DETAILS else "inferred"
                bounds[n] = Bound(0, 0, status, zeros[0])
    elif positives:
        for n in ULCER_GROUP:
            b = bounds[n]
            if b.low == 0:
                bounds[n] = Bound(1, b.high, "at-least", positives[0])
    return bounds, conflicts


def item_conflicts(items: object, scale: VcssScale | None = None) -> list[str]:
    """Messages for raw values, minimums or ulcer items that contradict each other."""
    return resolve(items, scale or VCSS_SCALE)[1]
