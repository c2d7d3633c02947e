"""Reflux criteria sets as data (`data/criteria/*.toml`), validated at load.

A set gives, per vein group, the reflux cut-off in ms and its comparison; the perforator
rule (duration, diameter, ulcer-location requirement); the pattern parameters; and the
citation ids of every row. Sets: svs-avf-avls-2022 (default), svs-avf-2011, labropoulos-2003.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from venalab.anatomy import GROUP_LABEL
from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem

Comparison = Literal[">", ">="]

REQUIRED_GROUPS = (
    "femoropopliteal",
    "deep-femoral",
    "calf-axial",
    "calf-muscular",
    "saphenous-trunk",
    "junction",
    "accessory-saphenous",
    "non-saphenous",
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class GroupRule(_Strict):
    threshold_ms: Annotated[float, Field(gt=0, le=10000)]
    comparison: Comparison
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel
    note: str | None = None


class PerforatorRule(_Strict):
    """Perforator rules of a set. `duration_comparison` is the duration criterion of the
    pathologic-perforator definition (SVS22 1.1.c, SVS11 2.5: ">= 500 ms");
    `reflux_comparison` decides whether outward flow is reflux at all, i.e. an incompetent
    perforator (SVS22 1.1.a: "> 500 ms"); absent = the same as `duration_comparison`."""

    duration_ms: Annotated[float, Field(gt=0, le=10000)]
    duration_comparison: Comparison
    reflux_comparison: Comparison | None = None
    diameter_mm: Annotated[float, Field(gt=0, le=20)] | None = None
    diameter_comparison: Comparison | None = None
    ulcer_location_required_in: tuple[Literal["C5", "C6"], ...] = ()
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    evidence: EvidenceLevel

    @model_validator(mode="after")
    def _diameter_pair(self) -> PerforatorRule:
        if (self.diameter_mm is None) != (self.diameter_comparison is None):
            raise ValueError("give both `diameter_mm` and `diameter_comparison`, or neither")
        return self


class PatternRule(_Strict):
    accessory_axial_min_cm: Annotated[float, Field(gt=0, le=50)]
    sources: tuple[str, ...]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class CriteriaSummary(NamedTuple):
    """A criteria set in words: `text` is the one-paragraph form of a report."""

    reflux: str
    perforator: str
    accessory_axial: str

    @property
    def text(self) -> str:
        return (
            f"{self.reflux}; pathologic perforator: {self.perforator}; {self.accessory_axial}. "
            + BOUNDARY_NOTE
        )


BOUNDARY_NOTE = "A value exactly at a cut-off is reported as 'boundary'."


class CriteriaSet(_Strict):
    schema_: Literal["venalab-criteria/1"] = Field(alias="schema")
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title: str
    version: str
    default: bool = False
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    groups: dict[str, GroupRule]
    perforator: PerforatorRule
    patterns: PatternRule

    _duration_rules: dict[str, GroupRule] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        # The perforator reflux rule in the shape of a group rule, so verdicts share one path.
        p = self.perforator
        self._duration_rules = {
            **self.groups,
            "perforator": GroupRule(
                threshold_ms=p.duration_ms,
                comparison=p.reflux_comparison or p.duration_comparison,
                sources=p.sources,
                evidence=p.evidence,
            ),
        }

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"

    def ulcer_limb(self, c_classes: Iterable[str]) -> bool:
        """Whether the perforator location criterion applies to a limb of these classes: one
        of the classes the set lists (C6r counts as C6), per SVS11 guideline 2.5."""
        listed = self.perforator.ulcer_location_required_in
        return any(c[:2] in listed for c in c_classes)

    def describe(self) -> CriteriaSummary:
        """The set in words, built from its rows and the anatomy's group names (report, CLI)."""
        by_rule: dict[tuple[str, float], list[str]] = {}
        for name, g in self.groups.items():
            by_rule.setdefault((g.comparison, g.threshold_ms), []).append(GROUP_LABEL[name])
        reflux = "reflux " + "; ".join(
            f"{cmp} {ms:g} ms in the {_join(labels)}" for (cmp, ms), labels in by_rule.items()
        )
        p = self.perforator
        perforator = f"outward flow {p.duration_comparison} {p.duration_ms:g} ms"
        if p.diameter_mm is not None:
            perforator += f" and diameter {p.diameter_comparison} {p.diameter_mm:g} mm"
        if p.ulcer_location_required_in:
            perforator += (
                f", beneath a healed or open ulcer in {'/'.join(p.ulcer_location_required_in)}"
                " limbs"
            )
        if p.reflux_comparison and p.reflux_comparison != p.duration_comparison:
            perforator += (
                f"; an incompetent perforator has outward flow {p.reflux_comparison} "
                f"{p.duration_ms:g} ms"
            )
        accessory = (
            f"accessory saphenous axial reflux: points >= {self.patterns.accessory_axial_min_cm:g}"
            " cm apart"
        )
        return CriteriaSummary(reflux=reflux, perforator=perforator, accessory_axial=accessory)

    def duration_rule(self, group: str) -> GroupRule | None:
        """The reflux-duration rule for a vein group ('perforator' included), None if undefined."""
        # Direct dict access: pydantic's private-attribute __getattr__ is slow on this hot path.
        rules: dict[str, GroupRule] = self.__pydantic_private__["_duration_rules"]  # type: ignore[index]
        return rules.get(group)


def _problems_of(cs: CriteriaSet) -> list[Problem]:
    problems = [
        Problem(f"groups.{g}", "missing: every vein group needs a rule")
        for g in REQUIRED_GROUPS
        if g not in cs.groups
    ]
    problems += check_ids(cs.sources, "sources")
    for name, rule in cs.groups.items():
        problems += check_ids(rule.sources, f"groups.{name}.sources")
    problems += check_ids(cs.perforator.sources, "perforator.sources")
    problems += check_ids(cs.patterns.sources, "patterns.sources")
    return problems


def parse_criteria(raw: dict[str, object], name: str) -> CriteriaSet:
    """Validate one criteria document; every problem is reported with its path."""
    return validate_document(raw, CriteriaSet, f"criteria file {name}", _problems_of)


@cache
def _builtin() -> dict[str, CriteriaSet]:
    sets: dict[str, CriteriaSet] = {}
    folder = data_path("criteria")
    for node in sorted(folder.iterdir(), key=lambda n: n.name):
        if node.name.endswith(".toml"):
            cs = parse_criteria(read_toml(node), node.name)
            if cs.id != node.name.removesuffix(".toml"):
                raise InvalidInput(
                    [Problem("id", f"{cs.id!r} does not match the file name")],
                    what=f"criteria file {node.name}",
                )
            sets[cs.id] = cs
    defaults = [cs.id for cs in sets.values() if cs.default]
    if len(defaults) != 1:
        raise InvalidInput(
            [Problem("default", f"exactly one set must be default, found {defaults}")],
            what="criteria sets",
        )
    return sets


CRITERIA: dict[str, CriteriaSet] = _builtin()
DEFAULT_CRITERIA_ID: str = next(cs.id for cs in CRITERIA.values() if cs.default)


def get_criteria(criteria_id: str | None = None) -> CriteriaSet:
    """A built-in set by id (the default when None); unknown ids list the accepted ones."""
    key = criteria_id or DEFAULT_CRITERIA_ID
    if key not in CRITERIA:
        raise InvalidInput(
            [Problem("criteria", f"unknown criteria set {key!r}; accepted: {', '.join(CRITERIA)}")],
            what="option",
        )
    return CRITERIA[key]
