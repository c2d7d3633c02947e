"""Laboratory values of the calcinosis workup: reference ranges, one analyte against its
range, the calcium x phosphate product and the renal status.

Reference ranges, the Ca x PO4 target (<55 mg2/dL2, KDOQI; adult use [U]), the high-risk
cut-off (>72 mg2/dL2, BLOCK98 [V2]) and the end-stage renal cut-off are data in
`data/reference_ranges.toml` (schema venalab-reference-ranges/1, clinical.md 5.2); a
laboratory passes its own with `load_reference_ranges` or `ReferenceRanges.with_range`.
Lab values in SI units are converted with venalab.units (factors SI-UNITS). The subtype
reasoning that reads these results is calcinosis.py.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Comparison, Evidence, Frozen, compare, evidence
from venalab.exam import Calcium, Labs, Phosphate
from venalab.units import LAB_UNITS, to_conventional, to_si

LabStatus = Literal["low", "normal", "high"]
CaXPStatus = Literal["below-target", "above-target", "high-risk"]
# The relation that holds when a comparison fails (for evidence of a negative verdict).
NEGATE: dict[str, Comparison] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
# Order in which labs are reported and asked for in the workup (clinical.md 5.2 table).
ANALYTES: tuple[str, ...] = ("calcium", "phosphate", "pth", "creatinine", "egfr", "vitamin_d_25oh")

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


def range_text(r: RangeUsed) -> str:
    if r.low is not None and r.high is not None:
        return f"{r.low:g}-{r.high:g} {r.unit}"
    if r.low is not None:
        return f">= {r.low:g} {r.unit}"
    return f"<= {r.high:g} {r.unit}"


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
    """Evidence of a band: the limit that decided it, with its comparison (issue 18: the last
    band, e.g. vitamin D sufficiency, is decided by the previous band's limit, `>=`). A band
    with both limits names its upper one (`<`) and states the whole interval in the note."""
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
        note = f"Reference range {range_text(r)} ({r.population}, {r.ranges}); limits inclusive."
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
        comparison = NEGATE[t.comparison]
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
                comparison=rule.egfr_comparison if es else NEGATE[rule.egfr_comparison],
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
