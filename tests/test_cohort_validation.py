"""Vectorized validation rejects exactly the exams the exam model rejects.

Each corruption is applied to one exam of a valid synthetic cohort, in the flat tables;
the vectorized validator and `parse_exam_obj` (on the documents the same tables give) must
reject the same rows, and the vectorized error must name the JSON path.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from venalab.cohort.synth import synthesize
from venalab.cohort.table import CohortTables, tables_to_documents
from venalab.cohort.validate import validate
from venalab.errors import InvalidInput
from venalab.exam import parse_exam_obj

Corruption = Callable[[CohortTables, int], CohortTables]


def _set(table: str, column: str, value: Any, where: pl.Expr | None = None) -> Corruption:
    """Set `column` of the first matching row of `table` for exam `row`."""

    def apply(t: CohortTables, row: int) -> CohortTables:
        frames = {"exams": t.exams, "legs": t.legs, "segments": t.segments}
        df = frames[table].with_row_index("_i")
        cond = pl.col("row") == row
        if where is not None:
            cond = cond & where
        target = df.filter(cond).get_column("_i")
        assert target.len(), f"no {table} row to corrupt for exam {row}"
        dtype = df.schema[column]
        lit = pl.lit(value, dtype=dtype) if not isinstance(value, pl.Expr) else value
        frames[table] = df.with_columns(
            pl.when(pl.col("_i") == target[0]).then(lit).otherwise(pl.col(column)).alias(column)
        ).drop("_i")
        return CohortTables(frames["exams"], frames["legs"], frames["segments"])

    return apply


def _both(*corruptions: Corruption) -> Corruption:
    def apply(t: CohortTables, row: int) -> CohortTables:
        for c in corruptions:
            t = c(t, row)
        return t

    return apply


def _drop_legs(t: CohortTables, row: int) -> CohortTables:
    return CohortTables(
        t.exams, t.legs.filter(pl.col("row") != row), t.segments.filter(pl.col("row") != row)
    )


PERF = pl.col("vein").is_in(["CPV", "TPV"])
TRUNK = pl.col("vein") == "GSVa"
CLOT = pl.col("thrombus")

CORRUPTIONS: dict[str, tuple[Corruption, str]] = {
    "vein": (_set("segments", "vein", "GSV"), ".vein"),
    "site": (_set("segments", "site", "upper"), ".site"),
    "negative reflux": (_set("segments", "reflux_ms", -1.0), ".reflux_ms"),
    "reflux too long": (_set("segments", "reflux_ms", 20000.5), ".reflux_ms"),
    "reflux NaN": (_set("segments", "reflux_ms", math.nan), ".reflux_ms"),
    "reflux inf": (_set("segments", "reflux_ms", math.inf), ".reflux_ms"),
    "zero diameter": (_set("segments", "diameter_mm", 0.0), ".diameter_mm"),
    "compressibility": (_set("segments", "compressibility", "some"), ".compressibility"),
    "beneath_ulcer on a trunk": (_set("segments", "beneath_ulcer", True, TRUNK), ".beneath_ulcer"),
    "thrombus age": (_set("segments", "thrombus_age", "old", CLOT), "thrombus.age"),
    "thrombus length": (_set("segments", "thrombus_length_cm", 0.0, CLOT), "thrombus.length_cm"),
    "thrombus lumen over 100": (
        _set("segments", "thrombus_lumen_percent", 101.0, CLOT),
        "thrombus.lumen_percent",
    ),
    "thrombus occlusive with lumen below 100": (
        _both(
            _set("segments", "thrombus_occlusive", True, CLOT),
            _set("segments", "thrombus_lumen_percent", 60.0, CLOT),
        ),
        "thrombus",
    ),
    "long label": (_set("segments", "label", "x" * 201, PERF), ".label"),
    "position": (_set("segments", "position_cm", 121.0), ".position_cm"),
    "velocity": (_set("segments", "peak_reflux_velocity_cm_s", 501.0), ".peak_reflux_velocity"),
    "sign": (_set("legs", "signs", pl.lit(["varicosities"])), "clinical.signs"),
    "recurrence without sign": (
        _both(
            _set("legs", "signs", pl.lit(["edema"])), _set("legs", "recurrent", pl.lit(["ulcer"]))
        ),
        "clinical",
    ),
    "etiology": (_set("legs", "etiology", "idiopathic"), "clinical.etiology"),
    "sex": (_set("exams", "patient_sex", "m"), "patient.sex"),
    "age": (
        _set("exams", "patient_age_years", 131, pl.col("patient_age_years").is_not_null()),
        "patient.age_years",
    ),
    "two ages": (
        _both(
            _set("exams", "patient_age_years", 70),
            _set("exams", "patient_birth_date", dt.date(1950, 1, 1)),
        ),
        "patient",
    ),
    "no age": (
        _both(_set("exams", "patient_age_years", None), _set("exams", "patient_birth_date", None)),
        "patient",
    ),
    "bmi": (_set("exams", "patient_bmi", 7.0), "patient.bmi"),
    "empty patient id": (_set("exams", "patient_id", ""), "patient.id"),
    "missing exam date": (_set("exams", "exam_date", None), "exam.date"),
    "birth after exam": (
        _both(
            _set("exams", "patient_age_years", None),
            _set("exams", "patient_birth_date", dt.date(2030, 1, 1)),
        ),
        "",
    ),
    "purpose": (_set("exams", "exam_purpose", "screening"), "exam.purpose"),
    "provocation": (_set("exams", "exam_provocation", pl.lit(["tilt"])), "exam.provocation"),
    "implausible calcium": (
        _both(
            _set("exams", "labs_calcium_value", 90.0), _set("exams", "labs_calcium_unit", "mg/dL")
        ),
        "labs.calcium",
    ),
    "implausible SI calcium": (
        _both(
            _set("exams", "labs_calcium_value", 9.8), _set("exams", "labs_calcium_unit", "mmol/L")
        ),
        "labs.calcium",
    ),
    "lab unit": (
        _both(
            _set("exams", "labs_phosphate_value", 4.0), _set("exams", "labs_phosphate_unit", "mg/L")
        ),
        "labs.phosphate",
    ),
    "lab value without unit": (
        _both(_set("exams", "labs_pth_value", 50.0), _set("exams", "labs_pth_unit", None)),
        "labs.pth",
    ),
    "serial imaging": (_set("exams", "history_serial_imaging_result", "maybe"), "history"),
    "calcification": (_set("exams", "imaging_left_calcification", "chalky"), "imaging.left"),
    "scores": (
        _set("exams", "scores_json", '{"wells_dvt": {"active_cancer": "yes"}}'),
        "scores.wells_dvt",
    ),
    "scores not JSON": (_set("exams", "scores_json", '{"wells_dvt": '), "scores"),
    "vcss item": (_set("exams", "scores_json", '{"vcss": {"left": {"pain": 4}}}'), "scores.vcss"),
    "no legs": (_drop_legs, "legs"),
}


@pytest.fixture(scope="module")
def base() -> CohortTables:
    return synthesize(600, 5).tables


def _rejected_by_model(tables: CohortTables) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for row, doc in tables_to_documents(tables):
        try:
            parse_exam_obj(doc)
        except InvalidInput as e:
            out[row] = [p.path for p in e.problems]
    return out


def _candidates(t: CohortTables, name: str) -> list[int]:
    """Exams that have what a corruption needs (a perforator, a thrombus, a left leg...)."""
    rows = t.exams.get_column("row")
    if name in ("beneath_ulcer on a trunk",):
        rows = t.segments.filter(TRUNK).get_column("row").unique()
    elif name == "long label":
        rows = t.segments.filter(PERF).get_column("row").unique()
    elif name.startswith("thrombus"):
        rows = t.segments.filter(CLOT).get_column("row").unique()
    elif name == "age":
        rows = t.exams.filter(pl.col("patient_age_years").is_not_null()).get_column("row")
    elif name in (
        "vein",
        "site",
        "negative reflux",
        "reflux too long",
        "reflux NaN",
        "reflux inf",
        "zero diameter",
        "compressibility",
        "position",
        "velocity",
    ):
        rows = t.segments.get_column("row").unique()
    return sorted(rows.to_list())


def test_vectorized_rejects_what_the_model_rejects(base: CohortTables) -> None:
    tables = base
    targets: dict[int, tuple[str, str]] = {}
    used: set[int] = set()
    for name, (corrupt, path) in CORRUPTIONS.items():
        row = next(r for r in _candidates(tables, name) if r not in used)
        used.add(row)
        tables = corrupt(tables, row)
        targets[row] = (name, path)

    by_model = _rejected_by_model(tables)
    checked = validate(tables)
    by_vectorized: dict[int, list[str]] = {}
    for row, path in checked.errors.select("row", "path").iter_rows():
        by_vectorized.setdefault(row, []).append(path)

    assert set(by_model) == set(targets), {
        targets.get(r, ("?",))[0] for r in set(by_model) ^ set(targets)
    }
    assert set(by_vectorized) == set(targets), {
        targets.get(r, ("?",))[0] for r in set(by_vectorized) ^ set(targets)
    }
    for row, (name, path) in targets.items():
        assert any(path in p for p in by_vectorized[row]), (name, by_vectorized[row])
    # the rejected exams are gone, the others are all kept
    assert checked.tables.exams.height == base.exams.height - len(targets)
    assert not set(checked.tables.segments.get_column("row").to_list()) & set(targets)
    ids = checked.errors.filter(pl.col("patient_id").is_not_null()).get_column("row").unique()
    assert ids.len() == len(targets) - 0  # every rejected exam is named by its patient id


def test_structural_problems_are_reported_and_skipped(base: CohortTables) -> None:
    t = base
    rows = sorted(t.segments.get_column("row").unique().to_list())
    dup_exam, dup_leg, dup_seg, orphan, bad_side, bad_seg = rows[:6]
    exams = pl.concat([t.exams, t.exams.filter(pl.col("row") == dup_exam)])
    legs = pl.concat(
        [
            t.legs,
            t.legs.filter(pl.col("row") == dup_leg).head(1),
            t.legs.head(1).with_columns(pl.lit(10_000_000, dtype=pl.Int64).alias("row")),
        ]
    )
    segs = pl.concat(
        [
            t.segments,
            t.segments.filter(pl.col("row") == dup_seg).head(1),
            t.segments.head(1).with_columns(
                pl.lit(orphan + 20_000_000, dtype=pl.Int64).alias("row")
            ),
        ]
    ).with_columns(
        pl.when((pl.col("row") == bad_side) & (pl.col("seg") == 0))
        .then(pl.lit("middle"))
        .otherwise(pl.col("side"))
        .alias("side"),
        pl.when((pl.col("row") == bad_seg) & (pl.col("seg") == 0))
        .then(pl.lit(None, dtype=pl.Int32))
        .otherwise(pl.col("seg"))
        .alias("seg"),
    )
    checked = validate(CohortTables(exams, legs, segs))
    messages = dict(checked.errors.select("row", "message").iter_rows())
    assert "twice" in messages[dup_exam]
    assert "twice" in messages[dup_leg]
    assert "twice" in messages[dup_seg]
    assert "not in the exams table" in messages[10_000_000]
    assert "side" in messages[bad_side]
    assert "seg" in messages[bad_seg]
    kept = set(checked.tables.exams.get_column("row").to_list())
    assert not kept & {dup_exam, dup_leg, dup_seg, bad_side, bad_seg}
    assert len(kept) == base.exams.height - 5


def test_clean_cohort_has_no_errors(base: CohortTables) -> None:
    checked = validate(base)
    assert checked.errors.is_empty()
    assert checked.tables.exams.height == base.exams.height
    assert not _rejected_by_model(base)


def test_recurrent_healed_ulcer_is_accepted_by_both(base: CohortTables) -> None:
    # Issue 18 defect 1: the model and the vectorized validator read one table of recurrences.
    row = base.legs.get_column("row")[0]
    tables = _both(
        _set("legs", "signs", pl.lit(["ulcer-healed"])),
        _set("legs", "recurrent", pl.lit(["ulcer"])),
    )(base, row)
    assert row not in _rejected_by_model(tables)
    assert validate(tables).errors.filter(pl.col("row") == row).is_empty()
