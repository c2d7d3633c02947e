"""Wells DVT score: vectors TV12, TV13, TV14, TV30 of clinical.md section 7, thresholds,
1997 vs 2003 item sets, missing items, malformed data files, and invariants."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exam_dict
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput
from venalab.exam import WellsItems, parse_exam_obj
from venalab.rules.wells import WELLS_RULE, Version, WellsResult, parse_wells_rule, score_wells

NAMES = [i.name for i in WELLS_RULE.items]
ALL_NO = dict.fromkeys(NAMES, False)
TV12 = ALL_NO | {"active_cancer": True, "entire_leg_swollen": True, "pitting_edema": True}


def items_from_exam(body: dict[str, Any]) -> WellsItems:
    exam = parse_exam_obj(exam_dict(scores={"wells_dvt": body}))
    assert exam.scores is not None and exam.scores.wells_dvt is not None
    return exam.scores.wells_dvt


def score(body: dict[str, Any], version: Version | None = None) -> WellsResult:
    return score_wells(items_from_exam(body), version=version)


# ---------------------------------------------------------------------------------------
# Test vectors


def test_tv12_wells_3_likely_high() -> None:
    r = score(TV12)
    assert r.version == "2003" and r.complete
    assert (r.score, r.two_level, r.three_level) == (3, "likely", "high")
    ev = r.two_level_evidence
    assert (ev.source, ev.threshold, ev.measured, ev.comparison) == ("WEL03", 2, 3, ">=")
    assert r.three_level_evidence.source == "WEL97"
    assert r.evidence.source == "WEL03"
    assert r.observed_prevalence is not None and "75% in WEL97" in r.observed_prevalence


def test_tv13_alternative_diagnosis_gives_1_unlikely_moderate() -> None:
    r = score(TV12 | {"alternative_diagnosis_as_likely": True})
    assert (r.score, r.two_level, r.three_level) == (1, "unlikely", "moderate")
    ev = r.two_level_evidence
    assert (ev.threshold, ev.measured, ev.comparison) == (2, 1, "<")


def test_tv14_pal14_case_wells_1_moderate_unlikely() -> None:
    # 27 y F, minor trauma a week earlier, calf pain worse on palpation, no edema, no prior
    # VTE: only localized tenderness scores.
    r = score(ALL_NO | {"localized_tenderness": True})
    assert r.score == 1
    assert r.three_level == "moderate"
    assert r.two_level == "unlikely"


def test_tv30_wel97_observed_prevalence_by_tier() -> None:
    wel97 = next(p for p in WELLS_RULE.prevalence if p.source == "WEL97")
    assert wel97.evidence == "V" and "593" in wel97.population
    assert wel97.overall_percent == 16.0
    assert (wel97.low_percent, wel97.moderate_percent, wel97.high_percent) == (3, 17, 75)
    texts = {
        "low": score(ALL_NO).observed_prevalence,
        "moderate": score(ALL_NO | {"active_cancer": True}).observed_prevalence,
        "high": score(TV12).observed_prevalence,
    }
    assert "3% in WEL97" in str(texts["low"]) and "5% in WEL06" in str(texts["low"])
    assert "17% in WEL97" in str(texts["moderate"])
    assert "75% in WEL97" in str(texts["high"]) and "53% in WEL06" in str(texts["high"])
    assert all("16.0% overall" in str(t) for t in texts.values())


# ---------------------------------------------------------------------------------------
# Thresholds


def _with(n_positive: int, alternative: bool = False) -> dict[str, Any]:
    positives = [n for n in NAMES if n != "alternative_diagnosis_as_likely"][:n_positive]
    return (
        ALL_NO | dict.fromkeys(positives, True) | {"alternative_diagnosis_as_likely": alternative}
    )


@pytest.mark.parametrize(
    ("positives", "alternative", "expected", "two", "three"),
    [
        (0, True, -2, "unlikely", "low"),
        (1, True, -1, "unlikely", "low"),
        (0, False, 0, "unlikely", "low"),
        (1, False, 1, "unlikely", "moderate"),
        (2, False, 2, "likely", "moderate"),
        (3, False, 3, "likely", "high"),
        (9, False, 9, "likely", "high"),
        (4, True, 2, "likely", "moderate"),
    ],
)
def test_thresholds(positives: int, alternative: bool, expected: int, two: str, three: str) -> None:
    r = score(_with(positives, alternative))
    assert (r.score, r.two_level, r.three_level) == (expected, two, three)


# ---------------------------------------------------------------------------------------
# 1997 vs 2003


def test_1997_does_not_count_previous_dvt() -> None:
    body = ALL_NO | {"previous_dvt": True, "active_cancer": True}
    assert score(body).score == 2
    r97 = score(body, version="1997")
    assert r97.version == "1997" and r97.score == 1
    assert r97.not_counted == ("previous_dvt",)
    assert "no prior-DVT item" in r97.version_note and "4 weeks" in r97.version_note
    assert r97.evidence.source == "WEL97"
    prior = next(i for i in r97.items if i.name == "previous_dvt")
    assert not prior.counted and prior.contribution is None
    surgery = next(i for i in r97.items if i.name == "bedridden_or_major_surgery")
    assert "4 weeks" in surgery.label


def test_1997_previous_dvt_unanswered_is_not_missing() -> None:
    body = {k: v for k, v in TV12.items() if k != "previous_dvt"}
    assert score(body, version="1997").complete
    r = score(body)
    assert not r.complete and r.missing == ("previous_dvt",)


def test_two_level_on_1997_items_flagged_as_derived() -> None:
    ev = score(TV12, version="1997").two_level_evidence
    assert ev.level == "D" and "VENALAB" in ev.sources


def test_unknown_version_rejected() -> None:
    with pytest.raises(InvalidInput, match="accepted: 2003, 1997"):
        score_wells(WellsItems(), version="2010")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Missing items


def test_missing_items_give_range_and_undecidable_categories() -> None:
    body = {
        k: v
        for k, v in TV12.items()
        if k not in ("alternative_diagnosis_as_likely", "previous_dvt")
    }
    r = score(body)
    assert r.score is None and not r.complete
    assert (r.score_min, r.score_max) == (1, 4)
    assert r.missing == ("previous_dvt", "alternative_diagnosis_as_likely")
    assert r.two_level is None and r.three_level is None
    assert r.observed_prevalence is None
    assert "between 1 and 4" in r.statement


def test_missing_items_still_decidable_when_all_completions_agree() -> None:
    # Five positives known; even with the alternative diagnosis (-2) the score stays >= 3.
    body = dict.fromkeys(
        [
            "active_cancer",
            "paralysis_or_cast",
            "entire_leg_swollen",
            "pitting_edema",
            "calf_swelling_3cm",
        ],
        True,
    )
    r = score(body)
    assert r.score is None and (r.score_min, r.score_max) == (3, 9)
    assert r.two_level == "likely" and r.three_level == "high"
    assert r.two_level_evidence.measured == 3


def test_low_decided_by_upper_bound() -> None:
    body = ALL_NO | {"alternative_diagnosis_as_likely": True}
    body.pop("active_cancer")
    body.pop("pitting_edema")
    r = score(body)
    assert (r.score_min, r.score_max) == (-2, 0)
    assert r.three_level == "low" and r.two_level == "unlikely"
    assert r.three_level_evidence.measured == 0 and r.three_level_evidence.comparison == "<="


def test_nothing_answered() -> None:
    r = score({})
    assert (r.score_min, r.score_max) == (-2, 9) and len(r.missing) == 10
    assert r.two_level is None and r.three_level is None


# ---------------------------------------------------------------------------------------
# Item types (rejected by the exam model, with the JSON path)


@pytest.mark.parametrize("value", [1, "yes", 0])
def test_item_must_be_boolean(value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(exam_dict(scores={"wells_dvt": {"entire_leg_swollen": value}}))
    assert info.value.problems[0].path == "scores.wells_dvt.entire_leg_swollen"


def test_unknown_item_rejected() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_exam_obj(exam_dict(scores={"wells_dvt": {"recent_travel": True}}))
    assert info.value.problems[0].path == "scores.wells_dvt.recent_travel"


# ---------------------------------------------------------------------------------------
# Data file


def _raw() -> dict[str, Any]:
    return read_toml(data_path("scores", "wells.toml"))


def test_builtin_rule_loads() -> None:
    assert WELLS_RULE.default_version == "2003"
    assert WELLS_RULE.score_range("2003") == (-2, 9)
    assert WELLS_RULE.score_range("1997") == (-2, 8)
    assert len(WELLS_RULE.items_of("1997")) == 9
    assert parse_wells_rule(_raw()) == WELLS_RULE


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda r: r["items"][0].update(points=0), "items[0].points", "not 0"),
        (lambda r: r["items"][0].update(points="1"), "items[0].points", "integer"),
        (lambda r: r["items"].pop(8), "items", "previous_dvt"),
        (lambda r: r["versions"].pop("1997"), "versions.1997", "missing"),
        (lambda r: r["three_level"].update(low_threshold=3), "three_level", "below"),
        (
            lambda r: r["prevalence"][0].update(source="WEL98"),
            "prevalence[0].source",
            "unknown citation",
        ),
        (lambda r: r["items"][0].update(versions=["2010"]), "items[0].versions[0]", "'1997'"),
    ],
)
def test_malformed_rule_fails_with_path(mutate: Any, path: str, fragment: str) -> None:
    raw = copy.deepcopy(_raw())
    mutate(raw)
    with pytest.raises(InvalidInput) as info:
        parse_wells_rule(raw, "broken.toml")
    found = {p.path: p.message for p in info.value.problems}
    assert path in found and fragment in found[path], found


# ---------------------------------------------------------------------------------------
# Properties


@st.composite
def full_and_partial(draw: st.DrawFn) -> tuple[dict[str, bool], dict[str, bool]]:
    full = {n: draw(st.booleans()) for n in NAMES}
    hidden = draw(st.sets(st.sampled_from(NAMES)))
    return full, {k: v for k, v in full.items() if k not in hidden}


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(full_and_partial(), st.sampled_from(["1997", "2003"]))
def test_property_range_and_decided_categories(
    pair: tuple[dict[str, bool], dict[str, bool]],
    version: Version,
) -> None:
    full, partial = pair
    whole = score_wells(WellsItems.model_validate(full), version=version)
    part = score_wells(WellsItems.model_validate(partial), version=version)
    low, high = WELLS_RULE.score_range(version)
    assert whole.score is not None and low <= whole.score <= high
    assert low <= part.score_min <= part.score_max <= high
    assert part.score_min <= whole.score <= part.score_max
    assert whole.two_level == ("likely" if whole.score >= 2 else "unlikely")
    if part.two_level is not None:
        assert part.two_level == whole.two_level
    if part.three_level is not None:
        assert part.three_level == whole.three_level
    assert (part.score is None) == bool(part.missing)
