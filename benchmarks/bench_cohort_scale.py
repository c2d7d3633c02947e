"""Cohort commands at growing sizes: wall time and peak memory of each `venalab` command.

For each size (default 1M and 5M synthetic exams) it runs, as a user would, each command
in its own process and records the wall time and the peak resident memory of the largest
process it ran (measured through a fresh wrapper process, so one command's peak never
leaks into another's; the worker processes of a JSONL conversion count each on its own):

1. `venalab synth --format parquet` (streamed chunk by chunk);
2. `venalab cohort assess` (vectorized, the defaults: 50,000-exam partitions, two at a time);
3. `venalab cohort report` (read partition by partition).

With `--jsonl N` it also times a JSONL input of N exams: the first `cohort assess`
(converting it to Parquet once), the second (reusing the conversion) and the same cohort
from Parquet. Time should grow linearly with size and peak memory stay flat. Not a timed
test: it prints a Markdown table (and `--json FILE` writes the figures).

    .venv/bin/python benchmarks/bench_cohort_scale.py [--sizes 1000000,5000000] [--jsonl 200000]
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

VENALAB = str(Path(sys.executable).with_name("venalab"))


def _measure(argv: list[str]) -> dict[str, float]:
    """Run `argv` in a fresh wrapper process: its wall seconds and peak RSS (MB)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", "--", *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _measured_child(argv: list[str]) -> None:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    # the largest resident set of any waited-for descendant (this wrapper ran only argv)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--jsonl", type=int, default=0, help="also time a JSONL input of N exams")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.measure:
        _measured_child([a for a in rest if a != "--"])
        return

    workdir = args.workdir or Path(tempfile.gettempdir()) / "venalab-bench-cohort-scale"
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def step(n: int, name: str, argv: list[str], note: str = "") -> None:
        print(f"  {n:,} {name} ...", file=sys.stderr, flush=True)
        r = _measure(argv)
        rows.append({"exams": n, "step": name, **r, "exams_per_s": n / r["seconds"], "note": note})

    for n in (int(x) for x in args.sizes.split(",")):
        cohort, results = workdir / f"cohort-{n}", workdir / f"results-{n}"
        report = workdir / f"report-{n}.html"
        shutil.rmtree(cohort, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
        seed = str(args.seed)
        step(
            n,
            "synth (Parquet)",
            [
                VENALAB,
                "synth",
                "--n",
                str(n),
                "--seed",
                seed,
                "--format",
                "parquet",
                "-o",
                str(cohort),
            ],
        )
        info = json.loads((cohort / "cohort.json").read_text())
        rows[-1]["note"] = f"{info['segments']:,} segment entries; {_du_mb(cohort):,.0f} MB"
        step(n, "cohort assess", [VENALAB, "cohort", "assess", str(cohort), "-o", str(results)])
        rows[-1]["note"] = f"results {_du_mb(results):,.0f} MB"
        step(n, "cohort report", [VENALAB, "cohort", "report", str(results), "-o", str(report)])
        if not args.keep:
            shutil.rmtree(cohort, ignore_errors=True)
            shutil.rmtree(results, ignore_errors=True)

    if args.jsonl:
        n = args.jsonl
        cohort, out = workdir / f"jsonl-{n}", workdir / f"jsonl-results-{n}"
        shutil.rmtree(cohort, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(
            [VENALAB, "synth", "--n", str(n), "--seed", str(args.seed), "-o", str(cohort)],
            check=True,
            capture_output=True,
        )
        jsonl = cohort / "exams.jsonl"
        size = f"{jsonl.stat().st_size / 2**20:,.0f} MB of JSONL"
        assess = [VENALAB, "cohort", "assess", str(jsonl), "-o", str(out)]
        step(n, "assess JSONL, first run", assess, f"converts to Parquet once ({size})")
        step(n, "assess JSONL, again", [*assess, "--overwrite"], "reuses the conversion")
        step(
            n,
            "assess Parquet",
            [
                VENALAB,
                "cohort",
                "assess",
                str(cohort),
                "-o",
                str(workdir / "parquet-results"),
                "--overwrite",
            ],
        )
        if not args.keep:
            for folder in (cohort, out, workdir / "parquet-results"):
                shutil.rmtree(folder, ignore_errors=True)

    print("\n| exams | command | wall s | exams/s | peak memory MB | note |")
    print("|---:|---|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['exams']:,} | {r['step']} | {r['seconds']:.1f} | {r['exams_per_s']:,.0f} | "
            f"{r['peak_mb']:,.0f} | {r['note']} |"
        )
    print(f"\nmachine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
