"""The vectorized engine: assessment of whole cohort tables at once (Polars).

This is the one allowed second implementation of the rules (shared/design.md). It computes
the subset of the per-exam result (`venalab.engine.assess`) that can be compared exactly,
from the same data: criteria sets (venalab.criteria: thresholds, comparisons, the
perforator definition, the accessory-axial distance), the vein registry
(venalab.anatomy.VEINS: groups, systems, DVT levels), the CEAP sign table
(venalab.rules.ceap.SIGN_CLASS, C_ORDER, RECURRENCE), the trunk layout of venalab.anatomy
(TRUNKS) and the thrombosis precedence of venalab.rules.thrombosis.
No threshold is typed here. `tests/test_cohort_differential.py` holds it equal to the
per-exam engine, column by column and row by row.

Outputs (table.LEG_RESULT_SCHEMA, table.SEGMENT_RESULT_SCHEMA):
- per segment entry: `reflux` (present / absent / boundary / not-assessed), `abnormal`,
  `threshold_ms`, `comparison`, `measured_ms`; for perforators `perforator_incompetent`
  and `perforator_pathologic` (rules.reflux: SVS22 1.1.c, SVS11 2.5, LAB03);
- per leg: `c_classes` and `c_highest` (rules.ceap.clinical_classes, CEAP20), the reflux
  pattern of each trunk `pattern_<trunk>` (rules.patterns: SVS22 1.1.b, SVS23 1.3.2) and
  the `thrombosis` classification (rules.thrombosis: UTT16, PAL12, SCH10).

The tables are validated first by validate.py (the exam model's constraints); rows that fail
are reported and skipped, the others are assessed here (`assess_cohort` does both).
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import numpy.ma  # Polars imports it on its first NumPy conversion: pay that at import
import polars as pl

from venalab.anatomy import SITE_ORDER, TRUNKS, VEINS
from venalab.cohort.table import (
    LEG_RESULT_SCHEMA,
    SEGMENT_RESULT_SCHEMA,
    SIDE_ENUM,
    SITE_ENUM,
    VEIN_ENUM,
    VERDICT_ENUM,
    CohortTables,
)
from venalab.cohort.validate import VEIN_CODES, leg_key, validate
from venalab.criteria import Comparison, CriteriaSet
from venalab.exam import (
    SIDES,
    Patient,
)
from venalab.result import EngineOptions
from venalab.rules.ceap import C_ORDER, RECURRENCE, SIGN_CLASS
from venalab.rules.thrombosis import PRECEDENCE, dvt_level

# The comparison operators a criteria set may name, as Polars operations. Every member of
# the Comparison literal must be here (checked at import), so a new one cannot be ignored.
_OPS: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {">": operator.gt, ">=": operator.ge}
if set(_OPS) != set(get_args(Comparison)):
    raise RuntimeError("vectorized._OPS must cover every criteria Comparison")


def _compare(measured: pl.Expr, comparison: pl.Expr, threshold: pl.Expr) -> pl.Expr:
    """`measured <comparison> threshold` row by row; null when any side is null."""
    expr: Any = pl
    for symbol, op in _OPS.items():
        expr = expr.when(comparison == symbol).then(op(measured, threshold))
    return typing.cast(pl.Expr, expr.otherwise(None))


def _compare_lit(measured: pl.Expr, comparison: str, threshold: float) -> pl.Expr:
    return _OPS[comparison](measured, pl.lit(threshold, dtype=pl.Float64))


# ---------------------------------------------------------------------------------------
# Assessment


def _by_vein(fn: Callable[[str], Any], dtype: pl.DataType) -> pl.Series:
    """A lookup Series indexed by the physical code of VEIN_ENUM."""
    return pl.Series([fn(code) for code in VEIN_CODES], dtype=dtype)


def _at_vein(lookup: pl.Series) -> pl.Expr:
    """The lookup value of each row's vein (`_v` = the vein's physical code)."""
    return pl.lit(lookup).gather(pl.col("_v"))


def _duration_rule(cs: CriteriaSet, code: str) -> Any:
    v = VEINS[code]
    return cs.duration_rule("perforator" if v.is_perforator else v.group)


# Trunk layout (anatomy.TRUNKS, data/anatomy.toml [trunks], as rules.patterns reads it):
# linear trunks have points along their axis (TrunkLayout.points), accessory trunks are
# judged by position_cm. Bit layout: linear trunk i owns bits 8*i .. 8*i+7 of an Int64 mask
# (bit 8*i + p = point p); the bit after them flags "some deep-system vein refluxes".
_LINEAR = {t: lay for t, lay in TRUNKS.items() if lay.kind == "linear"}
_ACCESSORY = tuple(t for t, lay in TRUNKS.items() if lay.kind == "accessory")
_LINEAR_BITS = 8
if any(lay.n_points > _LINEAR_BITS for lay in _LINEAR.values()):
    raise RuntimeError("a linear trunk has more points than its 8 bits of the mask")
_LINEAR_OFFSET = {t: i * _LINEAR_BITS for i, t in enumerate(_LINEAR)}
_DEEP_ANY_BIT = 1 << (len(_LINEAR) * _LINEAR_BITS)  # "some deep-system vein refluxes"
_SITES: tuple[str, ...] = SITE_ORDER
if list(_SITES) != list(SITE_ENUM.categories):
    raise RuntimeError("anatomy.SITE_ORDER must follow the order of the SITE_ENUM categories")


def _points(code: str, site: str | None) -> int:
    """Bit mask of the points an entry covers on its linear trunk (TrunkLayout.points)."""
    trunk = VEINS[code].trunk
    if trunk not in _LINEAR:
        return 0
    return sum(1 << (p + _LINEAR_OFFSET[trunk]) for p in _LINEAR[trunk].points(code, site))


def _mask_lookup() -> pl.Series:
    """Point mask (+ the deep-any bit) indexed by vein code * 4 + site code (3 = no site)."""
    values = []
    for code in VEIN_CODES:
        deep_bit = _DEEP_ANY_BIT if VEINS[code].trunk == "deep" else 0
        for site in (*_SITES, None):
            values.append(_points(code, site) | deep_bit)
    return pl.Series(values, dtype=pl.Int64)


_MASKS = _mask_lookup()


def _list_bits(legs: pl.DataFrame, column: str, bits: dict[str, int]) -> np.ndarray[Any, Any]:
    """Per leg (in table order), the OR of the bits of the values in a list column."""
    exploded = legs.select(pl.int_range(pl.len()).alias("_i"), pl.col(column)).explode(column)
    values = exploded.select(
        pl.col(column).replace_strict(bits, default=0, return_dtype=pl.Int64).fill_null(0)
    )
    keys, ors = _segmented_or(exploded.get_column("_i").to_numpy(), values.to_series().to_numpy())
    out = np.zeros(legs.height, dtype=np.int64)
    out[keys] = ors  # legs with an empty or null list keep 0
    return out


def _leg_classes(legs: pl.DataFrame, cs: CriteriaSet) -> pl.DataFrame:
    """_leg, c_classes, c_highest, ulcer_limb (rules.ceap.clinical_classes); legs sorted."""
    bit = {c: 1 << i for i, c in enumerate(C_ORDER)}
    classes = _list_bits(legs, "signs", {s: bit[c] for s, c in SIGN_CLASS.items()})
    flags = {value: 1 << i for i, value in enumerate(RECURRENCE)}
    recurrent = _list_bits(legs, "recurrent", flags)
    # clinical_classes: a recurrence turns its plain class into the recurrent one (C2 -> C2r,
    # C6 -> C6r, ceap.RECURRENCE); no class from the signs is C0.
    for value, (plain, recurring) in RECURRENCE.items():
        hit = ((classes & bit[plain]) != 0) & ((recurrent & flags[value]) != 0)
        classes = np.where(hit, (classes & ~bit[plain]) | bit[recurring], classes)
    classes = np.where(classes == 0, bit["C0"], classes)
    masks = pl.DataFrame({"_leg": legs.get_column("_leg"), "_cmask": classes})
    # rules.reflux.assess_perforator: the location criterion applies in an ulcer limb
    lookup_rows = []
    for m in np.unique(classes).tolist():
        names = [c for c in C_ORDER if m & bit[c]]
        lookup_rows.append(
            {
                "_cmask": m,
                "c_classes": names,
                "c_highest": names[-1],
                "ulcer_limb": cs.ulcer_limb(names),
            }
        )
    lookup = pl.DataFrame(
        lookup_rows,
        schema={
            "_cmask": pl.Int64,
            "c_classes": pl.List(pl.String),
            "c_highest": pl.String,
            "ulcer_limb": pl.Boolean,
        },
        orient="row",
    )
    return masks.join(lookup, on="_cmask", how="left", maintain_order="left").drop("_cmask")


def _segment_verdicts(segs: pl.DataFrame, cs: CriteriaSet) -> pl.DataFrame:
    """Per entry: threshold, comparison, abnormal and the reflux verdict (rules.reflux)."""
    thr = _by_vein(lambda c: r.threshold_ms if (r := _duration_rule(cs, c)) else None, pl.Float64())
    cmp = _by_vein(lambda c: r.comparison if (r := _duration_rule(cs, c)) else None, pl.String())
    out = segs.select(
        "_leg",
        "_v",
        "_s",
        "row",
        "side",
        "seg",
        pl.lit(pl.Series(VEIN_CODES, dtype=VEIN_ENUM)).gather(pl.col("_v")).alias("vein"),
        pl.lit(pl.Series(SITE_ENUM.categories, dtype=SITE_ENUM)).gather(pl.col("_s")).alias("site"),
        "diameter_mm",
        "beneath_ulcer",
        "position_cm",
        pl.col("reflux_ms").alias("measured_ms"),
        _at_vein(thr).alias("threshold_ms"),
        _at_vein(cmp).alias("comparison"),
    )
    m, t = pl.col("measured_ms"), pl.col("threshold_ms")
    out = out.with_columns(_compare(m, pl.col("comparison"), t).alias("abnormal"))
    verdict = (
        pl.when(m.is_null() | t.is_null())
        .then(pl.lit("not-assessed"))
        .when(m == t)
        .then(pl.lit("boundary"))
        .when(pl.col("abnormal"))
        .then(pl.lit("present"))
        .otherwise(pl.lit("absent"))
    )
    return out.with_columns(verdict.cast(VERDICT_ENUM).alias("reflux"))


def _perforators(verdicts: pl.DataFrame, classes: pl.DataFrame, cs: CriteriaSet) -> pl.DataFrame:
    """incompetent / pathologic of the perforator entries, in table order
    (rules.reflux.assess_perforator)."""
    p = cs.perforator
    perf = verdicts.select("_leg", "_v", "measured_ms", "diameter_mm", "beneath_ulcer").filter(
        _at_vein(_by_vein(lambda c: VEINS[c].is_perforator, pl.Boolean()))
    )
    perf = perf.join(
        classes.select("_leg", "ulcer_limb"), on="_leg", how="left", maintain_order="left"
    )
    duration = _compare_lit(pl.col("measured_ms"), p.duration_comparison, p.duration_ms)
    # rules.reflux.perforator_incompetent: the set's perforator reflux rule
    reflux = _compare_lit(
        pl.col("measured_ms"), p.reflux_comparison or p.duration_comparison, p.duration_ms
    )
    met = [duration]
    if p.diameter_mm is not None and p.diameter_comparison is not None:
        met.append(_compare_lit(pl.col("diameter_mm"), p.diameter_comparison, p.diameter_mm))
    # the location criterion applies only in ulcer limbs; elsewhere it is not a criterion
    met.append(pl.when(pl.col("ulcer_limb")).then(pl.col("beneath_ulcer")).otherwise(True))
    pathologic = pl.all_horizontal([x.fill_null(False) for x in met])
    return perf.select(
        reflux.alias("perforator_incompetent"), pathologic.alias("perforator_pathologic")
    )


def _linear_patterns(a: pl.Expr, n: pl.Expr) -> dict[str, pl.Expr]:
    """Pattern of each linear trunk from the leg's abnormal (a) and competent (n) masks."""
    out: dict[str, pl.Expr] = {}
    for trunk, layout in _LINEAR.items():
        assert layout.span is not None  # checked when anatomy.toml loads
        start, through, end = layout.span.start, layout.span.through, layout.span.end
        off = _LINEAR_OFFSET[trunk]
        full = (1 << _LINEAR_BITS) - 1
        ab = (a // (1 << off)) & full
        nm = ((n // (1 << off)) & full) & ~ab
        start_m = sum(1 << p for p in start)
        through_m = sum(1 << p for p in through)
        reaches = ((ab & start_m) != 0) & ((ab & through_m) != 0) & ((ab & (1 << end)) != 0)
        lowest: Any = pl
        for p in sorted(start):
            lowest = lowest.when((ab & (1 << p)) != 0).then(
                sum(1 << q for q in range(p + 1, end))  # points strictly between p and end
            )
        between = typing.cast(pl.Expr, lowest.otherwise(0))
        axial_or_interrupted = (
            pl.when((nm & between) == 0).then(pl.lit("axial")).otherwise(pl.lit("segmental"))
        )
        if trunk == "deep":
            none = pl.when((a & _DEEP_ANY_BIT) != 0).then(pl.lit("segmental")).otherwise(None)
        else:
            none = pl.lit(None, dtype=pl.String)
        expr: Any = pl.when(ab == 0).then(none)
        if layout.junction:
            expr = expr.when(ab == 1).then(pl.lit("junctional"))
        out[trunk] = expr.when(reaches).then(axial_or_interrupted).otherwise(pl.lit("segmental"))
    return out


def _accessory_patterns(verdicts: pl.DataFrame, cs: CriteriaSet) -> pl.DataFrame:
    """_leg, trunk, pattern for the accessory trunks (rules.patterns._accessory_pattern)."""
    min_cm = cs.patterns.accessory_axial_min_cm
    acc = (
        verdicts.select("_leg", "vein", "abnormal", "position_cm")
        .filter(pl.col("vein").is_in(list(_ACCESSORY)) & pl.col("abnormal").is_not_null())
        .rename({"vein": "trunk"})
    )
    located = pl.col("position_cm").filter(pl.col("abnormal") & pl.col("position_cm").is_not_null())
    spans = acc.group_by("_leg", "trunk").agg(
        pl.col("abnormal").any().alias("any_abnormal"),
        located.count().alias("n_located"),
        located.min().alias("lo"),
        located.max().alias("hi"),
    )
    competent = acc.filter(~pl.col("abnormal") & pl.col("position_cm").is_not_null()).join(
        spans.filter(pl.col("n_located") >= 2), on=["_leg", "trunk"], how="inner"
    )
    between = (
        competent.filter(
            (pl.col("position_cm") > pl.col("lo")) & (pl.col("position_cm") < pl.col("hi"))
        )
        .select("_leg", "trunk")
        .unique()
        .with_columns(pl.lit(True).alias("competent_between"))
    )
    spans = spans.join(between, on=["_leg", "trunk"], how="left")
    pattern = (
        pl.when(~pl.col("any_abnormal"))
        .then(None)
        .when(
            (pl.col("n_located") >= 2)
            & ((pl.col("hi") - pl.col("lo")) >= min_cm)
            & ~pl.col("competent_between").fill_null(False)
        )
        .then(pl.lit("axial"))
        .otherwise(pl.lit("segmental"))
    )
    return spans.select("_leg", "trunk", pattern.alias("pattern"))


def _segmented_or(keys: np.ndarray[Any, Any], values: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """Bitwise OR of `values` per run of equal `keys` (keys sorted): (run keys, ORs)."""
    if keys.size == 0:
        return keys, values
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.bitwise_or.reduceat(values, starts)


def _patterns(verdicts: pl.DataFrame, cs: CriteriaSet) -> pl.DataFrame:
    """_leg and pattern_<trunk> for every leg with some pattern."""
    # _s is the site's position in the Site literal (= anatomy.SITE_ORDER, checked above)
    site_code = pl.col("_s").cast(pl.Int64).fill_null(len(_SITES))
    lin = verdicts.select("_leg", "_v", "_s", "abnormal").filter(pl.col("abnormal").is_not_null())
    lin = lin.select(
        "_leg",
        "abnormal",
        pl.lit(_MASKS)
        .gather(pl.col("_v").cast(pl.Int64) * (len(_SITES) + 1) + site_code)
        .alias("_m"),
    )
    lin = lin.filter(pl.col("_m") != 0)
    keys = lin.get_column("_leg").to_numpy()
    masks = lin.get_column("_m").to_numpy()
    abnormal = lin.get_column("abnormal").to_numpy()
    # rows are sorted by leg (validate() sorts the segments), so runs are legs
    legs_a, a = _segmented_or(keys, np.where(abnormal, masks, 0))
    _, n = _segmented_or(keys, np.where(abnormal, 0, masks))
    legs = pl.DataFrame(
        {"_leg": legs_a, "_a": a, "_n": n},
        schema={"_leg": pl.Int64, "_a": pl.Int64, "_n": pl.Int64},
    )
    exprs = _linear_patterns(pl.col("_a"), pl.col("_n"))
    legs = legs.select("_leg", *[e.alias(f"pattern_{t}") for t, e in exprs.items()])
    acc = _accessory_patterns(verdicts, cs)
    for trunk in _ACCESSORY:
        part = acc.filter(pl.col("trunk") == trunk).select(
            "_leg", pl.col("pattern").alias(f"pattern_{trunk}")
        )
        legs = legs.join(part, on="_leg", how="full", coalesce=True)
    return legs


def _thrombosis(segs: pl.DataFrame, options: EngineOptions) -> pl.DataFrame:
    """_leg, thrombosis (rules.thrombosis.classify_thrombosis), legs with a deep thrombus."""
    # rules.thrombosis: the first level of PRECEDENCE present; TPT per the engine option.
    ranked = list(PRECEDENCE)
    level = {code: dvt_level(code, options.tibioperoneal_trunk) for code in VEIN_CODES}
    rank = _by_vein(lambda c: ranked.index(lv) if (lv := level[c]) else None, pl.Int32())
    clots = segs.filter(pl.col("thrombus").fill_null(False)).select(
        "_leg", _at_vein(rank).alias("_r")
    )
    best = clots.drop_nulls("_r").group_by("_leg").agg(pl.col("_r").min())
    names = pl.Series(ranked, dtype=pl.String)
    return best.select("_leg", pl.lit(names).gather(pl.col("_r")).alias("thrombosis"))


def assess_tables(
    tables: CohortTables, criteria: CriteriaSet, options: EngineOptions | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Leg and segment results of validated tables (see `validate`), sorted by key."""
    options = options or EngineOptions()
    exams = tables.exams
    legs = tables.legs
    if "_leg" not in legs.columns:
        legs = legs.with_columns(leg_key().alias("_leg"))
    segs = tables.segments
    if "_v" not in segs.columns:
        segs = segs.with_columns(
            leg_key().alias("_leg"),
            pl.col("vein").cast(VEIN_ENUM).to_physical().alias("_v"),
            pl.col("site").cast(SITE_ENUM).to_physical().alias("_s"),
        )
    if not segs.select(pl.col("_leg").is_sorted()).item():
        segs = segs.sort("_leg", "seg")
    # A leg that has segment entries but no legs row is a leg with an empty `clinical`.
    seg_legs = segs.get_column("_leg").to_numpy()
    starts = (
        np.flatnonzero(np.r_[True, seg_legs[1:] != seg_legs[:-1]]) if seg_legs.size else seg_legs
    )
    known = np.sort(legs.get_column("_leg").to_numpy())
    where = np.searchsorted(known, seg_legs[starts])
    missing = (
        starts[
            (where >= known.size) | (known[np.minimum(where, known.size - 1)] != seg_legs[starts])
        ]
        if known.size
        else starts
    )
    if missing.size:
        implied = segs[missing].select("_leg", "row", "side")
        legs = pl.concat([legs, implied], how="diagonal_relaxed")
    if not legs.select(pl.col("_leg").is_sorted()).item():
        legs = legs.sort("_leg")

    verdicts = _segment_verdicts(segs, criteria)
    classes = _leg_classes(legs, criteria)
    perf = _perforators(verdicts, classes, criteria)
    pattern_cols = _patterns(verdicts, criteria)
    thrombosis = _thrombosis(segs, options)

    is_perf = verdicts.select(
        _at_vein(_by_vein(lambda c: VEINS[c].is_perforator, pl.Boolean()))
    ).to_series()
    positions = is_perf.arg_true()
    perf_cols = [
        pl.repeat(None, verdicts.height, dtype=pl.Boolean, eager=True)
        .alias(name)
        .scatter(positions, perf.get_column(name))
        for name in ("perforator_incompetent", "perforator_pathologic")
    ]
    # the side from the leg key (row * 2 + side code): no string work on every row
    side = pl.lit(pl.Series(SIDES, dtype=SIDE_ENUM)).gather(pl.col("_leg") % 2).alias("side")
    seg_out = verdicts.with_columns(*perf_cols, side).select(
        [pl.col(c).cast(t) for c, t in SEGMENT_RESULT_SCHEMA.items()]
    )

    first, second = SIDES
    calcification = (
        pl.when(pl.col("_leg") % 2 == 0)
        .then(pl.col(f"imaging_{first}_calcification"))
        .otherwise(pl.col(f"imaging_{second}_calcification"))
    )
    ex = exams.select(
        "row",
        "patient_id",
        "exam_date",
        pl.col("exam_purpose").alias("purpose"),
        pl.col("patient_sex").fill_null(Patient.model_fields["sex"].default).alias("sex"),
        pl.col("patient_age_years").alias("age_years"),
        f"imaging_{first}_calcification",
        f"imaging_{second}_calcification",
    )
    # classes is aligned with legs (same rows, same order); patterns and thromboses are not
    leg_out = (
        pl.concat(
            [
                legs.select("_leg", "row", "symptomatic", "etiology"),
                classes.drop("_leg", "ulcer_limb"),
            ],
            how="horizontal",
        )
        .join(ex, on="row", how="left", maintain_order="left")
        .with_columns(calcification.alias("calcification"), side)
        .join(pattern_cols, on="_leg", how="left", maintain_order="left")
        .join(thrombosis, on="_leg", how="left", maintain_order="left")
        .with_columns(pl.col("thrombosis").fill_null("none"))
        .select([pl.col(c).cast(t) for c, t in LEG_RESULT_SCHEMA.items()])
    )
    return leg_out, seg_out


@dataclass(frozen=True)
class PartitionResult:
    legs: pl.DataFrame
    segments: pl.DataFrame
    errors: pl.DataFrame
    exams_in: int
    exams_ok: int


def assess_cohort(
    tables: CohortTables, criteria: CriteriaSet, options: EngineOptions | None = None
) -> PartitionResult:
    """Validate, then assess the valid exams: the batch function every run mode calls."""
    checked = validate(tables)
    legs, segs = assess_tables(checked.tables, criteria, options)
    return PartitionResult(
        legs=legs,
        segments=segs,
        errors=checked.errors,
        exams_in=tables.exams.height,
        exams_ok=checked.tables.exams.height,
    )
