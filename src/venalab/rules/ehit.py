"""Exams after treatment: treated segments and endothermal heat-induced thrombosis (EHIT).

Source: KAB21 - AVF/SVS 2021 recommendations on the classification and treatment of EHIT
(J Vasc Surg Venous Lymphat Disord 2021;9:6-22), read in the AVF pocket guide reproducing it:
- AVF EHIT classes: I thrombus at the junction without extension into the deep vein; II into
  the deep vein, <50% of its lumen; III >50%; IV occlusive deep vein thrombosis [V].
- Management: I no change (key points) [V]; II varies, individualised [U for the options];
  III therapeutic anticoagulation and weekly surveillance until resolution or retraction to the
  junction (1-B) [V]; IV as VTE per CHEST, at least 3 months (1-A) [V].
venalab conventions [D], configurable in `data/ehit.toml`: non-thermal ablation classified by
analogy; exactly 50% of the lumen assigned to `at_split` and flagged; a thrombus more than
`window_days` after the ablation is not EHIT; a thrombus on the treated segment itself is the
ablation's occlusion, not superficial vein thrombosis.
Pure functions over the exam's leg; the text and every number come from the data file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal, cast

from pydantic import Field

from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import StrictData, load_data_file, validate_document
from venalab.errors import Problem
from venalab.evidence import Comparison, Evidence, Frozen, Recommendation, evidence
from venalab.exam import Leg, Segment, Side, TreatmentMethod
from venalab.rules.decided import Rec

EhitClass = Literal["I", "II", "III", "IV"]
EHIT_CLASSES: tuple[EhitClass, ...] = ("I", "II", "III", "IV")
ManagementKey = Literal["I", "II", "III", "IV", "undetermined", "non-thermal", "date-missing"]
EhitDecision = Literal[
    "none", "individualised", "therapeutic-anticoagulation", "anticoagulation", "undetermined"
]


class EhitParams(StrictData):
    methods: tuple[TreatmentMethod, ...]
    lumen_split_percent: Annotated[float, Field(gt=0, lt=100)]
    at_split: Literal["II", "III"]
    window_days: Annotated[int, Field(ge=1, le=365)]


class JunctionSpec(StrictData):
    deep_vein: str
    trunks: tuple[str, ...]


class ClassSpec(StrictData):
    label: str
    definition: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel


class ManagementSpec(StrictData):
    decision: EhitDecision
    text: str
    strength: str | None = None
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel
    note: str | None = None


class EhitData(StrictData):
    schema_: Literal["venalab-ehit/1"] = Field(alias="schema")
    version: str
    params: EhitParams
    junctions: dict[Literal["SFJ", "SPJ"], JunctionSpec]
    classes: dict[EhitClass, ClassSpec]
    management: dict[ManagementKey, ManagementSpec]


def _problems(data: EhitData) -> list[Problem]:
    problems = [
        Problem(f"classes.{c}", "missing: every EHIT class needs a definition")
        for c in EHIT_CLASSES
        if c not in data.classes
    ]
    problems += [
        Problem(f"management.{k}", "missing: the rules use this text")
        for k in ("I", "II", "III", "IV", "undetermined", "non-thermal", "date-missing")
        if k not in data.management
    ]
    for cls, c in data.classes.items():
        problems += check_ids(c.sources, f"classes.{cls}.sources")
    for key, m in data.management.items():
        problems += check_ids(m.sources, f"management.{key}.sources")
    return problems


def parse_ehit_data(raw: object, name: str = "ehit.toml") -> EhitData:
    return validate_document(raw, EhitData, f"data file {name}", _problems)


@cache
def _load() -> EhitData:
    return load_data_file("ehit.toml", EhitData, _problems)


EHIT: EhitData = _load()


class TreatedSegment(Frozen):
    """A treated segment entry as this exam records it."""

    index: int
    vein: str
    site: str | None = None
    method: TreatmentMethod
    status: str | None = None
    date: dt.date | None = None
    days_since: int | None = None


class EhitResult(Frozen):
    """Thrombus at a junction after ablation of one of its trunks, graded by the AVF classes."""

    junction: Literal["SFJ", "SPJ"]
    deep_vein: str
    ablated: tuple[TreatedSegment, ...]
    thermal: bool
    ehit_class: EhitClass | None
    """None: no thrombus at the junction (no EHIT), or the class cannot be told (`missing`)."""
    decision: EhitDecision
    lumen_percent: float | None = None
    boundary: bool = False
    missing: tuple[str, ...] = ()
    attributed: tuple[int, ...] = ()
    """Segment entries accounted for here (not DVT or SVT); an EHIT IV deep entry stays DVT."""
    recommendations: tuple[Recommendation, ...] = ()
    evidence: Evidence

    @property
    def label(self) -> str:
        if self.ehit_class is not None:
            return EHIT.classes[self.ehit_class].label
        return "EHIT II or III" if self.decision == "undetermined" else "no EHIT"


@dataclass(slots=True)
class Treated:
    """A treated segment entry as decided (the lean TreatedSegment)."""

    index: int
    vein: str
    site: str | None
    method: TreatmentMethod
    status: str | None
    date: dt.date | None
    days_since: int | None


def decide_treated(leg: Leg, exam_date: dt.date) -> tuple[Treated, ...]:
    out = []
    for i, s in enumerate(leg.segments):
        t = s.treatment
        if t is not None:
            days = (exam_date - t.date).days if t.date else None
            out.append(Treated(i, s.vein, s.site, t.method, t.status, t.date, days))
    return tuple(out)


def _treated_segment(t: Treated) -> TreatedSegment:
    return TreatedSegment(
        index=t.index,
        vein=t.vein,
        site=t.site,
        method=t.method,
        status=t.status,
        date=t.date,
        days_since=t.days_since,
    )


def treated_segments(leg: Leg, exam_date: dt.date) -> tuple[TreatedSegment, ...]:
    return tuple(_treated_segment(t) for t in decide_treated(leg, exam_date))


_METHOD = {
    "thermal-ablation": "thermal ablation",
    "non-thermal-ablation": "non-thermal ablation",
    "stripping": "stripping",
    "sclerotherapy": "sclerotherapy",
}
_STATUS = {
    "occluded": "occluded",
    "partially-recanalised": "partially recanalised",
    "fully-recanalised": "fully recanalised",
    "absent": "removed",
}


def describe_treatment(method: str, date: dt.date | None, status: str | None) -> str:
    """'thermal ablation on 2025-01-10, occluded' (reports, map titles, findings)."""
    when = f" on {date.isoformat()}" if date else ""
    now = f", {_STATUS[status]}" if status else ", status not recorded"
    return f"{_METHOD[method]}{when}{now}"


def treatment_text(t: TreatedSegment) -> str:
    """'thermal ablation on 2025-01-10 (5 days before), occluded'."""
    when = f" on {t.date.isoformat()} ({t.days_since} days before)" if t.date else ""
    now = f", {_STATUS[t.status]}" if t.status else ", status not recorded"
    return f"{_METHOD[t.method]}{when}{now}"


def treatment_evidence(t: TreatedSegment) -> Evidence:
    return evidence(
        "treatment.recorded",
        ["VENALAB"],
        level="D",
        note=f"Treated segment as recorded (legs.*.segments[{t.index}].treatment): "
        f"{treatment_text(t)}. A recanalised treated vein can carry reflux again; its reflux "
        "verdict is in segments[].",
    )


def _recent(t: Treated | TreatedSegment, params: EhitParams) -> bool:
    return t.days_since is None or t.days_since <= params.window_days


def post_treatment_occlusion(
    leg: Leg, treated: tuple[Treated, ...] | tuple[TreatedSegment, ...]
) -> tuple[int, ...]:
    """Thrombus recorded on a recently treated segment (not stripped): the treatment's intended
    occlusion, not superficial vein thrombosis [D]."""
    return tuple(
        t.index
        for t in treated
        if t.method != "stripping"
        and _recent(t, EHIT.params)
        and leg.segments[t.index].thrombus is not None
    )


def _manage(key: ManagementKey, side: Side, **fields: str) -> Recommendation:
    spec = EHIT.management[key]
    return Recommendation(
        id=f"ehit.{key}.{side}",
        leg=side,
        text=spec.text.format(**fields) if fields else spec.text,
        strength=spec.strength,
        evidence=evidence(f"ehit.management.{key}", spec.sources, level=spec.level, note=spec.note),
    )


def ehit_management(key: str) -> ManagementSpec:
    """The data-file entry of a decided EHIT recommendation (`key` "ehit.<management key>")."""
    return EHIT.management[cast(ManagementKey, key.removeprefix("ehit."))]


def render_ehit_rec(rec: Rec, side: Side) -> Recommendation:
    """The recommendation of a decided EHIT management key ("ehit.<management key>")."""
    fields = rec.fields() if rec.fields is not None else {}
    return _manage(cast(ManagementKey, rec.key.removeprefix("ehit.")), side, **fields)


def _active_thrombus(seg: Segment) -> bool:
    return seg.thrombus is not None and seg.thrombus.age != "chronic"


def _grade(
    side: Side, deep: list[tuple[int, Segment]], params: EhitParams
) -> tuple[EhitClass | None, float | None, bool, tuple[str, ...], Comparison | None]:
    """Class from the deep-vein entries: (class, lumen %, boundary, missing paths, comparison)."""
    if any(
        s.thrombus and (s.thrombus.occlusive or s.thrombus.lumen_percent == 100) for _, s in deep
    ):
        return "IV", 100.0, False, (), None
    lumens = [s.thrombus.lumen_percent for _, s in deep if s.thrombus is not None]
    known = [v for v in lumens if v is not None]
    if not known:
        missing = tuple(f"legs.{side}.segments[{i}].thrombus.lumen_percent" for i, _ in deep)
        return None, None, False, missing, None
    lumen = max(known)
    split = params.lumen_split_percent
    if lumen == split:
        return params.at_split, lumen, True, (), ">=" if params.at_split == "III" else "<="
    return ("III", lumen, False, (), ">") if lumen > split else ("II", lumen, False, (), "<")


@dataclass(slots=True)
class EhitVerdict:
    """One junction's EHIT as decided (`decide_ehit`); rendered by `render_ehit`."""

    junction: Literal["SFJ", "SPJ"]
    deep_vein: str
    ablated: tuple[Treated, ...]
    thermal: bool
    ehit_class: EhitClass | None
    decision: EhitDecision
    lumen_percent: float | None
    boundary: bool
    missing: tuple[str, ...]
    attributed: tuple[int, ...]
    recs: tuple[Rec, ...]
    sources: tuple[str, ...]
    level: EvidenceLevel
    comparison: Comparison | None
    deep_thrombus: bool
    """Active thrombus recorded in the junction's deep vein."""
    deep_examined: bool

    @property
    def label(self) -> str:
        if self.ehit_class is not None:
            return EHIT.classes[self.ehit_class].label
        return "EHIT II or III" if self.decision == "undetermined" else "no EHIT"


def decide_ehit(
    side: Side, leg: Leg, exam_date: dt.date, treated: tuple[Treated, ...] | None = None
) -> tuple[EhitVerdict, ...]:
    """EHIT per junction whose trunk was ablated (recently, or on an unrecorded date).
    `treated`: `decide_treated(leg, exam_date)` when the caller has it."""
    params = EHIT.params
    treated = decide_treated(leg, exam_date) if treated is None else treated
    if not treated:
        return ()
    out: list[EhitVerdict] = []
    for junction, spec in EHIT.junctions.items():
        ablated = tuple(
            t
            for t in treated
            if t.vein in spec.trunks and t.method in params.methods and _recent(t, params)
        )
        if ablated:
            out.append(_decide_junction(side, leg, junction, spec, ablated, params))
    return tuple(out)


def classify_ehit(side: Side, leg: Leg, exam_date: dt.date) -> tuple[EhitResult, ...]:
    """EHIT per junction whose trunk was ablated (recently, or on an unrecorded date)."""
    return tuple(render_ehit(v, side) for v in decide_ehit(side, leg, exam_date))


def _decide_junction(
    side: Side,
    leg: Leg,
    junction: Literal["SFJ", "SPJ"],
    spec: JunctionSpec,
    ablated: tuple[Treated, ...],
    params: EhitParams,
) -> EhitVerdict:
    at_junction = [
        i
        for i, s in enumerate(leg.segments)
        if _active_thrombus(s)
        and (
            s.vein == junction
            or (
                s.vein in spec.trunks
                and s.thrombus is not None
                and s.thrombus.distance_to_junction_cm == 0
            )
        )
    ]
    deep = [
        (i, s)
        for i, s in enumerate(leg.segments)
        if s.vein == spec.deep_vein and _active_thrombus(s)
    ]
    cls: EhitClass | None
    lumen: float | None = None
    boundary = False
    missing: tuple[str, ...] = ()
    comparison: Comparison | None = None
    if deep:
        cls, lumen, boundary, missing, comparison = _grade(side, deep, params)
    else:
        cls = "I" if at_junction else None
    recs: list[Rec] = []
    if cls is not None:
        recs.append(Rec(f"ehit.{cls}", source="ehit"))
        decision: EhitDecision = EHIT.management[cls].decision
    elif missing:
        needed = missing
        recs.append(
            Rec("ehit.undetermined", source="ehit",
                fields=lambda: {"deep_vein": spec.deep_vein, "needed": ", ".join(needed)})
        )  # fmt: skip
        decision = "undetermined"
    else:
        decision = "none"
    thermal = any(t.method == "thermal-ablation" for t in ablated)
    if not thermal and cls is not None:
        recs.append(Rec("ehit.non-thermal", source="ehit"))
    if any(t.date is None for t in ablated) and (cls is not None or missing):
        recs.append(Rec("ehit.date-missing", source="ehit"))
    attributed = tuple(sorted(set(at_junction) | ({i for i, _ in deep} if cls != "IV" else set())))
    class_spec = EHIT.classes[cls] if cls is not None else None
    sources = class_spec.sources if class_spec else ("KAB21",)
    if not thermal or boundary:
        sources = (*sources, "VENALAB")
    return EhitVerdict(
        junction=junction,
        deep_vein=spec.deep_vein,
        ablated=ablated,
        thermal=thermal,
        ehit_class=cls,
        decision=decision,
        lumen_percent=lumen,
        boundary=boundary,
        missing=missing,
        attributed=attributed,
        recs=tuple(recs),
        sources=sources,
        level="D" if (not thermal or boundary) else (class_spec.level if class_spec else "V"),
        comparison=comparison,
        deep_thrombus=bool(deep),
        deep_examined=any(seg.vein == spec.deep_vein for seg in leg.segments),
    )


def render_ehit(v: EhitVerdict, side: Side) -> EhitResult:
    """The full EHIT result of a decided junction (recommendations, evidence and its note)."""
    params = EHIT.params
    cls, lumen, junction, deep_vein = v.ehit_class, v.lumen_percent, v.junction, v.deep_vein
    treated_here = ", ".join(
        f"{t.vein} ({t.method}{f', {t.days_since} days before' if t.days_since is not None else ''})"
        for t in v.ablated
    )
    found = (
        f"{EHIT.classes[cls].label}: {EHIT.classes[cls].definition}"
        if cls is not None
        else "thrombus extends into the deep vein; lumen share not recorded"
        if v.missing
        else f"no thrombus recorded at the {junction} or in the {deep_vein}"
    )
    note = f"After {treated_here}: {found}."
    if not v.deep_thrombus and not v.deep_examined:
        # Nothing recorded is not nothing found: the class cannot exclude extension.
        note += f" The {deep_vein} was not examined: extension into it is not excluded."
    if lumen is not None and cls in ("II", "III"):
        note += f" Thrombus occupies {lumen:g}% of the {deep_vein} lumen."
    if v.boundary:
        note += (
            f" Exactly {params.lumen_split_percent:g}%: the source writes '<50%' (II) and "
            f"'>50%' (III); assigned to {params.at_split} by configuration [D]."
        )
    return EhitResult(
        junction=junction,
        deep_vein=deep_vein,
        ablated=tuple(_treated_segment(t) for t in v.ablated),
        thermal=v.thermal,
        ehit_class=cls,
        decision=v.decision,
        lumen_percent=lumen,
        boundary=v.boundary,
        missing=v.missing,
        attributed=v.attributed,
        recommendations=tuple(render_ehit_rec(r, side) for r in v.recs),
        evidence=evidence(
            "ehit.class",
            v.sources,
            level=v.level,
            threshold=params.lumen_split_percent if lumen is not None and cls != "IV" else None,
            measured=lumen if cls != "IV" else None,
            comparison=v.comparison,
            unit="%" if lumen is not None and cls != "IV" else None,
            note=note,
        ),
    )


def post_treatment_indices(
    leg: Leg,
    exam_date: dt.date,
    ehit: tuple[EhitResult, ...] | tuple[EhitVerdict, ...],
    treated: tuple[Treated, ...] | None = None,
) -> frozenset[int]:
    """Segment entries whose thrombus the post-treatment rules account for (`treated`:
    `decide_treated(leg, exam_date)` when the caller has it)."""
    treated = decide_treated(leg, exam_date) if treated is None else treated
    occluded = post_treatment_occlusion(leg, treated)
    return frozenset(occluded) | frozenset(i for e in ehit for i in e.attributed)
