"""Revised Venous Clinical Severity Score, "rVCSS (Vasquez 2010)", per limb.

Source: Vasquez MA et al., J Vasc Surg 2010;52:1387-96 (VCSS10), descriptor table as
reproduced by the Dutch national guideline database [V2]; interpretation of a total >= 8
as "severe disease at risk of progression that warrants further work-up or treatment":
SVS/AVF venous leg ulcer guideline 2014 (SVS14) [V]. shared/reference/clinical.md section 3.1.
Only the 2010 revision is implemented (the 2000 descriptors, VCSS00, are not mixed in).

Items, descriptors, the raw-measurement conversions (with the venalab boundary convention
for exactly 3 months, 1 year, 2 cm and 6 cm [D]) and the severity threshold are data:
`data/scores/vcss.toml`, validated at import.

Incomplete input is scored honestly: `total` is the lower bound (sum of what is known, plus
the minimum of items known only as "at least"), `upper_bound` puts 3 on every unknown item.
The three ulcer items are linked: no active ulcer (any of them 0) makes the other two 0
(N/A, not missing); an active ulcer (any of them >= 1) makes the others at least 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Comparison, Evidence, Frozen, compare, evidence
from venalab.exam import VcssItems

ULCER_NUMBER = "active_ulcers"
ULCER_DETAILS: tuple[str, str] = ("ulcer_duration", "ulcer_size")
_ULCER_GROUP = (ULCER_NUMBER, *ULCER_DETAILS)
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


def _problems_of(scale: VcssScale) -> list[Problem]:
    fields = set(VcssItems.model_fields)
    names = scale.item_names
    problems = check_ids(scale.sources, "sources")
    problems += check_ids(scale.severity.sources, "severity.sources")
    problems += check_ids(scale.corona_phlebectatica.sources, "corona_phlebectatica.sources")
    if len(set(names)) != len(names):
        problems.append(Problem("items", "item names must be unique"))
    for i, name in enumerate(names):
        if name not in fields:
            problems.append(Problem(f"items[{i}].name", f"{name!r} is not a VcssItems field"))
    for item in _ULCER_GROUP:
        if item not in names:
            problems.append(Problem("items", f"the ulcer item {item!r} is required"))
    for key, conv in scale.conversions.items():
        where = f"conversions.{key}"
        problems += check_ids(conv.sources, f"{where}.sources")
        if key not in names:
            problems.append(Problem(where, f"{key!r} is not an item of this scale"))
        if conv.field not in fields:
            problems.append(Problem(f"{where}.field", f"{conv.field!r} is not a VcssItems field"))
    corona = scale.corona_phlebectatica
    if corona.item not in names:
        problems.append(Problem("corona_phlebectatica.item", f"{corona.item!r} is not an item"))
    if corona.field not in fields:
        problems.append(
            Problem("corona_phlebectatica.field", f"{corona.field!r} is not a VcssItems field")
        )
    # Every exam field must be accounted for, so the model and the data cannot drift apart.
    covered = set(names) | {c.field for c in scale.conversions.values()} | {corona.field}
    covered.add("at_least")
    for name in sorted(fields - covered):
        problems.append(Problem("items", f"VcssItems field {name!r} has no item in this file"))
    if scale.severity.threshold > scale.max_total:
        problems.append(Problem("severity.threshold", f"above the maximum {scale.max_total}"))
    return problems


def parse_vcss_scale(raw: dict[str, object], name: str = "vcss.toml") -> VcssScale:
    """Validate a VCSS scale document; every problem is reported with its path."""
    return validate_document(raw, VcssScale, f"score file {name}", _problems_of)


@cache
def _builtin() -> VcssScale:
    return parse_vcss_scale(read_toml(data_path("scores", "vcss.toml")), "scores/vcss.toml")


VCSS_SCALE: VcssScale = _builtin()
LABEL: str = VCSS_SCALE.label

# ---------------------------------------------------------------------------------------
# Result

ItemStatus = Literal["scored", "converted", "not-applicable", "inferred", "at-least", "missing"]
"""scored: given as a score; converted: from a raw measurement or corona phlebectatica;
not-applicable: ulcer duration/size with no active ulcer (0); inferred: ulcer number 0 implied
by an ulcer detail of 0; at-least: only a minimum is known; missing: nothing known."""


class VcssItem(Frozen):
    name: str
    label: str
    score: int | None
    minimum: int
    maximum: int
    status: ItemStatus
    descriptor: str | None
    measured: float | None = None
    unit: str | None = None
    boundary: bool = False
    evidence: Evidence


class VcssResult(Frozen):
    scale: str
    version: str
    items: tuple[VcssItem, ...]
    total: int
    upper_bound: int
    max_total: int
    complete: bool
    missing: tuple[str, ...]
    at_least: tuple[str, ...]
    severe: bool | None
    severity_threshold: int
    statement: str
    evidence: Evidence
    severity_evidence: Evidence


# ---------------------------------------------------------------------------------------
# Resolution of the items into bounds


@dataclass(frozen=True, slots=True)
class _Converted:
    score: int
    measured: float
    threshold: float
    comparison: Comparison
    boundary: bool


@dataclass(frozen=True, slots=True)
class _Bound:
    low: int
    high: int
    status: ItemStatus
    origin: str | None = None
    converted: _Converted | None = None

    @property
    def known(self) -> bool:
        return self.low == self.high


_NEGATE: dict[str, Comparison] = {">=": "<", ">": "<="}


def convert(conv: Conversion, measured: float) -> _Converted:
    """Item score of a raw measurement under the conversion's steps (boundary convention)."""
    score = conv.base_score
    threshold, comparison = conv.steps[0].threshold, _NEGATE[conv.steps[0].comparison]
    for step in conv.steps:
        if compare(measured, step.comparison, step.threshold):
            score, threshold, comparison = step.score, step.threshold, step.comparison
    boundary = any(math.isclose(measured, b) for b in conv.unassigned_in_source)
    return _Converted(score, measured, threshold, comparison, boundary)


def _fmt(value: float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}"


def _resolve(items: VcssItems, scale: VcssScale) -> tuple[dict[str, _Bound], list[str]]:
    conflicts: list[str] = []
    minimums = items.at_least or {}
    bounds: dict[str, _Bound] = {}
    conv_by_item = scale.conversions
    corona = scale.corona_phlebectatica
    for name in scale.item_names:
        explicit: int | None = getattr(items, name)
        derived: _Bound | None = None
        if name in conv_by_item:
            conv = conv_by_item[name]
            raw: float | None = getattr(items, conv.field)
            if raw is not None:
                c = convert(conv, raw)
                derived = _Bound(c.score, c.score, "converted", conv.field, c)
                if explicit is not None and explicit != c.score:
                    conflicts.append(
                        f"`{conv.field}` = {_fmt(raw)} {conv.unit} gives {name} {c.score} "
                        f"(boundary convention) but `{name}` = {explicit}; give one of them "
                        "or make them agree"
                    )
        if name == corona.item and getattr(items, corona.field) is True:
            derived = _Bound(corona.score, corona.score, "converted", corona.field)
            if explicit is not None and explicit != corona.score:
                conflicts.append(
                    f"`{corona.field}` = true scores {name} {corona.score} but `{name}` = "
                    f"{explicit}; set one of them"
                )
        if explicit is not None:
            bound = _Bound(explicit, explicit, "scored", name)
        elif derived is not None:
            bound = derived
        elif name in minimums:
            bound = _Bound(minimums[name], MAX_ITEM, "at-least", f"at_least.{name}")
        else:
            bound = _Bound(0, MAX_ITEM, "missing")
        if name in minimums and bound.known and bound.low < minimums[name]:
            conflicts.append(
                f"`at_least.{name}` = {minimums[name]} is above `{bound.origin}` "
                f"(= {bound.low} for {name})"
            )
        if name in minimums and minimums[name] == MAX_ITEM and not bound.known:
            bound = _Bound(MAX_ITEM, MAX_ITEM, "at-least", f"at_least.{name}")
        bounds[name] = bound

    # The ulcer items describe one thing: whether there is an active ulcer, and if so which.
    zeros = [n for n in _ULCER_GROUP if bounds[n].known and bounds[n].low == 0]
    positives = [n for n in _ULCER_GROUP if bounds[n].low >= 1]
    if zeros and positives:
        z, p = bounds[zeros[0]], bounds[positives[0]]
        conflicts.append(
            f"`{z.origin}` = 0 means no active ulcer but `{p.origin}` records one "
            f"({positives[0]} >= {p.low}); correct one of them"
        )
    elif zeros:
        for n in _ULCER_GROUP:
            if not bounds[n].known:
                status: ItemStatus = "not-applicable" if n in ULCER_DETAILS else "inferred"
                bounds[n] = _Bound(0, 0, status, zeros[0])
    elif positives:
        for n in _ULCER_GROUP:
            b = bounds[n]
            if b.low == 0:
                bounds[n] = _Bound(1, b.high, "at-least", positives[0])
    return bounds, conflicts


def item_conflicts(items: VcssItems, scale: VcssScale | None = None) -> list[str]:
    """Messages for raw values, minimums or ulcer items that contradict each other."""
    return _resolve(items, scale or VCSS_SCALE)[1]


# ---------------------------------------------------------------------------------------
# Scoring


def _item_result(name: str, b: _Bound, scale: VcssScale) -> VcssItem:
    spec = scale.item(name)
    rule = f"vcss.item.{name}"
    base = list(scale.sources)
    descriptor: str | None
    measured: float | None = None
    unit: str | None = None
    boundary = False
    if b.status == "converted" and b.converted is not None:
        conv = scale.conversions[name]
        c = b.converted
        descriptor = spec.levels[c.score]
        measured, unit, boundary = c.measured, conv.unit, c.boundary
        flag = " Exactly at a boundary the source leaves unassigned." if c.boundary else ""
        ev = evidence(
            rule,
            conv.sources,
            level=conv.evidence,
            threshold=c.threshold,
            measured=c.measured,
            comparison=c.comparison,
            unit=conv.unit,
            note=f"{spec.label}: {_fmt(c.measured)} {conv.unit} -> {c.score} "
            f"({descriptor}). {conv.note}{flag}",
        )
    elif b.status == "converted":
        corona = scale.corona_phlebectatica
        descriptor = spec.levels[b.low]
        ev = evidence(
            rule,
            corona.sources,
            level=corona.evidence,
            note=f"Corona phlebectatica without other varicosities scores {b.low} "
            f"under {spec.label.lower()} ({descriptor}).",
        )
    elif b.status == "scored":
        descriptor = spec.levels[b.low]
        ev = evidence(
            rule, base, level=scale.evidence, note=f"{spec.label}: {b.low} ({descriptor})."
        )
    elif b.status in ("not-applicable", "inferred"):
        descriptor = spec.levels[0]
        ev = evidence(
            rule,
            base,
            level=scale.evidence,
            note=f"{spec.label}: 0 ({descriptor}); no active ulcer (`{b.origin}` = 0).",
        )
    elif b.status == "at-least":
        descriptor = f"at least: {spec.levels[b.low]}"
        why = (
            f"from `{b.origin}`"
            if b.origin and b.origin.startswith("at_least.")
            else f"an active ulcer is recorded (`{b.origin}`)"
        )
        ev = evidence(
            rule,
            base,
            level=scale.evidence,
            note=f"{spec.label}: at least {b.low}, {why}; exact score unknown.",
        )
    else:
        descriptor = None
        ev = evidence(rule, base, level=scale.evidence, note=f"{spec.label}: not reported.")
    return VcssItem(
        name=name,
        label=spec.label,
        score=b.low if b.known else None,
        minimum=b.low,
        maximum=b.high,
        status=b.status,
        descriptor=descriptor,
        measured=measured,
        unit=unit,
        boundary=boundary,
        evidence=ev,
    )


def score_vcss(
    items: VcssItems, *, scale: VcssScale | None = None, path: str = "scores.vcss"
) -> VcssResult:
    """Score one leg's rVCSS; incomplete items give a lower bound (`total`) and `upper_bound`.

    `scale` replaces the built-in data (e.g. another boundary convention); `path` is the JSON
    path of `items` in the exam document, used in error messages (e.g. "scores.vcss.left").
    Raises InvalidInput when raw values, minimums or ulcer items contradict each other.
    """
    scale = scale or VCSS_SCALE
    bounds, conflicts = _resolve(items, scale)
    if conflicts:
        raise InvalidInput([Problem(path, c) for c in conflicts])
    results = tuple(_item_result(n, bounds[n], scale) for n in scale.item_names)
    total = sum(r.minimum for r in results)
    upper = sum(r.maximum for r in results)
    missing = tuple(r.name for r in results if r.score is None)
    at_least = tuple(r.name for r in results if r.score is None and r.minimum > 0)
    complete = not missing

    sev = scale.severity
    reached_low = compare(total, sev.comparison, sev.threshold)
    reached_high = compare(upper, sev.comparison, sev.threshold)
    severe: bool | None = True if reached_low else (False if not reached_high else None)
    cmp_text = f"{sev.comparison} {sev.threshold}"
    if severe is True:
        sev_note = f"{'Total' if complete else 'Lower bound'} {total} {cmp_text}: {sev.text}."
        sev_ev = evidence(
            "vcss.severe",
            sev.sources,
            level=sev.evidence,
            threshold=sev.threshold,
            measured=total,
            comparison=sev.comparison,
            note=sev_note,
        )
    elif severe is False:
        neg = _NEGATE[sev.comparison]
        sev_note = (
            f"{'Total' if complete else 'Upper bound'} {upper} {neg} {sev.threshold}: "
            f"below the threshold for {sev.text}."
        )
        sev_ev = evidence(
            "vcss.severe",
            sev.sources,
            level=sev.evidence,
            threshold=sev.threshold,
            measured=upper,
            comparison=neg,
            note=sev_note,
        )
    else:
        sev_note = (
            f"Between {total} and {upper}: whether the total is {cmp_text} ({sev.text}) "
            "depends on the items not yet scored."
        )
        sev_ev = evidence(
            "vcss.severe",
            sev.sources,
            level=sev.evidence,
            threshold=sev.threshold,
            comparison=sev.comparison,
            note=sev_note,
        )

    labels = {r.name: r.label.lower() for r in results}
    if complete:
        head = f"{scale.label}: {total}/{scale.max_total}."
    else:
        head = (
            f"{scale.label}: incomplete, at least {total} and at most {upper} of "
            f"{scale.max_total}; not fully scored: {', '.join(labels[m] for m in missing)}."
        )
    if severe is True:
        tail = f" Total {cmp_text} ({sev.sources[0]}): {sev.text}."
        if not complete:
            tail = f" Already {cmp_text} with the known items ({sev.sources[0]}): {sev.text}."
    elif severe is False:
        why = f"the {sev.sources[0]} threshold for {sev.text}"
        tail = (
            f" Below {sev.threshold}, {why}."
            if complete
            else (
                f" Stays below {sev.threshold}, {why}, even with the missing items at their maximum."
            )
        )
    else:
        tail = f" Whether it reaches {sev.threshold} ({sev.text}) depends on the missing items."
    conventions = [r for r in results if r.boundary]
    for r in conventions:
        tail += (
            f" {r.label} {_fmt(r.measured or 0)} {r.unit} is exactly at a boundary the "
            f"source leaves unassigned; scored {r.score} by the venalab convention."
        )

    total_ev = evidence(
        "vcss.total",
        scale.sources,
        level=scale.evidence,
        measured=total,
        note=(
            f"{scale.label}, sum of 10 items (0-3 each)."
            if complete
            else f"{scale.label}: lower bound {total} (known items and minimums), upper bound "
            f"{upper} (3 for each unknown item; ulcer items N/A without an active ulcer)."
        ),
    )
    return VcssResult(
        scale=scale.label,
        version=scale.version,
        items=results,
        total=total,
        upper_bound=upper,
        max_total=scale.max_total,
        complete=complete,
        missing=missing,
        at_least=at_least,
        severe=severe,
        severity_threshold=sev.threshold,
        statement=head + tail,
        evidence=total_ev,
        severity_evidence=sev_ev,
    )


# ---------------------------------------------------------------------------------------
# Lower bounds from the leg's recorded signs (venalab convention [D], data/scores/
# vcss_from_signs.toml): used for items the exam does not score, never over a given score.


class _SignBounds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: Literal["venalab-vcss-from-signs/1"] = Field(alias="schema")
    sources: tuple[str, ...]
    signs: dict[str, dict[str, Annotated[int, Field(ge=1, le=3)]]]


@cache
def _sign_bounds() -> _SignBounds:
    raw = read_toml(data_path("scores", "vcss_from_signs.toml"))
    bounds = validate_document(raw, _SignBounds, "vcss_from_signs.toml")
    unknown = [
        Problem(f"signs.{sign}.{item}", "not an rVCSS item")
        for sign, items in bounds.signs.items()
        for item in items
        if item not in VCSS_SCALE.item_names
    ]
    if unknown:
        raise InvalidInput(unknown, what="vcss_from_signs.toml")
    return bounds


def items_with_sign_bounds(
    items: VcssItems | None, signs: Iterable[str]
) -> tuple[VcssItems | None, Evidence | None]:
    """`items` with minimums implied by the signs added for unscored items.

    Returns the items unchanged (and no evidence) when the signs add nothing. An ulcer item
    scored 0 (no active ulcer) is left alone: the given score wins over the sign.
    """
    base = items or VcssItems()
    given = base.model_dump(exclude_none=True)
    minimums: dict[str, int] = {k: v for k, v in (base.at_least or {}).items()}
    derived: dict[str, int] = {}
    ulcer_given = any(
        k in given
        for k in (
            "active_ulcers",
            "ulcer_duration",
            "ulcer_size",
            "ulcer_duration_months",
            "ulcer_size_cm",
        )
    )
    for sign in signs:
        for item, low in _sign_bounds().signs.get(sign, {}).items():
            if item in given or (item.startswith(("active_ulcers", "ulcer_")) and ulcer_given):
                continue
            if low > minimums.get(item, 0):
                minimums[item] = low
                derived[item] = low
    if not derived:
        return items, None
    merged = VcssItems.model_validate_json(json.dumps({**given, "at_least": minimums}))
    listed = ", ".join(f"{k} >= {v}" for k, v in sorted(derived.items()))
    ev = evidence(
        "vcss.bounds-from-signs",
        list(_sign_bounds().sources),
        level="D",
        note=f"Lower bounds from the recorded clinical signs: {listed}.",
    )
    return merged, ev


def score_with_sign_bounds(
    items: VcssItems | None, signs: Iterable[str], *, path: str = "scores.vcss"
) -> tuple[VcssResult | None, Evidence | None]:
    """rVCSS of a leg: its scored items, with lower bounds from its signs for unscored items.

    (None, None) when there is nothing to score. Legs with signs but no scored items are the
    common case in reflux studies; their result depends on the signs alone and is shared.
    """
    if items is None:
        return _score_signs_only(tuple(sorted(set(signs))))
    bounded, ev = items_with_sign_bounds(items, signs)
    return (score_vcss(bounded, path=path) if bounded is not None else None), ev


@lru_cache(maxsize=4096)
def _score_signs_only(signs: tuple[str, ...]) -> tuple[VcssResult | None, Evidence | None]:
    bounded, ev = items_with_sign_bounds(None, signs)
    return (score_vcss(bounded) if bounded is not None else None), ev
