"""Throughput of parse + assess on one core: exams per second, median of several runs.

Generates N realistic exam documents (both legs, 10-20 segments each, a mix of reflux,
perforators, thrombi and missing values), serialises them to JSON text, then times, in the
same process and on the same documents:

- `json.loads` alone (the reference: the cost of reading the documents at all);
- `parse_exam_json` alone (decode + validate into the exam model);
- `parse_exam_json` + `assess(detail="decisions")` (the decisions tier, venalab.decisions);
- `parse_exam_json` + `assess` (the full result: evidence, texts, findings);
- the full result serialised as JSON too (`Result.to_json`), as the CLI and API send it.

Every figure is also printed as a ratio to the `json.loads` time of the same run, which
machine load moves far less than the absolute rates; the median and the best run are both
shown. Times are the process's CPU time (`time.process_time`), so waiting for a core on a
shared machine is not counted (cache and memory-bandwidth contention still are).

Each timed loop drops its objects as it goes, as a service or a batch job does: a loop that
kept every parsed exam in a list (the earlier method) measured mostly Python's cyclic
garbage collector walking the growing list, not parsing. Before each loop earlier garbage
is collected and the surviving objects are frozen (`gc.freeze`), so no loop pays for
another's leftovers; the collector stays on during the loop. The kept-in-a-list figure is
printed too, to show the size of that artefact. Not a timed test: it prints its figures.

    .venv/bin/python benchmarks/bench_assess.py [--n 2000] [--runs 5] [--fresh]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from venalab.engine import assess
from venalab.exam import parse_exam_json

SUPERFICIAL = ["SFJ", "GSVa", "GSVb", "SPJ", "SSV", "AASV"]
DEEP = ["CFV", "FV", "POPV", "DFV", "PTV", "PRV", "ATV", "GAV", "SOV"]
SIGNS = ["varicose", "edema", "pigmentation", "eczema", "lipodermatosclerosis", "ulcer-active"]


def _reflux_ms(rng: random.Random, choices: list[int], varied: bool) -> int:
    """A reflux time: from a few typical values, or (varied) any whole ms up to the largest."""
    return rng.randint(0, max(choices)) if varied else rng.choice(choices)


def make_exam(rng: random.Random, i: int, varied: bool = False) -> dict[str, Any]:
    legs: dict[str, Any] = {}
    for side in ("left", "right"):
        segments: list[dict[str, Any]] = []
        n = rng.randint(10, 20)
        for _ in range(n):
            kind = rng.random()
            if kind < 0.55:
                seg: dict[str, Any] = {"vein": rng.choice(SUPERFICIAL)}
                if rng.random() < 0.9:
                    seg["reflux_ms"] = _reflux_ms(rng, [0, 200, 450, 500, 650, 1200, 2500], varied)
                if rng.random() < 0.5:
                    seg["diameter_mm"] = round(rng.uniform(2, 12), 1)
            elif kind < 0.9:
                seg = {"vein": rng.choice(DEEP), "compressibility": "full"}
                if rng.random() < 0.6:
                    seg["reflux_ms"] = _reflux_ms(rng, [100, 600, 1000, 1400], varied)
                if rng.random() < 0.08:
                    seg["compressibility"] = "none"
                    seg["thrombus"] = {"age": "acute", "occlusive": True, "length_cm": 4.0}
            else:
                seg = {
                    "vein": "CPV",
                    "reflux_ms": _reflux_ms(rng, [300, 400, 500, 800], varied),
                    "diameter_mm": round(rng.uniform(2.0, 6.0), 1)
                    if varied
                    else rng.choice([2.8, 3.5, 4.2]),
                    "beneath_ulcer": rng.random() < 0.3,
                }
            if rng.random() < 0.2:
                seg["site"] = rng.choice(["proximal", "mid", "distal"])
            segments.append(seg)
        legs[side] = {
            "clinical": {
                "signs": rng.sample(SIGNS, rng.randint(0, 3)),
                "symptomatic": rng.random() < 0.7,
            },
            "segments": segments,
        }
    return {
        "format": "venous-exam/1",
        "patient": {
            "id": f"B-{i:06d}",
            "sex": rng.choice(["male", "female"]),
            "age_years": rng.randint(25, 90),
        },
        "exam": {"date": "2025-03-01", "purpose": "insufficiency", "position": "standing"},
        "legs": legs,
    }


def _timed(loop: Callable[[], object]) -> float:
    """CPU seconds of one loop, with earlier garbage collected and survivors frozen first.
    CPU time, not wall time: on a shared machine the time spent waiting for a core would
    otherwise dominate the figures."""
    gc.collect()
    gc.freeze()
    try:
        t0 = time.process_time()  # CPU time of this process: waiting for a core is not counted
        loop()
        return time.process_time() - t0
    finally:
        gc.unfreeze()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="exams per run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="new documents for every run, with reflux times and perforator diameters drawn "
        "from continuous ranges: the engine's shared evidence and caches see values they "
        "have not met, as a service does (default: the same documents, few distinct values)",
    )
    args = parser.parse_args()

    def documents(seed: int) -> list[str]:
        rng = random.Random(seed)
        return [json.dumps(make_exam(rng, i, varied=args.fresh)) for i in range(args.n)]

    texts = documents(args.seed)
    segments = sum(len(leg["segments"]) for t in texts for leg in json.loads(t)["legs"].values())
    for t in documents(args.seed + 10_000)[:50] if args.fresh else texts[:50]:  # warm-up
        assess(parse_exam_json(t))
        assess(parse_exam_json(t), detail="decisions")

    def loads() -> None:
        for t in texts:
            json.loads(t)

    def parse() -> None:
        for t in texts:
            parse_exam_json(t)

    def parse_decide() -> None:
        for t in texts:
            assess(parse_exam_json(t), detail="decisions")

    def parse_assess() -> None:
        for t in texts:
            assess(parse_exam_json(t))

    def parse_assess_json() -> None:
        for t in texts:
            assess(parse_exam_json(t)).to_json()

    def parse_kept() -> list[Any]:  # the earlier method: every exam kept in a list
        return [parse_exam_json(t) for t in texts]

    loops = {
        "json.loads": loads,
        "parse": parse,
        "parse + decide": parse_decide,
        "parse + assess": parse_assess,
        "parse + assess + JSON": parse_assess_json,
        "parse, kept in a list": parse_kept,
    }
    times: dict[str, list[float]] = {name: [] for name in loops}
    for run in range(args.runs):
        if args.fresh and run:
            texts = documents(args.seed + run)  # the loops read `texts` when they run
        for name, loop in loops.items():  # interleaved: machine load hits every loop alike
            times[name].append(_timed(loop))

    med = {name: statistics.median(ts) for name, ts in times.items()}
    best = {name: min(ts) for name, ts in times.items()}
    ref, best_ref = med["json.loads"], best["json.loads"]
    print(f"exams per run      : {args.n} ({segments / args.n:.1f} segments per exam)")
    print(f"runs               : {args.runs} (median and best; gc on, survivors frozen)")
    print(
        f"documents          : {'new per run, varied values' if args.fresh else 'the same each run'}"
    )
    print(
        f"{'':<22}  {'median':>10}  {'(us/exam)':>10}  {'ratio':>6}    {'best':>10}  {'ratio':>6}"
    )
    for name in loops:
        ratio = "" if name == "json.loads" else f"{med[name] / ref:5.1f}x"
        best_ratio = "" if name == "json.loads" else f"{best[name] / best_ref:5.1f}x"
        print(
            f"{name:<22}: {args.n / med[name]:>10,.0f}  ({med[name] / args.n * 1e6:8,.1f})  "
            f"{ratio:>6}    {args.n / best[name]:>10,.0f}  {best_ratio:>6}"
        )
    print("exams/s; ratio = time / json.loads time of the same run (load moves it far less)")
    for name in ("parse + decide", "parse + assess"):
        print(f"all runs {name} (exams/s): " + ", ".join(f"{args.n / t:,.0f}" for t in times[name]))


if __name__ == "__main__":
    main()
