"""Partitioned, resumable cohort runs: the batch function and its output folder.

Input: a cohort folder (`exams.parquet`, `legs.parquet`, `segments.parquet`, see
`table.py`) or a JSONL file of exam documents (one per line; `row` = line index).
It is cut into partitions of consecutive rows. `run_partition` is the one batch function
every run mode calls (in this process, or on Dask workers, `distributed.py`): it loads one
partition, validates it, assesses it and writes

    OUT/legs/part-00003.parquet      leg results      (table.LEG_RESULT_SCHEMA)
    OUT/segments/part-00003.parquet  segment results  (table.SEGMENT_RESULT_SCHEMA)
    OUT/errors/part-00003.parquet    rejected rows    (table.ERROR_SCHEMA)
    OUT/_done/part-00003.json        written last: the partition is complete

each through a temporary name and a rename, so a crash never leaves a half file under a
final name. A partition whose `_done` marker exists is skipped: rerunning the same command
resumes. `OUT/run.json` records what the run computes (input, partitioning, criteria,
options, engine); a rerun with different settings is refused rather than mixed. At the end
`OUT/errors.jsonl` lists every rejected exam with its row, patient id and problems.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from venalab import __version__
from venalab.cohort.convert import CACHE_DIR, error_rows, parse_lines
from venalab.cohort.table import (
    ERROR_SCHEMA,
    LEG_RESULT_SCHEMA,
    REJECTED,
    SEGMENT_RESULT_SCHEMA,
    TableBuilder,
    atomic_write_parquet,
    cohort_row_count,
    is_cohort_dir,
    read_cohort_rows,
    result_frames,
    result_rows,
    tables_to_documents,
)
from venalab.cohort.vectorized import assess_cohort
from venalab.criteria import get_criteria
from venalab.engine import assess
from venalab.errors import InvalidInput, Problem
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.result import EngineOptions

RESULTS_FORMAT = "venous-cohort-results/1"
Engine = Literal["vectorized", "per-exam"]
SourceKind = Literal["parquet", "jsonl"]


@dataclass(frozen=True)
class Source:
    """Where the exams are; picklable, so Dask workers can open it themselves.

    `origin` and `digest`: a cohort folder converted from a JSONL file (`convert.py`) names
    that file and its content digest; the run is then described by the JSONL."""

    kind: SourceKind
    path: str
    origin: str | None = None
    digest: str | None = None

    def describe(self) -> dict[str, Any]:
        """The `input` of run.json."""
        if self.origin is None:
            return {"kind": self.kind, "path": self.path}
        return {"kind": "jsonl", "path": self.origin, "blake2b": self.digest}

    @classmethod
    def open(cls, path: Path) -> Source:
        path = absolute(path)  # workers of a distributed run have other working directories
        if is_cohort_dir(path):
            return cls("parquet", str(path))
        if path.is_dir() and (path / "exams.jsonl").is_file():
            return cls("jsonl", str(path / "exams.jsonl"))
        if path.is_file():
            return cls("jsonl", str(path))
        raise InvalidInput(
            [
                Problem(
                    "input",
                    f"{path} is neither a cohort folder (exams.parquet, legs.parquet, "
                    "segments.parquet) nor a JSONL file of exam documents",
                )
            ],
            what="option",
        )


@dataclass(frozen=True)
class Partition:
    index: int
    lo: int  # first row (parquet) or first line index (jsonl)
    hi: int  # one past the last
    offset: int = 0  # jsonl: byte offset of line `lo`
    end: int = 0  # jsonl: byte offset one past the partition

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


@dataclass(frozen=True)
class Settings:
    """What a run computes; equal settings make a run resumable."""

    criteria: str
    options: dict[str, Any]
    engine: Engine
    partition_size: int

    def engine_options(self) -> EngineOptions:
        return EngineOptions.model_validate(self.options)


@dataclass(frozen=True)
class PartitionSummary:
    index: int
    exams: int
    valid: int
    rejected: int
    legs: int
    segments: int
    seconds: float
    skipped: bool = False


def plan(source: Source, partition_size: int) -> list[Partition]:
    """Consecutive row ranges of at most `partition_size` exams."""
    if partition_size < 1:
        raise InvalidInput(
            [Problem("partition_size", f"must be >= 1, got {partition_size}")], what="option"
        )
    if source.kind == "parquet":
        _, stop = cohort_row_count(Path(source.path))
        return [
            Partition(i, lo, min(lo + partition_size, stop))
            for i, lo in enumerate(range(0, stop, partition_size))
        ]
    parts: list[Partition] = []
    line = 0
    offset = 0
    start_line, start_offset = 0, 0
    with open(source.path, "rb") as fh:
        for raw in fh:
            line += 1
            offset += len(raw)
            if line - start_line == partition_size:
                parts.append(Partition(len(parts), start_line, line, start_offset, offset))
                start_line, start_offset = line, offset
    if line > start_line:
        parts.append(Partition(len(parts), start_line, line, start_offset, offset))
    return parts


# ---------------------------------------------------------------------------------------
# Loading one partition


def _jsonl_lines(source: Source, part: Partition) -> Iterator[tuple[int, bytes]]:
    with open(source.path, "rb") as fh:
        fh.seek(part.offset)
        data = fh.read(part.end - part.offset)
    # lines end at b"\n" only, as `plan` counts them (bytes.splitlines also splits at a
    # stray b"\r", which would shift the rows after it)
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for i, raw in enumerate(lines):
        yield part.lo + i, raw


def _parsed(
    source: Source, part: Partition
) -> tuple[list[tuple[int, ExamDocument]], list[dict[str, Any]]]:
    if source.kind == "jsonl":
        return parse_lines(_jsonl_lines(source, part))
    exams: list[tuple[int, ExamDocument]] = []
    errors: list[dict[str, Any]] = []
    # documents of a cohort folder's rows (rows that fail validation give documents that
    # fail the exam model in the same places)
    tables = read_cohort_rows(Path(source.path), part.lo, part.hi)
    for row, obj in tables_to_documents(tables):
        try:
            exams.append((row, parse_exam_obj(obj)))
        except InvalidInput as err:
            errors += error_rows(row, obj, err.problems)
    return exams, errors


def _rejected(source: Source, part: Partition) -> pl.DataFrame:
    """Rows of the partition rejected when the cohort folder was converted (`convert.py`)."""
    path = Path(source.path) / REJECTED
    if source.kind != "parquet" or not path.exists():
        return pl.DataFrame(schema=ERROR_SCHEMA)
    return pl.scan_parquet(path).filter(pl.col("row").is_between(part.lo, part.hi - 1)).collect()


@dataclass(frozen=True)
class Computed:
    legs: pl.DataFrame
    segments: pl.DataFrame
    errors: pl.DataFrame
    exams: int
    valid: int


def compute_partition(source: Source, part: Partition, settings: Settings) -> Computed:
    """Results of one partition, in memory (the batch function without the files)."""
    cs = get_criteria(settings.criteria)
    options = settings.engine_options()
    rejected = _rejected(source, part)
    n_rejected = rejected.get_column("row").n_unique()
    if settings.engine == "vectorized" and source.kind == "parquet":
        tables = read_cohort_rows(Path(source.path), part.lo, part.hi)
        r = assess_cohort(tables, cs, options)
        found = r.errors
        if n_rejected:
            found = pl.concat([rejected, r.errors]).sort("row", maintain_order=True)
        return Computed(r.legs, r.segments, found, r.exams_in + n_rejected, r.exams_ok)
    exams, errors = _parsed(source, part)
    pre = pl.concat([rejected, pl.DataFrame(errors, schema=ERROR_SCHEMA, orient="row")])
    n = len(exams) + pre.get_column("row").n_unique()
    if settings.engine == "vectorized":
        builder = TableBuilder()
        for row, exam in exams:
            builder.add(row, exam)
        r = assess_cohort(builder.build(), cs, options)
        errs = pl.concat([pre, r.errors]).sort("row", maintain_order=True)
        return Computed(r.legs, r.segments, errs, n, r.exams_ok)
    legs: list[dict[str, Any]] = []
    segs: list[dict[str, Any]] = []
    for row, exam in exams:
        lr, sr = result_rows(row, exam, assess(exam, cs, options))
        legs += lr
        segs += sr
    leg_df, seg_df = result_frames(legs, segs)
    return Computed(leg_df, seg_df, pre.sort("row", maintain_order=True), n, len(exams))


# ---------------------------------------------------------------------------------------
# The output folder


def _atomic_json(obj: object, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def probe_name(token: str) -> str:
    """The probe file a distributed run writes into OUT (`distributed.check_workers`)."""
    return f".probe-{token}"


def run_partition(
    source: Source, part: Partition, out: str, settings: Settings, *, probe: str | None = None
) -> PartitionSummary:
    """Compute one partition and write its files (skipped when already complete).

    `probe`: a distributed run's token; the partition is refused unless this process sees
    the probe file the client wrote into `out` (so a worker on other storage fails loudly
    instead of writing results nobody will find)."""
    folder = Path(out)
    if probe is not None and not (folder / probe_name(probe)).is_file():
        raise InvalidInput(
            [
                Problem(
                    "output",
                    f"worker on host {socket.gethostname()} does not see the run's probe file "
                    f"in {folder}: it does not share the output folder with the client",
                )
            ],
            what="output",
        )
    done = folder / "_done" / f"{part.name}.json"
    if done.exists():
        info = json.loads(done.read_text(encoding="utf-8"))
        return PartitionSummary(**{**info, "skipped": True})
    t0 = time.perf_counter()
    c = compute_partition(source, part, settings)
    for sub, df in (("legs", c.legs), ("segments", c.segments), ("errors", c.errors)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        # lz4: results are written once per run and read soon after; speed over size
        atomic_write_parquet(df, folder / sub / f"{part.name}.parquet", compression="lz4")
    summary = PartitionSummary(
        index=part.index,
        exams=c.exams,
        valid=c.valid,
        rejected=c.exams - c.valid,
        legs=c.legs.height,
        segments=c.segments.height,
        seconds=round(time.perf_counter() - t0, 3),
    )
    done.parent.mkdir(parents=True, exist_ok=True)
    _atomic_json({k: v for k, v in asdict(summary).items() if k != "skipped"}, done)
    return summary


def verify_partitions(out: Path, parts: list[Partition]) -> None:
    """Every partition's files are in OUT as this process sees it (after a distributed run,
    a worker that wrote elsewhere would leave gaps here)."""
    missing = [
        f"{sub}/{part.name}{ext}"
        for part in parts
        for sub, ext in (
            ("legs", ".parquet"),
            ("segments", ".parquet"),
            ("errors", ".parquet"),
            ("_done", ".json"),
        )
        if not (out / sub / f"{part.name}{ext}").is_file()
    ]
    if missing:
        shown = ", ".join(missing[:6]) + (
            f" and {len(missing) - 6} more" if len(missing) > 6 else ""
        )
        raise InvalidInput(
            [
                Problem(
                    "output",
                    f"the workers reported {len(parts)} partition(s) done but {len(missing)} "
                    f"file(s) are missing in {out}: {shown}; were they written on other storage?",
                )
            ],
            what="output",
        )


def absolute(path: Path) -> Path:
    """`path` made absolute against this process's working directory; symlinks are kept (a
    shared mount may be reached through a link that resolves differently on the client)."""
    return Path(os.path.abspath(path))


def _manifest(source: Source, settings: Settings, parts: list[Partition] | None) -> dict[str, Any]:
    cs = get_criteria(settings.criteria)
    manifest: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "input": source.describe(),
        "partitions": len(parts) if parts is not None else None,
        "partition_size": settings.partition_size,
        "criteria": {"id": cs.id, "version": cs.version},
        "options": settings.options,
        "engine": settings.engine,
    }
    if parts is None:  # an early check: the partitions follow from the input and their size
        del manifest["partitions"]
    return manifest


def check_output(
    out: Path,
    source: Source,
    settings: Settings,
    parts: list[Partition] | None = None,
    *,
    overwrite: bool,
) -> None:
    """Refuse an OUT that holds something else, or the results of another run (unless
    `overwrite`). Cheap: callers run it before long preparations (a JSONL conversion)."""
    if overwrite:
        return
    run_file = out / "run.json"
    if out.exists() and not run_file.exists() and any(p.name != CACHE_DIR for p in out.iterdir()):
        raise InvalidInput(
            [Problem("output", f"{out} exists and is not a venalab cohort results folder")],
            what="option",
        )
    if not run_file.exists():
        return
    manifest = _manifest(source, settings, parts)
    previous = json.loads(run_file.read_text(encoding="utf-8"))
    changed = sorted(k for k in manifest if previous.get(k) != manifest[k])
    if changed:
        raise InvalidInput(
            [
                Problem(
                    "output",
                    f"{out} holds results of a different run (differs in: "
                    f"{', '.join(changed)}); use another folder or --overwrite",
                )
            ],
            what="option",
        )


def prepare_output(
    out: Path, source: Source, settings: Settings, parts: list[Partition], *, overwrite: bool
) -> None:
    """Create OUT (or check that it belongs to the same run) and write run.json."""
    run_file = out / "run.json"
    if out.exists() and overwrite:
        for sub in ("legs", "segments", "errors", "_done"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for name in ("run.json", "errors.jsonl", "summary.json"):
            (out / name).unlink(missing_ok=True)
    check_output(out, source, settings, parts, overwrite=False)
    if run_file.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    _atomic_json(
        {
            **_manifest(source, settings, parts),
            "venalab": __version__,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
        run_file,
    )


def finish_output(out: Path, summaries: list[PartitionSummary]) -> dict[str, Any]:
    """Merge the partition error files into errors.jsonl and write summary.json.

    One partition file at a time (a cohort of broken exams has as many rows as exams); an
    exam never spans partitions, so grouping per file groups per exam.
    """
    errors_dir = out / "errors"
    files = sorted(errors_dir.glob("part-*.parquet")) if errors_dir.exists() else []
    tmp = out / ".errors.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for f in files:
            grouped = (
                pl.read_parquet(f)
                .group_by("row", maintain_order=True)
                .agg(pl.col("patient_id").first(), pl.struct("path", "message").alias("problems"))
            )
            for row, pid, problems in grouped.iter_rows():
                fh.write(json.dumps({"row": row, "patient_id": pid, "problems": problems}) + "\n")
    tmp.replace(out / "errors.jsonl")
    summary = {
        "exams": sum(s.exams for s in summaries),
        "valid": sum(s.valid for s in summaries),
        "rejected": sum(s.rejected for s in summaries),
        "legs": sum(s.legs for s in summaries),
        "segments": sum(s.segments for s in summaries),
        "partitions": len(summaries),
        "partitions_skipped": sum(1 for s in summaries if s.skipped),
    }
    _atomic_json(summary, out / "summary.json")
    return summary


def run_local(
    source: Source,
    out: Path,
    settings: Settings,
    *,
    overwrite: bool = False,
    progress: Callable[[PartitionSummary], None] | None = None,
    parts: list[Partition] | None = None,
    concurrent: int = 2,
) -> dict[str, Any]:
    """Every partition in this process. Polars parallelises within a partition, but reading,
    encoding and the NumPy steps are partly serial, so `concurrent` partitions run at once
    in threads (Polars and NumPy release the GIL); 1 = one after the other."""
    out = absolute(out)
    parts = parts if parts is not None else plan(source, settings.partition_size)
    prepare_output(out, source, settings, parts, overwrite=overwrite)
    summaries: list[PartitionSummary] = []
    if concurrent <= 1 or len(parts) <= 1:
        for part in parts:
            summaries.append(run_partition(source, part, str(out), settings))
            if progress:
                progress(summaries[-1])
    else:
        with ThreadPoolExecutor(max_workers=concurrent) as pool:
            futures = [pool.submit(run_partition, source, p, str(out), settings) for p in parts]
            for future in as_completed(futures):
                summaries.append(future.result())
                if progress:
                    progress(summaries[-1])
    summaries.sort(key=lambda s: s.index)
    verify_partitions(out, parts)
    return finish_output(out, summaries)


# ---------------------------------------------------------------------------------------
# Reading results


def read_results(
    out: Path, segment_columns: list[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(legs, segments, errors) of a results folder, sorted by key; `segment_columns` reads
    only those columns of the (large) segment table."""

    def load(
        sub: str, schema: dict[str, pl.DataType], columns: list[str] | None = None
    ) -> pl.DataFrame:
        files = sorted((out / sub).glob("part-*.parquet"))
        if not files:
            empty = pl.DataFrame(schema=schema)
            return empty.select(columns) if columns else empty
        return pl.concat([pl.read_parquet(f, columns=columns) for f in files])

    legs = load("legs", LEG_RESULT_SCHEMA).sort("row", "side")
    keys = ["row", "side", "seg"]
    wanted = None if segment_columns is None else list(dict.fromkeys([*keys, *segment_columns]))
    segs = load("segments", SEGMENT_RESULT_SCHEMA, wanted).sort(keys)
    errors = load("errors", ERROR_SCHEMA).sort("row", maintain_order=True)
    return legs, segs, errors


def cpu_count() -> int:
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
