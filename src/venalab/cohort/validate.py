"""Validation of whole cohort tables at once (Polars), before the vectorized engine.

It applies the exam model's own constraints, read from the models (vocabularies from their
Literal types, ranges and lengths from their Field metadata) plus the model validators'
rules, restated here and tested against `parse_exam_obj` (tests/test_cohort_validation.py);
`scores` is validated by the `Scores` model itself. A row that fails is reported with its
row number, patient id, JSON path and message, and skipped; the others are assessed by
vectorized.py.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
import polars as pl
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from venalab.cohort.table import (
    CLINICAL_COLUMNS,
    ERROR_SCHEMA,
    EXAM_INFO_COLUMNS,
    HISTORY_COLUMNS,
    IMAGING_FIELDS,
    LAB_ANALYTES,
    PATIENT_COLUMNS,
    SEGMENT_COLUMNS,
    SIDE_ENUM,
    SITE_ENUM,
    THROMBUS_COLUMNS,
    VEIN_ENUM,
    CohortTables,
)
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
from venalab.units import LAB_UNITS

VEIN_CODES: tuple[str, ...] = get_args(VeinCode)


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


def leg_key(row: str = "row", side: str = "side") -> pl.Expr:
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
