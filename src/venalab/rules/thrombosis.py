"""Thrombosis classification per leg (clinical.md section 4.1).

- proximal: popliteal vein or above (popliteal, femoral, deep femoral, common femoral,
  iliac) - UTT16, PAL12.
- distal-axial: isolated distal DVT of the deep stem calf veins (posterior and anterior
  tibial, peroneal) - PAL12, UTT16.
- distal-muscular: isolated calf muscle vein thrombosis (gastrocnemius, soleal) with no
  axial involvement - SCH10 terminology, seed 003.
The tibioperoneal trunk is axial/distal for UTT16 but was excluded from CACTUS's distal
definition: `tibioperoneal_trunk` option, "distal" (default) or "proximal".
Thrombus in superficial veins is superficial vein thrombosis and thrombus in a perforator is
listed as perforator thrombosis; both are listed apart and do not make a DVT class.
After treatment, the entries the post-treatment rules (rules/ehit.py) account for - the treated
vein's own occlusion, thrombus at its junction, and thrombus reaching into the deep vein short
of an occlusive DVT (EHIT I-III, KAB21) - are listed in `post_treatment` and make no class.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from venalab.anatomy import VEINS, DvtLevel
from venalab.evidence import Evidence, Frozen, evidence
from venalab.exam import Leg
from venalab.trusted import trusted

Classification = Literal["none", "proximal", "distal-axial", "distal-muscular"]
TptPolicy = Literal["distal", "proximal"]

PRECEDENCE: tuple[Classification, ...] = ("proximal", "distal-axial", "distal-muscular")
"""A leg with thrombi at several levels takes the first of these (both engines)."""

CLASSIFICATION_LABEL: dict[Classification, str] = {
    "none": "no deep vein thrombosis",
    "proximal": "proximal deep vein thrombosis",
    "distal-axial": "isolated distal deep vein thrombosis (axial calf veins)",
    "distal-muscular": "isolated calf muscle vein thrombosis",
}
"""The one wording of each class (findings, pathways, report, CDS cards, FHIR text)."""


class ThrombosedSegment(Frozen):
    vein: str
    name: str
    site: str | None = None
    index: int | None = None
    """Position of the entry in `legs.<side>.segments` (None when built elsewhere)."""
    level: Literal[
        "proximal", "distal-axial", "distal-muscular", "superficial", "perforator", "post-treatment"
    ]
    age: str | None = None
    occlusive: bool | None = None
    length_cm: float | None = None
    diameter_mm: float | None = None
    distance_to_junction_cm: float | None = None


class ThrombosisResult(Frozen):
    """One leg's thrombosis; `label` is CLASSIFICATION_LABEL of the class, for every view."""

    classification: Classification
    label: str
    deep: tuple[ThrombosedSegment, ...] = ()
    superficial: tuple[ThrombosedSegment, ...] = ()
    perforator: tuple[ThrombosedSegment, ...] = ()
    post_treatment: tuple[ThrombosedSegment, ...] = ()
    veins_involved: tuple[str, ...] = ()
    multiple_veins: bool = False
    muscular_involved: bool = False
    max_length_cm: float | None = None
    ages: tuple[str, ...] = ()
    acute: bool = False
    chronic_only: bool = False
    non_compressible_without_thrombus: tuple[str, ...] = ()
    tibioperoneal_trunk: TptPolicy = "distal"
    evidence: Evidence


def sentence(label: str) -> str:
    """A label at the start of a sentence."""
    return label[:1].upper() + label[1:]


_SOURCES: dict[Classification, list[str]] = {
    "none": ["SRU18"],
    "proximal": ["UTT16", "PAL12"],
    "distal-axial": ["PAL12", "UTT16"],
    "distal-muscular": ["SCH10", "UTT16"],
}


def dvt_level(vein: str, tibioperoneal_trunk: TptPolicy = "distal") -> DvtLevel | None:
    """Where a thrombus in this vein places a DVT (anatomy.toml `dvt_level`), with the
    tibioperoneal-trunk option applied; None for superficial veins and perforators."""
    if vein == "TPT" and tibioperoneal_trunk == "proximal":
        return "proximal"
    return VEINS[vein].dvt_level


def _deep_level(
    index: int, vein: str, tibioperoneal_trunk: TptPolicy, post_treatment: frozenset[int]
) -> DvtLevel | None:
    """The DVT level of a thrombosed entry; None when superficial, a perforator or accounted
    for by the post-treatment rules."""
    return None if index in post_treatment else dvt_level(vein, tibioperoneal_trunk)


def _classification(levels: Collection[str]) -> Classification:
    return next((c for c in PRECEDENCE if c in levels), "none")


def leg_classification(
    leg: Leg,
    tibioperoneal_trunk: TptPolicy = "distal",
    post_treatment: frozenset[int] = frozenset(),
) -> tuple[Classification, bool]:
    """(classification, chronic only) of a leg (the pathways ask it of the other leg)."""
    d = decide_thrombosis(leg, tibioperoneal_trunk, post_treatment)
    return d.classification, d.chronic_only


@dataclass(slots=True)
class Thrombus:
    """A thrombosed segment entry as decided (the lean ThrombosedSegment)."""

    vein: str
    index: int
    site: str | None
    level: Literal[
        "proximal", "distal-axial", "distal-muscular", "superficial", "perforator", "post-treatment"
    ]
    age: str | None
    occlusive: bool | None
    length_cm: float | None
    diameter_mm: float | None
    distance_to_junction_cm: float | None


@dataclass(slots=True)
class ThrombosisDecision:
    """One leg's thrombosis as decided (`decide_thrombosis`); rendered by `render_thrombosis`."""

    classification: Classification
    deep: tuple[Thrombus, ...]
    superficial: tuple[Thrombus, ...]
    perforator: tuple[Thrombus, ...]
    post_treatment: tuple[Thrombus, ...]
    veins_involved: tuple[str, ...]
    chronic_only: bool
    suspicious: tuple[str, ...]
    """Deep veins recorded non-compressible without a thrombus description."""
    deep_examined: bool
    tibioperoneal_trunk: TptPolicy

    @property
    def label(self) -> str:
        return CLASSIFICATION_LABEL[self.classification]


_SYSTEM_OF: dict[str, str] = {code: v.system for code, v in VEINS.items()}
"""Each vein's system, read for every entry of every leg (a plain table: the hot path)."""


def decide_thrombosis(
    leg: Leg,
    tibioperoneal_trunk: TptPolicy = "distal",
    post_treatment: frozenset[int] = frozenset(),
) -> ThrombosisDecision:
    """The classification of `classify_thrombosis`, with the entries it rests on."""
    deep: list[Thrombus] = []
    superficial: list[Thrombus] = []
    perforator: list[Thrombus] = []
    treated: list[Thrombus] = []
    suspicious: list[str] = []
    deep_examined = False
    system_of = _SYSTEM_OF
    for index, seg in enumerate(leg.segments):
        deep_vein = system_of[seg.vein] == "deep"
        if deep_vein:
            deep_examined = True
        t = seg.thrombus
        if t is None:
            if deep_vein and seg.compressibility in ("none", "partial"):
                suspicious.append(seg.vein)
            continue
        v = VEINS[seg.vein]
        level = _deep_level(index, seg.vein, tibioperoneal_trunk, post_treatment)
        item = Thrombus(
            seg.vein,
            index,
            seg.site,
            "post-treatment"
            if index in post_treatment
            else level or ("perforator" if v.is_perforator else "superficial"),
            t.age,
            t.occlusive,
            t.length_cm,
            seg.diameter_mm,
            t.distance_to_junction_cm,
        )
        if index in post_treatment:
            treated.append(item)
        elif level is not None:
            deep.append(item)
        elif v.is_perforator:
            perforator.append(item)
        else:
            superficial.append(item)
    return ThrombosisDecision(
        classification=_classification({d.level for d in deep}),
        deep=tuple(deep),
        superficial=tuple(superficial),
        perforator=tuple(perforator),
        post_treatment=tuple(treated),
        veins_involved=tuple(dict.fromkeys(d.vein for d in deep)),
        chronic_only=bool(deep) and all(d.age == "chronic" for d in deep),
        suspicious=tuple(suspicious),
        deep_examined=deep_examined,
        tibioperoneal_trunk=tibioperoneal_trunk,
    )


def _segment_of(t: Thrombus) -> ThrombosedSegment:
    return ThrombosedSegment(
        vein=t.vein,
        name=VEINS[t.vein].name,
        index=t.index,
        site=t.site,
        level=t.level,
        age=t.age,
        occlusive=t.occlusive,
        length_cm=t.length_cm,
        diameter_mm=t.diameter_mm,
        distance_to_junction_cm=t.distance_to_junction_cm,
    )


_thrombosis_result = trusted(ThrombosisResult)


def render_thrombosis(d: ThrombosisDecision) -> ThrombosisResult:
    """The full thrombosis result of a decided leg (records, evidence and its note)."""
    classification = d.classification
    veins = d.veins_involved
    levels = {t.level for t in d.deep}
    lengths = [t.length_cm for t in d.deep if t.length_cm is not None]
    names = ", ".join(veins)
    note = {
        "none": "No thrombus recorded in the deep veins examined.",
        "proximal": f"Thrombus at or above the popliteal vein ({names}).",
        "distal-axial": f"{sentence(CLASSIFICATION_LABEL['distal-axial'])} ({names}).",
        "distal-muscular": f"{sentence(CLASSIFICATION_LABEL['distal-muscular'])} ({names}).",
    }[classification]
    if classification == "none" and not d.deep_examined:
        # Nothing recorded is not the same as nothing found (issue 18: say what was not examined).
        note = "No deep vein of this leg was examined: no thrombus recorded, DVT not excluded."
    if d.post_treatment:
        note += (
            " Accounted for by the post-treatment rules (not a DVT or SVT class): "
            f"{', '.join(t.vein for t in d.post_treatment)}."
        )
    if "TPT" in veins:
        note += (
            f" Tibioperoneal trunk counted as {d.tibioperoneal_trunk} (option; UTT16 counts "
            "it as axial/distal, CACTUS excluded it from distal DVT)."
        )
    if d.suspicious:
        note += (
            f" Non-compressible segment(s) without a thrombus description: "
            f"{', '.join(d.suspicious)}; not classified."
        )
    return _thrombosis_result(
        classification=classification,
        label=CLASSIFICATION_LABEL[classification],
        deep=tuple(_segment_of(t) for t in d.deep),
        superficial=tuple(_segment_of(t) for t in d.superficial),
        perforator=tuple(_segment_of(t) for t in d.perforator),
        post_treatment=tuple(_segment_of(t) for t in d.post_treatment),
        veins_involved=veins,
        multiple_veins=len(veins) > 1,
        muscular_involved="distal-muscular" in levels,
        max_length_cm=max(lengths) if lengths else None,
        ages=tuple(dict.fromkeys(t.age or "not stated" for t in d.deep)),
        acute=any(t.age in ("acute", "subacute") for t in d.deep),
        chronic_only=d.chronic_only,
        non_compressible_without_thrombus=d.suspicious,
        tibioperoneal_trunk=d.tibioperoneal_trunk,
        evidence=evidence(
            f"thrombosis.{classification}",
            _SOURCES[classification],
            level="D" if classification == "distal-muscular" else "V",
            note=note,
        ),
    )


def classify_thrombosis(
    leg: Leg,
    tibioperoneal_trunk: TptPolicy = "distal",
    post_treatment: frozenset[int] = frozenset(),
) -> ThrombosisResult:
    """Classify the deep venous thrombosis of one leg and carry age, occlusion and extent.

    `post_treatment`: indices of segment entries whose thrombus the post-treatment rules
    account for (rules.ehit.post_treatment_indices); they are listed apart.
    """
    return render_thrombosis(decide_thrombosis(leg, tibioperoneal_trunk, post_treatment))
