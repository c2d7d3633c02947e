"""Calcinosis cutis workup: laboratory interpretation, Ca x PO4 product, subtype path.

Subtypes and their distinguishing criteria: Reiter et al. 2011, part I (REI11a) and
Jimenez-Gallo et al. 2015 (JIM15), as summarised in clinical.md section 5.1; seed 001
(PAC22) for dystrophic calcinosis in chronic venous disease. The ordered decision logic
(calciphylaxis -> metastatic -> iatrogenic -> dystrophic -> idiopathic) is derived from those
definitions by clinical.md 5.1 and carries evidence level [D] (source VENALAB + REI11a/JIM15).
Every result says it requires clinicopathologic confirmation (REI11a).

Reference ranges, the Ca x PO4 target (<55 mg2/dL2, KDOQI; adult use [U]), the high-risk
cut-off (>72 mg2/dL2, BLOCK98 [V2]) and the end-stage renal cut-off are data in
`data/reference_ranges.toml` (schema venalab-reference-ranges/1, clinical.md 5.2); a
laboratory passes its own with `load_reference_ranges` or `ReferenceRanges.with_range`.
Lab values in SI units are converted with venalab.units (factors SI-UNITS).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import (
    Comparison,
    Evidence,
    Finding,
    Frozen,
    Recommendation,
    compare,
    evidence,
)
from venalab.exam import SIDES, Calcium, ExamDocument, Labs, Phosphate, Side
from venalab.rules.imaging import IMAGING_PATTERNS, is_soft_tissue_calcification
from venalab.units import LAB_UNITS, to_conventional, to_si

Subtype = Literal[
    "dystrophic", "metastatic", "iatrogenic", "idiopathic", "calciphylaxis", "undetermined"
]
SUBTYPES: tuple[Subtype, ...] = get_args(Subtype)
LabStatus = Literal["low", "normal", "high"]
CaXPStatus = Literal["below-target", "above-target", "high-risk"]
Answer = Literal["yes", "no", "unknown"]
StepId = Literal[
    "calcification", "calciphylaxis", "metastatic", "iatrogenic", "dystrophic", "idiopathic"
]

CONFIRMATION = "requires clinicopathologic confirmation"
# CEAP classes that mean skin/subcutaneous damage from venous disease: C4-C6 (clinical.md
# 5.1 "CVD with C4-C6 skin, ulcer"; C4c included as part of C4 in CEAP 2020).
DAMAGE_CLASSES: frozenset[str] = frozenset({"C4a", "C4b", "C4c", "C5", "C6", "C6r"})
# Order in which labs are reported and asked for in the workup (clinical.md 5.2 table).
ANALYTES: tuple[str, ...] = ("calcium", "phosphate", "pth", "creatinine", "egfr", "vitamin_d_25oh")
TRIGGER_ANALYTES: tuple[str, ...] = ("calcium", "phosphate", "pth", "vitamin_d_25oh")
_LOGIC = ["VENALAB", "REI11a", "JIM15"]
# The relation that holds when a comparison fails (for evidence of a negative verdict).
_NEGATE: dict[str, Comparison] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_LOGIC_NOTE = (
    "Decision logic derived from the REI11a/JIM15 subtype definitions "
    "(clinical.md 5.1), evidence level [D]; needs clinical sign-off."
)


# ---------------------------------------------------------------------------------------
# Reference ranges (data/reference_ranges.toml)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Sources = Annotated[tuple[str, ...], Field(min_length=1)]


class Band(_Strict):
    """A named category below `below` (the last band has no upper bound)."""

    label: str
    below: float | None = None
    sources: Sources
    evidence: EvidenceLevel


class SexRange(_Strict):
    low: float | None = None
    high: float | None = None
    sources: Sources
    evidence: EvidenceLevel
    note: str | None = None


class AnalyteRange(_Strict):
    unit: str
    low: float | None = None
    high: float | None = None
    decimals: Annotated[int, Field(ge=0, le=4)] = 2
    sources: Sources
    evidence: EvidenceLevel
    note: str | None = None
    by_sex: dict[Literal["female", "male"], SexRange] = {}
    bands: tuple[Band, ...] = ()

    @model_validator(mode="after")
    def _limits(self) -> AnalyteRange:
        limits: list[tuple[str, float | None, float | None]] = [("", self.low, self.high)]
        limits += [(f"by_sex.{k}: ", v.low, v.high) for k, v in self.by_sex.items()]
        for where, low, high in limits:
            if low is None and high is None:
                raise ValueError(f"{where}give `low`, `high` or both")
            if low is not None and high is not None and not low < high:
                raise ValueError(f"{where}`low` ({low:g}) must be below `high` ({high:g})")
        if self.bands:
            cuts = [b.below for b in self.bands]
            if cuts[-1] is not None or any(c is None for c in cuts[:-1]):
                raise ValueError("bands: only the last band may (and must) omit `below`")
            inner = [c for c in cuts if c is not None]
            if inner != sorted(inner) or len(set(inner)) != len(inner):
                raise ValueError("bands: `below` values must increase")
        return self


class Threshold(_Strict):
    value: Annotated[float, Field(gt=0)]
    comparison: Comparison
    sources: Sources
    evidence: EvidenceLevel
    note: str | None = None


class CaXPRules(_Strict):
    unit: Literal["mg2/dL2"]
    decimals: Annotated[int, Field(ge=0, le=3)] = 1
    target: Threshold
    high_risk: Threshold

    @model_validator(mode="after")
    def _directions(self) -> CaXPRules:
        if self.target.comparison not in ("<", "<="):
            raise ValueError("target.comparison must be '<' or '<=' (the target is met below it)")
        if self.high_risk.comparison not in (">", ">="):
            raise ValueError("high_risk.comparison must be '>' or '>='")
        if self.high_risk.value < self.target.value:
            raise ValueError("high_risk.value must not be below target.value")
        return self


class EndStageRenalRule(_Strict):
    egfr_value: Annotated[float, Field(gt=0)]
    egfr_comparison: Literal["<", "<="]
    sources: Sources
    evidence: EvidenceLevel


class RangeUsed(Frozen):
    """The range a value was compared with, as reported in the result."""

    low: float | None
    high: float | None
    unit: str
    population: str
    ranges: str
    sources: tuple[str, ...]
    level: EvidenceLevel
    note: str | None = None


class ReferenceRanges(_Strict):
    schema_: Literal["venalab-reference-ranges/1"] = Field(alias="schema")
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    version: str
    title: str
    analytes: dict[str, AnalyteRange]
    ca_x_p: CaXPRules
    end_stage_renal: EndStageRenalRule

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"

    def range_for(self, analyte: str, sex: str = "unknown") -> RangeUsed | None:
        """The applicable range (sex-specific when the file gives one), or None."""
        spec = self.analytes.get(analyte)
        if spec is None:
            return None
        if sex in spec.by_sex:
            r = spec.by_sex[sex]
            return RangeUsed(
                low=r.low,
                high=r.high,
                unit=spec.unit,
                population=f"adult {sex}",
                ranges=self.label,
                sources=r.sources,
                level=r.evidence,
                note=r.note,
            )
        return RangeUsed(
            low=spec.low,
            high=spec.high,
            unit=spec.unit,
            population="adult",
            ranges=self.label,
            sources=spec.sources,
            level=spec.evidence,
            note=spec.note,
        )

    def with_range(
        self,
        analyte: str,
        low: float | None,
        high: float | None,
        *,
        sex: Literal["female", "male"] | None = None,
        sources: tuple[str, ...] = ("LOCAL-LAB",),
        level: EvidenceLevel = "V",
        note: str | None = "Range supplied by the laboratory.",
    ) -> ReferenceRanges:
        """A copy with one analyte's range replaced (in its conventional unit), validated."""
        raw = self.model_dump(mode="json", by_alias=True)
        if analyte not in raw["analytes"]:
            raise InvalidInput(
                [
                    Problem(
                        f"analytes.{analyte}",
                        f"unknown analyte; allowed: {', '.join(raw['analytes'])}",
                    )
                ],
                what="reference ranges",
            )
        body = {"low": low, "high": high, "sources": list(sources), "evidence": level, "note": note}
        target = raw["analytes"][analyte]
        if sex is None:
            target.update(body)
            target["by_sex"] = {}
        else:
            target.setdefault("by_sex", {})[sex] = body
        raw["id"] = self.id if self.id.endswith("-local") else f"{self.id}-local"
        return parse_reference_ranges(_drop_none(raw), f"{self.id} with {analyte} override")


def _drop_none(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def _range_problems(rr: ReferenceRanges) -> list[Problem]:
    problems = [
        Problem(f"analytes.{a}", "missing: every laboratory analyte needs a range")
        for a in LAB_UNITS
        if a not in rr.analytes
    ]
    for a, spec in rr.analytes.items():
        if a not in LAB_UNITS:
            problems.append(
                Problem(f"analytes.{a}", f"unknown analyte; allowed: {', '.join(LAB_UNITS)}")
            )
            continue
        if spec.unit != LAB_UNITS[a].conventional:
            problems.append(
                Problem(
                    f"analytes.{a}.unit",
                    f"must be the conventional unit "
                    f"{LAB_UNITS[a].conventional!r}, got {spec.unit!r}",
                )
            )
        problems += check_ids(spec.sources, f"analytes.{a}.sources")
        for sex, r in spec.by_sex.items():
            problems += check_ids(r.sources, f"analytes.{a}.by_sex.{sex}.sources")
        for i, b in enumerate(spec.bands):
            problems += check_ids(b.sources, f"analytes.{a}.bands[{i}].sources")
    problems += check_ids(rr.ca_x_p.target.sources, "ca_x_p.target.sources")
    problems += check_ids(rr.ca_x_p.high_risk.sources, "ca_x_p.high_risk.sources")
    problems += check_ids(rr.end_stage_renal.sources, "end_stage_renal.sources")
    return problems


def parse_reference_ranges(raw: object, name: str) -> ReferenceRanges:
    """Validate a reference-range document; every problem is reported with its path."""
    return validate_document(raw, ReferenceRanges, f"reference ranges {name}", _range_problems)


def load_reference_ranges(path: Path) -> ReferenceRanges:
    """A laboratory's own ranges from a TOML file with the schema of the built-in file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput([Problem("", str(err))], what=f"reference ranges {path.name}") from None
    return parse_reference_ranges(raw, path.name)


@cache
def _builtin() -> ReferenceRanges:
    return parse_reference_ranges(
        read_toml(data_path("reference_ranges.toml")), "reference_ranges.toml"
    )


DEFAULT_RANGES: ReferenceRanges = _builtin()


# ---------------------------------------------------------------------------------------
# Result models


class LabResult(Frozen):
    analyte: str
    label: str
    value: float
    unit: str
    conventional_value: float
    """The value compared with the range (rounded to the range's decimals when converted)."""
    conventional_unit: str
    si_value: float | None = None
    si_unit: str | None = None
    reference_range: RangeUsed | None = None
    status: LabStatus | None = None
    boundary: bool = False
    band: str | None = None
    band_evidence: Evidence | None = None
    evidence: Evidence


class CaXPResult(Frozen):
    value: float
    """Calcium x phosphate in mg2/dL2, rounded (status is decided on this value)."""
    unit: Literal["mg2/dL2"] = "mg2/dL2"
    value_si: float
    """The same product in mmol2/L2."""
    threshold: float
    """The target: met when value < threshold (55 by default)."""
    target_comparison: Comparison = "<"
    high_risk_threshold: float
    high_risk_comparison: Comparison = ">"
    status: CaXPStatus
    boundary: bool = False
    converted: bool = False
    evidence: Evidence


class RenalStatus(Frozen):
    end_stage: bool | None
    basis: str
    missing: tuple[str, ...] = ()
    evidence: Evidence


class Fact(Frozen):
    """One input the decision used, named by its JSON path in the exam (or a derived name)."""

    path: str
    value: str | float | bool | None
    meaning: str | None = None


class ReasoningStep(Frozen):
    step: int
    id: StepId
    question: str
    answer: Answer
    conclusion: str
    facts: tuple[Fact, ...] = ()
    missing: tuple[str, ...] = ()
    evidence: Evidence


class Statement(Frozen):
    text: str
    evidence: Evidence


class WorkupItem(Frozen):
    id: str
    kind: Literal["lab", "biopsy"]
    analytes: tuple[str, ...] = ()
    text: str
    evidence: Evidence


class CalcinosisResult(Frozen):
    subtype: Subtype
    provisional_subtype: Subtype | None = None
    """When undetermined: the subtype the path reaches if the missing facts are negative."""
    missing: tuple[str, ...] = ()
    labs: dict[str, LabResult]
    ca_x_p: CaXPResult | None = None
    renal: RenalStatus
    calcification_sides: tuple[Side, ...] = ()
    reasoning: tuple[ReasoningStep, ...]
    confirmation: Statement
    workup: tuple[WorkupItem, ...] = ()
    reference_ranges: str
    evidence: Evidence

    def step(self, step_id: StepId) -> ReasoningStep | None:
        return next((s for s in self.reasoning if s.id == step_id), None)

    def findings(self) -> list[Finding]:
        """Findings for the result document (subtype, Ca x PO4, out-of-range labs)."""
        out = [
            Finding(
                id="calcinosis.subtype",
                importance=_SUBTYPE_IMPORTANCE[self.subtype],
                text=_subtype_text(self),
                evidence=self.evidence,
            )
        ]
        if self.ca_x_p is not None:
            c = self.ca_x_p
            label = {
                "below-target": "target met",
                "above-target": "above target",
                "high-risk": "high-risk range",
            }[c.status]
            edge = f"; exactly at the {c.value:g} cut-off" if c.boundary else ""
            out.append(
                Finding(
                    id="calcinosis.ca-x-p",
                    importance=2
                    if c.status == "high-risk"
                    else 3
                    if c.status == "above-target"
                    else 4,
                    text=f"Calcium x phosphate {c.value:g} mg²/dL²: {label} (target "
                    f"{c.target_comparison} {c.threshold:g}; high risk {c.high_risk_comparison} "
                    f"{c.high_risk_threshold:g}){edge}.",
                    evidence=c.evidence,
                )
            )
        for lab in self.labs.values():
            if lab.status in ("low", "high") or lab.boundary:
                r = lab.reference_range
                rng = _range_text(r) if r is not None else ""
                where = {"low": "below", "high": "above"}.get(lab.status or "", "at the limit of")
                out.append(
                    Finding(
                        id=f"calcinosis.lab.{lab.analyte}",
                        importance=3 if lab.status != "normal" else 4,
                        text=f"{lab.label} {lab.conventional_value:g} {lab.conventional_unit}: "
                        f"{where} the reference range {rng}.",
                        evidence=lab.evidence,
                    )
                )
        step1 = self.step("calciphylaxis")
        if step1 is not None and step1.answer == "no" and "KAL09" in step1.evidence.sources:
            out.append(
                Finding(
                    id="calcinosis.non-uraemic-calciphylaxis",
                    importance=2,
                    text=step1.conclusion,
                    evidence=step1.evidence,
                )
            )
        return out

    def recommendations(self) -> list[Recommendation]:
        """The workup items as recommendations (missing labs; biopsy when calciphylaxis)."""
        return [
            Recommendation(id=f"calcinosis.workup.{w.id}", text=w.text, evidence=w.evidence)
            for w in self.workup
        ]


_SUBTYPE_IMPORTANCE: dict[Subtype, Literal[1, 2, 3, 4]] = {
    "calciphylaxis": 1,
    "metastatic": 2,
    "iatrogenic": 3,
    "dystrophic": 3,
    "idiopathic": 3,
    "undetermined": 3,
}


def _range_text(r: RangeUsed) -> str:
    if r.low is not None and r.high is not None:
        return f"{r.low:g}-{r.high:g} {r.unit}"
    if r.low is not None:
        return f">= {r.low:g} {r.unit}"
    return f"<= {r.high:g} {r.unit}"


def calcification_caveat(res: CalcinosisResult) -> str:
    """What the subtype rests on when nothing calcified was seen ("" when calcification is
    documented): a subtype from labs and history alone must not read as a finding."""
    step = res.step("calcification")
    if step is None or step.answer == "yes":
        return ""
    seen = (
        "imaging records no soft-tissue calcification"
        if step.answer == "no"
        else "no imaging of calcification is recorded"
    )
    return (
        f"Nothing calcified was seen ({seen}): the subtype says what the workup points to "
        "only if calcinosis is confirmed clinically."
    )


def _subtype_text(res: CalcinosisResult) -> str:
    caveat = calcification_caveat(res)
    text = _subtype_sentence(res)
    return f"{text} {caveat}" if caveat else text


def _subtype_sentence(res: CalcinosisResult) -> str:
    if res.subtype == "undetermined":
        prov = (
            f"; if the missing facts are negative the path leads to {res.provisional_subtype}"
            if res.provisional_subtype
            else ""
        )
        return (
            f"Calcinosis cutis subtype undetermined: missing {', '.join(res.missing)}{prov}; "
            f"{CONFIRMATION}."
        )
    if res.subtype == "calciphylaxis":
        return f"Calciphylaxis suspected: skin biopsy needed; {CONFIRMATION}."
    return f"Calcinosis cutis workup suggests the {res.subtype} subtype; {CONFIRMATION}."


# ---------------------------------------------------------------------------------------
# Laboratory values


def _band(value: float, spec_bands: tuple[Band, ...]) -> tuple[Band, float | None] | None:
    """The band holding `value` and its lower bound (the previous band's `below`)."""
    lower: float | None = None
    for b in spec_bands:
        if b.below is None or value < b.below:
            return b, lower
        lower = b.below
    return None


def band_evidence(
    analyte: str, value: float, unit: str, band: Band, lower: float | None
) -> Evidence:
    """Evidence of a band: the limit that decided it, with its comparison. A band with both
    limits names its upper one (`<`) and states the whole interval in the note."""
    threshold: float | None = band.below if band.below is not None else lower
    comparison: Comparison = "<" if band.below is not None else ">="
    if lower is not None and band.below is not None:
        interval = f"{lower:g} <= value < {band.below:g} {unit}"
    elif band.below is not None:
        interval = f"value < {band.below:g} {unit}"
    elif lower is not None:
        interval = f"value >= {lower:g} {unit}"
    else:
        interval = "the only band"
    return evidence(
        f"calcinosis.lab.{analyte}.band",
        band.sources,
        level=band.evidence,
        threshold=threshold,
        measured=value,
        comparison=comparison if threshold is not None else None,
        unit=unit,
        note=f"{value:g} {unit}: {band.label} ({interval}).",
    )


def assess_lab(
    analyte: str, value: float, unit: str, ranges: ReferenceRanges, sex: str = "unknown"
) -> LabResult:
    """One laboratory value: conversions, the applicable range, status and evidence."""
    spec = LAB_UNITS[analyte]
    rng_spec = ranges.analytes.get(analyte)
    conventional = to_conventional(analyte, value, unit)
    if unit != spec.conventional and rng_spec is not None:
        # Compare at the range's precision so conversion noise cannot cross a limit.
        conventional = round(conventional, rng_spec.decimals)
    si_value = None
    if spec.si is not None:
        si_value = value if unit == spec.si else round(to_si(analyte, value, unit), 4)
    r = ranges.range_for(analyte, sex)
    status: LabStatus | None = None
    boundary = False
    threshold: float | None = None
    comparison: Comparison | None = None
    if r is None:
        ev = evidence(
            f"calcinosis.lab.{analyte}",
            ["SI-UNITS"],
            level="V2",
            measured=conventional,
            unit=spec.conventional,
            note="No reference range configured; value reported only.",
        )
    else:
        if r.low is not None and conventional < r.low:
            status, threshold, comparison = "low", r.low, "<"
        elif r.high is not None and conventional > r.high:
            status, threshold, comparison = "high", r.high, ">"
        else:
            status = "normal"
            boundary = conventional in (r.low, r.high)
            if r.high is not None:
                threshold, comparison = r.high, "<="
            else:
                threshold, comparison = r.low, ">="
        note = f"Reference range {_range_text(r)} ({r.population}, {r.ranges}); limits inclusive."
        if boundary:
            note += (
                " The value lies exactly on a limit and counts as within range "
                "(venalab convention [D])."
            )
        if unit != spec.conventional:
            note += f" Converted from {value:g} {unit} (SI-UNITS factor)."
        sources = list(r.sources)
        if boundary:
            sources.append("VENALAB")
        ev = evidence(
            f"calcinosis.lab.{analyte}",
            sources,
            level=r.level,
            threshold=threshold,
            measured=conventional,
            comparison=comparison,
            unit=spec.conventional,
            note=note,
        )
    band = band_ev = None
    if rng_spec is not None and rng_spec.bands:
        found = _band(conventional, rng_spec.bands)
        if found is not None:
            band = found[0].label
            band_ev = band_evidence(analyte, conventional, spec.conventional, *found)
    return LabResult(
        analyte=analyte,
        label=spec.label,
        value=value,
        unit=unit,
        conventional_value=conventional,
        conventional_unit=spec.conventional,
        si_value=si_value,
        si_unit=spec.si,
        reference_range=r,
        status=status,
        boundary=boundary,
        band=band,
        band_evidence=band_ev,
        evidence=ev,
    )


def assess_labs(
    labs: Labs | None, ranges: ReferenceRanges, sex: str = "unknown"
) -> dict[str, LabResult]:
    out: dict[str, LabResult] = {}
    if labs is None:
        return out
    for analyte in ANALYTES:
        item = getattr(labs, analyte)
        if item is not None:
            out[analyte] = assess_lab(analyte, item.value, item.unit, ranges, sex)
    return out


def ca_x_p_product(
    calcium: Calcium, phosphate: Phosphate, ranges: ReferenceRanges | None = None
) -> CaXPResult:
    """Calcium x phosphate in mg2/dL2 (values converted from mmol/L when needed)."""
    rules = (ranges or DEFAULT_RANGES).ca_x_p
    ca = to_conventional("calcium", calcium.value, calcium.unit)
    po4 = to_conventional("phosphate", phosphate.value, phosphate.unit)
    value = round(ca * po4, rules.decimals)
    value_si = round(to_si("calcium", ca, "mg/dL") * to_si("phosphate", po4, "mg/dL"), 2)
    t, hr = rules.target, rules.high_risk
    status: CaXPStatus
    if compare(value, hr.comparison, hr.value):
        status, rule, comparison = "high-risk", hr, hr.comparison
    elif compare(value, t.comparison, t.value):
        status, rule, comparison = "below-target", t, t.comparison
    else:
        status, rule = "above-target", t
        comparison = _NEGATE[t.comparison]
    boundary = value in (t.value, hr.value)
    note = (
        f"{ca:.4g} mg/dL x {po4:.4g} mg/dL = {value:g} mg2/dL2 ({value_si:g} mmol2/L2). "
        f"Target {t.comparison} {t.value:g} ({', '.join(t.sources)}, [{t.evidence}]); high risk "
        f"{hr.comparison} {hr.value:g} ({', '.join(hr.sources)}, [{hr.evidence}])."
    )
    if boundary:
        if value == hr.value:
            verdict = "high risk" if status == "high-risk" else "not high risk"
            at = hr
        else:
            verdict = "target met" if status == "below-target" else "target not met"
            at = t
        note += (
            f" Exactly at the {at.value:g} cut-off: under '{at.comparison}' this counts as "
            f"{verdict} (venalab reports it as a boundary)."
        )
    converted = calcium.unit != "mg/dL" or phosphate.unit != "mg/dL"
    sources = [*rule.sources, "SI-UNITS"] if converted else list(rule.sources)
    return CaXPResult(
        value=value,
        value_si=value_si,
        threshold=t.value,
        target_comparison=t.comparison,
        high_risk_threshold=hr.value,
        high_risk_comparison=hr.comparison,
        status=status,
        boundary=boundary,
        converted=converted,
        evidence=evidence(
            "calcinosis.ca-x-p",
            sources,
            level=rule.evidence,
            threshold=rule.value,
            measured=value,
            comparison=comparison,
            unit="mg2/dL2",
            note=note,
        ),
    )


def renal_status(
    labs: Labs | None, lab_results: dict[str, LabResult], ranges: ReferenceRanges
) -> RenalStatus:
    """End-stage renal disease: dialysis, or eGFR below the cut-off (KDIGO G5, [U])."""
    rule = ranges.end_stage_renal
    dialysis = labs.dialysis if labs is not None else None
    egfr = lab_results.get("egfr")
    creat = lab_results.get("creatinine")
    if dialysis:
        return RenalStatus(
            end_stage=True,
            basis="on dialysis",
            evidence=evidence(
                "calcinosis.renal.end-stage",
                ["VENALAB", "JIM15"],
                level="D",
                note="Dialysis is taken as end-stage renal disease.",
            ),
        )
    if egfr is not None:
        es = compare(egfr.conventional_value, rule.egfr_comparison, rule.egfr_value)
        return RenalStatus(
            end_stage=es,
            basis=f"eGFR {egfr.conventional_value:g} {egfr.conventional_unit}",
            evidence=evidence(
                "calcinosis.renal.end-stage",
                rule.sources,
                level=rule.evidence,
                threshold=rule.egfr_value,
                measured=egfr.conventional_value,
                comparison=rule.egfr_comparison if es else _NEGATE[rule.egfr_comparison],
                unit=egfr.conventional_unit,
            ),
        )
    if creat is not None and creat.status in ("low", "normal"):
        return RenalStatus(
            end_stage=False,
            basis=f"creatinine {creat.conventional_value:g} mg/dL within or below its range",
            evidence=evidence(
                "calcinosis.renal.end-stage",
                ["VENALAB", *creat.evidence.sources],
                level="D",
                threshold=creat.evidence.threshold,
                measured=creat.conventional_value,
                comparison="<=",
                unit="mg/dL",
                note="A creatinine within (or below) the reference range rules out "
                "end-stage renal disease (venalab convention [D]).",
            ),
        )
    missing = ("labs.egfr",) if dialysis is False else ("labs.dialysis", "labs.egfr")
    basis = (
        "not on dialysis, but renal function is not measured"
        if dialysis is False
        else "renal status not recorded"
    )
    if creat is not None:
        basis = f"creatinine {creat.conventional_value:g} mg/dL above its range; eGFR not given"
    return RenalStatus(
        end_stage=None,
        basis=basis,
        missing=missing,
        evidence=evidence(
            "calcinosis.renal.end-stage",
            rule.sources,
            level=rule.evidence,
            threshold=rule.egfr_value,
            comparison=rule.egfr_comparison,
            unit="mL/min/1.73m2",
            note="End-stage renal disease could not be decided from the document.",
        ),
    )


# ---------------------------------------------------------------------------------------
# The subtype path (clinical.md 5.1 decision logic, [D])


def _lab_fact(lab: LabResult | None, analyte: str) -> Fact:
    if lab is None:
        return Fact(path=f"labs.{analyte}", value=None, meaning="not measured")
    r = lab.reference_range
    rng = f" (range {_range_text(r)})" if r is not None else ""
    return Fact(
        path=f"labs.{analyte}",
        value=f"{lab.conventional_value:g} {lab.conventional_unit}",
        meaning=f"{lab.status or 'no range'}{rng}",
    )


def _logic_evidence(
    step: str,
    extra: list[str] | None = None,
    note: str | None = None,
    threshold: float | None = None,
    measured: float | None = None,
    comparison: Comparison | None = None,
    unit: str | None = None,
) -> Evidence:
    return evidence(
        f"calcinosis.step.{step}",
        [*_LOGIC, *(extra or [])],
        level="D",
        threshold=threshold,
        measured=measured,
        comparison=comparison,
        unit=unit,
        note=f"{_LOGIC_NOTE}{' ' + note if note else ''}",
    )


def _step_calcification(exam: ExamDocument, sides: tuple[Side, ...]) -> ReasoningStep:
    facts = []
    if exam.imaging is not None:
        for s in SIDES:
            li = getattr(exam.imaging, s)
            if li is not None and li.calcification is not None:
                facts.append(Fact(path=f"imaging.{s}.calcification", value=li.calcification))
    if sides:
        answer: Answer = "yes"
        conclusion = f"Soft-tissue calcification on imaging: {', '.join(sides)} leg."
    elif facts:
        answer = "no"
        conclusion = (
            "No soft-tissue calcification on imaging; the path below says which "
            "subtype the workup would point to if calcinosis is confirmed clinically."
        )
    else:
        answer = "unknown"
        conclusion = (
            "No imaging of calcification recorded; the path below assumes calcinosis "
            "was found clinically."
        )
    return ReasoningStep(
        step=0,
        id="calcification",
        question="Is soft-tissue calcification documented?",
        answer=answer,
        conclusion=conclusion,
        facts=tuple(facts),
        evidence=_logic_evidence(
            "calcification", ["PAC22"], note="Context only: this step does not decide the subtype."
        ),
    )


def _step_calciphylaxis(exam: ExamDocument, renal: RenalStatus) -> ReasoningStep:
    purpura = exam.history.retiform_purpura_or_necrosis if exam.history else None
    facts = (
        Fact(path="history.retiform_purpura_or_necrosis", value=purpura),
        Fact(path="renal.end_stage", value=renal.end_stage, meaning=renal.basis),
    )
    q = (
        "Painful vascular-pattern necrosis (retiform purpura/necrosis) together with "
        "end-stage renal disease?"
    )
    extra: list[str] = []
    missing: tuple[str, ...] = ()
    if purpura and renal.end_stage:
        answer: Answer = "yes"
        conclusion = (
            "Retiform purpura/necrosis with end-stage renal disease: suspect calciphylaxis."
        )
    elif purpura and renal.end_stage is False:
        answer = "no"
        extra = ["KAL09"]
        conclusion = (
            "Retiform purpura/necrosis without end-stage renal disease: the rule does not "
            "fire, but non-uraemic calciphylaxis is described (KAL09); consider it and "
            "confirm histologically."
        )
    elif purpura is False or renal.end_stage is False:
        answer = "no"
        conclusion = (
            "No retiform purpura/necrosis recorded."
            if purpura is False
            else "No end-stage renal disease."
        )
    else:
        answer = "unknown"
        missing = (("history.retiform_purpura_or_necrosis",) if purpura is None else ()) + (
            renal.missing if renal.end_stage is None else ()
        )
        conclusion = "Cannot exclude calciphylaxis: " + ", ".join(missing) + " not recorded."
    return ReasoningStep(
        step=1,
        id="calciphylaxis",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=facts,
        missing=missing,
        evidence=_logic_evidence("calciphylaxis", extra),
    )


def _step_metastatic(
    exam: ExamDocument, labs: dict[str, LabResult], cxp: CaXPResult | None, renal: RenalStatus
) -> ReasoningStep:
    ca, po4, pth = labs.get("calcium"), labs.get("phosphate"), labs.get("pth")
    vitd, egfr, creat = labs.get("vitamin_d_25oh"), labs.get("egfr"), labs.get("creatinine")
    facts = [_lab_fact(ca, "calcium"), _lab_fact(po4, "phosphate")]
    facts.append(
        Fact(
            path="ca_x_p",
            value=None if cxp is None else cxp.value,
            meaning=None if cxp is None else cxp.status,
        )
    )
    facts += [_lab_fact(pth, "pth"), _lab_fact(vitd, "vitamin_d_25oh")]
    facts.append(Fact(path="renal.end_stage", value=renal.end_stage, meaning=renal.basis))
    reasons: list[str] = []
    decisive: Evidence | None = None
    for lab, word in ((ca, "calcium above range"), (po4, "phosphate above range")):
        if lab is not None and lab.status == "high":
            reasons.append(word)
            decisive = decisive or lab.evidence
    if cxp is not None and cxp.status != "below-target":
        reasons.append(f"Ca x PO4 {cxp.value:g} not below the {cxp.threshold:g} target")
        decisive = decisive or cxp.evidence
    if renal.end_stage:
        reasons.append("end-stage renal disease (CKD-related calcinosis)")
    renal_impaired = (egfr is not None and egfr.status == "low") or (
        creat is not None and creat.status == "high"
    )
    if renal_impaired and pth is not None and pth.status == "high" and not renal.end_stage:
        reasons.append("reduced renal function with raised PTH (secondary hyperparathyroidism)")
        decisive = decisive or pth.evidence
    if vitd is not None and vitd.status == "high":
        reasons.append("25-hydroxyvitamin D above range (vitamin D excess)")
        decisive = decisive or vitd.evidence
    notes: list[str] = []
    if pth is not None and pth.status == "high" and not reasons:
        notes.append(
            "PTH above range with normal calcium and phosphate is not by itself counted "
            "as a metastatic cause (venalab convention); evaluate the hyperparathyroidism."
        )
    if exam.history is not None and exam.history.malignancy:
        notes.append(
            "Malignancy is recorded: it counts here only through raised calcium or "
            "phosphate (bone destruction)."
        )
    supporting = [p for p, lab in (("labs.pth", pth), ("labs.vitamin_d_25oh", vitd)) if lab is None]
    if egfr is None and creat is None and not renal.end_stage:
        supporting.append("labs.creatinine or labs.egfr")
    missing: tuple[str, ...] = ()
    q = (
        "Calcium or phosphate above the reference range, Ca x PO4 not below target, or a "
        "metabolic cause (end-stage renal disease, reduced renal function with raised PTH, "
        "vitamin D excess)?"
    )
    if reasons:
        answer: Answer = "yes"
        conclusion = "Metastatic calcinosis: " + "; ".join(reasons) + "."
    elif ca is None or po4 is None:
        answer = "unknown"
        missing = tuple(
            p for p, lab in (("labs.calcium", ca), ("labs.phosphate", po4)) if lab is None
        )
        conclusion = (
            "Cannot assess calcium/phosphate metabolism: " + ", ".join(missing) + " missing."
        )
    else:
        answer = "no"
        conclusion = "Calcium and phosphate within range and no metabolic cause recorded."
        if supporting:
            notes.append(
                "Metabolic causes not fully assessed: "
                + ", ".join(supporting)
                + " not measured (see workup)."
            )
    if notes:
        conclusion += " " + " ".join(notes)
    ev = _logic_evidence(
        "metastatic",
        note=None,
        threshold=decisive.threshold if decisive else None,
        measured=decisive.measured if decisive else None,
        comparison=decisive.comparison if decisive else None,
        unit=decisive.unit if decisive else None,
    )
    return ReasoningStep(
        step=2,
        id="metastatic",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=tuple(facts),
        missing=missing,
        evidence=ev,
    )


def _step_iatrogenic(exam: ExamDocument) -> ReasoningStep:
    infusion = exam.history.calcium_or_phosphate_infusion_at_site if exam.history else None
    q = "Calcium or phosphate infusion (or extravasation) at the site?"
    missing: tuple[str, ...] = ()
    if infusion:
        answer: Answer = "yes"
        conclusion = (
            "Calcium/phosphate infusion or extravasation at the site: iatrogenic calcinosis."
        )
    elif infusion is False:
        answer = "no"
        conclusion = "No calcium/phosphate infusion at the site."
    else:
        answer = "unknown"
        missing = ("history.calcium_or_phosphate_infusion_at_site",)
        conclusion = "Infusion history at the site not recorded."
    return ReasoningStep(
        step=3,
        id="iatrogenic",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=(Fact(path="history.calcium_or_phosphate_infusion_at_site", value=infusion),),
        missing=missing,
        evidence=_logic_evidence("iatrogenic"),
    )


def _step_dystrophic(
    exam: ExamDocument, c_classes_by_side: dict[str, tuple[str, ...]], calcified: tuple[Side, ...]
) -> ReasoningStep:
    injury = exam.history.tissue_injury_at_site if exam.history else None
    ctd = exam.history.connective_tissue_disease if exam.history else None
    facts = [
        Fact(
            path=f"legs.{s}.ceap",
            value=" ".join(c) or None,
            meaning="C4-C6 skin changes or ulcer" if DAMAGE_CLASSES & set(c) else None,
        )
        for s, c in sorted(c_classes_by_side.items())
    ]
    facts += [
        Fact(path="history.tissue_injury_at_site", value=injury),
        Fact(path="history.connective_tissue_disease", value=ctd),
    ]
    damaged = [s for s, c in sorted(c_classes_by_side.items()) if DAMAGE_CLASSES & set(c)]
    # Local damage must be where the calcium is: when imaging names the calcified legs,
    # only C4-C6 changes on those legs count.
    at_site = [s for s in damaged if not calcified or s in calcified]
    reasons: list[str] = []
    if at_site:
        reasons.append(
            f"chronic venous disease with C4-C6 skin changes/ulcer ({', '.join(at_site)} leg)"
        )
    if injury:
        reasons.append("tissue injury at the site")
    if ctd:
        reasons.append("connective tissue disease")
    missing: tuple[str, ...] = ()
    q = (
        "Local tissue damage (C4-C6 skin changes or ulcer on the calcified leg, tissue injury "
        "at the site, connective tissue disease)?"
    )
    if reasons:
        answer: Answer = "yes"
        conclusion = "Dystrophic calcinosis: " + "; ".join(reasons) + "."
    elif injury is None or ctd is None:
        answer = "unknown"
        missing = tuple(
            p
            for p, v in (
                ("history.tissue_injury_at_site", injury),
                ("history.connective_tissue_disease", ctd),
            )
            if v is None
        )
        conclusion = "Local tissue damage not excluded: " + ", ".join(missing) + " not recorded."
    else:
        answer = "no"
        conclusion = "No local tissue damage recorded."
    if damaged and not at_site:
        conclusion += (
            f" C4-C6 changes are recorded only on the {', '.join(damaged)} leg, "
            "not on the calcified leg."
        )
    return ReasoningStep(
        step=4,
        id="dystrophic",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=tuple(facts),
        missing=missing,
        evidence=_logic_evidence("dystrophic", ["PAC22"]),
    )


def _workup(labs: dict[str, LabResult], renal: RenalStatus, subtype: Subtype) -> list[WorkupItem]:
    ev = evidence(
        "calcinosis.workup",
        [*_LOGIC],
        level="D",
        note="Labs that separate dystrophic from metastatic calcinosis (clinical.md "
        "5.1: dystrophic = normal calcium and phosphate with normal PTH, renal "
        "function and vitamin D).",
    )
    items: list[WorkupItem] = []
    for analyte, wid in (("calcium", "calcium"), ("phosphate", "phosphate"), ("pth", "pth")):
        if analyte not in labs:
            items.append(
                WorkupItem(
                    id=wid,
                    kind="lab",
                    analytes=(analyte,),
                    text=f"Measure {LAB_UNITS[analyte].label.lower()}.",
                    evidence=ev,
                )
            )
    if "creatinine" not in labs and "egfr" not in labs and not renal.end_stage:
        items.append(
            WorkupItem(
                id="renal-function",
                kind="lab",
                analytes=("creatinine", "egfr"),
                text="Measure renal function (serum creatinine / eGFR).",
                evidence=ev,
            )
        )
    if "vitamin_d_25oh" not in labs:
        items.append(
            WorkupItem(
                id="vitamin-d",
                kind="lab",
                analytes=("vitamin_d_25oh",),
                text="Measure 25-hydroxyvitamin D.",
                evidence=ev,
            )
        )
    if subtype == "calciphylaxis":
        items.append(
            WorkupItem(
                id="biopsy",
                kind="biopsy",
                text="Skin biopsy to confirm calciphylaxis (medial calcification of small dermal and "
                "subcutaneous vessels).",
                evidence=evidence(
                    "calcinosis.workup.biopsy",
                    ["JIM15", "REI11a", "VENALAB"],
                    level="D",
                    note="clinical.md 5.1 step 1: biopsy needed.",
                ),
            )
        )
    return items


def _has_calcinosis_labs(labs: Labs | None) -> bool:
    # Creatinine/eGFR alone (e.g. measured before anticoagulation) do not open a calcinosis
    # workup; the calcium-phosphate analytes or dialysis do.
    return labs is not None and (
        any(getattr(labs, a) is not None for a in TRIGGER_ANALYTES) or labs.dialysis is True
    )


def _has_relevant_history(exam: ExamDocument) -> bool:
    h = exam.history
    return h is not None and any(getattr(h, name) is True for name in type(h).model_fields)


def calcified_sides(exam: ExamDocument) -> tuple[Side, ...]:
    """Legs whose imaging records soft-tissue calcification (phleboliths excluded)."""
    if exam.imaging is None:
        return ()
    return tuple(
        s
        for s in SIDES
        if (li := getattr(exam.imaging, s)) is not None
        and is_soft_tissue_calcification(li.calcification, IMAGING_PATTERNS)
    )


def assess_calcinosis(
    exam: ExamDocument,
    c_classes_by_side: dict[str, tuple[str, ...]],
    ranges: ReferenceRanges | None = None,
) -> CalcinosisResult | None:
    """Calcinosis cutis workup of one exam: labs, Ca x PO4, subtype path and missing workup.

    `c_classes_by_side` maps "left"/"right" to the leg's CEAP C classes
    (venalab.rules.ceap.clinical_classes). `ranges` defaults to the built-in adult ranges.
    Returns None when the exam has no calcium-phosphate labs (calcium, phosphate, PTH,
    25-OH vitamin D, or dialysis true; creatinine/eGFR alone do not count), no soft-tissue
    calcification on imaging (phleboliths do not count) and no history flag set to true.
    """
    rr = ranges or DEFAULT_RANGES
    sides = calcified_sides(exam)
    if not (_has_calcinosis_labs(exam.labs) or sides or _has_relevant_history(exam)):
        return None
    labs = assess_labs(exam.labs, rr, exam.patient.sex)
    cxp = None
    if exam.labs is not None and exam.labs.calcium is not None and exam.labs.phosphate is not None:
        cxp = ca_x_p_product(exam.labs.calcium, exam.labs.phosphate, rr)
    renal = renal_status(exam.labs, labs, rr)

    steps = [
        _step_calciphylaxis(exam, renal),
        _step_metastatic(exam, labs, cxp, renal),
        _step_iatrogenic(exam),
        _step_dystrophic(exam, c_classes_by_side, sides),
    ]
    path: list[ReasoningStep] = [_step_calcification(exam, sides)]
    first_yes: ReasoningStep | None = None
    for s in steps:
        path.append(s)
        if s.answer == "yes":
            first_yes = s
            break
    unknown = [s for s in path[1:] if s.answer == "unknown"]
    reached: Subtype = first_yes.id if first_yes is not None else "idiopathic"  # type: ignore[assignment]
    if first_yes is None:
        all_no = not unknown
        path.append(
            ReasoningStep(
                step=5,
                id="idiopathic",
                question="None of the above: no tissue damage and no metabolic disorder?",
                answer="yes" if all_no else "unknown",
                conclusion="Idiopathic calcinosis (no tissue damage, no metabolic disorder)."
                if all_no
                else "Idiopathic only if the missing facts above are negative.",
                evidence=_logic_evidence("idiopathic"),
            )
        )
    missing = tuple(m for s in unknown for m in s.missing)
    subtype: Subtype = "undetermined" if unknown else reached
    provisional: Subtype | None = reached if unknown else None
    seen = path[0].conclusion if path[0].answer != "yes" else ""
    result_ev = evidence(
        "calcinosis.subtype",
        [*_LOGIC, "PAC22"],
        level="D",
        note=f"{_LOGIC_NOTE} Path: "
        + " -> ".join(f"{s.id}={s.answer}" for s in path[1:])
        + (f". Missing: {', '.join(missing)}." if missing else ".")
        + (f" {seen}" if seen else ""),
    )
    return CalcinosisResult(
        subtype=subtype,
        provisional_subtype=provisional,
        missing=missing,
        labs=labs,
        ca_x_p=cxp,
        renal=renal,
        calcification_sides=sides,
        reasoning=tuple(path),
        confirmation=Statement(
            text=CONFIRMATION,
            evidence=evidence(
                "calcinosis.confirmation",
                ["VENALAB", "REI11a", "JIM15"],
                level="D",
                note="The subtype is a suggestion from history and laboratory "
                "data; histology and the clinical picture confirm it.",
            ),
        ),
        workup=tuple(_workup(labs, renal, subtype)),
        reference_ranges=rr.label,
        evidence=result_ev,
    )
