"""The result document, `venous-result/1` (shared/spec/exam-format.md, "Result document").

Stable paths (scripts rely on them): criteria.id; legs.<side>.segments[],
.perforators[], .reflux_patterns, .thrombosis.classification (and its .label); findings[],
recommendations[] and diagnoses[] (coded, ICD-10-CM), each with its evidence.

Labelled by the last assembly step (venalab.assembly): recommendations[].sides and a text
that starts with its side ("Right leg: ", "Both legs: "); legs.<side>.ceap is null where CEAP
was not assessed (legs.<side>.ceap_not_assessed.reason says why); segments[].examined lists
what each entry recorded (reflux, compression, thrombus, obstruction, diameter).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from venalab import __version__
from venalab.evidence import Evidence, Finding, Frozen, Recommendation
from venalab.rules.calcinosis import CalcinosisResult
from venalab.rules.ceap import CeapResult
from venalab.rules.comparison import ComparisonResult
from venalab.rules.critical import CriticalFinding
from venalab.rules.diagnoses import Diagnosis
from venalab.rules.ehit import EhitResult, TreatedSegment
from venalab.rules.imaging import ImagingResult
from venalab.rules.pathways import PathwayResult
from venalab.rules.patterns import PatternResult
from venalab.rules.reflux import PerforatorResult, SegmentResult
from venalab.rules.thrombosis import ThrombosisResult, TptPolicy
from venalab.rules.vcss import VcssResult
from venalab.rules.villalta import VillaltaResult
from venalab.rules.wells import Version as WellsVersion
from venalab.rules.wells import WellsResult

RESULT_FORMAT = "venous-result/1"


class EngineOptions(Frozen):
    """Choices the clinician or lab can make; each is echoed in the result."""

    criteria: str | None = None
    tibioperoneal_trunk: TptPolicy = "distal"
    wells_version: WellsVersion = "2003"
    ceap_legacy_numbers: bool = False
    pathways: dict[str, dict[str, str | float | int | bool | list[str]]] | None = None


class EngineInfo(Frozen):
    name: Literal["venalab"] = "venalab"
    version: str = __version__


class CriteriaInfo(Frozen):
    id: str
    version: str
    title: str
    sources: tuple[str, ...]
    summary: str | None = None
    """The set in words (CriteriaSet.describe().text), for reports of this result."""


class ExamSummary(Frozen):
    patient_id: str
    date: dt.date
    purpose: str | None = None


class NotAssessed(Frozen):
    """Why a part of the result was not assessed, with the evidence of that decision."""

    reason: str
    evidence: Evidence


class LegResult(Frozen):
    segments: tuple[SegmentResult, ...]
    perforators: tuple[PerforatorResult, ...]
    reflux_patterns: dict[str, str]
    reflux_pattern_details: tuple[PatternResult, ...]
    thrombosis: ThrombosisResult
    pathway: PathwayResult
    ceap: CeapResult | None
    """None where CEAP was not assessed: `ceap_not_assessed` says why (venalab.assembly)."""
    vcss: VcssResult | None = None
    villalta: VillaltaResult | None = None
    imaging: ImagingResult | None = None
    treated: tuple[TreatedSegment, ...] = ()
    """Treated segments recorded at this exam (venalab extension `treatment`)."""
    ehit: tuple[EhitResult, ...] = ()
    """Per junction whose trunk was ablated: the AVF EHIT class (rules.ehit, KAB21)."""
    critical: tuple[CriticalFinding, ...] = ()
    ceap_not_assessed: NotAssessed | None = None

    def pattern_labels(self) -> dict[str, str]:
        """Trunk -> pattern with its qualifier ("junctional, trunk not measured"), for text."""
        return {p.trunk: p.label for p in self.reflux_pattern_details}


class Legs(Frozen):
    left: LegResult | None = None
    right: LegResult | None = None


class Result(Frozen):
    format: Literal["venous-result/1"] = "venous-result/1"
    engine: EngineInfo = EngineInfo()
    criteria: CriteriaInfo
    options: EngineOptions
    exam: ExamSummary
    legs: Legs
    wells_dvt: WellsResult | None = None
    calcinosis: CalcinosisResult | None = None
    findings: tuple[Finding, ...]
    recommendations: tuple[Recommendation, ...] = ()
    comparison: ComparisonResult | None = None
    """Serial comparison with the prior exam, when one was given (rules.comparison)."""
    critical: tuple[CriticalFinding, ...] = ()
    """Critical findings of every leg, with the criterion and reason (rules.critical)."""
    diagnoses: tuple[Diagnosis, ...] = ()

    def leg(self, side: str) -> LegResult | None:
        return self.legs.left if side == "left" else self.legs.right

    def to_json(self, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)
