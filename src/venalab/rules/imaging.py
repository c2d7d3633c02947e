"""Radiographic patterns of the leg in chronic venous disease (clinical.md sections 5.3, 5.4).

Sources: Tokoro et al. 2009 (TOK09: punctate vs trabecular/reticular subcutaneous
calcification; the latter with longer disease duration and higher severity); the
LearningRadiology CVI page (LRAD, seed 000: three calcification types, stasis periostitis,
differential of sheet-, cloud- and rim-like calcification); a 500-leg ultrasound series
(US500: subcutaneous tissue calcification only in C4a-C6 legs); radiopaedia/radpod and the
Eurorad 17620 / Boray teaching cases (venous stasis periostitis as an osteomyelitis mimic).
Pattern meanings, C-class expectations and the cohort figures (TV24, TV25) are data in
`data/imaging_patterns.toml` (schema venalab-imaging-patterns/1), validated at import.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import Problem
from venalab.evidence import Finding, Frozen, Importance, evidence
from venalab.exam import Calcification, LegImaging, PeriostealReaction, Side
from venalab.rules.ceap import C_ORDER

PatternKind = Literal["subcutaneous", "phlebolith", "differential"]
_SIDE = {"left": "Left", "right": "Right"}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Sources = Annotated[tuple[str, ...], Field(min_length=1)]


class Meaning(_Strict):
    """One statement about what a pattern means, with its sources and evidence tag."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    text: Annotated[str, Field(min_length=1)]
    sources: Sources
    evidence: EvidenceLevel
    note: str | None = None


class CalcificationPattern(_Strict):
    label: str
    kind: PatternKind
    classifiable: bool
    advanced: bool
    expected: str | None = None
    meanings: Annotated[tuple[Meaning, ...], Field(min_length=1)]


class Differential(_Strict):
    text: str
    items: Annotated[tuple[str, ...], Field(min_length=1)]
    sources: Sources
    evidence: EvidenceLevel


class PeriostealPattern(_Strict):
    label: str
    expected: str | None = None
    meanings: Annotated[tuple[Meaning, ...], Field(min_length=1)]
    differential: Differential | None = None


class Expectation(_Strict):
    """C classes in which a pattern is expected; a leg with none of them is flagged."""

    classes: Annotated[tuple[str, ...], Field(min_length=1)]
    text: str
    sources: Sources
    evidence: EvidenceLevel


class Observation(_Strict):
    id: str
    measure: str
    population: str
    unit: str
    events: Annotated[int, Field(ge=0)]
    n: Annotated[int, Field(gt=0)]
    reported_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    classes: tuple[str, ...] = ()

    @property
    def percent(self) -> float:
        return round(100 * self.events / self.n, 1)

    @model_validator(mode="after")
    def _consistent(self) -> Observation:
        if self.events > self.n:
            raise ValueError(f"events ({self.events}) exceed n ({self.n})")
        if self.reported_percent is not None and abs(self.percent - self.reported_percent) > 0.05:
            raise ValueError(
                f"reported_percent {self.reported_percent:g} does not match "
                f"{self.events}/{self.n} = {self.percent:g}%"
            )
        return self


class Cohort(_Strict):
    """Descriptive cohort figures quoted as context (never used to decide)."""

    id: str
    vector: str
    source: str
    evidence: EvidenceLevel
    modality: str
    summary: str
    legs: Annotated[int, Field(gt=0)] | None = None
    patients: Annotated[int, Field(gt=0)] | None = None
    cvd_legs: Annotated[int, Field(gt=0)] | None = None
    c_class_legs: dict[str, Annotated[int, Field(ge=0)]] = {}
    observations: Annotated[tuple[Observation, ...], Field(min_length=1)]

    def observation(self, obs_id: str) -> Observation:
        for o in self.observations:
            if o.id == obs_id:
                return o
        raise KeyError(f"cohort {self.id} has no observation {obs_id!r}")

    @model_validator(mode="after")
    def _consistent(self) -> Cohort:
        if self.c_class_legs:
            total = sum(self.c_class_legs.values())
            if self.cvd_legs is not None and total != self.cvd_legs:
                raise ValueError(f"c_class_legs add up to {total}, cvd_legs says {self.cvd_legs}")
            for o in self.observations:
                if not o.classes:
                    continue
                unknown = [c for c in o.classes if c not in self.c_class_legs]
                if unknown:
                    raise ValueError(f"observation {o.id}: classes {unknown} not in c_class_legs")
                n = sum(self.c_class_legs[c] for c in o.classes)
                if n != o.n:
                    raise ValueError(f"observation {o.id}: n={o.n} but its classes hold {n} legs")
        if self.legs is not None and self.cvd_legs is not None and self.cvd_legs > self.legs:
            raise ValueError("cvd_legs exceeds legs")
        return self


class ImagingPatterns(_Strict):
    schema_: Literal["venalab-imaging-patterns/1"] = Field(alias="schema")
    version: str
    calcification: dict[str, CalcificationPattern]
    periosteal_reaction: dict[str, PeriostealPattern]
    expectations: dict[str, Expectation]
    cohorts: Annotated[tuple[Cohort, ...], Field(min_length=1)]

    def cohort(self, cohort_id: str) -> Cohort:
        for c in self.cohorts:
            if c.id == cohort_id:
                return c
        raise KeyError(f"no cohort {cohort_id!r}; known: {', '.join(c.id for c in self.cohorts)}")


def _problems_of(p: ImagingPatterns) -> list[Problem]:
    problems: list[Problem] = []
    wanted_calc = [c for c in get_args(Calcification) if c != "none"]
    wanted_perio = [r for r in get_args(PeriostealReaction) if r != "none"]
    problems += [
        Problem(f"calcification.{c}", "missing: every exam calcification value needs an entry")
        for c in wanted_calc
        if c not in p.calcification
    ]
    problems += [
        Problem(
            f"calcification.{c}",
            f"not an exam calcification value; allowed: {', '.join(wanted_calc)}",
        )
        for c in p.calcification
        if c not in wanted_calc
    ]
    problems += [
        Problem(
            f"periosteal_reaction.{r}",
            "missing: every exam periosteal_reaction value needs an entry",
        )
        for r in wanted_perio
        if r not in p.periosteal_reaction
    ]
    problems += [
        Problem(
            f"periosteal_reaction.{r}", f"not an exam value; allowed: {', '.join(wanted_perio)}"
        )
        for r in p.periosteal_reaction
        if r not in wanted_perio
    ]
    patterns: list[tuple[str, CalcificationPattern | PeriostealPattern]] = [
        *((f"calcification.{k}", v) for k, v in p.calcification.items()),
        *((f"periosteal_reaction.{k}", v) for k, v in p.periosteal_reaction.items()),
    ]
    for where, pat in patterns:
        if pat.expected is not None and pat.expected not in p.expectations:
            problems.append(
                Problem(
                    f"{where}.expected",
                    f"unknown expectation {pat.expected!r}; defined: {', '.join(p.expectations)}",
                )
            )
        for i, m in enumerate(pat.meanings):
            problems += check_ids(m.sources, f"{where}.meanings[{i}].sources")
        if isinstance(pat, PeriostealPattern) and pat.differential is not None:
            problems += check_ids(pat.differential.sources, f"{where}.differential.sources")
    for name, e in p.expectations.items():
        problems += check_ids(e.sources, f"expectations.{name}.sources")
        problems += [
            Problem(
                f"expectations.{name}.classes",
                f"unknown C class {c!r}; allowed: {', '.join(C_ORDER)}",
            )
            for c in e.classes
            if c not in C_ORDER
        ]
    for i, c in enumerate(p.cohorts):
        problems += check_ids([c.source], f"cohorts[{i}].source")
    return problems


def parse_imaging_patterns(raw: dict[str, object], name: str) -> ImagingPatterns:
    """Validate an imaging-pattern document; every problem is reported with its path."""
    return validate_document(raw, ImagingPatterns, f"data file {name}", _problems_of)


@cache
def _load() -> ImagingPatterns:
    return parse_imaging_patterns(
        read_toml(data_path("imaging_patterns.toml")), "imaging_patterns.toml"
    )


IMAGING_PATTERNS: ImagingPatterns = _load()


# ---------------------------------------------------------------------------------------
# Interpretation


class ImagingResult(Frozen):
    """What the recorded radiographic findings of one leg mean, each item as a Finding."""

    side: Side
    c_classes: tuple[str, ...]
    calcification: Calcification | None
    calcification_kind: PatternKind | None = None
    soft_tissue_calcification: bool
    """Calcification outside the veins (any pattern except phleboliths)."""
    classifiable_pattern: bool | None = None
    """True for punctate/trabecular/reticular; None when no subcutaneous calcification."""
    advanced_pattern: bool | None = None
    """venalab flag: trabecular or reticular (TOK09 grouping, label [D])."""
    periosteal_reaction: PeriostealReaction | None
    stasis_periostitis_suggested: bool
    bilateral_calcification: bool | None = None
    bilateral_periostitis: bool | None = None
    unusual_for_c_class: tuple[Literal["calcification", "periosteal_reaction"], ...] = ()
    differential: tuple[str, ...] = ()
    findings: tuple[Finding, ...]


def is_soft_tissue_calcification(
    calcification: Calcification | None, patterns: ImagingPatterns = IMAGING_PATTERNS
) -> bool:
    """True for a calcification outside the veins (phleboliths and 'none' are not)."""
    if calcification is None or calcification == "none":
        return False
    return patterns.calcification[calcification].kind != "phlebolith"


def _meaning_finding(
    side: Side, group: str, key: str, m: Meaning, importance: Importance
) -> Finding:
    return Finding(
        id=f"imaging.{group}.{key}.{m.id}.{side}",
        leg=side,
        importance=importance,
        text=f"{_SIDE[side]} leg: {m.text}",
        evidence=evidence(f"imaging.{group}.{m.id}", m.sources, level=m.evidence, note=m.note),
    )


def _unusual(
    side: Side, what: str, label: str, exp: Expectation, c_classes: tuple[str, ...]
) -> Finding | None:
    if not c_classes or any(c in exp.classes for c in c_classes):
        return None
    return Finding(
        id=f"imaging.unusual-for-c-class.{what}.{side}",
        leg=side,
        importance=3,
        text=f"{_SIDE[side]} leg ({' '.join(c_classes)}): {label} - {exp.text}",
        evidence=evidence(
            f"imaging.{what}.c-class",
            exp.sources,
            level=exp.evidence,
            note=f"Expected in {', '.join(exp.classes)}; this leg: {', '.join(c_classes)}.",
        ),
    )


def cohort_context_text(cohort: Cohort) -> str:
    """One sentence of the cohort's counts, built from the data (so text and data agree)."""
    parts = [
        f"{o.measure} in {o.events}/{o.n} {o.population} ({o.percent:g}%)"
        for o in cohort.observations
    ]
    return f"{cohort.modality.capitalize()}: " + "; ".join(parts) + "."


def _context_findings(side: Side, patterns: ImagingPatterns) -> list[Finding]:
    return [
        Finding(
            id=f"imaging.calcification.context.{c.id}.{side}",
            leg=side,
            importance=4,
            text=f"Context ({c.vector}): {cohort_context_text(c)}",
            evidence=evidence(
                "imaging.calcification.prevalence",
                [c.source],
                level=c.evidence,
                note="Descriptive cohort figures; they do not change the interpretation.",
            ),
        )
        for c in patterns.cohorts
    ]


def interpret_imaging(
    side: Side,
    imaging: LegImaging,
    c_classes: tuple[str, ...],
    *,
    contralateral: LegImaging | None = None,
    patterns: ImagingPatterns | None = None,
) -> ImagingResult | None:
    """Meaning of one leg's calcification pattern and periosteal reaction.

    `c_classes` are the leg's CEAP C classes (venalab.rules.ceap.clinical_classes); pass ()
    when the leg was not examined, which skips the C-class plausibility check.
    `contralateral` is the other leg's imaging, used only to say "bilateral".
    Returns None when neither a calcification nor a periosteal reaction is recorded.
    """
    pats = patterns or IMAGING_PATTERNS
    calc = imaging.calcification if imaging.calcification != "none" else None
    perio = imaging.periosteal_reaction if imaging.periosteal_reaction != "none" else None
    if calc is None and perio is None:
        return None
    findings: list[Finding] = []
    unusual: list[Literal["calcification", "periosteal_reaction"]] = []
    differential: list[str] = []

    kind: PatternKind | None = None
    classifiable: bool | None = None
    advanced: bool | None = None
    bilateral_calc: bool | None = None
    if calc is not None:
        pat = pats.calcification[calc]
        kind = pat.kind
        importance: Importance = 4 if pat.kind == "phlebolith" else 3
        findings += [
            _meaning_finding(side, "calcification", calc, m, importance) for m in pat.meanings
        ]
        if pat.kind == "subcutaneous":
            classifiable = pat.classifiable
            advanced = pat.advanced
        if pat.expected is not None:
            f = _unusual(
                side, "calcification", pat.label, pats.expectations[pat.expected], c_classes
            )
            if f is not None:
                findings.append(f)
                unusual.append("calcification")
        if pat.kind != "phlebolith" and contralateral is not None:
            bilateral_calc = is_soft_tissue_calcification(contralateral.calcification, pats)
            if bilateral_calc:
                findings.append(
                    Finding(
                        id=f"imaging.calcification.bilateral.{side}",
                        leg=side,
                        importance=4,
                        text=f"{_SIDE[side]} leg: soft-tissue calcification is recorded in both legs.",
                        evidence=evidence(
                            "imaging.calcification.bilateral", ["VENALAB", "PAC22"], level="D"
                        ),
                    )
                )
        if pat.kind == "subcutaneous":
            findings += _context_findings(side, pats)

    stasis = False
    bilateral_perio: bool | None = None
    if perio is not None:
        ppat = pats.periosteal_reaction[perio]
        stasis = perio == "undulating"
        findings += [
            _meaning_finding(side, "periosteal-reaction", perio, m, 3) for m in ppat.meanings
        ]
        if ppat.differential is not None:
            d = ppat.differential
            differential = list(d.items)
            findings.append(
                Finding(
                    id=f"imaging.periosteal-reaction.{perio}.differential.{side}",
                    leg=side,
                    importance=4,
                    text=f"{_SIDE[side]} leg: {d.text}: {', '.join(d.items)}.",
                    evidence=evidence(
                        "imaging.periosteal-reaction.differential", d.sources, level=d.evidence
                    ),
                )
            )
        if ppat.expected is not None:
            f = _unusual(
                side, "periosteal_reaction", ppat.label, pats.expectations[ppat.expected], c_classes
            )
            if f is not None:
                findings.append(f)
                unusual.append("periosteal_reaction")
        if stasis and contralateral is not None:
            bilateral_perio = contralateral.periosteal_reaction == "undulating"
            if bilateral_perio:
                findings.append(
                    Finding(
                        id=f"imaging.periosteal-reaction.bilateral.{side}",
                        leg=side,
                        importance=4,
                        text=f"{_SIDE[side]} leg: the undulating periosteal reaction is bilateral, "
                        "as is typical of venous stasis periostitis.",
                        evidence=evidence(
                            "imaging.periosteal-reaction.bilateral",
                            ["RPAEDIA-SP", "BORAY"],
                            level="V2",
                        ),
                    )
                )

    return ImagingResult(
        side=side,
        c_classes=c_classes,
        calcification=calc,
        calcification_kind=kind,
        soft_tissue_calcification=is_soft_tissue_calcification(calc, pats),
        classifiable_pattern=classifiable,
        advanced_pattern=advanced,
        periosteal_reaction=perio,
        stasis_periostitis_suggested=stasis,
        bilateral_calcification=bilateral_calc,
        bilateral_periostitis=bilateral_perio,
        unusual_for_c_class=tuple(unusual),
        differential=tuple(differential),
        findings=tuple(findings),
    )
