"""Report generation time (issues 5 and 14).

    .venv/bin/python benchmarks/bench_reports.py [--runs 5] [--segments 100,300,1000]
        [--parts examples,map,scaling]

- examples: median wall time per report of each example exam (clinician and patient, HTML
  and PDF); the aim is under 1 s per PDF.
- map: CPU seconds per clinician PDF with the venous map inline (SVG in the HTML) and as an
  image (what the PDF uses), median of --runs.
- scaling: CPU seconds of the clinician PDF of generated exams with N segments, with the
  findings tables in fixed layout (what the report uses) and in automatic layout (before
  issue 14), and the time per segment; linear growth keeps t(1000)/t(300) near 3.3.

CPU times are the process's own (user + system), so other work on the machine matters less
than for wall times; the machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from venalab.engine import assess
from venalab.exam import ExamDocument, load_exam, parse_exam_obj
from venalab.report.render import html_to_pdf, render_clinician_html, render_report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import make_exam  # the generated exams of bench_assess

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "venalab" / "data" / "examples"
AUTO_TABLES = "<style>table.findings { table-layout: auto; }</style></head>"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], Any], runs: int) -> float:
    """Median CPU seconds of `fn` over `runs` runs."""
    times = []
    for _ in range(runs):
        c0 = cpu_s()
        fn()
        times.append(cpu_s() - c0)
    return statistics.median(times)


def exam_with(segments: int, seed: int = 7) -> ExamDocument:
    """A generated exam with `segments` measurement rows over both legs."""
    rng = random.Random(seed)
    doc = make_exam(rng, 1)
    rows: list[dict[str, Any]] = []
    while len(rows) < segments:
        rows += make_exam(rng, 2)["legs"]["left"]["segments"]
    half = segments // 2
    doc["legs"]["left"]["segments"] = rows[:half]
    doc["legs"]["right"]["segments"] = rows[half:segments]
    return parse_exam_obj(doc)


def examples(runs: int) -> None:
    print(f"\n{'exam':28} {'audience':10} {'format':6} {'median s':>9} {'max s':>7} {'bytes':>8}")
    for path in sorted(EXAMPLES.glob("*.json")):
        exam = load_exam(path)
        for audience in ("clinician", "patient"):
            for fmt in ("html", "pdf"):
                times, size = [], 0
                for _ in range(runs):
                    t0 = time.perf_counter()
                    result = assess(exam)
                    size = len(render_report(exam, result, audience, fmt))  # type: ignore[arg-type]
                    times.append(time.perf_counter() - t0)
                print(
                    f"{path.stem:28} {audience:10} {fmt:6} {statistics.median(times):9.3f} "
                    f"{max(times):7.3f} {size:8,}"
                )


def map_as_image(runs: int) -> None:
    print(f"\nclinician PDF, CPU s (median of {runs}): venous map inline vs as an image")
    print(f"{'exam':28} {'inline':>8} {'image':>8} {'change':>8}")
    for path in sorted(EXAMPLES.glob("*.json")):
        exam = load_exam(path)
        result = assess(exam)
        inline = render_clinician_html(exam, result)
        image = render_clinician_html(exam, result, map_as_image=True)
        t_inline = timed(lambda h=inline: html_to_pdf(h), runs)
        t_image = timed(lambda h=image: html_to_pdf(h), runs)
        print(
            f"{path.stem:28} {t_inline:8.3f} {t_image:8.3f} "
            f"{(t_image - t_inline) / t_inline * 100:+7.0f}%"
        )


def scaling(segment_counts: list[int], runs: int) -> None:
    print(f"\nclinician PDF of a generated exam, CPU s (median of {runs})")
    print(f"{'segments':>8} {'fixed':>8} {'ms/seg':>7} {'auto':>8} {'ms/seg':>7} {'PDF KB':>7}")
    fixed_s: dict[int, float] = {}
    auto_s: dict[int, float] = {}
    for n in segment_counts:
        exam = exam_with(n)
        page = render_clinician_html(exam, assess(exam), map_as_image=True)
        pdf = html_to_pdf(page)
        fixed_s[n] = timed(lambda p=page: html_to_pdf(p), runs)
        auto_s[n] = timed(lambda p=page: html_to_pdf(p.replace("</head>", AUTO_TABLES)), runs)
        print(
            f"{n:8d} {fixed_s[n]:8.2f} {fixed_s[n] / n * 1000:7.1f} {auto_s[n]:8.2f} "
            f"{auto_s[n] / n * 1000:7.1f} {len(pdf) // 1024:7d}"
        )
    if len(segment_counts) >= 2:
        a, b = segment_counts[-2], segment_counts[-1]
        print(
            f"t({b})/t({a}): fixed {fixed_s[b] / fixed_s[a]:.2f}, auto {auto_s[b] / auto_s[a]:.2f} "
            f"(linear: {b / a:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="report generation time")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--segments", default="100,300,1000")
    parser.add_argument("--parts", default="examples,map,scaling")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    calf = load_exam(EXAMPLES / "calf-dvt.json")
    render_report(calf, assess(calf), "clinician", "pdf")  # warm-up: fonts, templates, imports
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if "examples" in parts:
        examples(args.runs)
    if "map" in parts:
        map_as_image(args.runs)
    if "scaling" in parts:
        scaling([int(n) for n in args.segments.split(",")], max(1, args.runs // 3))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
