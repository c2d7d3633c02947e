"""JSONL exam documents -> a cohort folder (Parquet tables), once.

Reading a JSONL cohort means decoding and validating every document with the exam model
(`parse_exam_obj`), about 18 times the cost of assessing the same exams from Parquet. So
`venalab cohort assess` converts a JSONL input once into `OUT/_input/` and assesses the
tables; later runs into the same folder (other criteria sets, options, a resume) reuse
the conversion. `venalab cohort convert` writes such a folder anywhere, to be reused by
any run.

The folder is a cohort folder (`table.py`) plus `rejected.parquet`: the lines that are not
valid JSON or not valid exam documents, with their row (line index) and problems
(`table.ERROR_SCHEMA`); a run lists them among its rejected exams exactly as when it reads
the JSONL itself. Blank lines are not exams. `source.json`, written last, records what was
converted: the JSONL's path, size, modification time and BLAKE2b digest. The conversion is
reused while the size and modification time are unchanged, or when the content hashes to
the same digest; otherwise it is redone. Everything is streamed (memory of one chunk).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from venalab.cohort.table import (
    ERROR_SCHEMA,
    REJECTED,
    TABLES,
    CohortTables,
    CohortWriter,
    TableBuilder,
    is_cohort_dir,
    unsupported_in_tables,
)
from venalab.errors import InvalidInput, Problem
from venalab.exam import ExamDocument, parse_exam_obj

CACHE_DIR = "_input"
STAMP = "source.json"
CONVERSION_FORMAT = "venalab-jsonl-conversion/1"
_CHUNK_LINES = 10_000
_HASH_BLOCK = 8 << 20


# ---------------------------------------------------------------------------------------
# Lines -> validated exams and rejected rows


def error_rows(row: int, obj: object, problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Rows of `table.ERROR_SCHEMA` for one rejected exam."""
    pid = None
    if isinstance(obj, dict):
        patient = obj.get("patient")
        if isinstance(patient, dict) and isinstance(patient.get("id"), str):
            pid = str(patient["id"])
    return [{"row": row, "patient_id": pid, "path": p.path, "message": p.message} for p in problems]


def parse_lines(
    lines: Iterable[tuple[int, bytes]],
) -> tuple[list[tuple[int, ExamDocument]], list[dict[str, Any]]]:
    """(row, exam) of the valid documents and the error rows of the others; blank lines
    are skipped."""
    exams: list[tuple[int, ExamDocument]] = []
    errors: list[dict[str, Any]] = []
    for row, line in lines:
        raw = line.rstrip(b"\r\n")  # the line break is not part of the document
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            errors += error_rows(row, None, [Problem("", f"not valid JSON: {err}")])
            continue
        try:
            exam = parse_exam_obj(obj)
        except InvalidInput as err:
            errors += error_rows(row, obj, err.problems)
            continue
        if unsupported := unsupported_in_tables(exam):  # treated segments (issue 18)
            errors += error_rows(row, obj, unsupported)
        else:
            exams.append((row, exam))
    return exams, errors


def _numbered_chunks(fh: Any) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for row, raw in enumerate(fh):
        chunk.append((row, raw))
        if len(chunk) == _CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class _Converted:
    tables: CohortTables
    rejected: pl.DataFrame
    valid: int
    lines: int  # one past the last line of the chunk
    size: int  # bytes of the chunk


def _convert_chunk(chunk: list[tuple[int, bytes]]) -> _Converted:
    """One chunk of lines -> tables (run in a worker process when converting in parallel)."""
    parsed, errors = parse_lines(chunk)
    builder = TableBuilder()
    for row, exam in parsed:
        builder.add(row, exam)
    return _Converted(
        builder.build(),
        pl.DataFrame(errors, schema=ERROR_SCHEMA, orient="row"),
        len(parsed),
        chunk[-1][0] + 1,
        sum(len(raw) for _, raw in chunk),
    )


def _in_order(chunks: Iterable[list[tuple[int, bytes]]], workers: int) -> Iterator[_Converted]:
    """`_convert_chunk` over the chunks, in order; with `workers` > 1 in that many processes,
    a few chunks ahead (never the whole file in memory)."""
    if workers <= 1:
        yield from map(_convert_chunk, chunks)
        return
    # spawn, not fork: this process may run Polars threads, which fork does not copy safely
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[_Converted]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(_convert_chunk, chunk))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def convert_jsonl(
    src: Path,
    dest: Path,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Convert a JSONL file into the cohort folder `dest`, streamed (`progress(bytes)`),
    in `workers` processes. The tables do not depend on `workers`.

    Returns the counts; `cached_conversion` adds `source.json` once the tables are complete."""
    exams = valid = lines = 0
    with CohortWriter(dest, extra={"rejected": ERROR_SCHEMA}) as writer, open(src, "rb") as fh:
        for done in _in_order(_numbered_chunks(fh), workers):
            writer.write(done.tables)
            writer.write_frame("rejected", done.rejected)
            valid += done.valid
            exams += done.valid + done.rejected.get_column("row").n_unique()
            lines = done.lines
            if progress:
                progress(done.size)
    return {"exams": exams, "valid": valid, "rejected": exams - valid, "lines": lines}


# ---------------------------------------------------------------------------------------
# The reusable conversion


def _key(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_digest(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """BLAKE2b of a file's content (`progress(bytes)` as it is read)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def _stamp(folder: Path) -> dict[str, Any] | None:
    try:
        stamp: dict[str, Any] = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    complete = is_cohort_dir(folder) and (folder / REJECTED).is_file()
    return stamp if complete and stamp.get("format") == CONVERSION_FORMAT else None


def _write_stamp(folder: Path, stamp: dict[str, Any]) -> None:
    tmp = folder / f".{STAMP}.tmp"
    tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / STAMP)


@dataclass(frozen=True)
class Conversion:
    """A JSONL file and its converted cohort folder."""

    jsonl: Path
    folder: Path
    digest: str
    counts: dict[str, Any]
    reused: bool
    seconds: float


def known_digest(src: Path, folder: Path) -> str | None:
    """The digest of `src` recorded by the conversion in `folder`, if the file's size and
    modification time are still those recorded."""
    stamp = _stamp(folder)
    if stamp is not None and stamp["source"] == _key(src):
        return str(stamp["blake2b"])
    return None


def input_digest(src: Path, folder: Path, progress: Callable[[int], None] | None = None) -> str:
    """The digest of `src`: known from the conversion in `folder`, or read now. A file that
    was touched or moved but holds the same content keeps its conversion (the new size and
    time are recorded, so the next run need not read it again)."""
    known = known_digest(src, folder)
    if known is not None:
        return known
    digest = file_digest(src, progress)
    stamp = _stamp(folder)
    if stamp is not None and stamp["blake2b"] == digest:
        _write_stamp(folder, {**stamp, "source": _key(src)})
    return digest


def is_current(folder: Path, digest: str) -> bool:
    """Whether `folder` holds a complete conversion of content `digest`."""
    stamp = _stamp(folder)
    return stamp is not None and stamp["blake2b"] == digest


def cached_conversion(
    src: Path,
    folder: Path,
    digest: str,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> Conversion:
    """The conversion of `src` (content `digest`) in `folder`: reused, or made now."""
    t0 = time.perf_counter()
    stamp = _stamp(folder)
    if stamp is not None and stamp["blake2b"] == digest:
        return Conversion(src, folder, digest, stamp["counts"], True, time.perf_counter() - t0)
    # an interrupted conversion must never pass for a complete one: the stamp goes first
    (folder / STAMP).unlink(missing_ok=True)
    for name in (*TABLES, "rejected"):
        (folder / f"{name}.parquet").unlink(missing_ok=True)
    counts = convert_jsonl(src, folder, progress=progress, workers=workers)
    _write_stamp(
        folder,
        {
            "format": CONVERSION_FORMAT,
            "source": _key(src),
            "blake2b": digest,
            "counts": counts,
            "converted": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    return Conversion(src, folder, digest, counts, False, time.perf_counter() - t0)
