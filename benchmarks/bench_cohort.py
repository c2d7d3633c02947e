"""Cohort throughput: the per-exam loop, the vectorized engine and Dask with 2 workers.

For each cohort size (default 10k, 100k, 1M synthetic exams, `venalab synth` model) it
measures, each in a fresh process so that peak memory is that run's own:

- per-exam: `parse_exam_json` + `venalab.engine.assess` + flattening to the result rows, one
  exam at a time from JSON text (what a script looping over documents does). Above
  `--per-exam-max` exams it is measured on a sample of that many exams of the cohort and
  the time is EXTRAPOLATED linearly (marked "extrapolated" in the table).
- vectorized: `venalab cohort assess` in one process (read Parquet partitions, validate,
  assess, write the result Parquet files; the command's defaults: partitions of 50,000
  exams, two at a time).
- dask-2: the same partitions on a local Dask cluster of 2 worker processes (wall time
  includes starting the cluster; peak memory is the sum of the driver's and the workers').

Generation of the cohorts is not timed (it is cached in --workdir). Prints a Markdown
table; `--json FILE` also writes the figures.

    .venv/bin/python benchmarks/bench_cohort.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: reset by exec, unlike ru_maxrss, which
    a child inherits from the parent that forked it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cohort(workdir: Path, n: int, seed: int) -> Path:
    from venalab.cohort.synth import write_synthetic

    folder = workdir / f"cohort-{n}-{seed}"
    info = folder / "cohort.json"
    if info.exists() and json.loads(info.read_text())["n"] == n:
        return folder
    t0 = time.perf_counter()
    write_synthetic(n, seed, folder, jsonl=False)
    print(f"  generated {n:,} exams in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return folder


def _one_per_exam(folder: Path, n: int, limit: int) -> dict[str, Any]:
    import polars as pl

    from venalab.cohort.table import CohortTables, result_rows, scan_cohort, tables_to_documents
    from venalab.criteria import get_criteria
    from venalab.engine import assess
    from venalab.exam import parse_exam_json

    take = min(n, limit)
    step = max(1, n // take)  # an evenly spread sample of the cohort's exams
    scans = scan_cohort(folder)
    sample = CohortTables(
        *[
            scans[t].filter(pl.col("row") % step == 0).collect(engine="streaming")
            for t in ("exams", "legs", "segments")
        ]
    )
    texts = [json.dumps(doc) for _, doc in tables_to_documents(sample)][:take]
    cs = get_criteria()
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        exam = parse_exam_json(text)
        result_rows(i, exam, assess(exam, cs))
    seconds = time.perf_counter() - t0
    return {
        "measured_exams": len(texts),
        "seconds": seconds * n / len(texts),
        "extrapolated": len(texts) < n,
        "peak_mb": _peak_mb(),
    }


def _settings(partition_size: int) -> Any:
    from venalab.cohort.runner import Settings

    return Settings(
        criteria="svs-avf-avls-2022",
        options={"criteria": "svs-avf-avls-2022", "tibioperoneal_trunk": "distal"},
        engine="vectorized",
        partition_size=partition_size,
    )


def _one_vectorized(folder: Path, n: int, out: Path, partition: int) -> dict[str, Any]:
    from venalab.cohort.runner import Source, run_local

    t0 = time.perf_counter()
    summary = run_local(Source.open(folder), out, _settings(partition), overwrite=True)
    seconds = time.perf_counter() - t0
    assert summary["exams"] == n, summary
    return {"seconds": seconds, "peak_mb": _peak_mb(), "extrapolated": False}


def _one_dask(folder: Path, n: int, out: Path, partition: int) -> dict[str, Any]:
    from venalab.cohort import distributed
    from venalab.cohort.runner import Source, finish_output, plan, prepare_output, run_partition

    t0 = time.perf_counter()
    source = Source.open(folder)
    settings = _settings(partition)
    parts = plan(source, partition)
    prepare_output(out, source, settings, parts, overwrite=True)
    with distributed.dask_client(None, 2) as client:
        started = time.perf_counter()
        futures = [
            client.submit(run_partition, source, p, str(out), settings, pure=False) for p in parts
        ]
        summaries = client.gather(futures)
        workers = client.run(_peak_mb)
    summary = finish_output(out, sorted(summaries, key=lambda s: s.index))
    seconds = time.perf_counter() - t0
    assert summary["exams"] == n, summary
    return {
        "seconds": seconds,
        "seconds_without_startup": time.perf_counter() - started,
        "peak_mb": _peak_mb() + sum(workers.values()),
        "extrapolated": False,
    }


def _run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--per-exam-max", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=None, help="cohort cache folder")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--one", choices=["per-exam", "vectorized", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--partition", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        if args.one == "per-exam":
            result = _one_per_exam(args.folder, args.n, args.per_exam_max)
        elif args.one == "vectorized":
            result = _one_vectorized(args.folder, args.n, args.out, args.partition)
        else:
            result = _one_dask(args.folder, args.n, args.out, args.partition)
        print(json.dumps(result))
        return

    workdir = args.workdir or Path(tempfile.gettempdir()) / "venalab-bench-cohort"
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for n in (int(x) for x in args.sizes.split(",")):
        folder = _cohort(workdir, n, args.seed)
        out = workdir / f"results-{n}"
        common = ["--n", str(n), "--folder", str(folder), "--out", str(out)]
        runs = {
            "per-exam": ["--one", "per-exam", "--per-exam-max", str(args.per_exam_max)],
            "vectorized": ["--one", "vectorized", "--partition", str(min(50_000, n))],
            "dask-2": ["--one", "dask", "--partition", str(max(1, min(125_000, -(-n // 4))))],
        }
        base: float | None = None
        for name, extra in runs.items():
            print(f"  {n:,} {name} ...", file=sys.stderr, flush=True)
            r = _run_child(common + extra)
            shutil.rmtree(out, ignore_errors=True)
            rate = n / r["seconds"]
            base = rate if name == "per-exam" else base
            rows.append({"exams": n, "engine": name, "exams_per_s": rate, **r})
            rows[-1]["speedup"] = rate / base if base else None
    print("\n| exams | engine | exams/s | wall s | peak memory MB | vs per-exam | note |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for r in rows:
        note = []
        if r["extrapolated"]:
            note.append(f"extrapolated from {r['measured_exams']:,} exams")
        if "seconds_without_startup" in r:
            note.append(f"{r['seconds_without_startup']:.1f} s without cluster start")
        print(
            f"| {r['exams']:,} | {r['engine']} | {r['exams_per_s']:,.0f} | {r['seconds']:.1f} | "
            f"{r['peak_mb']:,.0f} | {r['speedup']:.0f}x | {'; '.join(note)} |"
        )
    print(f"\nmachine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
