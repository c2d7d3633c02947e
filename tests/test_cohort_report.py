"""The cohort report reads a run partition by partition: its figures do not depend on the
partitioning, and the count-based percentiles equal NumPy's on the raw values."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import cohort_settings
from venalab.cohort.report import _expand_percentiles, write_report
from venalab.cohort.runner import Source, run_local
from venalab.cohort.synth import write_synthetic


def _tables(html: str) -> list[str]:
    """Every table and summary card of a report (the figures and the timestamp left out)."""
    return re.findall(r"<table>.*?</table>|<div class=\"card\">.*?</div>", html, flags=re.S)


def test_report_figures_do_not_depend_on_the_partitioning(tmp_path: Path) -> None:
    write_synthetic(1800, 12, tmp_path / "c", jsonl=False, malformed=9)
    reports = []
    seen: list[tuple[int, int]] = []
    for size in (1800, 250):
        run_local(Source.open(tmp_path / "c"), tmp_path / f"r{size}", cohort_settings(size=size))
        html = tmp_path / f"r{size}.html"
        write_report(
            tmp_path / f"r{size}",
            html,
            progress=(lambda d, t: seen.append((d, t))) if size == 250 else None,
        )
        reports.append(_tables(html.read_text(encoding="utf-8")))
    assert len(reports[0]) > 12
    assert reports[0] == reports[1]
    assert seen == [(i, 8) for i in range(1, 9)]
    assert "9 exam(s) were rejected" in (tmp_path / "r250.html").read_text(encoding="utf-8")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2000).map(lambda x: x / 10), st.integers(1, 5)),
        min_size=1,
        max_size=40,
        unique_by=lambda t: t[0],
    ),
    st.lists(st.floats(0, 100), min_size=1, max_size=5),
)
def test_percentiles_from_counts_equal_numpy(
    counts: list[tuple[float, int]], qs: list[float]
) -> None:
    values = np.array([v for v, _ in counts])
    weights = np.array([w for _, w in counts])
    expected = np.percentile(np.repeat(values, weights), qs)
    assert _expand_percentiles(values, weights, qs) == pytest.approx(expected)
