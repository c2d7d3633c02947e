"""Seeded generator of thrombosis-rich exams (DVT, SVT, perforator thrombus, treatments and EHIT,
bedside history, Wells items, serial-imaging results, earlier exams, pathway options), for the
golden test of the thrombosis side (tests/test_thrombosis_golden.py).

Deterministic: `random.Random(seed)` with `random()`, `choice()` and `randint()` only, whose
sequences Python keeps stable, so the same seed gives the same documents on every machine.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

DEEP = ["CIV", "EIV", "CFV", "FV", "DFV", "POPV", "TPT", "PTV", "PRV", "ATV", "GAV", "SOV"]
SUPERFICIAL = ["SFJ", "GSVa", "GSVb", "SPJ", "SSV", "AASV", "PAGSV", "NSV"]
PERFORATORS = ["CPV", "TPV"]
AGES = [None, "acute", "acute", "subacute", "chronic"]
HISTORY = [
    "d_dimer_positive", "inpatient", "reversible_provoking_factor", "active_cancer",
    "prior_vte", "prior_svt", "known_thrombophilia", "recent_surgery", "severe_symptoms",
    "high_bleeding_risk", "thrombus_near_proximal_veins", "malignancy",
]  # fmt: skip
WELLS = ["active_cancer", "paralysis_or_cast", "bedridden_or_major_surgery", "previous_dvt"]
SERIAL = [None, None, "no-extension", "distal-extension", "proximal-extension"]
PATHWAY_OPTIONS: list[dict[str, dict[str, Any]] | None] = [
    None,
    None,
    None,
    {"svt": {"junction_comparison": "<="}},
    {"svt": {"length_comparison": ">"}},
    {"iddvt": {"risk_factors": ["positive-d-dimer", "extensive-length", "inpatient"]}},
    {"iddvt": {"tibioperoneal_trunk_near_proximal": False, "extensive_diameter_mm": 5}},
    {"svt": {"short_svt_risk_features": ["severe-symptoms"], "favouring_factors": []}},
]


def _maybe(rng: random.Random, value: Any, p: float = 0.5) -> Any:
    return value if rng.random() < p else None


def _thrombus(rng: random.Random, vein: str) -> dict[str, Any]:
    t: dict[str, Any] = {}
    age = rng.choice(AGES)
    if age is not None:
        t["age"] = age
    occlusive = rng.choice([None, True, False])
    if occlusive is not None:
        t["occlusive"] = occlusive
    if rng.random() < 0.7:
        t["length_cm"] = rng.choice([1.0, 2.5, 4.0, 5.0, 7.5, 12.0])
    if vein in SUPERFICIAL and rng.random() < 0.7:
        t["distance_to_junction_cm"] = rng.choice([0.0, 1.0, 2.5, 3.0, 3.5, 6.0, 15.0])
    if rng.random() < 0.35 and occlusive is not True:
        lumen = rng.choice([20.0, 50.0, 60.0, 80.0])
        t["lumen_percent"] = lumen
    return t


def _segment(rng: random.Random, exam_date: dt.date) -> dict[str, Any]:
    kind = rng.random()
    vein = rng.choice(DEEP if kind < 0.5 else SUPERFICIAL if kind < 0.92 else PERFORATORS)
    seg: dict[str, Any] = {"vein": vein}
    if rng.random() < 0.2:
        seg["site"] = rng.choice(["proximal", "mid", "distal"])
    if vein in DEEP and rng.random() < 0.6:
        seg["compressibility"] = rng.choice(["full", "partial", "none"])
    if rng.random() < 0.5:
        seg["diameter_mm"] = rng.choice([3.0, 5.0, 7.0, 9.5])
    if rng.random() < 0.45:
        seg["thrombus"] = _thrombus(rng, vein)
    if vein in SUPERFICIAL and rng.random() < 0.25:
        method = rng.choice(
            ["thermal-ablation", "thermal-ablation", "non-thermal-ablation", "stripping",
             "sclerotherapy"]
        )  # fmt: skip
        treatment: dict[str, Any] = {"method": method}
        if rng.random() < 0.8:
            days = rng.choice([2, 5, 14, 27, 28, 29, 45, 120, 400])
            treatment["date"] = (exam_date - dt.timedelta(days=days)).isoformat()
        if method == "stripping":
            status = rng.choice([None, "absent"])
        else:
            status = rng.choice([None, "occluded", "partially-recanalised"])
        if status is not None:
            treatment["status"] = status
        seg["treatment"] = treatment
    return seg


def thrombosis_exam(rng: random.Random, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(exam document, engine options) of generated exam number `i`."""
    exam_date = dt.date(2025, 3, 1) + dt.timedelta(days=rng.randint(0, 300))
    legs: dict[str, Any] = {}
    for side in ("left", "right"):
        if rng.random() < 0.15:
            continue
        segments = [_segment(rng, exam_date) for _ in range(rng.randint(0, 7))]
        legs[side] = {"clinical": {"signs": [], "symptomatic": rng.random() < 0.7},
                      "segments": segments}  # fmt: skip
    if not legs:
        legs["left"] = {"segments": [_segment(rng, exam_date)]}
    doc: dict[str, Any] = {
        "format": "venous-exam/1",
        "patient": {"id": f"G-{i}", "sex": "female", "age_years": 60},
        "exam": {"date": exam_date.isoformat(),
                 "purpose": rng.choice(["thrombosis", "thrombosis", "insufficiency"]),
                 "position": "standing"},
        "legs": legs,
    }  # fmt: skip
    if rng.random() < 0.8:
        history = {
            k: v for k in HISTORY if (v := rng.choice([None, None, True, False])) is not None
        }
        serial = rng.choice(SERIAL)
        if serial is not None:
            history["serial_imaging_result"] = serial
        doc["history"] = history
    if rng.random() < 0.3:
        wells = {k: v for k in WELLS if (v := rng.choice([None, True, False])) is not None}
        doc["scores"] = {"wells_dvt": wells}
    options: dict[str, Any] = {"tibioperoneal_trunk": rng.choice(["distal", "proximal"])}
    pathways = rng.choice(PATHWAY_OPTIONS)
    if pathways is not None:
        options["pathways"] = pathways
    return doc, options


def prior_of(rng: random.Random, doc: dict[str, Any]) -> dict[str, Any] | None:
    """Sometimes an earlier exam of the same patient: the same legs 7-14 days before, with
    some thrombi shorter or absent (for the serial comparison and derived follow-up)."""
    if rng.random() >= 0.25:
        return None
    date = dt.date.fromisoformat(doc["exam"]["date"]) - dt.timedelta(days=rng.randint(7, 14))
    legs: dict[str, Any] = {}
    for side, body in doc["legs"].items():
        segments = []
        for seg in body["segments"]:
            seg = {k: v for k, v in seg.items() if k != "treatment"}
            if "thrombus" in seg and rng.random() < 0.4:
                del seg["thrombus"]
            elif "thrombus" in seg and "length_cm" in seg["thrombus"] and rng.random() < 0.5:
                seg["thrombus"] = {**seg["thrombus"], "length_cm": 1.0}
            segments.append(seg)
        legs[side] = {**body, "segments": segments}
    return {**doc, "exam": {**doc["exam"], "date": date.isoformat()}, "legs": legs,
            "history": {}}  # fmt: skip
