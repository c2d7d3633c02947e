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

from functools import cache
from typing import Annotated, Literal

from pydantic import Field

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import StrictData, load_data_file, validate_document
from venalab.errors import Problem
from venalab.evidence import Evidence, Frozen, evidence
from venalab.exam import Side
from venalab.rules.ehit import EhitClass, EhitResult
from venalab.rules.pathways import PathwayResult
from venalab.rules.thrombosis import ThrombosisResult

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


def _mark(
    cid: CriterionId, side: Side, text: str, finding_ids: tuple[str, ...], basis: Evidence
) -> CriticalFinding | None:
    spec = CRITICAL.criteria.get(cid)
    if spec is None:  # criterion removed from the lab's list
        return None
    return CriticalFinding(
        id=f"critical.{cid}.{side}",
        criterion=cid,
        leg=side,
        label=spec.label,
        reason=spec.reason,
        text=f"{side.capitalize()} leg: {text}",
        finding_ids=finding_ids,
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


def _proximal(side: Side, t: ThrombosisResult) -> CriticalFinding | None:
    active = [d for d in t.deep if d.level == "proximal" and d.age != "chronic"]
    if not active:
        return None
    veins = ", ".join(dict.fromkeys(d.vein for d in active))
    ages = ", ".join(dict.fromkeys(d.age or "age not stated" for d in active))
    return _mark("proximal-dvt", side, f"proximal deep vein thrombosis ({veins}; {ages}).",
                 (f"thrombosis.proximal.{side}",), t.evidence)  # fmt: skip


def _extension(side: Side, pathway: PathwayResult) -> CriticalFinding | None:
    rec = next(
        (r for r in pathway.recommendations if r.id == f"iddvt.followup.proximal-extension.{side}"),
        None,
    )
    if rec is None:
        return None
    return _mark("proximal-extension", side, "distal DVT has extended into the proximal veins.",
                 (), rec.evidence)  # fmt: skip


def _svt(side: Side, pathway: PathwayResult) -> CriticalFinding | None:
    svt = pathway.svt
    if svt is None or not (svt.decision == "therapeutic-anticoagulation" or svt.boundary):
        return None
    where = (
        f"{svt.distance_to_junction_cm:g} cm from the {svt.junction}"
        if svt.distance_to_junction_cm is not None and svt.junction
        else "at the junction"
    )
    edge = " (exactly at the junction distance: boundary)" if svt.boundary else ""
    wanted = (f"svt.therapeutic.{side}", f"svt.junction-boundary.{side}")
    basis = next((r.evidence for r in pathway.recommendations if r.id in wanted), pathway.evidence)
    return _mark("svt-near-junction", side,
                 f"superficial vein thrombosis ({', '.join(svt.veins)}) {where}{edge}.",
                 tuple(f"thrombosis.superficial.{side}.{v}" for v in svt.veins), basis)  # fmt: skip


def _ehit(side: Side, ehit: tuple[EhitResult, ...]) -> list[CriticalFinding]:
    spec = CRITICAL.criteria.get("ehit-deep")
    classes = spec.ehit_classes if spec else ()
    out = []
    for e in ehit:
        # A thrombus in the deep vein whose lumen share is unknown may be EHIT III: it is
        # marked, so that it is looked at and communicated [D].
        unknown = e.decision == "undetermined" and "III" in classes
        if unknown or (e.ehit_class is not None and e.ehit_class in classes):
            extra = " (lumen share not recorded: could be EHIT III)" if unknown else ""
            mark = _mark("ehit-deep", side, f"{e.label} at the {e.junction} ({e.deep_vein}){extra}.",
                         (f"ehit.{side}.{e.junction}",), e.evidence)  # fmt: skip
            if mark is not None:
                out.append(mark)
    return out


def critical_findings(
    side: Side, thrombosis: ThrombosisResult, pathway: PathwayResult, ehit: tuple[EhitResult, ...]
) -> tuple[CriticalFinding, ...]:
    """The critical marks of one leg, from the results the other rules produced."""
    marks = [_proximal(side, thrombosis), _extension(side, pathway), _svt(side, pathway)]
    return tuple(m for m in marks if m is not None) + tuple(_ehit(side, ehit))
