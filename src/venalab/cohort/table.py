"""Exam documents <-> flat Polars tables; per-exam results -> flat result tables.

A cohort (format `venous-cohort/1`) is three tables keyed by `row`, the 0-based position of
the exam in its cohort (for JSONL input: the line index):

- exams:    one row per exam document: `patient_*`, `exam_*`, `labs_*`, `history_*`,
            `imaging_<side>_*` columns and `scores_json` (the `scores` object verbatim);
- legs:     one row per examined leg, key (row, side): the `clinical` fields;
- segments: one row per segment entry, key (row, side, seg) where `seg` is the entry's
            index in `legs.<side>.segments`: the segment fields, `thrombus` (true when a
            thrombus object is present) and `thrombus_*` for its fields.

The columns are derived from the exam models (venalab.exam), so a field added to the
contract appears here or fails the import check below: the mapping is lossless for
documents in canonical form (empty optional objects such as `"labs": {}` are normalised
away; they mean the same as an absent object).

Result tables (the output of `venalab cohort assess`, whichever engine computed them):
`LEG_RESULT_SCHEMA` and `SEGMENT_RESULT_SCHEMA`; `result_rows` flattens one per-exam
`Result` into them, which is what the differential test compares the vectorized engine to.
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import polars as pl
from pydantic import BaseModel

from venalab.anatomy import VEINS
from venalab.criteria import Comparison
from venalab.errors import Problem
from venalab.exam import (
    SIDES,
    Clinical,
    ExamDocument,
    ExamInfo,
    History,
    Labs,
    LegImaging,
    Patient,
    Segment,
    Site,
    Thrombus,
    VeinCode,
)
from venalab.result import Result
from venalab.rules.ceap import clinical_classes, highest_class
from venalab.rules.patterns import TRUNKS, Pattern
from venalab.rules.reflux import Verdict
from venalab.rules.thrombosis import Classification

COHORT_FORMAT = "venous-cohort/1"
TABLES = ("exams", "legs", "segments")
REJECTED = "rejected.parquet"
"""Optional table of a cohort folder converted from JSONL: rows rejected at conversion
(`ERROR_SCHEMA`), reported by every run as rejected exams (`convert.py`)."""

# ---------------------------------------------------------------------------------------
# Column types derived from the models


def _dtype(annotation: Any) -> pl.DataType:
    """Polars type of a model field annotation (Optional and Annotated unwrapped)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    origin = get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        if len(args) != 1:
            raise TypeError(f"cannot flatten union {annotation!r}")
        return _dtype(args[0])
    if origin is typing.Annotated:
        return _dtype(args[0])
    if origin is Literal:
        return pl.String()
    if origin is tuple:
        return pl.List(_dtype(args[0]))
    simple: dict[Any, pl.DataType] = {
        str: pl.String(),
        float: pl.Float64(),
        int: pl.Int64(),
        bool: pl.Boolean(),
        dt.date: pl.Date(),
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"cannot flatten {annotation!r}")


def _fields(model: type[BaseModel], prefix: str, skip: Iterable[str] = ()) -> dict[str, str]:
    """Field name -> column name for the flat fields of a model."""
    return {n: f"{prefix}{n}" for n in model.model_fields if n not in set(skip)}


def _types(model: type[BaseModel], columns: Mapping[str, str]) -> dict[str, pl.DataType]:
    return {col: _dtype(model.model_fields[name].annotation) for name, col in columns.items()}


PATIENT_COLUMNS = {"id": "patient_id", **_fields(Patient, "patient_", skip=("id",))}
EXAM_INFO_COLUMNS = _fields(ExamInfo, "exam_")
LAB_ANALYTES: tuple[str, ...] = tuple(n for n in Labs.model_fields if n != "dialysis")
HISTORY_COLUMNS = _fields(History, "history_")
IMAGING_FIELDS: tuple[str, ...] = tuple(LegImaging.model_fields)
CLINICAL_COLUMNS = _fields(Clinical, "")
# Treatments (post-procedure exams) are not part of the cohort tables; a document with one
# cannot be flattened (tables_from_documents says so).
SEGMENT_COLUMNS = _fields(Segment, "", skip=("thrombus", "treatment"))
THROMBUS_COLUMNS = _fields(Thrombus, "thrombus_")

KEY_SCHEMA: dict[str, pl.DataType] = {"row": pl.Int64()}

EXAM_SCHEMA: dict[str, pl.DataType] = {
    **KEY_SCHEMA,
    **_types(Patient, PATIENT_COLUMNS),
    **_types(ExamInfo, EXAM_INFO_COLUMNS),
}
for _analyte in LAB_ANALYTES:
    EXAM_SCHEMA[f"labs_{_analyte}_value"] = pl.Float64()
    EXAM_SCHEMA[f"labs_{_analyte}_unit"] = pl.String()
EXAM_SCHEMA["labs_dialysis"] = _dtype(Labs.model_fields["dialysis"].annotation)
EXAM_SCHEMA.update(_types(History, HISTORY_COLUMNS))
for _side in SIDES:
    for _f in IMAGING_FIELDS:
        EXAM_SCHEMA[f"imaging_{_side}_{_f}"] = _dtype(LegImaging.model_fields[_f].annotation)
EXAM_SCHEMA["scores_json"] = pl.String()

LEG_SCHEMA: dict[str, pl.DataType] = {
    **KEY_SCHEMA,
    "side": pl.String(),
    **_types(Clinical, CLINICAL_COLUMNS),
}
SEGMENT_SCHEMA: dict[str, pl.DataType] = {
    **KEY_SCHEMA,
    "side": pl.String(),
    "seg": pl.Int32(),
    **_types(Segment, SEGMENT_COLUMNS),
    "thrombus": pl.Boolean(),
    **_types(Thrombus, THROMBUS_COLUMNS),
}


def _check_coverage() -> None:
    """Every field of the exam document has a column (or is `scores`, kept as JSON); the
    physician's report text (`conclusion`) is not cohort data and has no column."""
    covered = {"format", "patient", "exam", "legs", "labs", "history", "imaging", "scores"}
    covered.add("conclusion")
    missing = set(ExamDocument.model_fields) - covered
    if missing:
        raise RuntimeError(f"cohort tables do not map exam fields {sorted(missing)}")


_check_coverage()

# ---------------------------------------------------------------------------------------
# Result tables

SIDE_ENUM = pl.Enum(list(SIDES))
VEIN_ENUM = pl.Enum(list(get_args(VeinCode)))
SITE_ENUM = pl.Enum(list(get_args(Site)))
COMPARISON_ENUM = pl.Enum(list(get_args(Comparison)))
VERDICT_ENUM = pl.Enum(list(get_args(Verdict)))
PATTERN_ENUM = pl.Enum(list(get_args(Pattern)))
THROMBOSIS_ENUM = pl.Enum(list(get_args(Classification)))

LEG_RESULT_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "patient_id": pl.String(),
    "exam_date": pl.Date(),
    "side": SIDE_ENUM,
    # echoed inputs (context for the report; not conclusions)
    "purpose": pl.String(),
    "sex": pl.String(),
    "age_years": pl.Int64(),
    "symptomatic": pl.Boolean(),
    "etiology": pl.String(),
    "calcification": pl.String(),
    # conclusions
    "c_classes": pl.List(pl.String()),
    "c_highest": pl.String(),
    **{f"pattern_{t}": PATTERN_ENUM for t in TRUNKS},
    "thrombosis": THROMBOSIS_ENUM,
}
SEGMENT_RESULT_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "side": SIDE_ENUM,
    "seg": pl.Int32(),
    "vein": VEIN_ENUM,
    "site": SITE_ENUM,
    "measured_ms": pl.Float64(),
    "reflux": VERDICT_ENUM,
    "abnormal": pl.Boolean(),
    "threshold_ms": pl.Float64(),
    "comparison": COMPARISON_ENUM,
    "perforator_incompetent": pl.Boolean(),
    "perforator_pathologic": pl.Boolean(),
}
ERROR_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "patient_id": pl.String(),
    "path": pl.String(),
    "message": pl.String(),
}


@dataclass(frozen=True)
class CohortTables:
    """The three input tables of a cohort (or of one partition of it)."""

    exams: pl.DataFrame
    legs: pl.DataFrame
    segments: pl.DataFrame

    def __len__(self) -> int:
        return self.exams.height

    def conform(self) -> CohortTables:
        """Columns in schema order and type; absent optional columns are added as nulls."""
        return CohortTables(
            exams=_conform(self.exams, EXAM_SCHEMA),
            legs=_conform(self.legs, LEG_SCHEMA),
            segments=_conform(self.segments, SEGMENT_SCHEMA),
        )


def _conform(df: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    if list(df.schema.items()) == list(schema.items()):
        return df
    have = df.schema
    exprs = [
        (pl.col(c) if have[c] == t else pl.col(c).cast(t))
        if c in have
        else pl.lit(None, dtype=t).alias(c)
        for c, t in schema.items()
    ]
    return df.select(exprs)


# ---------------------------------------------------------------------------------------
# Documents -> tables


def _value(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def unsupported_in_tables(exam: ExamDocument) -> list[Problem]:
    """Fields the cohort tables do not carry: such an exam is reported, never half-assessed."""
    return [
        Problem(
            f"legs.{side}.segments[{i}].treatment",
            "treated segments (post-procedure exams) are not part of the cohort tables; "
            "assess this exam with `venalab assess`",
        )
        for side, leg in exam.legs.items()
        for i, seg in enumerate(leg.segments)
        if seg.treatment is not None
    ]


def exam_rows(
    row: int, exam: ExamDocument
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The exams row, legs rows and segments rows of one validated exam document."""
    ex: dict[str, Any] = {"row": row}
    for name, col in PATIENT_COLUMNS.items():
        ex[col] = _value(getattr(exam.patient, name))
    for name, col in EXAM_INFO_COLUMNS.items():
        ex[col] = _value(getattr(exam.exam, name))
    labs = exam.labs
    for analyte in LAB_ANALYTES:
        lab = getattr(labs, analyte) if labs else None
        ex[f"labs_{analyte}_value"] = lab.value if lab else None
        ex[f"labs_{analyte}_unit"] = getattr(lab, "unit", None) if lab else None
    ex["labs_dialysis"] = labs.dialysis if labs else None
    for name, col in HISTORY_COLUMNS.items():
        ex[col] = getattr(exam.history, name) if exam.history else None
    for side in SIDES:
        img = getattr(exam.imaging, side) if exam.imaging else None
        for f in IMAGING_FIELDS:
            ex[f"imaging_{side}_{f}"] = getattr(img, f) if img else None
    ex["scores_json"] = exam.scores.model_dump_json(exclude_none=True) if exam.scores else None

    legs: list[dict[str, Any]] = []
    segs: list[dict[str, Any]] = []
    for side, leg in exam.legs.items():
        lr: dict[str, Any] = {"row": row, "side": side}
        for name, col in CLINICAL_COLUMNS.items():
            lr[col] = _value(getattr(leg.clinical, name))
        legs.append(lr)
        for i, seg in enumerate(leg.segments):
            sr: dict[str, Any] = {"row": row, "side": side, "seg": i}
            for name, col in SEGMENT_COLUMNS.items():
                sr[col] = getattr(seg, name)
            t = seg.thrombus
            sr["thrombus"] = t is not None
            for name, col in THROMBUS_COLUMNS.items():
                sr[col] = getattr(t, name) if t else None
            segs.append(sr)
    return ex, legs, segs


class TableBuilder:
    """Accumulates exam documents into cohort tables."""

    def __init__(self) -> None:
        self.exams: list[dict[str, Any]] = []
        self.legs: list[dict[str, Any]] = []
        self.segments: list[dict[str, Any]] = []

    def add(self, row: int, exam: ExamDocument) -> None:
        ex, legs, segs = exam_rows(row, exam)
        self.exams.append(ex)
        self.legs.extend(legs)
        self.segments.extend(segs)

    def build(self) -> CohortTables:
        return CohortTables(
            exams=pl.DataFrame(self.exams, schema=EXAM_SCHEMA, orient="row"),
            legs=pl.DataFrame(self.legs, schema=LEG_SCHEMA, orient="row"),
            segments=pl.DataFrame(self.segments, schema=SEGMENT_SCHEMA, orient="row"),
        )


def documents_to_tables(exams: Iterable[tuple[int, ExamDocument]]) -> CohortTables:
    """Flat tables of validated exam documents, each with its row number."""
    builder = TableBuilder()
    for row, exam in exams:
        builder.add(row, exam)
    return builder.build()


# ---------------------------------------------------------------------------------------
# Tables -> documents


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return int(v)  # 500.0 -> 500; the models accept integers for float fields
    return v


def _put(target: dict[str, Any], key: str, v: Any) -> None:
    """Set `key` unless the value is absent (None or an empty list)."""
    if v is None or (isinstance(v, list) and not v):
        return
    target[key] = [_json_value(x) for x in v] if isinstance(v, list) else _json_value(v)


def _exam_document(ex: Mapping[str, Any]) -> dict[str, Any]:
    patient: dict[str, Any] = {}
    for name, col in PATIENT_COLUMNS.items():
        _put(patient, name, ex.get(col))
    info: dict[str, Any] = {}
    for name, col in EXAM_INFO_COLUMNS.items():
        _put(info, name, ex.get(col))
    doc: dict[str, Any] = {"format": "venous-exam/1", "patient": patient, "exam": info}
    labs: dict[str, Any] = {}
    for analyte in LAB_ANALYTES:
        lab: dict[str, Any] = {}
        _put(lab, "value", ex.get(f"labs_{analyte}_value"))
        _put(lab, "unit", ex.get(f"labs_{analyte}_unit"))
        if lab:
            labs[analyte] = lab
    _put(labs, "dialysis", ex.get("labs_dialysis"))
    history: dict[str, Any] = {}
    for name, col in HISTORY_COLUMNS.items():
        _put(history, name, ex.get(col))
    imaging: dict[str, Any] = {}
    for side in SIDES:
        img: dict[str, Any] = {}
        for f in IMAGING_FIELDS:
            _put(img, f, ex.get(f"imaging_{side}_{f}"))
        if img:
            imaging[side] = img
    for key, section in (("labs", labs), ("history", history), ("imaging", imaging)):
        if section:
            doc[key] = section
    scores = ex.get("scores_json")
    if scores is not None:
        try:
            doc["scores"] = json.loads(scores)
        except json.JSONDecodeError:
            doc["scores"] = scores  # not an object: the document is invalid, as the row is
    doc["legs"] = {}
    return doc


def _leg_document(lr: Mapping[str, Any]) -> dict[str, Any]:
    clinical: dict[str, Any] = {}
    for name, col in CLINICAL_COLUMNS.items():
        _put(clinical, name, lr.get(col))
    leg: dict[str, Any] = {"clinical": clinical} if clinical else {}
    leg["segments"] = []
    return leg


def _segment_document(sr: Mapping[str, Any]) -> dict[str, Any]:
    seg: dict[str, Any] = {}
    for name, col in SEGMENT_COLUMNS.items():
        _put(seg, name, sr.get(col))
    if sr.get("thrombus"):
        thrombus: dict[str, Any] = {}
        for name, col in THROMBUS_COLUMNS.items():
            _put(thrombus, name, sr.get(col))
        seg["thrombus"] = thrombus
    return seg


def tables_to_documents(
    tables: CohortTables, chunk_rows: int = 20_000
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row, exam document) for every exam, in row order.

    Defined for tables that pass validation; a malformed table gives documents that fail
    `parse_exam_obj` in the same places (that is how the error tests compare the engines).
    """
    exams = tables.exams.sort("row")
    legs = tables.legs.sort("row", "side")
    segs = tables.segments.sort("row", "side", "seg")
    leg_rows = legs.get_column("row").to_list()
    seg_rows = segs.get_column("row").to_list()
    li = si = 0
    for start in range(0, exams.height, chunk_rows):
        ex_chunk = exams.slice(start, chunk_rows)
        if ex_chunk.is_empty():
            break
        last_row = ex_chunk.get_column("row")[-1]
        lj = li
        while lj < len(leg_rows) and leg_rows[lj] <= last_row:
            lj += 1
        sj = si
        while sj < len(seg_rows) and seg_rows[sj] <= last_row:
            sj += 1
        leg_dicts = legs.slice(li, lj - li).to_dicts()
        seg_dicts = segs.slice(si, sj - si).to_dicts()
        a = b = 0
        for ex in ex_chunk.iter_rows(named=True):
            row = ex["row"]
            doc = _exam_document(ex)
            while a < len(leg_dicts) and leg_dicts[a]["row"] < row:
                a += 1  # legs of an exam that is not in the exams table: no document
            while a < len(leg_dicts) and leg_dicts[a]["row"] == row:
                lr = leg_dicts[a]
                doc["legs"][str(lr["side"])] = _leg_document(lr)
                a += 1
            while b < len(seg_dicts) and seg_dicts[b]["row"] < row:
                b += 1
            while b < len(seg_dicts) and seg_dicts[b]["row"] == row:
                sr = seg_dicts[b]
                side = str(sr["side"])
                leg_doc = doc["legs"].setdefault(side, {"segments": []})
                leg_doc.setdefault("segments", []).append(_segment_document(sr))
                b += 1
            for leg_doc in doc["legs"].values():
                if not leg_doc.get("segments"):
                    leg_doc.pop("segments", None)
            yield row, doc
        li, si = lj, sj


# ---------------------------------------------------------------------------------------
# Per-exam results -> result tables


def result_rows(
    row: int, exam: ExamDocument, result: Result
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Leg and segment result rows of one per-exam `Result` (LEG/SEGMENT_RESULT_SCHEMA)."""
    legs: list[dict[str, Any]] = []
    segs: list[dict[str, Any]] = []
    for side in SIDES:
        lr = result.leg(side)
        leg = exam.leg(side)
        if lr is None or leg is None:
            continue
        img = getattr(exam.imaging, side) if exam.imaging else None
        legs.append(
            {
                "row": row,
                "patient_id": exam.patient.id,
                "exam_date": exam.exam.date,
                "side": side,
                "purpose": exam.exam.purpose,
                "sex": exam.patient.sex,
                "age_years": exam.patient.age_years,
                "symptomatic": leg.clinical.symptomatic,
                "etiology": leg.clinical.etiology,
                "calcification": img.calcification if img else None,
                # the recorded signs' classes, also where CEAP was not assessed
                "c_classes": list(classes := clinical_classes(leg.clinical)),
                "c_highest": highest_class(classes),
                **{f"pattern_{t}": lr.reflux_patterns.get(t) for t in TRUNKS},
                "thrombosis": lr.thrombosis.classification,
            }
        )
        perforators = iter(lr.perforators)
        for i, s in enumerate(lr.segments):
            perf = next(perforators) if VEINS[s.vein].is_perforator else None
            segs.append(
                {
                    "row": row,
                    "side": side,
                    "seg": i,
                    "vein": s.vein,
                    "site": s.site,
                    "measured_ms": s.measured_ms,
                    "reflux": s.reflux,
                    "abnormal": s.abnormal,
                    "threshold_ms": s.threshold_ms,
                    "comparison": s.comparison,
                    "perforator_incompetent": perf.incompetent if perf else None,
                    "perforator_pathologic": perf.pathologic if perf else None,
                }
            )
    return legs, segs


def result_frames(
    legs: list[dict[str, Any]], segs: list[dict[str, Any]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        pl.DataFrame(legs, schema=LEG_RESULT_SCHEMA, orient="row"),
        pl.DataFrame(segs, schema=SEGMENT_RESULT_SCHEMA, orient="row"),
    )


# ---------------------------------------------------------------------------------------
# Cohort directories


def write_cohort(tables: CohortTables, folder: Path, *, row_group_size: int = 262_144) -> None:
    """Write the three tables as `<folder>/{exams,legs,segments}.parquet` (atomic each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in zip(TABLES, (tables.exams, tables.legs, tables.segments), strict=True):
        atomic_write_parquet(df, folder / f"{name}.parquet", row_group_size=row_group_size)


def atomic_write_parquet(
    df: pl.DataFrame,
    path: Path,
    *,
    row_group_size: int | None = None,
    compression: Literal["zstd", "lz4"] = "zstd",
) -> None:
    """Write to a temporary name in the same folder, then rename: readers never see half."""
    tmp = path.with_name(f".{path.name}.tmp")
    df.write_parquet(tmp, row_group_size=row_group_size, statistics=True, compression=compression)
    tmp.replace(path)


class CohortWriter:
    """Append tables chunk by chunk to `<folder>/{exams,legs,segments}.parquet`.

    Each chunk is conformed to the cohort schema and written as row groups of at most
    `row_group_size` rows, so a cohort of any size is written with the memory of one chunk.
    The files appear under their final names only on `close()` (temporary names until
    then; removed if the writer is left through an exception).
    """

    def __init__(
        self,
        folder: Path,
        *,
        row_group_size: int = 262_144,
        extra: Mapping[str, Mapping[str, pl.DataType]] | None = None,
    ) -> None:
        import pyarrow.parquet as pq

        folder.mkdir(parents=True, exist_ok=True)
        self._pq = pq
        self.row_group_size = row_group_size
        self.schemas: dict[str, Mapping[str, pl.DataType]] = {
            "exams": EXAM_SCHEMA,
            "legs": LEG_SCHEMA,
            "segments": SEGMENT_SCHEMA,
            **(extra or {}),
        }
        self.paths = {name: folder / f"{name}.parquet" for name in self.schemas}
        self._writers: dict[str, Any] = {}
        self.closed = False

    def _tmp(self, name: str) -> Path:
        return self.paths[name].with_name(f".{self.paths[name].name}.tmp")

    def write_frame(self, name: str, df: pl.DataFrame) -> None:
        table = _conform(df, self.schemas[name]).to_arrow()
        writer = self._writers.get(name)
        if writer is None:
            writer = self._pq.ParquetWriter(self._tmp(name), table.schema, compression="zstd")
            self._writers[name] = writer
        writer.write_table(table, row_group_size=self.row_group_size)

    def write(self, tables: CohortTables) -> None:
        for name in TABLES:
            self.write_frame(name, getattr(tables, name))

    def close(self) -> None:
        """Finish every file (an empty one for a table never written) and rename them."""
        if self.closed:
            return
        for name, schema in self.schemas.items():
            if name not in self._writers:
                self.write_frame(name, pl.DataFrame(schema=dict(schema)))
        for writer in self._writers.values():
            writer.close()
        for name in self.schemas:
            self._tmp(name).replace(self.paths[name])
        self.closed = True

    def discard(self) -> None:
        for writer in self._writers.values():
            writer.close()
        for name in self.schemas:
            self._tmp(name).unlink(missing_ok=True)
        self.closed = True

    def __enter__(self) -> CohortWriter:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def is_cohort_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f"{t}.parquet").exists() for t in TABLES)


def scan_cohort(folder: Path) -> dict[str, pl.LazyFrame]:
    return {t: pl.scan_parquet(folder / f"{t}.parquet") for t in TABLES}


def read_cohort_rows(folder: Path, lo: int, hi: int) -> CohortTables:
    """Rows lo <= row < hi of a cohort directory (row groups outside are skipped)."""
    scans = scan_cohort(folder)
    part = [scans[t].filter(pl.col("row").is_between(lo, hi - 1)).collect() for t in TABLES]
    return CohortTables(*part)


def cohort_row_count(folder: Path) -> tuple[int, int]:
    """(number of exams, max row + 1) of a cohort directory; rows rejected at conversion
    (`REJECTED`) count too."""
    stats = (
        pl.scan_parquet(folder / "exams.parquet")
        .select(pl.len().alias("n"), pl.col("row").max().alias("max"))
        .collect()
    )
    n = int(stats["n"][0])
    mx = stats["max"][0]
    if (folder / REJECTED).exists():
        rej = (
            pl.scan_parquet(folder / REJECTED)
            .select(pl.col("row").n_unique().alias("n"), pl.col("row").max().alias("max"))
            .collect()
        )
        n += int(rej["n"][0]) if rej["max"][0] is not None else 0
        mx = max((m for m in (mx, rej["max"][0]) if m is not None), default=None)
    return n, (int(mx) + 1 if mx is not None else 0)
