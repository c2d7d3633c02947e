"""Synthetic cohorts of venous duplex exams from a documented generative model.

The model's parameters, each with its sources and whether it is a literature figure, a
derived figure or an assumption, live in `synth_model.toml` next to this module; the
narrative is in docs/cohorts.md. Literature figures used (shared/reference/clinical.md):
the 500-leg ultrasound series (US500, TV25) for the CEAP class mix of insufficiency legs;
LAB03 normal-subject durations for competent segments; WEL97, PAL12, SCH01 and UTT16 for
DVT prevalence and its anatomic split; TOK09 (TV24) for calcification on plain X-ray; the
built-in criteria files for the exact cut-off values (350/500/1000 ms, 3.5 mm) and the
built-in reference ranges for normal labs.

Generation is vectorized (NumPy) and chunked; each chunk draws from its own generator
seeded with (seed, chunk index), so a cohort is a deterministic function of (n, seed,
model). Every generated exam is a valid `venous-exam/1` document (tested through
`parse_exam_obj`), unless `malformed` asks for deliberately broken rows (robustness tests).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np
import numpy.typing as npt
import polars as pl

from venalab.anatomy import VEINS
from venalab.citations import check_ids
from venalab.cohort.table import (
    EXAM_SCHEMA,
    LEG_SCHEMA,
    SEGMENT_SCHEMA,
    CohortTables,
)
from venalab.criteria import CRITERIA
from venalab.errors import InvalidInput, Problem
from venalab.exam import SIDES, Sign
from venalab.rules.ceap import SIGN_CLASS
from venalab.rules.labs import DEFAULT_RANGES
from venalab.units import LAB_UNITS

MODEL_PATH = Path(__file__).with_name("synth_model.toml")
CHUNK = 50_000
HIGHEST = ("C0", "C1", "C2", "C3", "C4a", "C4b", "C4c", "C5", "C6")
GROUPS = ("C0", "C1", "C2", "C3", "C4", "C5")
_GROUP_OF = {"C0": 0, "C1": 1, "C2": 2, "C3": 3, "C4a": 4, "C4b": 4, "C4c": 4, "C5": 5, "C6": 5}
SIGNS: tuple[str, ...] = get_args(Sign)  # vocabulary order of the exam format
PURPOSES = ("insufficiency", "thrombosis", "follow-up")
SITES = ("proximal", "mid", "distal")

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------------------
# The model file


def load_model(path: Path = MODEL_PATH) -> dict[str, Any]:
    """Read and check the model file: every block names known sources and a basis."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InvalidInput([Problem("", str(err))], what=f"synth model {path.name}") from None
    problems: list[Problem] = []
    if raw.get("schema") != "venalab-synth-model/1":
        problems.append(Problem("schema", "expected 'venalab-synth-model/1'"))

    def walk(node: dict[str, Any], where: str) -> None:
        if "basis" in node:
            if node["basis"] not in ("source", "derived", "assumption"):
                problems.append(Problem(f"{where}.basis", "one of source, derived, assumption"))
            problems.extend(check_ids(node.get("sources", []), f"{where}.sources"))
            if not node.get("sources"):
                problems.append(Problem(f"{where}.sources", "every block names its sources"))
            return
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{where}.{key}" if where else key)

    walk(raw, "")
    if problems:
        raise InvalidInput(problems, what=f"synth model {path.name}")
    return raw


# ---------------------------------------------------------------------------------------
# Small helpers


def _choice(rng: np.random.Generator, weights: Sequence[float], size: int) -> Ints:
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int64)


def _choice_by_group(
    rng: np.random.Generator, table: dict[str, Sequence[float]], group: Ints
) -> Ints:
    """One draw per row from the weights of that row's class group."""
    w = np.asarray([table[g] for g in GROUPS], dtype=float)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(group.size)
    out: Ints = (u[:, None] > cum[group]).sum(axis=1).astype(np.int64)
    return out


def _by_group(table: dict[str, float], group: Ints) -> Floats:
    return np.asarray([table[g] for g in GROUPS], dtype=float)[group]


def _uniform(rng: np.random.Generator, bounds: Sequence[float], size: int) -> Floats:
    return rng.uniform(float(bounds[0]), float(bounds[1]), size)


def _or_none(mask: Bools, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """An object array: `values` where `mask`, else None."""
    out = np.full(mask.size, None, dtype=object)
    out[mask] = np.broadcast_to(np.asarray(values, dtype=object), mask.shape)[mask]
    return out


def _strs(x: npt.NDArray[Any]) -> pl.Series:
    """A string column from a NumPy array that may hold None."""
    return pl.Series(x.tolist(), dtype=pl.String)


def _round(x: Floats, step: float) -> Floats:
    """Round to a multiple of `step` without binary noise (34.3, not 34.300000000000004)."""
    decimals = max(0, -int(np.floor(np.log10(step))))
    return np.round(np.round(x / step) * step, decimals)


# ---------------------------------------------------------------------------------------
# Segment builder

_KIND = {"superficial": 0, "deep": 1, "perforator": 2}
_VEIN_CODES = tuple(VEINS)
_COMPRESS = ("full", "partial", "none")
_AGES = ("acute", "subacute", "chronic", "indeterminate")


@dataclass
class _Segs:
    cols: dict[str, list[npt.NDArray[Any]]] = field(default_factory=dict)

    def add(
        self,
        leg: Ints,
        order: int,
        vein: str,
        *,
        refluxing: Bools | None = None,
        reflux_recorded: Bools,
        site: Ints | None = None,
        **extra: npt.NDArray[Any],
    ) -> None:
        n = leg.size
        if n == 0:
            return
        v = VEINS[vein]
        kind = (
            "perforator" if v.is_perforator else ("deep" if v.system == "deep" else "superficial")
        )
        base: dict[str, npt.NDArray[Any]] = {
            "leg": leg,
            "order": np.full(n, order, np.int64),
            "vein": np.full(n, _VEIN_CODES.index(vein), np.int64),
            "kind": np.full(n, _KIND[kind], np.int64),
            "site": site if site is not None else np.full(n, -1, np.int64),
            "refluxing": refluxing if refluxing is not None else np.zeros(n, bool),
            "recorded": reflux_recorded,
        }
        defaults: dict[str, npt.NDArray[Any]] = {
            "diameter_mm": np.full(n, np.nan),
            "compressibility": np.full(n, -1, np.int64),
            "obstruction": np.full(n, -1, np.int64),
            "thrombus": np.zeros(n, bool),
            "beneath_ulcer": np.full(n, -1, np.int64),
            "label_cm": np.full(n, np.nan),
            "position_cm": np.full(n, np.nan),
            "distance_cm": np.full(n, np.nan),
            "t_age": np.full(n, -1, np.int64),
            "t_occlusive": np.full(n, -1, np.int64),
            "t_length": np.full(n, np.nan),
        }
        for key, value in {**base, **defaults, **extra}.items():
            self.cols.setdefault(key, []).append(np.asarray(value))

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {k: np.concatenate(v) for k, v in self.cols.items()}


# ---------------------------------------------------------------------------------------
# One chunk


@dataclass
class _Legs:
    exam: Ints
    side: Ints
    purpose: Ints
    highest: Ints
    group: Ints
    signs: Bools  # legs x SIGNS
    site_protocol: Bools
    secondary: Bools


def _exams(
    rng: np.random.Generator, m: int, start: int, seed: int, model: dict[str, Any]
) -> dict[str, Any]:
    pat = model["patient"]
    setting = model["exam_setting"]
    purpose = _choice(rng, model["purpose"]["weights"], m)
    female_p = np.asarray([pat["female"][p] for p in PURPOSES])[purpose]
    sex = np.where(rng.random(m) < female_p, "female", "male")
    age = np.clip(
        np.round(rng.normal(pat["age_mean"], pat["age_sd"], m)), pat["age_min"], pat["age_max"]
    ).astype(np.int64)
    first = dt.date.fromisoformat(pat["first_date"])
    days = (dt.date.fromisoformat(pat["last_date"]) - first).days
    exam_day = rng.integers(0, days + 1, m)
    use_birth = rng.random(m) < pat["birth_date_share"]
    birth_day = exam_day - np.floor(age * 365.25).astype(np.int64) - rng.integers(0, 365, m)
    bmi = np.clip(
        _round(rng.normal(pat["bmi_mean"], pat["bmi_sd"], m), 0.1), pat["bmi_min"], pat["bmi_max"]
    )
    bmi_missing = rng.random(m) < pat["bmi_missing"]
    epoch = (first - dt.date(1970, 1, 1)).days
    thrombosis = purpose == PURPOSES.index("thrombosis")
    position = np.where(
        thrombosis,
        np.where(rng.random(m) < setting["thrombosis_supine"], "supine", "sitting"),
        np.asarray(setting["position_values"])[_choice(rng, setting["position_weights"], m)],
    )
    prov = _choice(rng, setting["provocation_weights"], m)
    return {
        "row": np.arange(start, start + m, dtype=np.int64),
        "purpose": purpose,
        "patient_id": [f"SYN{seed}-{r:07d}" for r in range(start, start + m)],
        "sex": sex,
        "age": age,
        "use_birth": use_birth,
        "exam_day": exam_day + epoch,
        "birth_day": birth_day + epoch,
        "bmi": np.where(bmi_missing, np.nan, bmi),
        "position": position,
        "provocation": np.where(thrombosis, -1, prov),
    }


def _legs(rng: np.random.Generator, ex: dict[str, Any], model: dict[str, Any]) -> _Legs:
    m = ex["row"].size
    purpose = ex["purpose"]
    both_p = np.asarray([model["legs_examined"]["both"][p] for p in PURPOSES])[purpose]
    both = rng.random(m) < both_p
    single = rng.integers(0, 2, m)
    n_legs = 1 + both.astype(np.int64)
    exam = np.repeat(np.arange(m), n_legs)
    first_leg = np.cumsum(n_legs) - n_legs
    pos = np.arange(exam.size) - first_leg[exam]
    side = np.where(both[exam], pos, single[exam]).astype(np.int64)
    lp = purpose[exam]
    n = exam.size
    thrombosis = lp == PURPOSES.index("thrombosis")
    cc = model["c_class"]
    highest = np.where(
        thrombosis,
        _choice(rng, cc["thrombosis"]["weights"], n),
        _choice(rng, cc["insufficiency"]["weights"], n),
    )
    group = np.asarray([_GROUP_OF[c] for c in HIGHEST])[highest]
    # classes present: the highest, plus lower ones (CEAP: a higher class may show lower findings)
    signs = np.zeros((n, len(SIGNS)), bool)
    lower = model["lower_classes"]
    for j, cls in enumerate(HIGHEST):
        if cls == "C0":
            continue
        present = (highest == j) | ((highest > j) & (rng.random(n) < lower.get(cls, 0.0)))
        cls_signs = [i for i, s in enumerate(SIGNS) if SIGN_CLASS[s] == cls]
        pick = rng.integers(0, len(cls_signs), n)
        extra = rng.random((n, len(cls_signs))) < model["signs"]["second_sign"]
        for k, si in enumerate(cls_signs):
            signs[:, si] |= present & ((pick == k) | extra[:, k])
    site_protocol = rng.random(n) < model["protocol"]["site_protocol"]
    return _Legs(
        exam=exam,
        side=side,
        purpose=lp,
        highest=highest,
        group=group,
        signs=signs,
        site_protocol=site_protocol,
        secondary=np.zeros(n, bool),
    )


def _sign(legs: _Legs, name: str) -> Bools:
    return legs.signs[:, SIGNS.index(name)]


def _insufficiency(
    rng: np.random.Generator, legs: _Legs, idx: Ints, model: dict[str, Any], segs: _Segs
) -> None:
    """Reflux protocol (insufficiency and follow-up exams) for legs `idx`."""
    proto = model["protocol"]
    inc = proto["include"]
    states = model["trunk_state"]["states"]
    g = legs.group[idx]
    site_p = legs.site_protocol[idx]
    n = idx.size

    def included(vein: str, mask: Bools | None = None) -> Bools:
        take: Bools = rng.random(n) < float(inc[vein])
        return take if mask is None else take & mask

    def recorded(k: int) -> Bools:
        kept: Bools = rng.random(k) >= float(proto["reflux_missing"])
        return kept

    def add(
        vein: str,
        order: int,
        take: Bools,
        refl: Bools,
        site: Ints | None = None,
        **extra: npt.NDArray[Any],
    ) -> None:
        segs.add(
            idx[take],
            order,
            vein,
            refluxing=refl[take],
            reflux_recorded=recorded(int(take.sum())),
            site=None if site is None else site[take],
            **{k: v[take] for k, v in extra.items()},
        )

    def diam(refl: Bools, superficial: bool = True) -> Floats:
        d = model["diameters"]
        if superficial:
            mean = np.where(
                refl, d["superficial_reflux"]["mean_mm"], d["superficial_normal"]["mean_mm"]
            )
            sd = np.where(refl, d["superficial_reflux"]["sd_mm"], d["superficial_normal"]["sd_mm"])
        else:
            mean, sd = np.full(n, d["deep"]["mean_mm"]), np.full(n, d["deep"]["sd_mm"])
        x = np.clip(_round(rng.normal(mean, sd), 0.1), 1.0, 40.0)
        return np.where(rng.random(n) < proto["diameter_missing"], np.nan, x)

    st = {
        t: _choice_by_group(rng, model["trunk_state"][t], g) for t in ("GSV", "SSV", "AASV", "deep")
    }
    is_ = {t: {s: st[t] == states.index(s) for s in states} for t in st}
    none_site = np.full(n, -1, np.int64)

    # GSV: SFJ, then the thigh (GSVa) and calf (GSVb) segments
    gsv = is_["GSV"]
    ext = model["trunk_extent"]
    add(
        "SFJ",
        10,
        included("SFJ"),
        gsv["junctional"] | (gsv["axial"] & (rng.random(n) < ext["sfj_if_axial"])),
    )
    seg_choice = rng.integers(0, 5, n)  # segmental: which point refluxes (then maybe the next)
    nxt = rng.random(n) < ext["segmental_next_point"]
    point = [(seg_choice == k) | ((seg_choice == k - 1) & nxt) for k in range(5)]
    whole = ~site_p
    refl_a = gsv["axial"] | (gsv["segmental"] & (seg_choice <= 2))
    add("GSVa", 20, included("GSVa", whole), refl_a, diameter_mm=diam(refl_a))
    refl_b = gsv["axial"] | (gsv["segmental"] & (seg_choice >= 3))
    add("GSVb", 30, included("GSVb", whole), refl_b, diameter_mm=diam(refl_b))
    for k in range(len(SITES)):
        refl = gsv["axial"] | (gsv["segmental"] & point[k])
        add(
            "GSVa",
            21 + k,
            included("GSVa", site_p),
            refl,
            np.full(n, k, np.int64),
            diameter_mm=diam(refl),
        )
    for k, site_k in ((3, 0), (4, 2)):
        refl = (
            gsv["axial"] & ((site_k == 0) | (rng.random(n) < ext["gsv_distal_calf_if_axial"]))
        ) | (gsv["segmental"] & point[k])
        add(
            "GSVb",
            31 + k,
            included("GSVb", site_p),
            refl,
            np.full(n, site_k, np.int64),
            diameter_mm=diam(refl),
        )

    # SSV: SPJ, then the SSV (whole, or proximal/distal sites); a segmental whole-protocol
    # entry is recorded at mid-calf
    ssv = is_["SSV"]
    add(
        "SPJ",
        40,
        included("SPJ"),
        ssv["junctional"] | (ssv["axial"] & (rng.random(n) < ext["spj_if_axial"])),
    )
    refl = ssv["axial"] | ssv["segmental"]
    add(
        "SSV",
        41,
        included("SSV", whole),
        refl,
        np.where(ssv["segmental"], 1, none_site),
        diameter_mm=diam(refl),
    )
    which = rng.integers(0, 2, n)
    for k, site_k in ((0, 0), (1, 2)):
        refl = ssv["axial"] | (ssv["segmental"] & (which == k))
        add(
            "SSV",
            42 + k,
            included("SSV", site_p),
            refl,
            np.full(n, site_k, np.int64),
            diameter_mm=diam(refl),
        )

    # Accessory saphenous veins: two measuring points with their distance from the junction
    aasv = is_["AASV"]
    take = included("AASV")
    first = _round(_uniform(rng, proto["aasv_first_cm"], n), 0.5)
    second = first + _round(_uniform(rng, proto["aasv_gap_cm"], n), 0.5)
    one = rng.integers(0, 2, n)
    for k, pos in enumerate((first, second)):
        refl = aasv["axial"] | (aasv["segmental"] & (one == k))
        add("AASV", 50 + k, take, refl, position_cm=pos, diameter_mm=diam(refl))
    for vein, order in (("PAGSV", 55), ("NSV", 56)):
        other = _choice_by_group(rng, model["trunk_state"]["AASV"], g) != states.index("none")
        add(vein, order, included(vein), other)

    # Deep veins: CFV, FV (whole or proximal/distal), POPV; DFV and calf veins sometimes
    deep = is_["deep"]
    dchoice = rng.integers(0, 3, n)
    secondary = legs.secondary[idx]
    compress = np.where(rng.random(n) < proto["compressibility_recorded"], 0, -1)
    obstruct = np.where(
        secondary & (rng.random(n) < model["thrombosis"]["secondary_obstruction"]), 1, -1
    )
    refl = (deep["axial"] & (rng.random(n) < ext["cfv_if_axial"])) | (
        deep["segmental"] & (dchoice == 0)
    )
    add("CFV", 60, included("CFV"), refl, compressibility=compress, diameter_mm=diam(refl, False))
    refl = deep["axial"] | (deep["segmental"] & (dchoice == 1))
    add("FV", 70, included("FV", whole), refl, compressibility=compress, obstruction=obstruct)
    for k, site_k in ((0, 0), (1, 2)):
        refl = deep["axial"] | (
            deep["segmental"] & (dchoice == 1) & (rng.random(n) < ext["fv_site_if_segmental"])
        )
        add(
            "FV",
            71 + k,
            included("FV", site_p),
            refl,
            np.full(n, site_k, np.int64),
            compressibility=compress,
            obstruction=obstruct,
        )
    chronic = (legs.purpose[idx] == PURPOSES.index("follow-up")) & (
        rng.random(n) < model["thrombosis"]["follow_up_chronic"]
    )
    refl = deep["axial"] | (deep["segmental"] & (dchoice == 2))
    add(
        "POPV",
        80,
        included("POPV") | chronic,
        refl,
        compressibility=np.where(chronic, 1, compress),
        obstruction=obstruct,
        thrombus=chronic,
        t_age=np.where(chronic, _AGES.index("chronic"), -1),
        t_occlusive=np.where(chronic, 0, -1),
    )
    other = model["protocol"]["other_deep_reflux"]
    p_other = np.where(st["deep"] != states.index("none"), other["with_deep"], other["without"])
    for vein, order in (("DFV", 65), ("PTV", 90), ("PRV", 91)):
        add(vein, order, included(vein), rng.random(n) < p_other, compressibility=compress)

    # Perforators (calf, then thigh)
    perf = model["perforators"]
    calf = np.minimum(rng.poisson(_by_group(perf["calf_rate"], g)), perf["max_per_leg"])
    thigh = rng.random(n) < perf["thigh_rate"]
    ulcer_leg = _sign(legs, "ulcer-active")[idx] | _sign(legs, "ulcer-healed")[idx]
    for k in range(perf["max_per_leg"] + 1):
        take = (calf > k) if k < perf["max_per_leg"] else thigh
        vein = "CPV" if k < perf["max_per_leg"] else "TPV"
        incompetent = rng.random(n) < _by_group(perf["incompetent"], g)
        dm = np.where(
            incompetent,
            perf["diameter_incompetent"]["mean_mm"],
            perf["diameter_competent"]["mean_mm"],
        )
        sd = np.where(
            incompetent, perf["diameter_incompetent"]["sd_mm"], perf["diameter_competent"]["sd_mm"]
        )
        diameter = np.clip(_round(rng.normal(dm, sd), 0.1), 1.0, 12.0)
        diameter = np.where(rng.random(n) < proto["diameter_missing"] / 2, np.nan, diameter)
        p_beneath = np.where(
            incompetent, perf["beneath_ulcer_if_incompetent"], perf["beneath_ulcer_if_competent"]
        )
        beneath = np.where(ulcer_leg, (rng.random(n) < p_beneath).astype(np.int64), 0)
        beneath = np.where(rng.random(n) < perf["beneath_ulcer_recorded"], beneath, -1)
        add(
            vein,
            100 + k,
            take,
            incompetent,
            diameter_mm=diameter,
            beneath_ulcer=beneath,
            label_cm=_round(_uniform(rng, ext["perforator_label_cm"], n), 1.0),
        )


def _thrombosis(
    rng: np.random.Generator, legs: _Legs, idx: Ints, model: dict[str, Any], segs: _Segs
) -> None:
    """Compression protocol (thrombosis exams) for legs `idx`."""
    th = model["thrombosis"]
    inc = th["include"]
    n = idx.size
    dvt = rng.random(n) < th["p_dvt"]
    distal = dvt & (rng.random(n) < th["distal_share"])
    proximal = dvt & ~distal
    muscular_only = distal & (rng.random(n) < th["muscular_only_share"])
    axial = distal & ~muscular_only
    clot: dict[str, Bools] = {v: np.zeros(n, bool) for v in inc}
    # proximal DVT: popliteal and above, sometimes with distal extension
    ext = th["proximal_extent"]
    for vein in ("POPV", "FV", "CFV"):
        clot[vein] |= proximal & (rng.random(n) < ext[vein])
    clot["POPV"] |= proximal & ~(clot["POPV"] | clot["FV"] | clot["CFV"])
    extend = proximal & (rng.random(n) < ext["distal_too"])
    # axial calf veins: one or two of PTV / PRV / ATV, sometimes the tibioperoneal trunk
    first = _choice(rng, th["axial_weights"], n)
    second = _choice(rng, th["axial_weights"], n)
    multiple = rng.random(n) < th["multiple_axial"]
    for k, vein in enumerate(th["axial_veins"]):
        clot[vein] |= (axial | extend) & ((first == k) | (multiple & (second == k)))
    clot["TPT"] |= axial & (rng.random(n) < th["tibioperoneal_trunk"])
    muscular = muscular_only | (axial & (rng.random(n) < th["muscular_with_axial"]))
    mfirst = _choice(rng, th["muscular_weights"], n)
    both_m = rng.random(n) < th["both_muscular"]
    for k, vein in enumerate(th["muscular_veins"]):
        clot[vein] |= muscular & ((mfirst == k) | both_m)
    svt = rng.random(n) < th["svt"]
    clot["GSVa"] |= svt

    reflux_p = th["reflux_measured"]
    whole = ~legs.site_protocol[idx]
    order = {
        "CFV": 60,
        "FV": 70,
        "POPV": 80,
        "TPT": 85,
        "PTV": 90,
        "PRV": 91,
        "ATV": 92,
        "GAV": 95,
        "SOV": 96,
        "GSVa": 20,
        "GSVb": 30,
        "SSV": 41,
    }
    for vein, o in order.items():
        has = clot[vein]
        take = (rng.random(n) < inc[vein]) | has
        occl = rng.random(n) < th["occlusive"]
        age = _choice(rng, th["age_weights"], n)
        length = np.clip(
            _round(np.exp(rng.normal(np.log(th["length_median_cm"]), th["length_sigma"], n)), 0.5),
            0.5,
            60.0,
        )
        distance = np.where(
            has & (vein == "GSVa"), _round(_uniform(rng, th["svt_distance_cm"], n), 0.5), np.nan
        )
        compress = np.where(has, np.where(occl, 2, 1), 0)
        sites: list[tuple[int, Bools, Ints | None]] = [(o, take, None)]
        if vein == "FV":
            sites = [(o, take & whole, None)] + [
                (o + 1 + k, take & ~whole, np.full(n, k, np.int64)) for k in range(3)
            ]
        for oo, tk, site in sites:
            segs.add(
                idx[tk],
                oo,
                vein,
                reflux_recorded=rng.random(int(tk.sum())) < reflux_p,
                site=None if site is None else site[tk],
                compressibility=compress[tk],
                thrombus=has[tk],
                t_age=np.where(has, age, -1)[tk],
                t_occlusive=np.where(has, occl.astype(np.int64), -1)[tk],
                t_length=np.where(has, length, np.nan)[tk],
                distance_cm=distance[tk],
            )


def _thresholds() -> dict[str, list[float]]:
    """Every duration cut-off a built-in criteria set applies to each vein (boundaries)."""
    out: dict[str, list[float]] = {}
    for code, v in VEINS.items():
        values = set()
        for cs in CRITERIA.values():
            rule = cs.duration_rule("perforator" if v.is_perforator else v.group)
            if rule is not None:
                values.add(rule.threshold_ms)
        out[code] = sorted(values)
    return out


def _perforator_diameters() -> list[float]:
    return sorted(
        {cs.perforator.diameter_mm for cs in CRITERIA.values() if cs.perforator.diameter_mm}
    )


def _segment_frame(
    rng: np.random.Generator, segs: _Segs, legs: _Legs, rows: Ints, model: dict[str, Any]
) -> pl.DataFrame:
    if not segs.cols:
        return pl.DataFrame(schema=SEGMENT_SCHEMA)
    a = segs.arrays()
    n = a["leg"].size
    kind = a["kind"]
    normal = model["normal_duration"]
    patho = model["reflux_duration"]
    names = ("superficial", "deep", "perforator")
    shape = np.asarray([normal[k]["shape"] for k in names])[kind]
    mean = np.asarray([normal[k]["mean_ms"] for k in names])[kind]
    normal_ms = np.minimum(rng.gamma(shape, mean / shape), normal["max_ms"])
    med = np.asarray([patho[k]["median_ms"] for k in names])[kind]
    sig = np.asarray([patho[k]["sigma"] for k in names])[kind]
    reflux_ms = np.minimum(np.exp(rng.normal(np.log(med), sig)), patho["max_ms"])
    ms = _round(np.where(a["refluxing"], reflux_ms, normal_ms), normal["resolution_ms"])
    # exact cut-offs of the built-in criteria sets, read from the criteria files
    boundary = rng.random(n) < model["boundaries"]["rate"]
    cut = _thresholds()
    for code_i, code in enumerate(_VEIN_CODES):
        sel = boundary & (a["vein"] == code_i)
        if sel.any() and cut[code]:
            ms[sel] = np.asarray(cut[code])[rng.integers(0, len(cut[code]), int(sel.sum()))]
    ms = np.where(a["recorded"], ms, np.nan)
    diameter = a["diameter_mm"]
    perf = kind == _KIND["perforator"]
    dia_cut = _perforator_diameters()
    sel = perf & (rng.random(n) < model["boundaries"]["rate"] * 5) & ~np.isnan(diameter)
    if dia_cut and sel.any():
        diameter = diameter.copy()
        diameter[sel] = np.asarray(dia_cut)[rng.integers(0, len(dia_cut), int(sel.sum()))]

    leg = a["leg"]
    order = np.lexsort((a["order"], leg))
    leg_sorted = leg[order]
    first = np.r_[True, leg_sorted[1:] != leg_sorted[:-1]]
    starts = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    seg_idx = np.empty(n, np.int64)
    seg_idx[order] = np.arange(n) - starts

    def nullable(x: npt.NDArray[Any]) -> pl.Series:
        return pl.Series(x).fill_nan(None)

    def coded(x: Ints, values: Sequence[str | bool]) -> pl.Series:
        mapping = {i: v for i, v in enumerate(values)}
        return pl.Series(x).replace_strict(mapping, default=None)

    label = pl.Series(a["label_cm"]).fill_nan(None)
    vein = coded(a["vein"], _VEIN_CODES)
    df = pl.DataFrame(
        {
            "row": rows[legs.exam[leg]],
            "side": coded(legs.side[leg], SIDES),
            "seg": seg_idx.astype(np.int32),
            "vein": vein,
            "site": coded(a["site"], SITES),
            "reflux_ms": nullable(ms),
            "diameter_mm": nullable(diameter),
            "compressibility": coded(a["compressibility"], _COMPRESS),
            "obstruction": coded(a["obstruction"], (False, True)),
            "thrombus": pl.Series(a["thrombus"]),
            "thrombus_age": coded(a["t_age"], _AGES),
            "thrombus_occlusive": coded(a["t_occlusive"], (False, True)),
            "thrombus_length_cm": nullable(a["t_length"]),
            "thrombus_distance_to_junction_cm": nullable(a["distance_cm"]),
            "beneath_ulcer": coded(a["beneath_ulcer"], (False, True)),
            "label_cm": label,
            "position_cm": nullable(a["position_cm"]),
        }
    )
    df = df.with_columns(
        pl.when(pl.col("label_cm").is_not_null())
        .then(
            pl.when(pl.col("vein") == "CPV")
            .then(
                pl.format(
                    "medial calf, {} cm above the malleolus", pl.col("label_cm").cast(pl.Int64)
                )
            )
            .otherwise(
                pl.format("medial thigh, {} cm above the knee", pl.col("label_cm").cast(pl.Int64))
            )
        )
        .alias("label")
    ).drop("label_cm")
    return df.sort("row", "side", "seg").select(
        [
            pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in SEGMENT_SCHEMA.items()
        ]
    )


def _list_column(flags: Bools, values: Sequence[str]) -> pl.Series:
    frame = pl.DataFrame({v: flags[:, i] for i, v in enumerate(values)})
    return frame.select(
        pl.concat_list([pl.when(pl.col(v)).then(pl.lit(v)) for v in values])
        .list.drop_nulls()
        .alias("x")
    ).get_column("x")


def _leg_frame(
    rng: np.random.Generator, legs: _Legs, rows: Ints, model: dict[str, Any]
) -> pl.DataFrame:
    n = legs.exam.size
    cl = model["clinical"]
    rec = model["recurrence"]
    recurrent = np.zeros((n, 2), bool)
    recurrent[:, 0] = _sign(legs, "varicose") & (rng.random(n) < rec["varicose"])
    recurrent[:, 1] = _sign(legs, "ulcer-active") & (rng.random(n) < rec["ulcer"])
    symptomatic = rng.random(n) < _by_group(cl["symptomatic"], legs.group)
    sym_missing = rng.random(n) < cl["symptoms_missing"]
    etiology = np.asarray(cl["etiology_values"], dtype=object)[
        _choice(rng, cl["etiology_weights"], n)
    ]
    etiology = _or_none(rng.random(n) >= cl["etiology_missing"], etiology)
    return pl.DataFrame(
        {
            "row": rows[legs.exam],
            "side": pl.Series(np.asarray(SIDES)[legs.side]),
            "signs": _list_column(legs.signs, SIGNS),
            "symptomatic": pl.Series(symptomatic).set(pl.Series(sym_missing), None),
            "recurrent": _list_column(recurrent, ("varicose", "ulcer")),
            "etiology": _strs(etiology),
        }
    ).select([pl.col(c).cast(t) for c, t in LEG_SCHEMA.items()])


def _imaging(
    rng: np.random.Generator, legs: _Legs, model: dict[str, Any]
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    im = model["imaging"]
    n = legs.exam.size
    xray = rng.random(n) < _by_group(im["xray"], legs.group)
    patient = legs.group >= 3
    calcified = rng.random(n) < np.where(patient, im["calcified_patient"], im["calcified_control"])
    pattern = np.asarray(im["patterns"], dtype=object)[_choice(rng, im["pattern_weights"], n)]
    pattern = np.where(patient, pattern, "punctate")  # controls: minimal (punctate) only
    calcification = _or_none(xray, np.where(calcified, pattern, "none"))
    undulating = (legs.group >= 4) & (rng.random(n) < im["undulating_periosteal_c4plus"])
    periosteal = _or_none(xray, np.where(undulating, "undulating", "none"))
    return calcification, periosteal


def _labs(
    rng: np.random.Generator, m: int, calcified_exam: Bools, model: dict[str, Any]
) -> dict[str, Any]:
    lb = model["labs"]
    has = rng.random(m) < np.where(
        calcified_exam, lb["with_calcification"], lb["without_calcification"]
    )
    metabolic = has & (rng.random(m) < lb["metabolic"])
    si = rng.random(m) < lb["si_units"]
    out: dict[str, Any] = {"has": has, "metabolic": metabolic}
    for analyte in ("calcium", "phosphate", "pth", "creatinine", "vitamin_d_25oh", "egfr"):
        rr = DEFAULT_RANGES.range_for(analyte)
        if analyte == "vitamin_d_25oh":
            low, high = lb["vitamin_d"]
        elif analyte == "egfr":
            low, high = lb["egfr_normal"]
        else:
            assert rr is not None and rr.low is not None and rr.high is not None
            low, high = rr.low, rr.high
        value = rng.uniform(low, high, m)
        key = f"metabolic_{analyte}"
        if key in lb:
            value = np.where(metabolic, _uniform(rng, lb[key], m), value)
        spec = LAB_UNITS[analyte]
        use_si = si & (spec.si is not None)
        factor = spec.si_per_conventional or 1.0
        decimals = 2 if analyte in ("calcium", "phosphate", "creatinine") else 1
        si_value = np.round(value * factor, 2 if analyte != "creatinine" else 0)
        value = np.where(use_si, si_value, np.round(value, decimals))
        unit = np.where(use_si, spec.si or spec.conventional, spec.conventional)
        out[analyte] = (np.where(has, value, np.nan), _or_none(has, unit))
    return out


def _scores(
    rng: np.random.Generator, ex: dict[str, Any], legs: _Legs, model: dict[str, Any]
) -> list[str | None]:
    """scores_json per exam: Wells (thrombosis), rVCSS (insufficiency legs), Villalta (follow-up)."""
    sc = model["scores"]
    m = ex["row"].size
    out: list[dict[str, Any]] = [{} for _ in range(m)]
    wells_p: dict[str, float] = sc["wells_items"]
    wells_items = tuple(wells_p)
    thromb = np.flatnonzero(
        (ex["purpose"] == PURPOSES.index("thrombosis")) & (rng.random(m) < sc["wells"])
    )
    draws = rng.random((thromb.size, len(wells_items))) < np.asarray(list(wells_p.values()))
    for i, e in enumerate(thromb):
        out[e]["wells_dvt"] = {k: bool(draws[i, j]) for j, k in enumerate(wells_items)}
    n = legs.exam.size
    vcss_legs = np.flatnonzero(
        (legs.purpose == PURPOSES.index("insufficiency")) & (rng.random(n) < sc["vcss"])
    )
    levels = rng.integers(1, 4, (n, 10))
    for li in vcss_legs:
        s = legs.signs[li]
        has = {name: bool(s[SIGNS.index(name)]) for name in SIGNS}
        ulcer = has["ulcer-active"]
        items = {
            "pain": int(rng.integers(0, 4)),
            "varicose_veins": int(levels[li, 0]) if has["varicose"] else 0,
            "edema": int(levels[li, 1]) if has["edema"] else 0,
            "pigmentation": int(levels[li, 2]) if has["pigmentation"] else 0,
            "inflammation": int(levels[li, 3]) if has["eczema"] else 0,
            "induration": int(levels[li, 4])
            if (has["lipodermatosclerosis"] or has["atrophie-blanche"])
            else 0,
            "active_ulcers": int(levels[li, 5]) if ulcer else 0,
            "ulcer_duration": int(levels[li, 6]) if ulcer else 0,
            "ulcer_size": int(levels[li, 7]) if ulcer else 0,
            "compression": int(rng.integers(0, 4)),
        }
        out[legs.exam[li]].setdefault("vcss", {})[SIDES[legs.side[li]]] = items
    vil_legs = np.flatnonzero(
        (legs.purpose == PURPOSES.index("follow-up")) & (rng.random(n) < sc["villalta"])
    )
    vil_items = (
        "pain",
        "cramps",
        "heaviness",
        "paresthesia",
        "pruritus",
        "pretibial_edema",
        "skin_induration",
        "hyperpigmentation",
        "redness",
        "venous_ectasia",
        "calf_compression_pain",
    )
    for li in vil_legs:
        vil: dict[str, Any] = {
            k: int(v) for k, v in zip(vil_items, rng.integers(0, 3, len(vil_items)), strict=True)
        }
        vil["ulcer"] = bool(legs.signs[li, SIGNS.index("ulcer-active")])
        out[legs.exam[li]].setdefault("villalta", {})[SIDES[legs.side[li]]] = vil
    return [json.dumps(o, separators=(",", ":")) if o else None for o in out]


def _chunk(seed: int, index: int, start: int, m: int, model: dict[str, Any]) -> CohortTables:
    rng = np.random.default_rng([seed, index])
    ex = _exams(rng, m, start, seed, model)
    legs = _legs(rng, ex, model)
    cl = model["clinical"]
    # etiology decided before the protocols: secondary-intravenous legs may show obstruction
    n = legs.exam.size
    legs.secondary = rng.random(n) < cl["etiology_weights"][1] / sum(cl["etiology_weights"])
    segs = _Segs()
    thrombosis = legs.purpose == PURPOSES.index("thrombosis")
    _insufficiency(rng, legs, np.flatnonzero(~thrombosis), model, segs)
    _thrombosis(rng, legs, np.flatnonzero(thrombosis), model, segs)
    rows = ex["row"]
    seg_df = _segment_frame(rng, segs, legs, rows, model)
    leg_df = _leg_frame(rng, legs, rows, model)
    # secondary-intravenous legs say so when etiology is recorded
    leg_df = leg_df.with_columns(
        pl.when(pl.Series(legs.secondary) & pl.col("etiology").is_not_null())
        .then(pl.lit("secondary-intravenous"))
        .otherwise(pl.col("etiology"))
        .alias("etiology")
    )
    calcification, periosteal = _imaging(rng, legs, model)
    calcified_exam = np.zeros(m, bool)
    np.logical_or.at(
        calcified_exam, legs.exam, np.asarray([c not in (None, "none") for c in calcification])
    )
    labs = _labs(rng, m, calcified_exam, model)
    lb = model["labs"]
    exam_cols: dict[str, Any] = {
        "row": rows,
        "patient_id": ex["patient_id"],
        "patient_sex": ex["sex"],
        "patient_birth_date": pl.Series(np.where(ex["use_birth"], ex["birth_day"], 0))
        .cast(pl.Date)
        .set(pl.Series(~ex["use_birth"]), None),
        "patient_age_years": pl.Series(ex["age"]).set(pl.Series(ex["use_birth"]), None),
        "patient_bmi": pl.Series(ex["bmi"]).fill_nan(None),
        "exam_date": pl.Series(ex["exam_day"]).cast(pl.Date),
        "exam_purpose": np.asarray(PURPOSES)[ex["purpose"]],
        "exam_position": ex["position"],
        "exam_provocation": pl.Series(
            [[], ["distal-compression"], ["distal-compression", "valsalva"], ["cuff"]]
        ).gather(ex["provocation"] + 1),
        "exam_indication": np.asarray(
            [
                "varicose veins or chronic venous symptoms",
                "suspected deep vein thrombosis",
                "follow-up after treatment",
            ]
        )[ex["purpose"]],
    }
    for analyte in ("calcium", "phosphate", "pth", "creatinine", "vitamin_d_25oh", "egfr"):
        value, unit = labs[analyte]
        exam_cols[f"labs_{analyte}_value"] = pl.Series(value).fill_nan(None)
        exam_cols[f"labs_{analyte}_unit"] = _strs(unit)
    has, metabolic = labs["has"], labs["metabolic"]
    exam_cols["labs_dialysis"] = pl.Series(np.where(has, metabolic, False)).set(
        pl.Series(~has), None
    )

    def flag(p: float | Floats, where: Bools) -> pl.Series:
        return pl.Series(rng.random(m) < p).set(pl.Series(~where), None)

    exam_cols["history_tissue_injury_at_site"] = flag(lb["tissue_injury"], has)
    exam_cols["history_calcium_or_phosphate_infusion_at_site"] = flag(lb["infusion"], has)
    exam_cols["history_connective_tissue_disease"] = flag(lb["connective_tissue_disease"], has)
    exam_cols["history_malignancy"] = flag(lb["malignancy"], has)
    exam_cols["history_retiform_purpura_or_necrosis"] = flag(
        np.where(metabolic, lb["retiform_purpura_if_metabolic"], 0.0), has
    )
    t_exam = ex["purpose"] == PURPOSES.index("thrombosis")
    th = model["thrombosis"]
    for name, p in th["history"].items():
        exam_cols[f"history_{name}"] = flag(p, t_exam & (rng.random(m) < th["history_recorded"]))
    for s, side in enumerate(SIDES):
        sel = legs.side == s
        cal = np.full(m, None, dtype=object)
        per = np.full(m, None, dtype=object)
        cal[legs.exam[sel]] = calcification[sel]
        per[legs.exam[sel]] = periosteal[sel]
        exam_cols[f"imaging_{side}_calcification"] = _strs(cal)
        exam_cols[f"imaging_{side}_periosteal_reaction"] = _strs(per)
    exam_cols["scores_json"] = pl.Series(_scores(rng, ex, legs, model), dtype=pl.String)
    exams = pl.DataFrame(exam_cols).select(
        [
            pl.col(c).cast(t) if c in exam_cols else pl.lit(None, dtype=t).alias(c)
            for c, t in EXAM_SCHEMA.items()
        ]
    )
    return CohortTables(exams, leg_df, seg_df)


# ---------------------------------------------------------------------------------------
# Deliberately malformed rows (robustness tests)

MALFORMATIONS = (
    "unknown-vein",
    "negative-reflux",
    "unknown-sign",
    "implausible-calcium",
    "two-ages",
    "zero-diameter",
    "unknown-site",
    "beneath-ulcer-on-trunk",
)


def _malform_plan(n: int, k: int, seed: int) -> dict[int, str]:
    """Row -> kind of malformation for `k` rows of an `n`-exam cohort (drawn once, up front,
    so that a cohort written chunk by chunk is broken in the same rows as a whole one)."""
    rng = np.random.default_rng([seed, 999_983])
    picked = rng.choice(n, size=min(k, n), replace=False)
    return {int(r): MALFORMATIONS[i % len(MALFORMATIONS)] for i, r in enumerate(sorted(picked))}


def _malform(
    tables: CohortTables, plan: dict[int, str]
) -> tuple[CohortTables, list[dict[str, Any]]]:
    """Break the rows of `plan` that are in `tables` (one chunk or a whole cohort)."""
    exams, legs, segs = tables.exams, tables.legs, tables.segments
    present = set(exams.get_column("row").to_list())
    log: list[dict[str, Any]] = []
    for row, planned in sorted(plan.items()):
        if row not in present:
            continue
        kind = planned
        at_row = pl.col("row") == row
        first_seg = (
            at_row & (pl.col("seg") == 0) & (pl.col("side") == segs.filter(at_row)["side"].first())
        )
        if (
            kind
            in (
                "unknown-vein",
                "negative-reflux",
                "zero-diameter",
                "unknown-site",
                "beneath-ulcer-on-trunk",
            )
            and segs.filter(at_row).is_empty()
        ):
            kind = "unknown-sign"
        if kind == "unknown-vein":
            segs = segs.with_columns(
                pl.when(first_seg).then(pl.lit("GSV")).otherwise(pl.col("vein")).alias("vein")
            )
        elif kind == "negative-reflux":
            segs = segs.with_columns(
                pl.when(first_seg)
                .then(pl.lit(-50.0))
                .otherwise(pl.col("reflux_ms"))
                .alias("reflux_ms")
            )
        elif kind == "zero-diameter":
            segs = segs.with_columns(
                pl.when(first_seg)
                .then(pl.lit(0.0))
                .otherwise(pl.col("diameter_mm"))
                .alias("diameter_mm")
            )
        elif kind == "unknown-site":
            segs = segs.with_columns(
                pl.when(first_seg).then(pl.lit("upper")).otherwise(pl.col("site")).alias("site")
            )
        elif kind == "beneath-ulcer-on-trunk":
            segs = segs.with_columns(
                pl.when(first_seg).then(pl.lit("GSVa")).otherwise(pl.col("vein")).alias("vein"),
                pl.when(first_seg)
                .then(pl.lit(True))
                .otherwise(pl.col("beneath_ulcer"))
                .alias("beneath_ulcer"),
            )
        elif kind == "unknown-sign":
            legs = legs.with_columns(
                pl.when(at_row)
                .then(pl.col("signs").list.concat(pl.lit(["varicosities"])))
                .otherwise(pl.col("signs"))
                .alias("signs")
            )
        elif kind == "implausible-calcium":
            exams = exams.with_columns(
                pl.when(at_row)
                .then(pl.lit(90.0))
                .otherwise(pl.col("labs_calcium_value"))
                .alias("labs_calcium_value"),
                pl.when(at_row)
                .then(pl.lit("mg/dL"))
                .otherwise(pl.col("labs_calcium_unit"))
                .alias("labs_calcium_unit"),
            )
        elif kind == "two-ages":
            exams = exams.with_columns(
                pl.when(at_row)
                .then(pl.lit(dt.date(1950, 1, 1)))
                .otherwise(pl.col("patient_birth_date"))
                .alias("patient_birth_date"),
                pl.when(at_row)
                .then(pl.lit(70))
                .otherwise(pl.col("patient_age_years"))
                .alias("patient_age_years"),
            )
        log.append({"row": row, "kind": kind})
    return CohortTables(exams, legs, segs), log


# ---------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Synthetic:
    tables: CohortTables
    malformed: list[dict[str, Any]]


def iter_synthetic(
    n: int,
    seed: int,
    *,
    model: dict[str, Any] | None = None,
    malformed: int = 0,
    boundary_rate: float | None = None,
) -> Iterator[Synthetic]:
    """The cohort of `synthesize`, one chunk of at most `CHUNK` exams at a time (rows in
    order; at least one, possibly empty, chunk). Memory is that of one chunk."""
    if n < 0:
        raise InvalidInput([Problem("n", f"must be >= 0, got {n}")], what="option")
    model = model or load_model()
    if boundary_rate is not None:
        model = {**model, "boundaries": {**model["boundaries"], "rate": boundary_rate}}
    plan = _malform_plan(n, malformed, seed) if malformed else {}
    for index, start in enumerate(range(0, max(n, 1), CHUNK)):
        tables = _chunk(seed, index, start, min(CHUNK, n - start), model)
        log: list[dict[str, Any]] = []
        if plan:
            tables, log = _malform(tables, plan)
        yield Synthetic(tables, log)


def synthesize(
    n: int,
    seed: int,
    *,
    model: dict[str, Any] | None = None,
    malformed: int = 0,
    boundary_rate: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Synthetic:
    """A synthetic cohort of `n` exams (rows 0..n-1) in memory, deterministic for (n, seed,
    model). For large cohorts use `write_synthetic`, which streams chunks to files."""
    parts: list[CohortTables] = []
    log: list[dict[str, Any]] = []
    for chunk in iter_synthetic(
        n, seed, model=model, malformed=malformed, boundary_rate=boundary_rate
    ):
        parts.append(chunk.tables)
        log += chunk.malformed
        if progress:
            progress(len(chunk.tables))
    tables = CohortTables(
        exams=pl.concat([p.exams for p in parts]),
        legs=pl.concat([p.legs for p in parts]),
        segments=pl.concat([p.segments for p in parts]),
    )
    return Synthetic(tables, log)


def write_synthetic(
    n: int,
    seed: int,
    out: Path,
    *,
    jsonl: bool = True,
    parquet: bool = True,
    malformed: int = 0,
    on_generated: Callable[[int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Generate and write a cohort folder: exams.jsonl and/or the Parquet tables, cohort.json.

    Streamed: each chunk is generated, appended to the files and dropped, so memory stays
    that of one chunk whatever `n` is; the files equal those of the whole `synthesize`
    cohort. Every file is written under a temporary name and renamed when complete.
    """
    from venalab.cohort.table import COHORT_FORMAT, CohortWriter, tables_to_documents

    model = load_model()
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    legs = segments = 0
    log: list[dict[str, Any]] = []
    tmp = out / ".exams.jsonl.tmp"
    with contextlib.ExitStack() as stack:
        # a failed run leaves no temporary JSONL behind (the writer cleans up its own)
        stack.callback(lambda: tmp.unlink(missing_ok=True))
        writer = stack.enter_context(CohortWriter(out)) if parquet else None
        fh = stack.enter_context(open(tmp, "w", encoding="utf-8")) if jsonl else None
        for chunk in iter_synthetic(n, seed, model=model, malformed=malformed):
            tables = chunk.tables
            legs += tables.legs.height
            segments += tables.segments.height
            log += chunk.malformed
            if on_generated:
                on_generated(len(tables))
            if writer is not None:
                writer.write(tables)
            if fh is not None:
                fh.writelines(
                    json.dumps(doc, separators=(",", ":")) + "\n"
                    for _, doc in tables_to_documents(tables)
                )
                if on_written:
                    on_written(len(tables))
        if writer is not None:
            writer.close()
            files += ["exams.parquet", "legs.parquet", "segments.parquet"]
        if fh is not None:
            fh.close()
            tmp.replace(out / "exams.jsonl")
            files.append("exams.jsonl")
    info: dict[str, Any] = {
        "format": COHORT_FORMAT,
        "generator": "venalab synth",
        "model": {"schema": model["schema"], "version": model["version"]},
        "n": n,
        "seed": seed,
        "legs": legs,
        "segments": segments,
        "malformed": log,
        "files": files,
        "note": "Synthetic data for testing and benchmarking; not epidemiology (docs/cohorts.md).",
    }
    tmp_info = out / ".cohort.json.tmp"
    tmp_info.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp_info.replace(out / "cohort.json")
    return info
