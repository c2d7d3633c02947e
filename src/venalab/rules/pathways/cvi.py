"""Treatment recommendations for chronic venous disease of one leg (clinical.md section 6.3).

Sources and grades (pass 2, 2026-11-22), texts in `data/pathways.toml`:
- SVS11 (SVS/AVF 2011): compression suggested for symptomatic varicose veins (2C), not as
  primary therapy for a saphenous-ablation candidate (1B), primary treatment to heal venous
  ulcers (1B); ablation of incompetent superficial veins in addition to compression to reduce
  ulcer recurrence (1A); endovenous thermal ablation over high ligation and stripping (1B);
  pathologic perforator definition (guideline 2.5) - perforator treatment grades not seen [U].
- ESVS22: Rec 28 (GSV, EVTA first choice, I A), Rec 29 (device choice), Rec 53 (GSV > 12 mm,
  IIa C), Rec 43 (SSV, EVTA, I A), Rec 22 (compression after EVTA/UGFS, IIa A); AASV EVTA
  (IIa) [V2]; Rec 17 (C4-C6 superficial incompetence -> intervention, I C) [V2].
- SVS23 1.3.1: no minimum diameter is required for reflux to be pathologic.
Payer rules (diameter >= 4.5 mm, 3-month stocking trials) are not guideline rules and are
not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from venalab.evidence import Recommendation, compare
from venalab.exam import Side
from venalab.rules.ceap import C_ORDER, has_ulcer_class
from venalab.rules.pathways.model import DEFAULT_PARAMS, PathwayParams, recommend
from venalab.rules.patterns import Judged

Step = tuple[str, dict[str, Any]]
"""One recommendation decided: its data-file key and the fields of its text."""


class _Entry(Protocol):
    @property
    def vein(self) -> str: ...
    @property
    def site(self) -> str | None: ...
    @property
    def label(self) -> str | None: ...


class CviSegment(_Entry, Judged, Protocol):
    """What the pathway reads of a segment verdict (full or lean tier)."""

    @property
    def system(self) -> str: ...
    @property
    def diameter_mm(self) -> float | None: ...


class CviPerforator(_Entry, Protocol):
    @property
    def incompetent(self) -> bool | None: ...
    @property
    def pathologic(self) -> bool: ...


class CviPattern(Protocol):
    @property
    def trunk(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def segments(self) -> tuple[str, ...]: ...


_ABLATION_KEY = {"GSV": "cvi.ablation.gsv", "SSV": "cvi.ablation.ssv", "AASV": "cvi.ablation.aasv"}


def _highest(c_classes: tuple[str, ...]) -> str | None:
    known = [c for c in c_classes if c in C_ORDER]
    return max(known, key=C_ORDER.index) if known else None


@lru_cache(maxsize=1024)  # few distinct class sets; asked for every leg
def _class_facts(
    c_classes: tuple[str, ...],
) -> tuple[bool, bool, tuple[str, ...], bool, str | None]:
    """(open ulcer, any ulcer class, the C4-C6 classes, varicose, highest class) of a leg."""
    return (
        any(c.startswith("C6") for c in c_classes),
        has_ulcer_class(c_classes),
        tuple(c for c in c_classes if c.startswith(("C4", "C5", "C6"))),
        any(c.startswith("C2") for c in c_classes),
        _highest(c_classes),
    )


def _where(vein: str, site: str | None, label: str | None) -> str:
    return vein + (f" {site}" if site else "") + (f" ({label})" if label else "")


def cvi_recommendations(
    side: Side,
    c_classes: tuple[str, ...],
    symptomatic: bool | None,
    segments: Sequence[CviSegment],
    perforators: Sequence[CviPerforator],
    patterns: Sequence[CviPattern],
    params: PathwayParams | None = None,
) -> tuple[Recommendation, ...]:
    """Guideline treatment steps for one leg, each citing its source and grade.

    `c_classes` from rules.ceap.clinical_classes; `symptomatic` from the leg's clinical
    section; segments, perforators and patterns from rules.reflux / rules.patterns.
    """
    params = params or DEFAULT_PARAMS
    steps = cvi_steps(c_classes, symptomatic, segments, perforators, patterns, params)
    return tuple(recommend(key, side, params, **fields) for key, fields in steps)


def cvi_steps(
    c_classes: tuple[str, ...],
    symptomatic: bool | None,
    segments: Sequence[CviSegment],
    perforators: Sequence[CviPerforator],
    patterns: Sequence[CviPattern],
    params: PathwayParams,
) -> list[Step]:
    """The treatment steps decided for one leg, before their texts and evidence."""
    ulcer_active, ulcer_any, skin_or_ulcer, varicose, highest = _class_facts(c_classes)
    saphenous = [
        p for p in patterns if p.trunk in _ABLATION_KEY and p.pattern in ("axial", "segmental")
    ]
    recs: list[Step] = []

    if saphenous and symptomatic is None:
        recs.append(("cvi.needs-symptom-status", {"trunks": ", ".join(p.trunk for p in saphenous)}))
    if saphenous and symptomatic is True:
        for p in saphenous:
            recs.append(
                (_ABLATION_KEY[p.trunk], {"pattern": p.pattern, "segments": ", ".join(p.segments)})
            )
            if p.trunk == "GSV":
                recs += _large_gsv(segments, params)
        if not ulcer_active:  # with an open ulcer compression stays the primary treatment
            recs.append(("cvi.compression.not-primary", {}))
        recs.append(("cvi.compression.after-ablation", {}))
    elif varicose and symptomatic is True:
        recs.append(("cvi.compression.varicose", {}))

    if ulcer_active:
        recs.append(("cvi.compression.ulcer", {}))
    # Incompetent superficial veins matter only to C4-C6 legs (listed only then).
    incompetent = (
        [s for s in segments if s.abnormal and s.system == "superficial"]
        if ulcer_any or skin_or_ulcer
        else ()
    )
    if incompetent:  # names built only when a text needs them
        incompetent_veins = ", ".join(
            dict.fromkeys(_where(s.vein, s.site, s.label) for s in incompetent)
        )
        if ulcer_any:
            recs.append(("cvi.ulcer-recurrence", {"veins": incompetent_veins}))
        if skin_or_ulcer:
            recs.append(
                (
                    "cvi.intervention.c4-c6",
                    {"classes": ", ".join(skin_or_ulcer), "veins": incompetent_veins},
                )
            )

    pathologic = [p for p in perforators if p.pathologic]
    if ulcer_any and pathologic:
        veins = ", ".join(_where(p.vein, p.site, p.label) for p in pathologic)
        recs.append(("cvi.perforator.pathologic", {"veins": veins}))
    leaky = [p for p in perforators if p.incompetent or p.pathologic]
    if highest in ("C2", "C2r") and leaky:
        veins = ", ".join(_where(p.vein, p.site, p.label) for p in leaky)
        recs.append(("cvi.perforator.c2-no-routine", {"veins": veins}))
    return recs


def _large_gsv(segments: Sequence[CviSegment], params: PathwayParams) -> list[Step]:
    """ESVS22 Rec 53 when a refluxing GSV trunk is wider than the configured diameter."""
    c = params.cvi
    widths = [
        s.diameter_mm
        for s in segments
        if s.vein in ("GSVa", "GSVb") and s.abnormal and s.diameter_mm is not None
    ]
    if not widths or not compare(
        max(widths), c.gsv_large_diameter_comparison, c.gsv_large_diameter_mm
    ):
        return []
    fields = {
        "diameter": max(widths),
        "threshold": c.gsv_large_diameter_mm,
        "measured": max(widths),
        "comparison": c.gsv_large_diameter_comparison,
        "unit": "mm",
    }
    return [("cvi.ablation.gsv-large", fields)]
