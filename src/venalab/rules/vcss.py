"""Revised Venous Clinical Severity Score, "rVCSS (Vasquez 2010)", per limb.

Source: Vasquez MA et al., J Vasc Surg 2010;52:1387-96 (VCSS10), descriptor table as
reproduced by the Dutch national guideline database [V2]; interpretation of a total >= 8
as "severe disease at risk of progression that warrants further work-up or treatment":
SVS/AVF venous leg ulcer guideline 2014 (SVS14) [V]. shared/reference/clinical.md section 3.1.
Only the 2010 revision is implemented (the 2000 descriptors, VCSS00, are not mixed in).

Items, descriptors, the raw-measurement conversions (with the venalab boundary convention
for exactly 3 months, 1 year, 2 cm and 6 cm [D]) and the severity threshold are data:
`data/scores/vcss.toml`, validated at import by venalab.vcss_scale (the scale and the
resolution of items into bounds, below the exam model); this module scores.

Incomplete input is scored honestly: `total` is the lower bound (sum of what is known, plus
the minimum of items known only as "at least"), `upper_bound` puts 3 on every unknown item.
The three ulcer items are linked: no active ulcer (any of them 0) makes the other two 0
(N/A, not missing); an active ulcer (any of them >= 1) makes the others at least 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Evidence, Frozen, compare, evidence
from venalab.exam import VcssItems
from venalab.vcss_scale import (
    NEGATE,
    VCSS_SCALE,
    Bound,
    ItemStatus,
    VcssScale,
    fmt,
    resolve,
    scale_problems,
)


def _field_problems(scale: VcssScale) -> list[Problem]:
    """Every VcssItems field has an item and every item a field: model and data cannot drift."""
    fields = set(VcssItems.model_fields)
    problems = [
        Problem(f"items[{i}].name", f"{name!r} is not a VcssItems field")
        for i, name in enumerate(scale.item_names)
        if name not in fields
    ]
    for key, conv in scale.conversions.items():
        if conv.field not in fields:
            problems.append(
                Problem(f"conversions.{key}.field", f"{conv.field!r} is not a VcssItems field")
            )
    corona = scale.corona_phlebectatica
    if corona.field not in fields:
        problems.append(
            Problem("corona_phlebectatica.field", f"{corona.field!r} is not a VcssItems field")
        )
    covered = set(scale.item_names) | {c.field for c in scale.conversions.values()}
    covered |= {corona.field, "at_least"}
    for name in sorted(fields - covered):
        problems.append(Problem("items", f"VcssItems field {name!r} has no item in this file"))
    return problems


def parse_vcss_scale(raw: dict[str, object], name: str = "vcss.toml") -> VcssScale:
    """Validate a VCSS scale document against itself and the exam's VcssItems fields."""
    return validate_document(
        raw, VcssScale, f"score file {name}", lambda s: scale_problems(s) + _field_problems(s)
    )


_COVERAGE = _field_problems(VCSS_SCALE)
if _COVERAGE:  # the built-in file must cover the exam model (checked at import)
    raise InvalidInput(_COVERAGE, what="score file scores/vcss.toml")


# ---------------------------------------------------------------------------------------
# Result


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
# Scoring


def _item_result(name: str, b: Bound, scale: VcssScale) -> VcssItem:
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
            note=f"{spec.label}: {fmt(c.measured)} {conv.unit} -> {c.score} "
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
    bounds, conflicts = resolve(items, scale)
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
        neg = NEGATE[sev.comparison]
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
            f" {r.label} {fmt(r.measured or 0)} {r.unit} is exactly at a boundary the "
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
