"""Wells clinical prediction rule for deep vein thrombosis (DVT).

Sources (shared/reference/clinical.md section 3.3):
- 2003 version, default: Wells PS et al., N Engl J Med 2003;349:1227-35 (WEL03) [V]: ten
  items (+1 each, "alternative diagnosis at least as likely" -2), two-level rule >= 2 "DVT
  likely", <= 1 "DVT unlikely".
- 1997 version: Wells PS et al., Lancet 1997;350:1795-8 (WEL97): three tiers high >= 3,
  moderate 1-2, low <= 0 [V2]; observed DVT prevalence by tier low 3%, moderate 17%, high 75%
  in 593 outpatients [V]. WEL97 had no prior-DVT item and a 4-week surgery window, so in
  1997 mode `previous_dvt` is not counted.
- Tier prevalences of the JAMA 2006 meta-analysis (WEL06) 5/17/53% [V2], descriptive.
Both category schemes are reported with either item set; the version used is stored in the
result. Items, points, thresholds and prevalences are data (`data/scores/wells.toml`).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Evidence, Frozen, compare, evidence
from venalab.exam import WellsItems

Version = Literal["1997", "2003"]
VERSIONS: tuple[Version, ...] = ("1997", "2003")
TwoLevel = Literal["likely", "unlikely"]
ThreeLevel = Literal["low", "moderate", "high"]

# ---------------------------------------------------------------------------------------
# The rule as data


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class WellsItemSpec(_Strict):
    name: str
    points: Annotated[int, Field(ge=-3, le=3)]
    label: str
    label_1997: str | None = None
    versions: Annotated[tuple[Version, ...], Field(min_length=1)]

    def label_for(self, version: Version) -> str:
        return self.label_1997 if version == "1997" and self.label_1997 else self.label


class VersionSpec(_Strict):
    label: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    note: str


class TwoLevelRule(_Strict):
    threshold: int
    comparison: Literal[">", ">="]
    above: Literal["likely"]
    below: Literal["unlikely"]
    text: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel


class ThreeLevelRule(_Strict):
    high_threshold: int
    low_threshold: int
    text: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    note_2003: str


class Prevalence(_Strict):
    source: str
    evidence: EvidenceLevel
    population: str
    overall_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    low_percent: Annotated[float, Field(ge=0, le=100)]
    moderate_percent: Annotated[float, Field(ge=0, le=100)]
    high_percent: Annotated[float, Field(ge=0, le=100)]

    def of(self, tier: ThreeLevel) -> float:
        return {
            "low": self.low_percent,
            "moderate": self.moderate_percent,
            "high": self.high_percent,
        }[tier]


class WellsRule(_Strict):
    schema_: Literal["venalab-wells/1"] = Field(alias="schema")
    default_version: Version
    items: Annotated[tuple[WellsItemSpec, ...], Field(min_length=1)]
    versions: dict[Version, VersionSpec]
    two_level: TwoLevelRule
    three_level: ThreeLevelRule
    prevalence: tuple[Prevalence, ...] = ()

    def items_of(self, version: Version) -> tuple[WellsItemSpec, ...]:
        return tuple(i for i in self.items if version in i.versions)

    def score_range(self, version: Version) -> tuple[int, int]:
        items = self.items_of(version)
        return (sum(min(0, i.points) for i in items), sum(max(0, i.points) for i in items))


def _problems_of(rule: WellsRule) -> list[Problem]:
    problems: list[Problem] = []
    expected = list(WellsItems.model_fields)
    names = [i.name for i in rule.items]
    if names != expected:
        problems.append(Problem("items", f"item names must be, in order: {', '.join(expected)}"))
    for i, item in enumerate(rule.items):
        if item.points == 0:
            problems.append(Problem(f"items[{i}].points", "an item must carry points (not 0)"))
    for v in VERSIONS:
        if v not in rule.versions:
            problems.append(Problem(f"versions.{v}", "missing: every version needs a spec"))
    for v, spec in rule.versions.items():
        problems += check_ids(spec.sources, f"versions.{v}.sources")
    problems += check_ids(rule.two_level.sources, "two_level.sources")
    problems += check_ids(rule.three_level.sources, "three_level.sources")
    if rule.three_level.low_threshold >= rule.three_level.high_threshold:
        problems.append(Problem("three_level", "low_threshold must be below high_threshold"))
    for i, p in enumerate(rule.prevalence):
        problems += check_ids([p.source], f"prevalence[{i}].source")
    return problems


def parse_wells_rule(raw: dict[str, object], name: str = "wells.toml") -> WellsRule:
    """Validate a Wells rule document; every problem is reported with its path."""
    return validate_document(raw, WellsRule, f"score file {name}", _problems_of)


@cache
def _builtin() -> WellsRule:
    return parse_wells_rule(read_toml(data_path("scores", "wells.toml")), "scores/wells.toml")


WELLS_RULE: WellsRule = _builtin()

# ---------------------------------------------------------------------------------------
# Result


class WellsItem(Frozen):
    name: str
    label: str
    points: int
    answer: bool | None
    counted: bool
    contribution: int | None


class WellsResult(Frozen):
    version: Version
    version_label: str
    version_note: str
    items: tuple[WellsItem, ...]
    score: int | None
    score_min: int
    score_max: int
    complete: bool
    missing: tuple[str, ...]
    not_counted: tuple[str, ...]
    two_level: TwoLevel | None
    three_level: ThreeLevel | None
    observed_prevalence: str | None
    statement: str
    evidence: Evidence
    two_level_evidence: Evidence
    three_level_evidence: Evidence


# ---------------------------------------------------------------------------------------
# Scoring


def _two_level(
    rule: WellsRule, version: Version, low: int, high: int
) -> tuple[TwoLevel | None, Evidence]:
    tl = rule.two_level
    level: EvidenceLevel = tl.evidence
    sources = list(tl.sources)
    extra = ""
    if version == "1997":
        # The likely/unlikely split was validated with the 2003 item set only.
        level, sources = "D", [*tl.sources, "VENALAB"]
        extra = " Threshold defined for the 2003 item set, applied here to the 1997 items."
    if compare(low, tl.comparison, tl.threshold):
        return tl.above, evidence(
            "wells.two-level",
            sources,
            level=level,
            threshold=tl.threshold,
            measured=low,
            comparison=tl.comparison,
            note=f"DVT {tl.above}: {tl.text}.{extra}",
        )
    if not compare(high, tl.comparison, tl.threshold):
        neg: Literal["<", "<="] = "<" if tl.comparison == ">=" else "<="
        return tl.below, evidence(
            "wells.two-level",
            sources,
            level=level,
            threshold=tl.threshold,
            measured=high,
            comparison=neg,
            note=f"DVT {tl.below}: {tl.text}.{extra}",
        )
    return None, evidence(
        "wells.two-level",
        sources,
        level=level,
        threshold=tl.threshold,
        comparison=tl.comparison,
        note=f"Score between {low} and {high}: not decidable ({tl.text}).{extra}",
    )


def _tier(rule: WellsRule, score: int) -> ThreeLevel:
    t = rule.three_level
    if score >= t.high_threshold:
        return "high"
    return "low" if score <= t.low_threshold else "moderate"


def _three_level(
    rule: WellsRule, version: Version, low: int, high: int
) -> tuple[ThreeLevel | None, Evidence]:
    t = rule.three_level
    extra = f" {t.note_2003}" if version == "2003" else ""
    tier_low, tier_high = _tier(rule, low), _tier(rule, high)
    if tier_low != tier_high:
        return None, evidence(
            "wells.three-level",
            t.sources,
            level=t.evidence,
            note=f"Score between {low} and {high}: {tier_low} to {tier_high}, "
            f"not decidable ({t.text}).{extra}",
        )
    note = f"{tier_low.capitalize()} pretest probability: {t.text}.{extra}"
    if tier_low == "high":
        ev = evidence(
            "wells.three-level",
            t.sources,
            level=t.evidence,
            threshold=t.high_threshold,
            measured=low,
            comparison=">=",
            note=note,
        )
    elif tier_low == "low":
        ev = evidence(
            "wells.three-level",
            t.sources,
            level=t.evidence,
            threshold=t.low_threshold,
            measured=high,
            comparison="<=",
            note=note,
        )
    else:
        ev = evidence(
            "wells.three-level",
            t.sources,
            level=t.evidence,
            threshold=t.low_threshold,
            measured=low,
            comparison=">",
            note=f"{note} Score {high if low == high else f'{low}-{high}'} is also "
            f"< {t.high_threshold}.",
        )
    return tier_low, ev


def _prevalence_text(rule: WellsRule, tier: ThreeLevel) -> str:
    parts = []
    for p in rule.prevalence:
        overall = (
            f"; DVT in {p.overall_percent:.1f}% overall" if p.overall_percent is not None else ""
        )
        parts.append(f"{p.of(tier):g}% in {p.source} ({p.population}{overall}) [{p.evidence}]")
    return (
        f"Observed DVT prevalence in the {tier} tier: {'; '.join(parts)}. Descriptive "
        "cohort figures, not this patient's probability."
    )


def score_wells(
    items: WellsItems, *, version: Version | None = None, rule: WellsRule | None = None
) -> WellsResult:
    """Wells DVT score with the two-level (WEL03) and three-level (WEL97) categories.

    version: "2003" (default, 10 items) or "1997" (9 items: no prior DVT, 4-week surgery
    window). Missing answers give `score` None, the possible range (`score_min`,
    `score_max`), and a category only when every completion gives the same one.
    """
    rule = rule or WELLS_RULE
    version = version or rule.default_version
    if version not in rule.versions:
        raise InvalidInput(
            [
                Problem(
                    "version",
                    f"unknown Wells version {version!r}; accepted: {', '.join(rule.versions)}",
                )
            ],
            what="option",
        )
    spec = rule.versions[version]
    results: list[WellsItem] = []
    for item in rule.items:
        answer: bool | None = getattr(items, item.name)
        counted = version in item.versions
        contribution = None if answer is None or not counted else (item.points if answer else 0)
        results.append(
            WellsItem(
                name=item.name,
                label=item.label_for(version),
                points=item.points,
                answer=answer,
                counted=counted,
                contribution=contribution,
            )
        )
    known = sum(r.contribution for r in results if r.contribution is not None)
    missing = tuple(r.name for r in results if r.counted and r.answer is None)
    low = known + sum(min(0, r.points) for r in results if r.name in missing)
    high = known + sum(max(0, r.points) for r in results if r.name in missing)
    complete = not missing
    not_counted = tuple(r.name for r in results if not r.counted and r.answer is not None)

    two, two_ev = _two_level(rule, version, low, high)
    three, three_ev = _three_level(rule, version, low, high)
    prevalence = _prevalence_text(rule, three) if three is not None else None

    version_note = spec.note
    if not_counted:
        version_note += f" Answered but not part of this version: {', '.join(not_counted)}."
    score_ev = evidence(
        "wells.score",
        spec.sources,
        level=spec.evidence,
        measured=known if complete else None,
        note=f"{spec.label}: "
        + (f"score {known}." if complete else f"incomplete, score between {low} and {high}.")
        + f" {version_note}",
    )
    score_text = (
        f"{known}"
        if complete
        else f"between {low} and {high} (not answered: "
        f"{', '.join(m.replace('_', ' ') for m in missing)})"
    )
    two_text = f"DVT {two}" if two is not None else "likely/unlikely not decidable"
    three_text = (
        f"{three} pretest probability (three-level)"
        if three is not None
        else "three-level tier not decidable"
    )
    statement = f"{spec.label}: score {score_text}; {two_text} (two-level); {three_text}."
    return WellsResult(
        version=version,
        version_label=spec.label,
        version_note=version_note,
        items=tuple(results),
        score=known if complete else None,
        score_min=low,
        score_max=high,
        complete=complete,
        missing=missing,
        not_counted=not_counted,
        two_level=two,
        three_level=three,
        observed_prevalence=prevalence,
        statement=statement,
        evidence=score_ev,
        two_level_evidence=two_ev,
        three_level_evidence=three_ev,
    )
