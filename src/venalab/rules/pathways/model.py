"""Management pathways: the data file, parameters, result models, builders and bedside facts.

Sources (shared/reference/clinical.md, pass 2, 2026-11-22):
- Isolated distal DVT: CHEST 2021 second update (STE21) guidance statements 1, 2 and 21;
  ESVS 2021 (ESVS21) Rec 39; AT9 (KEA12) risk factors for extension, known only through
  secondary summaries [V2] - configurable in `data/pathways.toml`.
- Calf muscle vein thrombosis: the same choice, with SCH10 (RCT) and SCH01 described [D].
- Proximal DVT: STE21 statement 21; ESVS21 Rec 14, 22, 23.
- Superficial vein thrombosis: ESVS21 SVT flowchart and Rec 43; STE21 statements 18-20;
  5 cm / 3 cm thresholds from CALISTO and the Turkish table citing ESVS21 [V2], never
  attributed to CHEST 2021 (clinical.md section 8).

Texts, strengths, sources, levels and every number live in `data/pathways.toml`
(`venalab-pathways/1`). The logic is in dvt.py and svt.py, dispatched by the package's
`thrombosis_pathway`; CVI treatment recommendations in cvi.py.
"""

from __future__ import annotations

import datetime as dt
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.evidence import (
    Comparison,
    Evidence,
    Frozen,
    Recommendation,
    evidence,
    make_recommendation,
)
from venalab.exam import ExamDocument, History, Side
from venalab.rules.decided import Rec, Text, text_of
from venalab.rules.ehit import ehit_management, render_ehit_rec
from venalab.trusted import trusted

PathwayId = Literal["none", "iddvt", "icmvt", "proximal-dvt", "svt", "chronic", "ehit"]
Decision = Literal[
    "none",  # nothing to manage (no thrombus, or chronic change only)
    "serial-imaging",  # IDDVT: weekly ultrasound for 2 weeks
    "anticoagulation",  # DVT: anticoagulate (regimen of proximal DVT)
    "no-anticoagulation",  # IDDVT rescan without extension; short SVT
    "undetermined",  # facts missing: see `missing`
    "therapeutic-anticoagulation",  # SVT near the junction
    "fondaparinux",  # SVT >= 5 cm away from the junction
    "anticoagulation-to-consider",  # short SVT with risk features
    "individualised",  # EHIT II: options vary (KAB21)
]
FactorStatus = Literal["present", "absent", "unknown"]
IddvtFactorId = Literal[
    "positive-d-dimer",
    "extensive-length",
    "extensive-multiple-veins",
    "extensive-diameter",
    "near-proximal-veins",
    "no-reversible-provoking-factor",
    "active-cancer",
    "prior-vte",
    "inpatient",
]
SvtFactorId = Literal[
    "extensive",
    "above-knee",
    "near-junction",
    "severe-symptoms",
    "gsv-involvement",
    "prior-vte-or-svt",
    "active-cancer",
    "recent-surgery",
    "known-thrombophilia",
]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


# --- parameters -------------------------------------------------------------------------


class IddvtParams(_Strict):
    risk_factors: tuple[IddvtFactorId, ...]
    extensive_length_cm: Annotated[float, Field(gt=0, le=50)]
    extensive_length_comparison: Literal[">", ">="]
    extensive_diameter_mm: Annotated[float, Field(gt=0, le=30)]
    extensive_diameter_comparison: Literal[">", ">="]
    tibioperoneal_trunk_near_proximal: bool
    serial_imaging_weeks: Annotated[int, Field(ge=1, le=8)]
    anticoagulation_months: Annotated[int, Field(ge=1, le=24)]


class SvtParams(_Strict):
    favouring_factors: tuple[SvtFactorId, ...]
    short_svt_risk_features: tuple[SvtFactorId, ...]
    length_cm: Annotated[float, Field(gt=0, le=50)]
    length_comparison: Literal[">=", ">"]
    junction_cm: Annotated[float, Field(gt=0, le=20)]
    junction_comparison: Literal["<", "<="]
    fondaparinux_days: Annotated[int, Field(ge=1, le=180)]
    junction_anticoagulation_months: Annotated[int, Field(ge=1, le=24)]
    repeat_ultrasound_days: tuple[int, int]
    ablation_delay_months: Annotated[int, Field(ge=0, le=24)]

    @model_validator(mode="after")
    def _interval(self) -> SvtParams:
        lo, hi = self.repeat_ultrasound_days
        if not 1 <= lo <= hi <= 60:
            raise ValueError(
                "`repeat_ultrasound_days` must be [min, max] with 1 <= min <= max <= 60"
            )
        return self


class CviParams(_Strict):
    gsv_large_diameter_mm: Annotated[float, Field(gt=0, le=40)]
    gsv_large_diameter_comparison: Literal[">", ">="]


class PathwayParams(_Strict):
    """Every number and choice of the pathways; defaults from `data/pathways.toml`."""

    iddvt: IddvtParams
    svt: SvtParams
    cvi: CviParams

    @cached_property
    def placeholders(self) -> dict[str, Any]:
        """Every parameter by name, for the recommendation texts (computed once per set)."""
        out: dict[str, Any] = {}
        for section in (self.iddvt, self.svt, self.cvi):
            out.update(section.model_dump())
        return out


class FactorText(_Strict):
    label: str
    fact: str | None = None
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel
    note: str | None = None


class RecommendationText(_Strict):
    text: str
    strength: str | None = None
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel
    note: str | None = None


class PathwayData(_Strict):
    schema_: Literal["venalab-pathways/1"] = Field(alias="schema")
    version: str
    params: PathwayParams
    factors: dict[Literal["iddvt", "svt"], dict[str, FactorText]]
    recommendations: dict[str, RecommendationText]


# Keys the code looks up; a data file without one of them is rejected at load.
REQUIRED_RECOMMENDATIONS: frozenset[str] = frozenset(
    {
        "iddvt.serial-imaging",
        "iddvt.anticoagulation",
        "iddvt.anticoagulation-severe-symptoms",
        "iddvt.duration",
        "iddvt.undetermined",
        "iddvt.high-bleeding-risk",
        "iddvt.patient-preference",
        "iddvt.followup.no-extension",
        "iddvt.followup.distal-extension",
        "iddvt.followup.proximal-extension",
        "iddvt.followup.bilateral",
        "iddvt.tibioperoneal-trunk",
        "iddvt.trial-evidence",
        "icmvt.scope",
        "icmvt.trial-evidence",
        "proximal.anticoagulation",
        "proximal.provoked",
        "proximal.extended-phase",
        "followup.inconsistent",
        "iddvt.followup.disagreement",
        "thrombus-age-unknown",
        "chronic",
        "svt.whole-leg-ultrasound",
        "svt.therapeutic",
        "svt.junction-boundary",
        "svt.fondaparinux",
        "svt.alternatives",
        "svt.extended-course",
        "svt.no-anticoagulation",
        "svt.short-with-risk",
        "svt.favouring-factors",
        "svt.undetermined",
        "svt.with-dvt",
        "svt.ablation-later",
        "cvi.compression.varicose",
        "cvi.compression.not-primary",
        "cvi.compression.ulcer",
        "cvi.ulcer-recurrence",
        "cvi.intervention.c4-c6",
        "cvi.ablation.gsv",
        "cvi.ablation.gsv-large",
        "cvi.ablation.ssv",
        "cvi.ablation.aasv",
        "cvi.compression.after-ablation",
        "cvi.perforator.pathologic",
        "cvi.perforator.c2-no-routine",
        "cvi.needs-symptom-status",
    }
)
# Placeholders the code fills besides the parameters; any other name in a text is an error.
TEXT_FIELDS: frozenset[str] = frozenset(
    {
        "reasons",
        "needed",
        "result",
        "derived",
        "prior_date",
        "ages",
        "veins",
        "deep_status",
        "distance",
        "junction",
        "comparison",
        "verdict",
        "length",
        "features",
        "dvt_plan",
        "repeat_min",
        "repeat_max",
        "classes",
        "pattern",
        "segments",
        "diameter",
        "trunks",
        "side",
    }
)


def param_fields(params: PathwayParams) -> dict[str, Any]:
    """The parameters as text placeholders (section prefixes dropped; names do not collide)."""
    return params.placeholders


def _template_problems(data: PathwayData) -> list[Problem]:
    allowed = TEXT_FIELDS | set(param_fields(data.params))
    problems: list[Problem] = []
    texts: list[tuple[str, str]] = [
        (f"recommendations.{k}.text", r.text) for k, r in data.recommendations.items()
    ]
    texts += [
        (f"factors.{p}.{k}.label", f.label)
        for p, group in data.factors.items()
        for k, f in group.items()
    ]
    for where, text in texts:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as err:
            problems.append(Problem(where, f"malformed placeholder: {err}"))
            continue
        problems += [
            Problem(where, f"unknown placeholder {{{n}}}; allowed: {', '.join(sorted(allowed))}")
            for n in sorted(names - allowed)
        ]
    return problems


def parse_pathway_data(raw: Mapping[str, object], name: str = "pathways.toml") -> PathwayData:
    """Validate a pathways document; every problem is reported with its path."""
    data = validate_document(raw, PathwayData, f"data file {name}")
    problems = [
        Problem(f"recommendations.{k}", "missing: the pathway rules use this text")
        for k in sorted(REQUIRED_RECOMMENDATIONS - set(data.recommendations))
    ]
    known: dict[str, tuple[str, ...]] = {
        "iddvt": get_args(IddvtFactorId),
        "svt": get_args(SvtFactorId),
    }
    for pathway, ids in known.items():
        group = data.factors.get(pathway, {})  # type: ignore[call-overload]
        problems += [
            Problem(f"factors.{pathway}.{i}", "missing: every factor needs a label")
            for i in ids
            if i not in group
        ]
        problems += [
            Problem(f"factors.{pathway}.{i}", f"unknown factor; known: {', '.join(ids)}")
            for i in group
            if i not in ids
        ]
        for key, f in group.items():
            problems += check_ids(f.sources, f"factors.{pathway}.{key}.sources")
    for key, r in data.recommendations.items():
        problems += check_ids(r.sources, f"recommendations.{key}.sources")
    problems += _template_problems(data)
    if problems:
        raise InvalidInput(problems, what=f"data file {name}")
    return data


@cache
def _load() -> PathwayData:
    return parse_pathway_data(read_toml(data_path("pathways.toml")))


PATHWAYS: PathwayData = _load()
DEFAULT_PARAMS: PathwayParams = PATHWAYS.params


def pathway_params(overrides: Mapping[str, Mapping[str, object]] | None = None) -> PathwayParams:
    """Defaults with per-section overrides, e.g. ``{"svt": {"junction_comparison": "<="}}``.

    Invalid overrides raise InvalidInput naming the path (`svt.junction_comparison`).
    """
    merged: dict[str, dict[str, object]] = {
        k: dict(v) for k, v in DEFAULT_PARAMS.model_dump(mode="json").items()
    }
    for section, values in (overrides or {}).items():
        if section not in merged:
            raise InvalidInput(
                [Problem(section, f"unknown section; allowed: {', '.join(merged)}")],
                what="pathway parameters",
            )
        merged[section].update(values)
    try:
        return PathwayParams.model_validate_json(json.dumps(merged))
    except ValidationError as err:
        raise InvalidInput(problems_from_validation(err), what="pathway parameters") from None


# --- result models ----------------------------------------------------------------------


class RiskFactor(Frozen):
    """One risk factor (or favouring factor) and how the exam settles it."""

    id: str
    label: str
    status: FactorStatus
    evidence: Evidence
    needed: tuple[str, ...] = ()
    """Exam paths that would settle an unknown factor."""


SerialResult = Literal["no-extension", "distal-extension", "proximal-extension"]


class DerivedFollowup(Frozen):
    """A surveillance result read from the comparison with an earlier exam (rules.comparison),
    for the leg it was derived on."""

    result: SerialResult
    prior_date: dt.date
    interval_days: int
    evidence: Evidence


class SvtResult(Frozen):
    """The superficial vein thrombosis branch of one leg (ESVS21 flowchart, STE21 18-20)."""

    decision: Decision
    veins: tuple[str, ...]
    junction: str | None
    length_cm: float | None
    distance_to_junction_cm: float | None
    junction_comparison: Comparison
    boundary: bool = False
    missing: tuple[str, ...] = ()


class PathwayResult(Frozen):
    side: Side
    pathway: PathwayId
    decision: Decision
    risk_factors_present: tuple[RiskFactor, ...] = ()
    risk_factors_absent: tuple[RiskFactor, ...] = ()
    risk_factors_unknown: tuple[RiskFactor, ...] = ()
    missing: tuple[str, ...] = ()
    """Exam paths of the facts that would settle an undetermined decision."""
    boundary: bool = False
    """A measurement sat exactly on a threshold whose inclusivity the sources leave open."""
    svt: SvtResult | None = None
    recommendations: tuple[Recommendation, ...] = ()
    evidence: Evidence


# --- builders shared by the pathway modules ----------------------------------------------


_risk_factor = trusted(RiskFactor)


def factor(
    pathway: Literal["iddvt", "svt"],
    fid: str,
    status: FactorStatus,
    note: str,
    params: PathwayParams,
    *,
    level: EvidenceLevel | None = None,
    extra_sources: tuple[str, ...] = (),
    needed: tuple[str, ...] = (),
    threshold: float | None = None,
    measured: float | None = None,
    comparison: Comparison | None = None,
    unit: str | None = None,
) -> RiskFactor:
    spec = PATHWAYS.factors[pathway][fid]
    fields = param_fields(params)
    full_note = note + (f" {spec.note}" if spec.note else "")
    if spec.level == "V2" and "primary list was not seen" not in full_note and pathway == "iddvt":
        full_note += (
            " AT9 risk-factor list as reproduced by secondary summaries [V2]; "
            "the primary list was not seen."
        )
    sources = tuple(dict.fromkeys(spec.sources + extra_sources))
    return _risk_factor(
        id=fid,
        label=spec.label.format(**fields),
        status=status,
        needed=needed,
        evidence=evidence(
            f"pathway.{pathway}.factor.{fid}",
            sources,
            level=level or spec.level,
            threshold=threshold,
            measured=measured,
            comparison=comparison,
            unit=unit,
            note=full_note,
        ),
    )


def recommend(
    key: str,
    side: Side,
    params: PathwayParams,
    *,
    level: EvidenceLevel | None = None,
    note: str | None = None,
    threshold: float | None = None,
    measured: float | None = None,
    comparison: Comparison | None = None,
    unit: str | None = None,
    **fields: Any,
) -> Recommendation:
    """A recommendation from its data-file text; `fields` fill the text's placeholders.

    A function of its arguments, and immutable: legs and exams that get the same
    recommendation share one object (texts are formatted once per distinct arguments)."""
    memo = (
        key, side, id(params), level, note, _typed(threshold), _typed(measured), comparison,
        unit, *[(name, _typed(v)) for name, v in fields.items()],
    )  # fmt: skip
    try:
        held = _RECOMMENDED.get(memo)
        kept = True
    except TypeError:  # a placeholder value that is not hashable: formatted every time
        held, kept = None, False
    if held is not None and held[0] is params:
        return held[1]
    rec = _recommendation(
        key, side, params, level=level, note=note, threshold=threshold, measured=measured,
        comparison=comparison, unit=unit, fields=fields,
    )  # fmt: skip
    if kept:
        if len(_RECOMMENDED) >= 4096:  # bounded: values in texts (lengths, names) vary
            _RECOMMENDED.clear()
        _RECOMMENDED[memo] = (params, rec)
    return rec


_RECOMMENDED: dict[tuple[object, ...], tuple[PathwayParams, Recommendation]] = {}
"""`recommend` by its arguments (the params by identity, kept alive with the entry)."""


def _typed(x: object) -> object:
    """A value as a key that keeps apart what texts write apart: 3 vs 3.0, -0.0 vs 0.0."""
    return (float, repr(x)) if type(x) is float else (type(x), x)


def _recommendation(
    key: str,
    side: Side,
    params: PathwayParams,
    *,
    level: EvidenceLevel | None,
    note: str | None,
    threshold: float | None,
    measured: float | None,
    comparison: Comparison | None,
    unit: str | None,
    fields: dict[str, Any],
) -> Recommendation:
    spec = PATHWAYS.recommendations[key]
    values = {**param_fields(params), "side": side, **fields}
    values.setdefault("repeat_min", params.svt.repeat_ultrasound_days[0])
    values.setdefault("repeat_max", params.svt.repeat_ultrasound_days[1])
    if comparison is not None:
        values.setdefault("comparison", comparison)
    notes = " ".join(n for n in (spec.note, note) if n)
    rule = key if key.startswith("cvi.") else f"pathway.{key}"
    return make_recommendation(
        id=f"{key}.{side}",
        leg=side,
        text=spec.text.format(**values),
        strength=spec.strength,
        evidence=evidence(
            rule,
            spec.sources,
            level=level or spec.level,
            threshold=threshold,
            measured=measured,
            comparison=comparison,
            unit=unit,
            note=notes or None,
        ),
    )


def split_factors(
    factors: list[RiskFactor],
) -> tuple[tuple[RiskFactor, ...], tuple[RiskFactor, ...], tuple[RiskFactor, ...]]:
    return (
        tuple(f for f in factors if f.status == "present"),
        tuple(f for f in factors if f.status == "absent"),
        tuple(f for f in factors if f.status == "unknown"),
    )


# --- bedside facts, with where each came from -------------------------------------------


@dataclass(slots=True)
class Fact:
    value: bool | None
    note: Text
    derived: bool = False
    """True when read from another field by a venalab convention [D]."""


_NO_HISTORY = History()


def history_of(exam: ExamDocument) -> History:
    return exam.history or _NO_HISTORY


def active_cancer(exam: ExamDocument) -> Fact:
    h = history_of(exam)
    wells = exam.scores.wells_dvt if exam.scores else None
    if h.active_cancer is not None:
        given = h.active_cancer
        differs = wells is not None and wells.active_cancer not in (None, given)

        def note() -> str:
            text = f"history.active_cancer = {str(given).lower()}."
            if differs:
                text += " The Wells item active_cancer says otherwise; the history field is used."
            return text

        return Fact(value=given, note=note)
    if wells and wells.active_cancer is not None:
        return Fact(
            value=wells.active_cancer,
            derived=True,
            note="From the Wells item active_cancer (same definition).",
        )
    if h.malignancy is False:
        return Fact(
            value=False,
            derived=True,
            note="history.malignancy = false: no malignancy, hence no active cancer.",
        )
    return Fact(value=None, note="Active cancer not recorded.")


def _lower(value: bool) -> str:
    return "true" if value else "false"


def prior_vte(exam: ExamDocument) -> Fact:
    h = history_of(exam)
    wells = exam.scores.wells_dvt if exam.scores else None
    if h.prior_vte is not None:
        return Fact(value=h.prior_vte, note="history.prior_vte = " + _lower(h.prior_vte) + ".")
    if wells and wells.previous_dvt:
        return Fact(value=True, derived=True, note="Wells item previous_dvt = true.")
    # A Wells `previous_dvt: false` does not exclude a previous pulmonary embolism.
    return Fact(value=None, note="Previous VTE not recorded.")


def reversible_provoking_factor(exam: ExamDocument) -> Fact:
    h = history_of(exam)
    wells = exam.scores.wells_dvt if exam.scores else None
    if h.reversible_provoking_factor is not None:
        return Fact(
            value=h.reversible_provoking_factor,
            note="history.reversible_provoking_factor = "
            + _lower(h.reversible_provoking_factor)
            + ".",
        )
    if h.recent_surgery:
        return Fact(
            value=True,
            derived=True,
            note="history.recent_surgery = true, counted as a reversible provoking factor.",
        )
    if wells and (wells.bedridden_or_major_surgery or wells.paralysis_or_cast):
        return Fact(
            value=True,
            derived=True,
            note="Wells item bedridden_or_major_surgery or paralysis_or_cast = true, "
            "counted as a reversible provoking factor.",
        )
    return Fact(value=None, note="Provoking factor not recorded.")


# --- decided pathways (issue 21): the decision step's records and their render ------------


@dataclass(slots=True)
class Factor:
    """A decided risk factor (or favouring factor); rendered by `factor`."""

    pathway: Literal["iddvt", "svt"]
    id: str
    status: FactorStatus
    note: Text
    level: EvidenceLevel | None = None
    extra_sources: tuple[str, ...] = ()
    needed: tuple[str, ...] = ()
    threshold: float | None = None
    measured: float | None = None
    comparison: Comparison | None = None
    unit: str | None = None

    def label(self, params: PathwayParams) -> str:
        return PATHWAYS.factors[self.pathway][self.id].label.format(**param_fields(params))


def render_factor(f: Factor, params: PathwayParams) -> RiskFactor:
    return factor(
        f.pathway, f.id, f.status, text_of(f.note), params, level=f.level,
        extra_sources=f.extra_sources, needed=f.needed, threshold=f.threshold,
        measured=f.measured, comparison=f.comparison, unit=f.unit,
    )  # fmt: skip


def rec_basis(rec: Rec) -> tuple[tuple[str, ...], EvidenceLevel]:
    """(sources, level) of a decided recommendation's evidence, without rendering it."""
    if rec.source == "ehit":
        m = ehit_management(rec.key)
        return m.sources, rec.level or m.level
    spec = PATHWAYS.recommendations[rec.key]
    return spec.sources, rec.level or spec.level


def render_rec(rec: Rec, side: Side, params: PathwayParams) -> Recommendation:
    if rec.source == "ehit":
        return render_ehit_rec(rec, side)
    fields = rec.fields() if rec.fields is not None else {}
    return recommend(
        rec.key, side, params, level=rec.level,
        note=None if rec.note is None else text_of(rec.note), threshold=rec.threshold,
        measured=rec.measured, comparison=rec.comparison, unit=rec.unit, **fields,
    )  # fmt: skip


@dataclass(slots=True)
class SvtDecision:
    """The superficial vein thrombosis branch as decided (the lean SvtResult)."""

    decision: Decision
    veins: tuple[str, ...]
    junction: str | None
    length_cm: float | None
    distance_to_junction_cm: float | None
    junction_comparison: Comparison
    boundary: bool = False
    missing: tuple[str, ...] = ()


@dataclass(slots=True)
class Summary:
    """How the pathway's own evidence is rendered: sources and level of `basis` (the
    recommendation that decided it) unless given; `copy_basis`: the basis's own evidence
    under the pathway's rule."""

    rule: str
    note: Text | None
    basis: Rec | None = None
    sources: tuple[str, ...] = ()
    level: EvidenceLevel | None = None
    copy_basis: bool = False
    threshold: float | None = None
    measured: float | None = None
    comparison: Comparison | None = None
    unit: str | None = None


@dataclass(slots=True)
class PathwayDecision:
    """One leg's pathway as decided; `render_pathway` builds the PathwayResult."""

    side: Side
    pathway: PathwayId
    decision: Decision
    summary: Summary
    factors: tuple[Factor, ...] = ()
    missing: tuple[str, ...] = ()
    boundary: bool = False
    svt: SvtDecision | None = None
    recs: tuple[Rec, ...] = ()

    def rec_ids(self) -> tuple[str, ...]:
        return tuple(r.id(self.side) for r in self.recs)


_pathway_result = trusted(PathwayResult)


def render_pathway(d: PathwayDecision, params: PathwayParams) -> PathwayResult:
    recs = tuple(render_rec(r, d.side, params) for r in d.recs)
    s = d.summary
    ev: Evidence
    if s.copy_basis:
        assert s.basis is not None
        ev = render_rec(s.basis, d.side, params).evidence.model_copy(update={"rule": s.rule})
    else:
        sources, level = rec_basis(s.basis) if s.basis is not None else (s.sources, s.level)
        ev = evidence(
            s.rule, sources, level=level or "V", threshold=s.threshold, measured=s.measured,
            comparison=s.comparison, unit=s.unit, note=None if s.note is None else text_of(s.note),
        )  # fmt: skip
    factors = [render_factor(f, params) for f in d.factors]
    present, absent, unknown = split_factors(factors)
    svt = d.svt
    return _pathway_result(
        side=d.side,
        pathway=d.pathway,
        decision=d.decision,
        risk_factors_present=present,
        risk_factors_absent=absent,
        risk_factors_unknown=unknown,
        missing=d.missing,
        boundary=d.boundary,
        svt=None
        if svt is None
        else SvtResult(
            decision=svt.decision,
            veins=svt.veins,
            junction=svt.junction,
            length_cm=svt.length_cm,
            distance_to_junction_cm=svt.distance_to_junction_cm,
            junction_comparison=svt.junction_comparison,
            boundary=svt.boundary,
            missing=svt.missing,
        ),
        recommendations=recs,
        evidence=ev,
    )


def status_split(
    factors: tuple[Factor, ...],
) -> tuple[list[Factor], list[Factor], list[Factor]]:
    return (
        [f for f in factors if f.status == "present"],
        [f for f in factors if f.status == "absent"],
        [f for f in factors if f.status == "unknown"],
    )
