"""Revised VCSS (Vasquez 2010): vectors TV06, TV21, TV22 of clinical.md section 7, boundaries,
incomplete items, ulcer logic, malformed data files, and bound invariants."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exam_dict
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput
from venalab.exam import VcssItems, parse_exam_obj
from venalab.rules.vcss import VCSS_SCALE, VcssResult, parse_vcss_scale, score_vcss

ITEMS = VCSS_SCALE.item_names
TV21 = {
    "pain": 2,
    "varicose_veins": 3,
    "edema": 2,
    "pigmentation": 2,
    "inflammation": 1,
    "induration": 2,
    "active_ulcers": 1,
    "ulcer_duration": 2,
    "ulcer_size": 2,
    "compression": 2,
}


def items_from_exam(body: dict[str, Any], side: str = "left") -> VcssItems:
    """VcssItems as the exam parser produces them (strict JSON validation)."""
    exam = parse_exam_obj(exam_dict(scores={"vcss": {side: body}}))
    assert exam.scores is not None and exam.scores.vcss is not None
    got = getattr(exam.scores.vcss, side)
    assert isinstance(got, VcssItems)
    return got


def score(body: dict[str, Any]) -> VcssResult:
    return score_vcss(items_from_exam(body), path="scores.vcss.left")


def problems(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(exam_dict(scores={"vcss": {"left": body}}))
    return {p.path: p.message for p in info.value.problems}


def item(result: VcssResult, name: str) -> Any:
    return next(i for i in result.items if i.name == name)


# ---------------------------------------------------------------------------------------
# Test vectors


def test_tv21_vcss_total_19_severe() -> None:
    r = score(TV21)
    assert r.total == 19 and r.upper_bound == 19
    assert r.complete and r.missing == ()
    assert r.severe is True
    assert r.scale == "rVCSS (Vasquez 2010)"
    assert "severe disease at risk of progression" in r.statement
    ev = r.severity_evidence
    assert (ev.source, ev.threshold, ev.measured, ev.comparison) == ("SVS14", 8, 19, ">=")
    assert r.evidence.rule == "vcss.total" and r.evidence.source == "VCSS10"
    assert item(r, "varicose_veins").descriptor == "involve calf and thigh"
    assert item(r, "ulcer_duration").descriptor == "> 3 months but < 1 year"


def _tv06(duration: dict[str, Any]) -> dict[str, Any]:
    # Seed 001 left leg: boot pigmentation over mid+lower thirds (3), largest ulcer 2.5 cm,
    # "multiple" ulcers (>= 2), eczema (inflammation >= 1), LDS (induration >= 1).
    return {
        "pigmentation": 3,
        "ulcer_size_cm": 2.5,
        "at_least": {"active_ulcers": 2, "inflammation": 1, "induration": 1},
        **duration,
    }


def test_tv06_seed001_incomplete_lower_bound_12_with_duration_assumption() -> None:
    r = score(_tv06({"ulcer_duration": 3}))
    assert not r.complete
    assert r.total == 12
    assert set(r.missing) == {
        "pain",
        "varicose_veins",
        "edema",
        "compression",
        "active_ulcers",
        "inflammation",
        "induration",
    }
    assert set(r.at_least) == {"active_ulcers", "inflammation", "induration"}
    assert item(r, "ulcer_size").score == 2 and item(r, "ulcer_size").status == "converted"
    assert item(r, "active_ulcers").minimum == 2 and item(r, "active_ulcers").score is None
    assert r.upper_bound == 3 + 2 + 3 + 3 * 7
    assert r.severe is True  # the lower bound alone reaches 8
    assert "incomplete" in r.statement and "at least 12" in r.statement


def test_tv06_seed001_lower_bound_10_without_duration_assumption() -> None:
    r = score(_tv06({}))
    assert r.total == 10
    d = item(r, "ulcer_duration")
    assert d.status == "at-least" and d.minimum == 1 and d.score is None
    assert "ulcer_duration" in r.missing
    assert r.severe is True


def test_tv22_duration_exactly_3_months_scores_2_by_convention() -> None:
    r = score({"active_ulcers": 1, "ulcer_duration_months": 3})
    d = item(r, "ulcer_duration")
    assert d.score == 2 and d.boundary
    assert d.evidence.level == "D" and d.evidence.sources == ("VCSS10", "VENALAB")
    assert (d.evidence.threshold, d.evidence.measured, d.evidence.comparison) == (3, 3, ">=")
    assert "convention" in r.statement


@pytest.mark.parametrize("size_cm", [2.0, 6.0])
def test_tv22_size_exactly_2_and_6_cm_score_2(size_cm: float) -> None:
    r = score({"active_ulcers": 1, "ulcer_size_cm": size_cm})
    s = item(r, "ulcer_size")
    assert s.score == 2 and s.boundary and s.evidence.level == "D"


def test_tv22_corona_phlebectatica_only_scores_varicose_veins_1() -> None:
    r = score({"corona_phlebectatica_only": True})
    v = item(r, "varicose_veins")
    assert v.score == 1 and v.status == "converted"
    assert "corona phlebectatica" in v.descriptor
    assert v.evidence.source == "VCSS10"


# ---------------------------------------------------------------------------------------
# Conversions around the boundaries


@pytest.mark.parametrize(
    ("months", "expected", "boundary"),
    [
        (0, 1, False),
        (2.9, 1, False),
        (3.1, 2, False),
        (11.9, 2, False),
        (12, 3, True),
        (30, 3, False),
    ],
)
def test_duration_conversion(months: float, expected: int, boundary: bool) -> None:
    d = item(score({"ulcer_duration_months": months}), "ulcer_duration")
    assert (d.score, d.boundary) == (expected, boundary)


@pytest.mark.parametrize(
    ("size_cm", "expected"),
    [(0.5, 1), (1.99, 1), (2.5, 2), (6.01, 3), (15, 3)],
)
def test_size_conversion(size_cm: float, expected: int) -> None:
    assert item(score({"ulcer_size_cm": size_cm}), "ulcer_size").score == expected


def test_raw_value_that_agrees_with_explicit_item_is_accepted() -> None:
    r = score({"ulcer_duration": 2, "ulcer_duration_months": 4})
    assert item(r, "ulcer_duration").score == 2


def test_raw_value_disagreeing_with_item_names_both_paths() -> None:
    found = problems({"ulcer_duration": 3, "ulcer_duration_months": 4})
    msg = found["scores.vcss.left"]
    assert "ulcer_duration_months" in msg and "`ulcer_duration` = 3" in msg


def test_corona_disagreeing_with_varicose_item_is_rejected() -> None:
    msg = problems({"varicose_veins": 2, "corona_phlebectatica_only": True})["scores.vcss.left"]
    assert "corona_phlebectatica_only" in msg and "varicose_veins" in msg


def test_corona_false_says_nothing() -> None:
    r = score({"corona_phlebectatica_only": False})
    assert item(r, "varicose_veins").score is None


# ---------------------------------------------------------------------------------------
# Ulcer logic


def test_no_active_ulcer_makes_duration_and_size_not_applicable_not_missing() -> None:
    r = score({"active_ulcers": 0})
    for name in ("ulcer_duration", "ulcer_size"):
        i = item(r, name)
        assert i.score == 0 and i.status == "not-applicable" and i.descriptor.startswith("N/A")
        assert name not in r.missing
    assert r.total == 0 and r.upper_bound == 3 * 7
    assert len(r.missing) == 7


def test_ulcer_detail_zero_implies_no_ulcer() -> None:
    r = score({"ulcer_size": 0})
    assert item(r, "active_ulcers").score == 0 and item(r, "active_ulcers").status == "inferred"
    assert item(r, "ulcer_duration").score == 0


def test_active_ulcer_makes_missing_details_at_least_1() -> None:
    r = score({"active_ulcers": 1})
    assert r.total == 3 and r.upper_bound == 1 + 3 * 9
    assert item(r, "ulcer_size").minimum == 1


def test_ulcer_detail_implies_an_active_ulcer() -> None:
    r = score({"ulcer_size_cm": 7})
    assert item(r, "active_ulcers").minimum == 1 and r.total == 3 + 1 + 1


@pytest.mark.parametrize(
    "body",
    [
        {"active_ulcers": 0, "ulcer_duration": 2},
        {"active_ulcers": 0, "ulcer_size_cm": 3},
        {"ulcer_duration": 0, "at_least": {"active_ulcers": 1}},
        {"active_ulcers": 1, "ulcer_size": 0},
    ],
)
def test_no_ulcer_contradicting_an_ulcer_is_rejected(body: dict[str, Any]) -> None:
    assert "no active ulcer" in problems(body)["scores.vcss.left"]


# ---------------------------------------------------------------------------------------
# Minimums ("at least")


def test_minimum_above_explicit_score_is_rejected() -> None:
    msg = problems({"pain": 1, "at_least": {"pain": 2}})["scores.vcss.left"]
    assert "at_least.pain" in msg


def test_minimum_of_3_determines_the_item() -> None:
    r = score({"at_least": {"edema": 3}})
    assert item(r, "edema").score == 3 and "edema" not in r.missing


def test_minimum_consistent_with_explicit_score() -> None:
    assert item(score({"pain": 3, "at_least": {"pain": 2}}), "pain").score == 3


# ---------------------------------------------------------------------------------------
# Item ranges and types (rejected by the exam model, with the JSON path)


@pytest.mark.parametrize("value", [4, -1])
@pytest.mark.parametrize("name", ["pain", "compression", "ulcer_size"])
def test_item_out_of_range_rejected_with_path(name: str, value: int) -> None:
    found = problems({name: value})
    assert f"scores.vcss.left.{name}" in found


def test_item_must_be_an_integer() -> None:
    assert "scores.vcss.left.pain" in problems({"pain": "2"})
    assert "scores.vcss.left.pain" in problems({"pain": 1.5})


def test_minimum_range_and_item_names_checked() -> None:
    found = problems({"at_least": {"pain": 0, "edema": 4, "colour": 1}})
    assert {
        "scores.vcss.left.at_least.pain",
        "scores.vcss.left.at_least.edema",
        "scores.vcss.left.at_least.colour",
    } <= set(found)


def test_right_leg_path() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(exam_dict(scores={"vcss": {"right": {"edema": 5}}}))
    assert info.value.problems[0].path == "scores.vcss.right.edema"


@pytest.mark.parametrize("field", ["ulcer_duration_months", "ulcer_size_cm"])
def test_negative_raw_value_rejected(field: str) -> None:
    assert f"scores.vcss.left.{field}" in problems({field: -1})


def test_score_vcss_reports_conflicts_with_given_path() -> None:
    # Bypassing the exam parser (model_construct) still cannot score contradictory input.
    bad = VcssItems.model_construct(active_ulcers=0, ulcer_size=2)
    with pytest.raises(InvalidInput) as info:
        score_vcss(bad, path="scores.vcss.right")
    assert info.value.problems[0].path == "scores.vcss.right"


# ---------------------------------------------------------------------------------------
# Severity threshold (SVS14: >= 8) and incompleteness


def _full(total: int) -> dict[str, Any]:
    # No ulcer, the rest filled in order up to `total` (max 21).
    body: dict[str, Any] = {"active_ulcers": 0, "ulcer_duration": 0, "ulcer_size": 0}
    rest = [n for n in ITEMS if n not in body]
    for n in rest:
        body[n] = min(3, total)
        total -= body[n]
    return body


def test_total_8_is_severe_7_is_not() -> None:
    assert score(_full(8)).severe is True
    seven = score(_full(7))
    assert seven.severe is False and seven.complete
    assert seven.severity_evidence.comparison == "<" and seven.severity_evidence.measured == 7


def test_undecidable_severity_is_none() -> None:
    r = score({"pain": 2, "edema": 2})
    assert r.severe is None and r.total == 4 and r.upper_bound == 4 + 3 * 8
    assert "depends on the missing items" in r.statement


def test_incomplete_but_cannot_reach_8() -> None:
    r = score(
        {
            "pain": 0,
            "varicose_veins": 0,
            "edema": 0,
            "pigmentation": 0,
            "inflammation": 0,
            "induration": 0,
            "active_ulcers": 0,
            "compression": 2,
        }
    )
    assert r.complete and r.total == 2  # ulcer details N/A, so nothing is missing
    r2 = score(
        {
            "pain": 1,
            "varicose_veins": 0,
            "edema": 0,
            "pigmentation": 0,
            "inflammation": 0,
            "induration": 0,
            "active_ulcers": 0,
        }
    )
    assert not r2.complete and r2.upper_bound == 4 and r2.severe is False


def test_empty_items_are_all_missing() -> None:
    r = score({})
    assert r.total == 0 and r.upper_bound == 30 and len(r.missing) == 10 and r.severe is None


# ---------------------------------------------------------------------------------------
# Data file


def _raw() -> dict[str, Any]:
    return read_toml(data_path("scores", "vcss.toml"))


def test_builtin_scale_loads() -> None:
    assert VCSS_SCALE.label == "rVCSS (Vasquez 2010)"
    assert len(VCSS_SCALE.items) == 10 and VCSS_SCALE.max_total == 30
    assert VCSS_SCALE.severity.threshold == 8
    assert parse_vcss_scale(_raw()) == VCSS_SCALE


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda r: r["items"][0].update(levels=["a", "b", "c"]), "items[0].levels", "at least 4"),
        (lambda r: r["items"][0].update(name="ache"), "items[0].name", "not a VcssItems field"),
        (lambda r: r["items"].pop(), "items", "'compression'"),
        (lambda r: r.update(sources=["VCSS99"]), "sources", "unknown citation"),
        (lambda r: r["severity"].update(threshold="8"), "severity.threshold", "integer"),
        (
            lambda r: r["conversions"]["ulcer_size"]["steps"].reverse(),
            "conversions.ulcer_size",
            "ascending",
        ),
        (
            lambda r: r["conversions"]["ulcer_size"].update(field="size"),
            "conversions.ulcer_size.field",
            "not a VcssItems field",
        ),
        (lambda r: r.update(colour="red"), "colour", "unknown field"),
    ],
)
def test_malformed_scale_fails_with_path(mutate: Any, path: str, fragment: str) -> None:
    raw = copy.deepcopy(_raw())
    mutate(raw)
    with pytest.raises(InvalidInput) as info:
        parse_vcss_scale(raw, "broken.toml")
    found = {p.path: p.message for p in info.value.problems}
    assert path in found and fragment in found[path], found
    assert "broken.toml" in str(info.value)


# ---------------------------------------------------------------------------------------
# Properties


@st.composite
def full_and_partial(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, Any]]:
    """A complete consistent item set and a partial view of it (some items hidden, some only
    known as a minimum <= the true score)."""
    full = {n: draw(st.integers(0, 3)) for n in ITEMS}
    if draw(st.booleans()):
        full |= {"active_ulcers": 0, "ulcer_duration": 0, "ulcer_size": 0}
    else:
        full |= {
            n: draw(st.integers(1, 3)) for n in ("active_ulcers", "ulcer_duration", "ulcer_size")
        }
    partial: dict[str, Any] = {}
    minimums: dict[str, int] = {}
    for n in ITEMS:
        how = draw(st.sampled_from(["known", "hidden", "minimum"]))
        if how == "known":
            partial[n] = full[n]
        elif how == "minimum" and full[n] >= 1:
            minimums[n] = draw(st.integers(1, full[n]))
    if minimums:
        partial["at_least"] = minimums
    return full, partial


@settings(max_examples=300, deadline=None)
@given(full_and_partial())
def test_property_bounds_hold_and_filling_stays_within(
    pair: tuple[dict[str, int], dict[str, Any]],
) -> None:
    full, partial = pair
    whole = score_vcss(VcssItems.model_validate(full))
    part = score_vcss(VcssItems.model_validate(partial))
    assert whole.complete and 0 <= whole.total <= 30 and whole.total == sum(full.values())
    assert 0 <= part.total <= part.upper_bound <= 30
    assert part.total <= whole.total <= part.upper_bound
    if part.severe is not None:
        assert part.severe == whole.severe
    for name in ITEMS:
        i = next(x for x in part.items if x.name == name)
        assert i.minimum <= full[name] <= i.maximum


@settings(max_examples=200, deadline=None)
@given(full_and_partial(), st.sampled_from(ITEMS))
def test_property_filling_one_item_narrows_the_bounds(
    pair: tuple[dict[str, int], dict[str, Any]],
    name: str,
) -> None:
    full, partial = pair
    before = score_vcss(VcssItems.model_validate(partial))
    filled = dict(partial) | {name: full[name]}
    after = score_vcss(VcssItems.model_validate(filled))
    assert before.total <= after.total <= after.upper_bound <= before.upper_bound
