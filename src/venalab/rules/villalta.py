"""Villalta scale for post-thrombotic syndrome (PTS), scored on the leg with prior DVT.

Sources: Villalta S et al., Haemostasis 1994;24(Suppl 1):158a (VIL94) for the 11 items;
Kahn SR et al., J Thromb Haemost 2009;7:879-83 (ISTH09) for the bands 0-4 none, 5-9 mild,
10-14 moderate, >= 15 severe, and the rule that any venous ulcer makes PTS severe. Both [V2]
(shared/reference/clinical.md section 3.2). The ulcer never adds points: total and category
are reported separately (a public calculator's "+15 for an ulcer" is not copied).

Default: single-visit ISTH banding. Optional two-visit confirmation (Prandoni's operational
rule, as reproduced in a review [V2]): a category counts only when both consecutive visits
reach it, an ulcer at either visit makes PTS severe; the confirmed category is the lower of
the two visits' bands (venalab reading, [D]).

Items, levels, bands and rules are data: `data/scores/villalta.toml`, validated at import.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Evidence, Frozen, evidence
from venalab.exam import VillaltaItems

Category = Literal["none", "mild", "moderate", "severe"]
CATEGORIES: tuple[Category, ...] = ("none", "mild", "moderate", "severe")
Mode = Literal["single-visit", "two-visit"]
ULCER_FIELD = "ulcer"
MAX_ITEM = 3

# ---------------------------------------------------------------------------------------
# The scale as data


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class VillaltaItemSpec(_Strict):
    name: str
    label: str
    group: Literal["symptom", "sign"]


class Band(_Strict):
    category: Category
    label: str
    min: Annotated[int, Field(ge=0)]
    max: Annotated[int, Field(ge=0)]
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel


class UlcerRule(_Strict):
    category: Category
    text: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel


class TwoVisitRule(_Strict):
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    note: str


class VillaltaScale(_Strict):
    schema_: Literal["venalab-villalta/1"] = Field(alias="schema")
    id: str
    label: str
    version: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    levels: tuple[str, str, str, str]
    items: Annotated[tuple[VillaltaItemSpec, ...], Field(min_length=1)]
    bands: Annotated[tuple[Band, ...], Field(min_length=1)]
    ulcer_rule: UlcerRule
    two_visit: TwoVisitRule

    @property
    def item_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.items)

    @property
    def max_total(self) -> int:
        return MAX_ITEM * len(self.items)

    def band_of(self, total: int) -> Band:
        return next(b for b in self.bands if b.min <= total <= b.max)


def _problems_of(scale: VillaltaScale) -> list[Problem]:
    problems = check_ids(scale.sources, "sources")
    problems += check_ids(scale.ulcer_rule.sources, "ulcer_rule.sources")
    problems += check_ids(scale.two_visit.sources, "two_visit.sources")
    expected = [f for f in VillaltaItems.model_fields if f != ULCER_FIELD]
    if list(scale.item_names) != expected:
        problems.append(Problem("items", f"item names must be, in order: {', '.join(expected)}"))
    for i, band in enumerate(scale.bands):
        problems += check_ids(band.sources, f"bands[{i}].sources")
    if tuple(b.category for b in scale.bands) != CATEGORIES:
        problems.append(Problem("bands", f"categories must be, in order: {', '.join(CATEGORIES)}"))
    expected_min = 0
    for i, band in enumerate(scale.bands):
        if band.min != expected_min or band.max < band.min:
            problems.append(
                Problem(
                    f"bands[{i}]",
                    f"must start at {expected_min} and end at or "
                    "above its start (no gap or overlap between bands)",
                )
            )
        expected_min = band.max + 1
    if scale.bands and scale.bands[-1].max != scale.max_total:
        problems.append(
            Problem(
                f"bands[{len(scale.bands) - 1}].max",
                f"the last band must end at the maximum total {scale.max_total}",
            )
        )
    return problems


def parse_villalta_scale(raw: dict[str, object], name: str = "villalta.toml") -> VillaltaScale:
    """Validate a Villalta scale document; every problem is reported with its path."""
    return validate_document(raw, VillaltaScale, f"score file {name}", _problems_of)


@cache
def _builtin() -> VillaltaScale:
    return parse_villalta_scale(
        read_toml(data_path("scores", "villalta.toml")), "scores/villalta.toml"
    )


VILLALTA_SCALE: VillaltaScale = _builtin()

# ---------------------------------------------------------------------------------------
# Result


class VillaltaItem(Frozen):
    name: str
    label: str
    group: Literal["symptom", "sign"]
    score: int | None
    descriptor: str | None


class VillaltaVisit(Frozen):
    """One visit on its own (single-visit ISTH banding)."""

    total: int
    upper_bound: int
    complete: bool
    missing: tuple[str, ...]
    ulcer: bool | None
    category: Category | None
    category_range: tuple[Category, ...]


class VillaltaResult(Frozen):
    scale: str
    mode: Mode
    items: tuple[VillaltaItem, ...]
    total: int
    upper_bound: int
    max_total: int
    complete: bool
    missing: tuple[str, ...]
    ulcer: bool | None
    category: Category | None
    category_range: tuple[Category, ...]
    category_label: str | None
    previous: VillaltaVisit | None = None
    statement: str
    evidence: Evidence


# ---------------------------------------------------------------------------------------
# Scoring

_RANK = {c: i for i, c in enumerate(CATEGORIES)}


def _bounds(items: VillaltaItems, scale: VillaltaScale) -> tuple[int, int, tuple[str, ...]]:
    scores: list[int | None] = [getattr(items, n) for n in scale.item_names]
    low = sum(s for s in scores if s is not None)
    high = low + MAX_ITEM * sum(1 for s in scores if s is None)
    missing = [n for n, s in zip(scale.item_names, scores, strict=True) if s is None]
    if items.ulcer is None:
        missing.append(ULCER_FIELD)
    return low, high, tuple(missing)


def _options(items: VillaltaItems, scale: VillaltaScale) -> set[tuple[int, bool]]:
    """Every (band rank from points, ulcer) the visit may turn out to have."""
    low, high, _ = _bounds(items, scale)
    ranks = range(_RANK[scale.band_of(low).category], _RANK[scale.band_of(high).category] + 1)
    ulcers = (True, False) if items.ulcer is None else (items.ulcer,)
    return {(r, u) for r in ranks for u in ulcers}


def _category(options: list[set[tuple[int, bool]]], scale: VillaltaScale) -> tuple[Category, ...]:
    ulcer_rank = _RANK[scale.ulcer_rule.category]
    possible: set[int] = set()
    for combo in itertools.product(*options):
        rank = min(r for r, _ in combo)
        if any(u for _, u in combo):
            rank = max(rank, ulcer_rank)
        possible.add(rank)
    return tuple(CATEGORIES[r] for r in sorted(possible))


def _visit(items: VillaltaItems, scale: VillaltaScale) -> VillaltaVisit:
    low, high, missing = _bounds(items, scale)
    cats = _category([_options(items, scale)], scale)
    return VillaltaVisit(
        total=low,
        upper_bound=high,
        complete=not missing,
        missing=missing,
        ulcer=items.ulcer,
        category=cats[0] if len(cats) == 1 else None,
        category_range=cats,
    )


def _band_evidence(
    band: Band,
    scale: VillaltaScale,
    low: int,
    high: int,
    rule: str = "villalta.category",
    sources: tuple[str, ...] | None = None,
    level: EvidenceLevel | None = None,
    note: str = "",
) -> Evidence:
    """Evidence for a band decided by points: the lowest band by its upper side (< next band),
    the others by their lower limit (>= band.min)."""
    points = f"{low}" if low == high else f"{low}-{high}"
    text = f"Points {points}: {band.label} ({band.min}-{band.max}).{note}"
    src, lvl = sources or band.sources, level or band.evidence
    if band.min == 0 and len(scale.bands) > 1:
        return evidence(
            rule,
            src,
            level=lvl,
            threshold=scale.bands[1].min,
            measured=high,
            comparison="<",
            note=text,
        )
    return evidence(
        rule, src, level=lvl, threshold=band.min, measured=low, comparison=">=", note=text
    )


def score_villalta(
    items: VillaltaItems,
    *,
    mode: Mode = "single-visit",
    previous: VillaltaItems | None = None,
    scale: VillaltaScale | None = None,
) -> VillaltaResult:
    """Score the Villalta scale of one leg and band it (ISTH 2009).

    `total` is the sum of the scored items (the lower bound when items are missing) and never
    includes anything for the ulcer. `category` is None when the missing items or an unknown
    ulcer flag leave more than one category possible (`category_range` lists them).
    mode="two-visit" needs `previous` (the preceding visit's items) and confirms a category
    only when both visits reach it; an ulcer at either visit makes it severe.
    """
    scale = scale or VILLALTA_SCALE
    if mode == "two-visit" and previous is None:
        raise InvalidInput(
            [Problem("previous", "two-visit mode needs the previous visit's Villalta items")],
            what="option",
        )
    if mode == "single-visit" and previous is not None:
        raise InvalidInput([Problem("previous", "only used in two-visit mode")], what="option")
    current = _visit(items, scale)
    prev_visit = _visit(previous, scale) if previous is not None else None
    visits = [items] if previous is None else [previous, items]
    cats = _category([_options(v, scale) for v in visits], scale)
    category: Category | None = cats[0] if len(cats) == 1 else None

    item_results = tuple(
        VillaltaItem(
            name=spec.name,
            label=spec.label,
            group=spec.group,
            score=getattr(items, spec.name),
            descriptor=None
            if getattr(items, spec.name) is None
            else scale.levels[getattr(items, spec.name)],
        )
        for spec in scale.items
    )
    total, upper = current.total, current.upper_bound
    band_label = {b.category: b.label for b in scale.bands}
    ulcer_visits = [v for v in visits if v.ulcer is True]
    rule = scale.ulcer_rule

    if category is not None and ulcer_visits and category == rule.category:
        ev = evidence(
            "villalta.ulcer",
            rule.sources,
            level=rule.evidence,
            note=f"Venous ulcer recorded: {rule.text}.",
        )
    elif category is not None and prev_visit is None:
        ev = _band_evidence(scale.bands[_RANK[category]], scale, total, upper)
    elif category is not None and prev_visit is not None:
        tv = scale.two_visit
        # The confirmed band is the lower of the two visits', so the weaker visit decides.
        ev = _band_evidence(
            scale.bands[_RANK[category]],
            scale,
            min(total, prev_visit.total),
            min(upper, prev_visit.upper_bound),
            rule="villalta.two-visit",
            sources=tv.sources,
            level=tv.evidence,
            note=f" Previous visit {prev_visit.total}, this visit {total}. {tv.note}",
        )
    else:
        ev = evidence(
            "villalta.category",
            scale.sources,
            level=scale.evidence,
            note=f"Not decidable: possible categories {', '.join(cats)} "
            f"(points {total}-{upper}, ulcer "
            f"{'unknown' if items.ulcer is None else items.ulcer}).",
        )

    missing_text = ""
    if current.missing:
        missing_text = f"; not scored: {', '.join(m.replace('_', ' ') for m in current.missing)}"
    points = (
        f"{total}/{scale.max_total}"
        if total == upper
        else f"at least {total}, at most {upper} of {scale.max_total}"
    )
    ulcer_text = {
        True: "venous ulcer present",
        False: "no venous ulcer",
        None: "ulcer not recorded",
    }[items.ulcer]
    head = f"Villalta {points} ({ulcer_text}{missing_text})"
    if category is None:
        verdict = f"category not decidable: {' or '.join(band_label[c] for c in cats)}."
    else:
        verdict = f"{band_label[category]}."
        if ulcer_visits and category == rule.category:
            verdict = f"{band_label[category]} by the ulcer rule (the ulcer adds no points)."
    if mode == "two-visit" and prev_visit is not None:
        head += (
            f"; previous visit {prev_visit.total}"
            f"{'' if prev_visit.complete else ' (incomplete)'}"
            f"{', venous ulcer' if prev_visit.ulcer else ''}"
        )
        verdict = f"confirmed over two visits: {verdict}"
    return VillaltaResult(
        scale=scale.label,
        mode=mode,
        items=item_results,
        total=total,
        upper_bound=upper,
        max_total=scale.max_total,
        complete=current.complete,
        missing=current.missing,
        ulcer=items.ulcer,
        category=category,
        category_range=cats,
        category_label=band_label[category] if category is not None else None,
        previous=prev_visit,
        statement=f"{head}: {verdict}",
        evidence=ev,
    )
