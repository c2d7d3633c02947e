"""Critical results: which findings of a leg must be communicated directly (issue 18).

The default list (`data/critical.toml`) marks the thrombosis findings for which the sources
recommend anticoagulation now: acute proximal DVT (STE21 21; ESVS21 Rec 14), extension of a
distal DVT into the proximal veins on serial imaging (STE21 statement 2), superficial vein
thrombosis near a saphenous junction (ESVS21 flowchart, therapeutic anticoagulation), and
thrombus in the deep vein after ablation, AVF EHIT III-IV (KAB21). A lab's list is its own
policy (ACR-COMM): the list is data, and every mark says which criterion and why.
The decisions come from the rules that made them (thrombosis classification, pathways, EHIT):
this module reads their results, it does not judge thresholds again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from pydantic import Field

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import StrictData, load_data_file, validate_document
from venalab.errors import Problem
from venalab.evidence import Evidence, Frozen, evidence
from venalab.exam import Side
from venalab.rules.decided import Text, text_of
from venalab.rules.ehit import EhitClass, EhitResult, EhitVerdict
from venalab.rules.pathways import PathwayDecision, PathwayResult
from venalab.rules.thrombosis import ThrombosisDecision, ThrombosisResult

CriterionId = Literal["proximal-dvt", "proximal-extension", "svt-near-junction", "ehit-deep"]


class Criterion(StrictData):
    label: str
    reason: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel
    ehit_classes: tuple[EhitClass, ...] = ()


class CommunicationSpec(StrictData):
    fields: tuple[Literal["recipient", "method", "communicated_at", "read_back"], ...]
    methods: Annotated[tuple[str, ...], Field(min_length=1)]
    note: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel


class CriticalData(StrictData):
    schema_: Literal["venalab-critical/1"] = Field(alias="schema")
    version: str
    criteria: dict[CriterionId, Criterion]
    communication: CommunicationSpec


def _problems(data: CriticalData) -> list[Problem]:
    problems: list[Problem] = []
    for key, c in data.criteria.items():
        problems += check_ids(c.sources, f"criteria.{key}.sources")
    problems += check_ids(data.communication.sources, "communication.sources")
    return problems


def parse_critical_data(raw: object, name: str = "critical.toml") -> CriticalData:
    return validate_document(raw, CriticalData, f"data file {name}", _problems)


@cache
def _load() -> CriticalData:
    return load_data_file("critical.toml", CriticalData, _problems)


CRITICAL: CriticalData = _load()


class CriticalFinding(Frozen):
    """One critical mark of a leg: the criterion, why, and what in the result met it."""

    id: str
    criterion: CriterionId
    leg: Side
    label: str
    reason: str
    text: str
    finding_ids: tuple[str, ...] = ()
    """Result findings this mark is about (they carry `critical: true`)."""
    evidence: Evidence


Basis = Callable[[ThrombosisResult, PathwayResult, tuple[EhitResult, ...]], Evidence]
"""Where a mark's basis evidence is in the rendered results of the leg."""


@dataclass(slots=True)
class CriticalMark:
    """A decided critical mark (`decide_critical`); rendered by `render_critical`."""

    criterion: CriterionId
    text: Text
    finding_ids: Callable[[], tuple[str, ...]]
    basis: Basis

    def id(self, side: Side) -> str:
        return f"critical.{self.criterion}.{side}"


def _mark(
    cid: CriterionId, text: Text, finding_ids: Callable[[], tuple[str, ...]], basis: Basis
) -> CriticalMark | None:
    if cid not in CRITICAL.criteria:  # criterion removed from the lab's list
        return None
    return CriticalMark(cid, text, finding_ids, basis)


def _proximal(side: Side, t: ThrombosisDecision) -> CriticalMark | None:
    active = [d for d in t.deep if d.level == "proximal" and d.age != "chronic"]
    if not active:
        return None

    def text() -> str:
        veins = ", ".join(dict.fromkeys(d.vein for d in active))
        ages = ", ".join(dict.fromkeys(d.age or "age not stated" for d in active))
        return f"proximal deep vein thrombosis ({veins}; {ages})."

    return _mark("proximal-dvt", text, lambda: (f"thrombosis.proximal.{side}",),
                 lambda t, p, e: t.evidence)  # fmt: skip


def _extension(side: Side, pathway: PathwayDecision) -> CriticalMark | None:
    key = "iddvt.followup.proximal-extension"
    if not any(r.key == key for r in pathway.recs):
        return None
    rid = f"{key}.{side}"
    return _mark("proximal-extension", "distal DVT has extended into the proximal veins.",
                 tuple, lambda t, p, e: next(r.evidence for r in p.recommendations
                                             if r.id == rid))  # fmt: skip


def _svt(side: Side, pathway: PathwayDecision) -> CriticalMark | None:
    svt = pathway.svt
    if svt is None or not (svt.decision == "therapeutic-anticoagulation" or svt.boundary):
        return None
    found = svt

    def text() -> str:
        where = (
            f"{found.distance_to_junction_cm:g} cm from the {found.junction}"
            if found.distance_to_junction_cm is not None and found.junction
            else "at the junction"
        )
        edge = " (exactly at the junction distance: boundary)" if found.boundary else ""
        return f"superficial vein thrombosis ({', '.join(found.veins)}) {where}{edge}."

    def basis(t: ThrombosisResult, p: PathwayResult, e: tuple[EhitResult, ...]) -> Evidence:
        wanted = (f"svt.therapeutic.{side}", f"svt.junction-boundary.{side}")
        return next((r.evidence for r in p.recommendations if r.id in wanted), p.evidence)

    return _mark("svt-near-junction", text,
                 lambda: tuple(f"thrombosis.superficial.{side}.{v}" for v in found.veins),
                 basis)  # fmt: skip


def _ehit(side: Side, ehit: tuple[EhitVerdict, ...]) -> list[CriticalMark]:
    spec = CRITICAL.criteria.get("ehit-deep")
    classes = spec.ehit_classes if spec else ()
    out = []
    for index, e in enumerate(ehit):
        # A thrombus in the deep vein whose lumen share is unknown may be EHIT III: it is
        # marked, so that it is looked at and communicated [D].
        unknown = e.decision == "undetermined" and "III" in classes
        if unknown or (e.ehit_class is not None and e.ehit_class in classes):
            mark = _mark("ehit-deep", _ehit_text(e, unknown),
                         _ehit_finding(side, e.junction), _ehit_basis(index))  # fmt: skip
            if mark is not None:
                out.append(mark)
    return out


def _ehit_text(e: EhitVerdict, unknown: bool) -> Text:
    extra = " (lumen share not recorded: could be EHIT III)" if unknown else ""
    return lambda: f"{e.label} at the {e.junction} ({e.deep_vein}){extra}."


def _ehit_finding(side: Side, junction: str) -> Callable[[], tuple[str, ...]]:
    return lambda: (f"ehit.{side}.{junction}",)


def _ehit_basis(index: int) -> Basis:
    return lambda t, p, e: e[index].evidence


def decide_critical(
    side: Side,
    thrombosis: ThrombosisDecision,
    pathway: PathwayDecision,
    ehit: tuple[EhitVerdict, ...],
) -> tuple[CriticalMark, ...]:
    """The critical marks of one leg, from the decisions the other rules took."""
    marks = [_proximal(side, thrombosis), _extension(side, pathway), _svt(side, pathway)]
    return tuple(m for m in marks if m is not None) + tuple(_ehit(side, ehit))


def render_critical(
    mark: CriticalMark,
    side: Side,
    thrombosis: ThrombosisResult,
    pathway: PathwayResult,
    ehit: tuple[EhitResult, ...],
) -> CriticalFinding:
    """A decided mark with its texts and evidence (`thrombosis`, `pathway`, `ehit`: the
    rendered results of the same leg, which hold the mark's basis)."""
    cid = mark.criterion
    spec = CRITICAL.criteria[cid]
    basis = mark.basis(thrombosis, pathway, ehit)
    return CriticalFinding(
        id=mark.id(side),
        criterion=cid,
        leg=side,
        label=spec.label,
        reason=spec.reason,
        text=f"{side.capitalize()} leg: {text_of(mark.text)}",
        finding_ids=mark.finding_ids(),
        evidence=evidence(
            f"critical.{cid}",
            spec.sources,
            level=spec.level,
            threshold=basis.threshold,
            measured=basis.measured,
            comparison=basis.comparison,
            unit=basis.unit,
            note=f"{spec.reason} Basis ({basis.rule}): {basis.note or 'see the finding'}",
        ),
    )
