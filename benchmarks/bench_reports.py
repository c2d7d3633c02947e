"""Report generation time for the example exams (HTML and PDF, clinician and patient).

    .venv/bin/python benchmarks/bench_reports.py [--runs 5]

Prints the median wall time per report; the aim is under 1 s per PDF.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from venalab.engine import assess
from venalab.exam import load_exam
from venalab.report.render import render_report

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "venalab" / "data" / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description="report generation time")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    render_report(
        load_exam(EXAMPLES / "calf-dvt.json"),
        assess(load_exam(EXAMPLES / "calf-dvt.json")),
        "clinician",
        "pdf",
    )  # warm-up: fonts, templates, imports
    print(f"{'exam':28} {'audience':10} {'format':6} {'median s':>9} {'max s':>7} {'bytes':>8}")
    for path in sorted(EXAMPLES.glob("*.json")):
        exam = load_exam(path)
        for audience in ("clinician", "patient"):
            for fmt in ("html", "pdf"):
                times, size = [], 0
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    result = assess(exam)
                    size = len(render_report(exam, result, audience, fmt))  # type: ignore[arg-type]
                    times.append(time.perf_counter() - t0)
                print(
                    f"{path.stem:28} {audience:10} {fmt:6} {statistics.median(times):9.3f} "
                    f"{max(times):7.3f} {size:8,}"
                )


if __name__ == "__main__":
    main()
