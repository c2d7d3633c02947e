"""The vectorized engine: validation and assessment of whole cohort tables at once (Polars).

This is the one allowed second implementation of the rules (shared/design.md). It computes
the subset of the per-exam result (`venalab.engine.assess`) that can be compared exactly,
from the same data: criteria sets (venalab.criteria: thresholds, comparisons, the
perforator definition, the accessory-axial distance), the vein registry
(venalab.anatomy.VEINS: groups, systems, DVT levels), the CEAP sign table
(venalab.rules.ceap.SIGN_CLASS, C_ORDER) and the trunk layout of venalab.rules.patterns.
No threshold is typed here. `tests/test_cohort_differential.py` holds it equal to the
per-exam engine, column by column and row by row.

Outputs (table.LEG_RESULT_SCHEMA, table.SEGMENT_RESULT_SCHEMA):
- per segment entry: `reflux` (present / absent / boundary / not-assessed), `abnormal`,
  `threshold_ms`, `comparison`, `measured_ms`; for perforators `perforator_incompetent`
  and `perforator_pathologic` (rules.reflux: SVS22 1.1.c, SVS11 2.5, LAB03);
- per leg: `c_classes` and `c_highest` (rules.ceap.clinical_classes, CEAP20), the reflux
  pattern of each trunk `pattern_<trunk>` (rules.patterns: SVS22 1.1.b, SVS23 1.3.2) and
  the `thrombosis` classification (rules.thrombosis: UTT16, PAL12, SCH10).

Validation applies the exam model's own constraints, read from the models (vocabularies
from their Literal types, ranges and lengths from their Field metadata) plus the model
validators' rules, restated here and tested against `parse_exam_obj`; `scores` is
validated by the `Scores` model itself. A row that fails is reported with its row number,
patient id, JSON path and message, and skipped; the others are assessed.
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
import numpy as np
import numpy.ma  # Polars imports it on its first NumPy conversion: pay that at import
import polars as pl
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from venalab.anatomy import VEINS
from venalab.cohort.table import (
    CLINICAL_COLUMNS,
    ERROR_SCHEMA,
    EXAM_INFO_COLUMNS,
    HISTORY_COLUMNS,
    IMAGING_FIELDS,
    LAB_ANALYTES,
    LEG_RESULT_SCHEMA,
    PATIENT_COLUMNS,
    SEGMENT_COLUMNS,
    SEGMENT_RESULT_SCHEMA,
    SIDE_ENUM,
    SITE_ENUM,
    THROMBUS_COLUMNS,
    VEIN_ENUM,
    VERDICT_ENUM,
    CohortTables,
)
from venalab.criteria import Comparison, CriteriaSet
from venalab.errors import problems_from_validation
from venalab.exam import (
    PERFORATOR_VEINS,
    RECURRENCE_SIGNS,
    SIDES,
    Clinical,
    ExamInfo,
    History,
    Labs,
    LegImaging,
    Patient,
    Scores,
    Segment,
    Thrombus,
    VeinCode,
    recurrence_problem,
)
from venalab.result import EngineOptions
from venalab.rules.ceap import C_ORDER, SIGN_CLASS
from venalab.rules.patterns import _JUNCTION, _LINEAR, _SITE_INDEX, TRUNKS
from venalab.rules.thrombosis import Classification
from venalab.units import LAB_UNITS

VEIN_CODES: tuple[str, ...] = get_args(VeinCode)

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
# Validation: constraints read from the exam models


@dataclass(frozen=True)
class _FieldSpec:
    kind: str  # "str" "float" "int" "bool" "date" "literal" "literal-list"
    allowed: tuple[str, ...] = ()
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_len: int | None = None
    max_len: int | None = None
    required: bool = False


def _unwrap(annotation: Any, meta: list[Any]) -> Any:
    origin = get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0], meta)
    if origin is typing.Annotated:
        base, *extra = get_args(annotation)
        for item in extra:
            meta.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        return _unwrap(base, meta)
    return annotation


def _field_spec(field: FieldInfo) -> _FieldSpec:
    meta: list[Any] = list(field.metadata)
    base = _unwrap(field.annotation, meta)
    kw: dict[str, Any] = {"required": field.is_required()}
    for m in meta:
        for attr, key in (
            (at.Ge, "ge"),
            (at.Gt, "gt"),
            (at.Le, "le"),
            (at.Lt, "lt"),
            (at.MinLen, "min_len"),
            (at.MaxLen, "max_len"),
        ):
            if isinstance(m, attr):
                kw[key] = getattr(
                    m, {"min_len": "min_length", "max_len": "max_length"}.get(key, key)
                )
    if get_origin(base) is Literal:
        return _FieldSpec("literal", allowed=tuple(get_args(base)), **kw)
    if get_origin(base) is tuple:
        inner = get_args(base)[0]
        return _FieldSpec("literal-list", allowed=tuple(get_args(inner)), **kw)
    names = {str: "str", float: "float", int: "int", bool: "bool"}
    return _FieldSpec(names.get(base, "date"), **kw)


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class _Check:
    fail: pl.Expr
    path: pl.Expr
    message: pl.Expr


# Columns whose vocabulary is already encoded (by _structure) as a code column: a value
# outside the vocabulary has a null code.
_CODED = {"vein": "_v", "site": "_s"}


def _field_checks(
    spec: _FieldSpec, col: str, path: pl.Expr, coded: str | None = None
) -> list[_Check]:
    c = pl.col(col)
    out: list[_Check] = []
    if spec.required:
        out.append(_Check(c.is_null(), path, pl.lit("required: this field is missing")))
    if spec.kind == "literal":
        allowed = ", ".join(spec.allowed)
        outside = pl.col(coded).is_null() if coded else ~c.is_in(list(spec.allowed))
        out.append(
            _Check(
                c.is_not_null() & outside,
                path,
                pl.concat_str(pl.lit("'"), c, pl.lit(f"' is not allowed; allowed: {allowed}")),
            )
        )
    elif spec.kind == "literal-list":
        allowed = ", ".join(spec.allowed)
        bad = c.list.eval(pl.element().is_null() | ~pl.element().is_in(list(spec.allowed)))
        first_bad = bad.list.arg_max().cast(pl.String)
        out.append(
            _Check(
                c.is_not_null() & bad.list.any(),
                pl.concat_str(path, pl.lit("["), first_bad, pl.lit("]")),
                pl.lit(f"holds a value that is not allowed; allowed: {allowed}"),
            )
        )
    elif spec.kind in ("float", "int"):
        ok = pl.lit(True)
        parts: list[str] = []
        if spec.ge is not None:
            ok = ok & (c >= spec.ge)
            parts.append(f">= {_fmt(spec.ge)}")
        if spec.gt is not None:
            ok = ok & (c > spec.gt)
            parts.append(f"> {_fmt(spec.gt)}")
        if spec.le is not None:
            ok = ok & (c <= spec.le)
            parts.append(f"<= {_fmt(spec.le)}")
        if spec.lt is not None:
            ok = ok & (c < spec.lt)
            parts.append(f"< {_fmt(spec.lt)}")
        if spec.kind == "float":
            ok = ok & c.is_finite()
            parts.append("finite")
        out.append(
            _Check(
                c.is_not_null() & ~ok,
                path,
                pl.concat_str(
                    pl.lit("value "), c.cast(pl.String), pl.lit(f" must be {' and '.join(parts)}")
                ),
            )
        )
    elif spec.kind == "str":
        n = c.str.len_chars()
        if spec.min_len is not None:
            out.append(
                _Check(
                    c.is_not_null() & (n < spec.min_len),
                    path,
                    pl.lit(f"must have at least {spec.min_len} character(s)"),
                )
            )
        if spec.max_len is not None:
            out.append(
                _Check(
                    c.is_not_null() & (n > spec.max_len),
                    path,
                    pl.lit(f"must have at most {spec.max_len} characters"),
                )
            )
    return out


def _model_checks(
    model: type[BaseModel],
    columns: dict[str, str],
    path: Callable[[str], pl.Expr],
    coded: dict[str, str] | None = None,
) -> list[_Check]:
    coded = coded or {}
    return [
        check
        for name, col in columns.items()
        for check in _field_checks(
            _field_spec(model.model_fields[name]), col, path(name), coded.get(col)
        )
    ]


def _seg_path(field: str) -> pl.Expr:
    return pl.format("legs.{}.segments[{}].{}", pl.col("side"), pl.col("seg"), pl.lit(field))


def _leg_path(field: str) -> pl.Expr:
    return pl.format("legs.{}.clinical.{}", pl.col("side"), pl.lit(field))


def _segment_checks() -> list[_Check]:
    checks = _model_checks(Segment, SEGMENT_COLUMNS, _seg_path, _CODED)
    checks += _model_checks(Thrombus, THROMBUS_COLUMNS, lambda n: _seg_path(f"thrombus.{n}"))
    perforators = sorted(PERFORATOR_VEINS)
    checks.append(
        _Check(
            pl.col("beneath_ulcer").is_not_null()
            & ~pl.col("_v").is_in([VEIN_CODES.index(v) for v in perforators]),
            _seg_path("beneath_ulcer"),
            pl.lit(f"`beneath_ulcer` is only for perforator veins ({', '.join(perforators)})"),
        )
    )
    # Thrombus._occlusion_fits_lumen (venalab.exam)
    lumen, occlusive = pl.col("thrombus_lumen_percent"), pl.col("thrombus_occlusive")
    checks += [
        _Check(
            (occlusive.fill_null(False) & (lumen < 100).fill_null(False)),
            _seg_path("thrombus"),
            pl.lit("`occlusive` true but `lumen_percent` is below 100"),
        ),
        _Check(
            ((occlusive == False) & (lumen == 100)).fill_null(False),  # noqa: E712
            _seg_path("thrombus"),
            pl.lit("`occlusive` false but `lumen_percent` is 100"),
        ),
    ]
    stray = pl.any_horizontal([pl.col(c).is_not_null() for c in THROMBUS_COLUMNS.values()])
    checks.append(
        _Check(
            stray & ~pl.col("thrombus").fill_null(False),
            _seg_path("thrombus"),
            pl.lit("thrombus fields are given but `thrombus` is not true"),
        )
    )
    return checks


def _leg_checks() -> list[_Check]:
    checks = _model_checks(Clinical, CLINICAL_COLUMNS, _leg_path)
    # Clinical._recurrence_needs_sign (venalab.exam)
    for recurrent, signs in RECURRENCE_SIGNS.items():
        checks.append(
            _Check(
                pl.col("recurrent").list.contains(recurrent).fill_null(False)
                & ~pl.any_horizontal(
                    [pl.col("signs").list.contains(sign).fill_null(False) for sign in signs]
                ),
                pl.format("legs.{}.clinical", pl.col("side")),
                pl.lit(recurrence_problem(recurrent)),
            )
        )
    return checks


def _lab_checks() -> list[_Check]:
    checks: list[_Check] = []
    for analyte in LAB_ANALYTES:
        model = _unwrap(Labs.model_fields[analyte].annotation, [])
        units = get_args(_unwrap(model.model_fields["unit"].annotation, []))
        spec = LAB_UNITS[model.analyte]
        value, unit = pl.col(f"labs_{analyte}_value"), pl.col(f"labs_{analyte}_unit")
        path = pl.lit(f"labs.{analyte}")
        checks.append(
            _Check(
                value.is_null() != unit.is_null(),
                path,
                pl.lit("give both `value` and `unit`"),
            )
        )
        checks.append(
            _Check(
                unit.is_not_null() & ~unit.is_in(list(units)),
                pl.lit(f"labs.{analyte}.unit"),
                pl.concat_str(
                    pl.lit("'"), unit, pl.lit(f"' is not allowed; allowed: {', '.join(units)}")
                ),
            )
        )
        checks.append(
            _Check(
                value.is_not_null() & ~value.is_finite(),
                pl.lit(f"labs.{analyte}.value"),
                pl.lit("must be a finite number"),
            )
        )
        # _LabValue._plausible: the value in the conventional unit within `plausible`
        conventional: Any = pl.when(unit == spec.conventional).then(value)
        if spec.si is not None and spec.si_per_conventional:
            conventional = conventional.when(unit == spec.si).then(value / spec.si_per_conventional)
        low, high = spec.plausible
        checks.append(
            _Check(
                value.is_finite().fill_null(False)
                & unit.is_in(list(units)).fill_null(False)
                & ~conventional.is_between(low, high).fill_null(False),
                path,
                pl.concat_str(
                    value.cast(pl.String),
                    pl.lit(" "),
                    unit,
                    pl.lit(
                        f" is not a plausible {spec.label.lower()} (allowed {low:g}-{high:g} "
                        f"{spec.conventional}); check the value and its unit"
                    ),
                ),
            )
        )
    return checks


def _imaging_path(side: str) -> Callable[[str], pl.Expr]:
    return lambda name: pl.lit(f"imaging.{side}.{name}")


def _exam_checks() -> list[_Check]:
    checks = _model_checks(Patient, PATIENT_COLUMNS, lambda n: pl.lit(f"patient.{n}"))
    checks += _model_checks(ExamInfo, EXAM_INFO_COLUMNS, lambda n: pl.lit(f"exam.{n}"))
    checks += _model_checks(History, HISTORY_COLUMNS, lambda n: pl.lit(f"history.{n}"))
    for side in SIDES:
        cols = {f: f"imaging_{side}_{f}" for f in IMAGING_FIELDS}
        checks += _model_checks(LegImaging, cols, _imaging_path(side))
    checks += _lab_checks()
    # Patient._one_age and ExamDocument._consistency (venalab.exam)
    birth, age = pl.col("patient_birth_date"), pl.col("patient_age_years")
    checks.append(
        _Check(
            birth.is_null() == age.is_null(),
            pl.lit("patient"),
            pl.lit("give exactly one of `birth_date` (ISO date) or `age_years`"),
        )
    )
    checks.append(
        _Check(
            (birth > pl.col("exam_date")).fill_null(False),
            pl.lit(""),
            pl.lit("`patient.birth_date` is after `exam.date`"),
        )
    )
    return checks


_CHECKS: dict[str, list[_Check]] = {}


def _checks(table: str) -> list[_Check]:
    if not _CHECKS:
        _CHECKS.update(exams=_exam_checks(), legs=_leg_checks(), segments=_segment_checks())
    return _CHECKS[table]


def _failures(df: pl.DataFrame, checks: Sequence[_Check]) -> pl.DataFrame:
    """(row, path, message) of every failed check; fast when nothing fails."""
    if df.is_empty():
        return pl.DataFrame(schema={"row": pl.Int64, "path": pl.String, "message": pl.String})
    flags = df.select([c.fail.fill_null(False).alias(f"f{i}") for i, c in enumerate(checks)])
    any_fail = flags.select(pl.any_horizontal(pl.all()).alias("any")).get_column("any")
    out = [pl.DataFrame(schema={"row": pl.Int64, "path": pl.String, "message": pl.String})]
    if any_fail.any():
        bad = df.filter(any_fail)
        bad_flags = flags.filter(any_fail)
        for i, c in enumerate(checks):
            mask = bad_flags.get_column(f"f{i}")
            if mask.any():
                out.append(
                    bad.filter(mask).select(
                        pl.col("row").cast(pl.Int64),
                        c.path.cast(pl.String).alias("path"),
                        c.message.cast(pl.String).alias("message"),
                    )
                )
    return pl.concat(out)


def _score_failures(exams: pl.DataFrame) -> pl.DataFrame:
    """`scores` is validated by the Scores model itself, once per distinct text."""
    schema = {"row": pl.Int64, "path": pl.String, "message": pl.String}
    given = exams.filter(pl.col("scores_json").is_not_null()).select("row", "scores_json")
    problems: list[dict[str, Any]] = []
    for text in given.get_column("scores_json").unique().to_list():
        try:
            Scores.model_validate_json(text)
        except ValidationError as err:
            if any(e["type"] == "json_invalid" for e in err.errors()):
                problems.append(
                    {"scores_json": text, "path": "scores", "message": "not valid JSON"}
                )
                continue
            for p in problems_from_validation(err):
                path = "scores" + (f".{p.path}" if p.path else "")
                problems.append({"scores_json": text, "path": path, "message": p.message})
    if not problems:
        return pl.DataFrame(schema=schema)
    bad = pl.DataFrame(
        problems, schema={"scores_json": pl.String, "path": pl.String, "message": pl.String}
    )
    return given.join(bad, on="scores_json", how="inner").select(list(schema))


def _leg_key(row: str = "row", side: str = "side") -> pl.Expr:
    """One Int64 per leg: row * 2 + side index (left 0, right 1)."""
    return pl.col(row) * 2 + pl.col(side).cast(SIDE_ENUM).to_physical().cast(pl.Int64)


@dataclass(frozen=True)
class Validated:
    tables: CohortTables
    errors: pl.DataFrame  # ERROR_SCHEMA


def _filter_if(df: pl.DataFrame, keep: pl.Expr) -> pl.DataFrame:
    """`df.filter(keep)`, without copying when every row is kept."""
    mask = df.select(keep.fill_null(False)).to_series()
    return df if mask.all() else df.filter(mask)


def _structure(t: CohortTables) -> tuple[pl.DataFrame, CohortTables]:
    """Keys: null rows, duplicates, orphans, exams without legs; segments sorted and
    numbered 0..n-1 within each leg (the order of the entries in the document). Adds the
    keys the engine uses: `_leg` (legs, segments), `_v` and `_s` (segments: vein and site
    codes, null when not in the vocabulary)."""
    problems: list[pl.DataFrame] = []

    def report(df: pl.DataFrame, path: pl.Expr, message: str) -> None:
        if not df.is_empty():
            problems.append(
                df.select(
                    pl.col("row").cast(pl.Int64),
                    path.alias("path"),
                    pl.lit(message).alias("message"),
                )
            )

    exams = t.exams
    # side code once (left 0, right 1; null when not a side): the leg key is row * 2 + code
    side_code = pl.col("side").cast(SIDE_ENUM, strict=False).to_physical().cast(pl.Int64)
    legs = t.legs.with_columns(side_code.alias("_side"))
    segs = t.segments.with_columns(side_code.alias("_side"))
    side_ok = pl.col("_side").is_not_null()
    for name, df in (("legs", legs), ("segments", segs)):
        report(
            df.filter(~side_ok),
            pl.concat_str(pl.lit("legs."), pl.col("side").fill_null("<null>")),
            f"{name} row with a side that is not one of: {', '.join(SIDES)}",
        )
    seg_ok = pl.col("seg").is_not_null() & (pl.col("seg") >= 0)
    report(
        segs.filter(side_ok & ~seg_ok.fill_null(False)),
        pl.format("legs.{}.segments", pl.col("side")),
        "segment entry without a valid index `seg` (>= 0)",
    )
    legs = _filter_if(legs, side_ok & pl.col("row").is_not_null())
    segs = _filter_if(segs, side_ok & seg_ok & pl.col("row").is_not_null())

    report(
        exams.filter(pl.col("row").is_duplicated()),
        pl.lit(""),
        "the exams table holds this row twice",
    )
    leg_key = (pl.col("row") * 2 + pl.col("_side")).alias("_leg")
    legs = legs.with_columns(leg_key).drop("_side")
    report(
        legs.filter(pl.col("_leg").is_duplicated()),
        pl.format("legs.{}", pl.col("side")),
        "the legs table holds this leg twice",
    )
    if not legs.select(pl.col("_leg").is_sorted()).item():
        legs = legs.sort("_leg")

    segs = segs.with_columns(
        leg_key,
        pl.col("vein").cast(VEIN_ENUM, strict=False).to_physical().alias("_v"),
        pl.col("site").cast(SITE_ENUM, strict=False).to_physical().alias("_s"),
    ).drop("_side")
    prev_leg, prev_seg = pl.col("_leg").shift(1), pl.col("seg").shift(1)
    ordered = (
        (pl.col("_leg") > prev_leg) | ((pl.col("_leg") == prev_leg) & (pl.col("seg") > prev_seg))
    ).fill_null(True)
    if not segs.select(ordered.all()).item():
        segs = segs.sort("_leg", "seg")
        dup = ((pl.col("_leg") == prev_leg) & (pl.col("seg") == prev_seg)).fill_null(False)
        report(
            segs.filter(dup | dup.shift(-1).fill_null(False)),
            pl.format("legs.{}.segments[{}]", pl.col("side"), pl.col("seg")),
            "the segments table holds this entry twice",
        )
    new_leg = (pl.col("_leg") != prev_leg).fill_null(True)
    dense = pl.when(new_leg).then(pl.col("seg") == 0).otherwise(pl.col("seg") == prev_seg + 1)
    if not segs.select(dense.all()).item():
        idx = pl.int_range(pl.len(), dtype=pl.Int64)
        start = pl.when(new_leg).then(idx).otherwise(None).forward_fill()
        segs = segs.with_columns((idx - start).cast(pl.Int32).alias("seg"))

    exam_rows = exams.get_column("row").implode()
    report(
        legs.filter(~pl.col("row").is_in(exam_rows)),
        pl.format("legs.{}", pl.col("side")),
        "leg of an exam that is not in the exams table",
    )
    report(
        segs.filter(~pl.col("row").is_in(exam_rows)).unique("_leg"),
        pl.format("legs.{}.segments", pl.col("side")),
        "segments of an exam that is not in the exams table",
    )
    legless = exams.filter(~pl.col("row").is_in(legs.get_column("row").implode()))
    if not legless.is_empty():
        seg_rows = segs.get_column("row").unique().implode()
        report(
            legless.filter(~pl.col("row").is_in(seg_rows)),
            pl.lit("legs"),
            "at least one of 'left' or 'right' is required",
        )
    report(exams.filter(pl.col("row").is_null()), pl.lit(""), "exam without a row number")
    errors = (
        pl.concat(problems)
        if problems
        else pl.DataFrame(schema={"row": pl.Int64, "path": pl.String, "message": pl.String})
    )
    return errors, CohortTables(exams, legs, segs)


def validate(tables: CohortTables) -> Validated:
    """Split a cohort into the exams that pass the exam model's constraints and the errors
    of those that do not (every problem of a rejected exam, with its path)."""
    t = tables.conform()
    structural, t = _structure(t)
    errors = pl.concat(
        [
            structural,
            _failures(t.exams, _checks("exams")),
            _score_failures(t.exams),
            _failures(t.legs, _checks("legs")),
            _failures(t.segments, _checks("segments")),
        ]
    )
    if errors.is_empty():
        return Validated(t, pl.DataFrame(schema=ERROR_SCHEMA))
    bad = errors.get_column("row").drop_nulls().unique().implode()
    keep = ~pl.col("row").is_in(bad) & pl.col("row").is_not_null()
    exams = t.exams.filter(keep)
    known = exams.get_column("row").implode()
    valid = CohortTables(
        exams=exams,
        legs=t.legs.filter(keep & pl.col("row").is_in(known)),
        segments=t.segments.filter(keep & pl.col("row").is_in(known)),
    )
    ids = t.exams.select("row", "patient_id").unique("row", keep="first")
    errors = (
        errors.join(ids, on="row", how="left", nulls_equal=False)
        .select(list(ERROR_SCHEMA))
        .unique(maintain_order=True)
        .sort("row", nulls_last=True, maintain_order=True)
    )
    return Validated(valid, errors)


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


# Trunk layout of rules.patterns: linear trunks (points proximal -> distal; junction or CFV
# = point 0, then three points per segment), accessory trunks judged by position_cm.
_ACCESSORY = tuple(t for t in TRUNKS if t not in _LINEAR)
_LINEAR_BITS = 8  # each linear trunk gets 8 bits of one Int64 mask (7 points used)
_LINEAR_OFFSET = {t: i * _LINEAR_BITS for i, t in enumerate(_LINEAR)}
_DEEP_ANY_BIT = 1 << (len(_LINEAR) * _LINEAR_BITS)  # "some deep-system vein refluxes"
# rules.patterns._linear_pattern: the span axial reflux must cover, per linear trunk:
# (points that may start it, points it must run through, the point it must reach).
_SPAN: dict[str, tuple[set[int], set[int], int]] = {
    "GSV": ({0, 1}, {1, 2, 3}, 4),
    "SSV": ({0, 1}, {1, 2, 3}, 3),
    "deep": ({0, 1, 2, 3}, {1, 2, 3}, 4),
}
if set(_SPAN) != set(_LINEAR):
    raise RuntimeError("vectorized._SPAN must describe every linear trunk of rules.patterns")
_SITES: tuple[str, ...] = tuple(_SITE_INDEX)
if list(_SITES) != list(SITE_ENUM.categories):
    raise RuntimeError("rules.patterns._SITE_INDEX must follow the order of exam.Site")


def _trunk_of(code: str) -> str | None:
    """The trunk a vein's entries are judged in (rules.patterns.reflux_patterns)."""
    for trunk, order in _LINEAR.items():
        if trunk != "deep" and code in order:
            return trunk
    if code in _ACCESSORY:
        return code
    if VEINS[code].system == "deep":
        return "deep"
    return None


def _points(code: str, site: str | None) -> int:
    """Bit mask of the points an entry covers on its linear trunk (rules.patterns._points)."""
    trunk = _trunk_of(code)
    if trunk is None or trunk not in _LINEAR or code not in _LINEAR[trunk]:
        return 0
    idx = _LINEAR[trunk].index(code)
    if code in _JUNCTION.values() or idx == 0:
        points = {0}
    else:
        base = 1 + 3 * (idx - 1)
        points = {base + i for i in range(3)} if site is None else {base + _SITE_INDEX[site]}
    return sum(1 << (p + _LINEAR_OFFSET[trunk]) for p in points)


def _mask_lookup() -> pl.Series:
    """Point mask (+ the deep-any bit) indexed by vein code * 4 + site code (3 = no site)."""
    values = []
    for code in VEIN_CODES:
        deep_bit = _DEEP_ANY_BIT if _trunk_of(code) == "deep" else 0
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
    recurrent = _list_bits(legs, "recurrent", {"varicose": 1, "ulcer": 2})
    # clinical_classes: C2 with a varicose recurrence is C2r; C6 with an ulcer recurrence is
    # C6r; no class from the signs is C0.
    for plain, recurring, flag in (("C2", "C2r", 1), ("C6", "C6r", 2)):
        hit = ((classes & bit[plain]) != 0) & ((recurrent & flag) != 0)
        classes = np.where(hit, (classes & ~bit[plain]) | bit[recurring], classes)
    classes = np.where(classes == 0, bit["C0"], classes)
    masks = pl.DataFrame({"_leg": legs.get_column("_leg"), "_cmask": classes})
    # rules.reflux.assess_perforator: a C5-C6 limb when the set requires an ulcer location
    prefixes = tuple(cs.perforator.ulcer_location_required_in)
    lookup_rows = []
    for m in np.unique(classes).tolist():
        names = [c for c in C_ORDER if m & bit[c]]
        lookup_rows.append(
            {
                "_cmask": m,
                "c_classes": names,
                "c_highest": names[-1],
                "ulcer_limb": bool(prefixes) and any(c.startswith(prefixes) for c in names),
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
    for trunk, (start, through, end) in _SPAN.items():
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
        if trunk in _JUNCTION:
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
    # _s is the site's position in the Site literal; rules.patterns._SITE_INDEX must agree
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
    # Precedence of the classification literal: proximal > distal-axial > distal-muscular.
    ranked = [c for c in get_args(Classification) if c != "none"]
    level = {code: VEINS[code].dvt_level for code in VEIN_CODES}
    if options.tibioperoneal_trunk == "proximal":
        level["TPT"] = "proximal"  # the option of rules.thrombosis (CACTUS-style definitions)
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
        legs = legs.with_columns(_leg_key().alias("_leg"))
    segs = tables.segments
    if "_v" not in segs.columns:
        segs = segs.with_columns(
            _leg_key().alias("_leg"),
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
