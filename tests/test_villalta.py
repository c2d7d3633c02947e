"""Villalta PTS scale: vectors TV19, TV20 of clinical.md section 7, band boundaries, the ulcer
rule, missing items, two-visit confirmation, malformed data files, and invariants."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exam_dict
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput
from venalab.exam import VillaltaItems, parse_exam_obj
from venalab.rules.villalta import (
    CATEGORIES,
    VILLALTA_SCALE,
    VillaltaResult,
    parse_villalta_scale,
    score_villalta,
)

ITEMS = VILLALTA_SCALE.item_names
TV19 = {
    "pain": 1,
    "cramps": 1,
    "heaviness": 2,
    "paresthesia": 0,
    "pruritus": 1,
    "pretibial_edema": 1,
    "skin_induration": 0,
    "hyperpigmentation": 1,
    "redness": 0,
    "venous_ectasia": 1,
    "calf_compression_pain": 0,
    "ulcer": False,
}


def items_from_exam(body: dict[str, Any]) -> VillaltaItems:
    exam = parse_exam_obj(exam_dict(scores={"villalta": {"left": body}}))
    assert exam.scores is not None and exam.scores.villalta is not None
    assert exam.scores.villalta.left is not None
    return exam.scores.villalta.left


def with_total(total: int, ulcer: bool | None = False) -> dict[str, Any]:
    """A complete item set summing to `total` (filled 3 at a time, in item order)."""
    body: dict[str, Any] = {}
    for name in ITEMS:
        body[name] = min(3, total)
        total -= body[name]
    assert total == 0
    if ulcer is not None:
        body["ulcer"] = ulcer
    return body


def score(body: dict[str, Any], **kw: Any) -> VillaltaResult:
    return score_villalta(items_from_exam(body), **kw)


# ---------------------------------------------------------------------------------------
# Test vectors


def test_tv19_villalta_mild() -> None:
    r = score(TV19)
    assert r.total == 8 and r.complete and r.category == "mild"
    assert r.category_label == "mild PTS"
    ev = r.evidence
    assert (ev.rule, ev.source, ev.threshold, ev.measured, ev.comparison) == (
        "villalta.category",
        "ISTH09",
        5,
        8,
        ">=",
    )
    assert "mild PTS" in r.statement
    assert next(i for i in r.items if i.name == "heaviness").descriptor == "moderate"


def test_tv20a_ulcer_makes_severe_and_adds_no_points() -> None:
    r = score(with_total(3, ulcer=True))
    assert r.total == 3 and r.upper_bound == 3
    assert r.category == "severe"
    assert r.evidence.rule == "villalta.ulcer" and r.evidence.source == "ISTH09"
    assert "adds no points" in r.statement


@pytest.mark.parametrize(
    ("vector", "total", "category"),
    [("b", 12, "moderate"), ("c", 4, "none"), ("d", 15, "severe")],
)
def test_tv20_bands(vector: str, total: int, category: str) -> None:
    r = score(with_total(total))
    assert (r.total, r.category) == (total, category), vector


# ---------------------------------------------------------------------------------------
# Band boundaries


@pytest.mark.parametrize(
    ("total", "category"),
    [
        (0, "none"),
        (4, "none"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (33, "severe"),
    ],
)
def test_band_boundaries(total: int, category: str) -> None:
    assert score(with_total(total)).category == category


def test_none_band_evidence_reads_below_5() -> None:
    ev = score(with_total(4)).evidence
    assert (ev.threshold, ev.measured, ev.comparison) == (5, 4, "<")


# ---------------------------------------------------------------------------------------
# Missing items and unknown ulcer


def test_missing_item_gives_bounds_and_category_range() -> None:
    body = with_total(6)
    body.pop("pain")  # pain was 3
    r = score(body)
    assert not r.complete and r.missing == ("pain",)
    assert (r.total, r.upper_bound) == (3, 6)
    assert r.category is None and r.category_range == ("none", "mild")
    assert "not decidable" in r.statement


def test_missing_item_still_decidable_when_all_completions_agree() -> None:
    body = with_total(20)
    body.pop("calf_compression_pain")  # was 0
    r = score(body)
    assert not r.complete and r.category == "severe" and r.total == 20
    assert r.evidence.measured == 20 and r.evidence.comparison == ">="


def test_missing_item_none_band_decided_by_upper_bound() -> None:
    body = with_total(0)
    body.pop("pain")
    r = score(body)
    assert r.category == "none" and r.upper_bound == 3
    assert (r.evidence.measured, r.evidence.comparison, r.evidence.threshold) == (3, "<", 5)


def test_unknown_ulcer_is_missing_and_may_make_severe() -> None:
    r = score(with_total(8, ulcer=None))
    assert r.missing == ("ulcer",) and not r.complete
    assert r.category is None and r.category_range == ("mild", "severe")


def test_unknown_ulcer_irrelevant_at_15_or_more() -> None:
    assert score(with_total(15, ulcer=None)).category == "severe"


def test_ulcer_with_missing_items_is_severe() -> None:
    r = score({"ulcer": True})
    assert r.category == "severe" and r.total == 0 and r.upper_bound == 33


def test_nothing_known_allows_every_category() -> None:
    r = score({})
    assert r.category is None and r.category_range == CATEGORIES


# ---------------------------------------------------------------------------------------
# Two-visit confirmation (Prandoni)


def test_two_visit_confirms_the_lower_band() -> None:
    r = score(with_total(12), mode="two-visit", previous=items_from_exam(with_total(7)))
    assert r.mode == "two-visit" and r.category == "mild"
    assert r.previous is not None and r.previous.category == "mild"
    assert r.evidence.rule == "villalta.two-visit" and r.evidence.level == "D"
    assert r.total == 12


def test_two_visit_not_confirmed_when_one_visit_below_5() -> None:
    r = score(with_total(16), mode="two-visit", previous=items_from_exam(with_total(4)))
    assert r.category == "none"


def test_two_visit_ulcer_at_one_visit_is_severe() -> None:
    r = score(with_total(6), mode="two-visit", previous=items_from_exam(with_total(3, ulcer=True)))
    assert r.category == "severe"


def test_two_visit_both_at_15_is_severe() -> None:
    r = score(with_total(18), mode="two-visit", previous=items_from_exam(with_total(15)))
    assert r.category == "severe"


def test_two_visit_needs_previous_and_single_visit_refuses_it() -> None:
    with pytest.raises(InvalidInput, match="previous"):
        score(TV19, mode="two-visit")
    with pytest.raises(InvalidInput, match="two-visit"):
        score(TV19, previous=items_from_exam(TV19))


# ---------------------------------------------------------------------------------------
# Item ranges and types


@pytest.mark.parametrize("value", [4, -1])
@pytest.mark.parametrize("name", ["pain", "calf_compression_pain"])
def test_item_out_of_range_rejected_with_path(name: str, value: int) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(exam_dict(scores={"villalta": {"left": {name: value}}}))
    assert info.value.problems[0].path == f"scores.villalta.left.{name}"


def test_ulcer_must_be_boolean_and_unknown_item_rejected() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(
            exam_dict(scores={"villalta": {"right": {"ulcer": "yes", "varicose_veins": 1}}})
        )
    paths = {p.path for p in info.value.problems}
    assert paths == {"scores.villalta.right.ulcer", "scores.villalta.right.varicose_veins"}


# ---------------------------------------------------------------------------------------
# Data file


def _raw() -> dict[str, Any]:
    return read_toml(data_path("scores", "villalta.toml"))


def test_builtin_scale_loads() -> None:
    assert len(VILLALTA_SCALE.items) == 11 and VILLALTA_SCALE.max_total == 33
    assert [(b.min, b.max) for b in VILLALTA_SCALE.bands] == [(0, 4), (5, 9), (10, 14), (15, 33)]
    groups = [i.group for i in VILLALTA_SCALE.items]
    assert groups.count("symptom") == 5 and groups.count("sign") == 6
    assert "skin_induration" in ITEMS and "venous_ectasia" in ITEMS
    assert parse_villalta_scale(_raw()) == VILLALTA_SCALE


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda r: r["bands"][1].update(min=6), "bands[1]", "no gap"),
        (lambda r: r["bands"][3].update(max=30), "bands[3].max", "33"),
        (lambda r: r["bands"].reverse(), "bands", "in order"),
        (lambda r: r["items"].pop(6), "items", "skin_induration"),
        (
            lambda r: r["ulcer_rule"].update(sources=["ISTH99"]),
            "ulcer_rule.sources",
            "unknown citation",
        ),
        (lambda r: r["bands"][0].update(category="absent"), "bands[0].category", "'none'"),
    ],
)
def test_malformed_scale_fails_with_path(mutate: Any, path: str, fragment: str) -> None:
    raw = copy.deepcopy(_raw())
    mutate(raw)
    with pytest.raises(InvalidInput) as info:
        parse_villalta_scale(raw, "broken.toml")
    found = {p.path: p.message for p in info.value.problems}
    assert path in found and fragment in found[path], found


# ---------------------------------------------------------------------------------------
# Properties


@st.composite
def full_and_partial(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    full: dict[str, Any] = {n: draw(st.integers(0, 3)) for n in ITEMS}
    full["ulcer"] = draw(st.booleans())
    hidden = draw(st.sets(st.sampled_from([*ITEMS, "ulcer"])))
    return full, {k: v for k, v in full.items() if k not in hidden}


@settings(max_examples=300, deadline=None)
@given(full_and_partial())
def test_property_bounds_and_categories(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    full, partial = pair
    whole = score_villalta(VillaltaItems.model_validate(full))
    part = score_villalta(VillaltaItems.model_validate(partial))
    assert 0 <= whole.total <= 33 and whole.total == sum(full[n] for n in ITEMS)
    assert whole.category is not None and whole.complete
    assert 0 <= part.total <= part.upper_bound <= 33
    assert part.total <= whole.total <= part.upper_bound
    assert whole.category in part.category_range
    if part.category is not None:
        assert part.category == whole.category
    if full["ulcer"]:
        assert whole.category == "severe" and whole.total == sum(full[n] for n in ITEMS)


@settings(max_examples=150, deadline=None)
@given(full_and_partial(), full_and_partial())
def test_property_two_visit_never_above_either_visit(
    a: tuple[dict[str, Any], dict[str, Any]],
    b: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    prev, cur = VillaltaItems.model_validate(a[0]), VillaltaItems.model_validate(b[0])
    two = score_villalta(cur, mode="two-visit", previous=prev)
    one_prev, one_cur = score_villalta(prev), score_villalta(cur)
    assert two.category is not None and one_prev.category and one_cur.category
    rank = CATEGORIES.index
    if not (prev.ulcer or cur.ulcer):
        assert rank(two.category) == min(rank(one_prev.category), rank(one_cur.category))
    else:
        assert two.category == "severe"
