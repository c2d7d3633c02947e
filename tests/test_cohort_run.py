"""Cohort runs: partitions, errors file, resume, JSONL input, Dask, the CLI and the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import polars as pl
import pytest
import typer
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from helpers import cohort_settings
from venalab.cli.cohort import cohort_app, synth_command
from venalab.cohort.distributed import run_dask
from venalab.cohort.runner import Source, plan, read_results, run_local
from venalab.cohort.synth import write_synthetic
from venalab.errors import InvalidInput


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    write_synthetic(2500, 31, folder, malformed=6)
    return folder


settings = cohort_settings


def _same_results(a: Path, b: Path) -> None:
    for x, y in zip(read_results(a), read_results(b), strict=True):
        assert_frame_equal(x, y)


def test_partitioned_run_writes_results_and_errors(cohort_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    seen: list[int] = []
    summary = run_local(
        Source.open(cohort_dir), out, settings(), progress=lambda s: seen.append(s.index)
    )
    assert sorted(seen) == [0, 1, 2, 3]  # two partitions at a time: any order
    assert summary["exams"] == 2500 and summary["rejected"] == 6 and summary["valid"] == 2494
    assert sorted(p.name for p in (out / "legs").iterdir()) == [
        f"part-0000{i}.parquet" for i in range(4)
    ]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    malformed = json.loads((cohort_dir / "cohort.json").read_text())["malformed"]
    assert {e["row"] for e in errors} == {m["row"] for m in malformed}
    assert all(e["patient_id"] and e["problems"][0]["path"] for e in errors)
    legs, _, _ = read_results(out)
    assert legs.get_column("row").n_unique() == 2494
    assert not set(legs.get_column("row").to_list()) & {m["row"] for m in malformed}
    assert not list(out.rglob(".*.tmp"))


def test_resume_recomputes_only_missing_partitions(cohort_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    source = Source.open(cohort_dir)
    run_local(source, out, settings())
    reference = tmp_path / "reference"
    shutil.copytree(out, reference)
    # a crash after partition 2 wrote its legs file but before its marker
    (out / "_done" / "part-00002.json").unlink()
    (out / "segments" / "part-00002.parquet").unlink()
    (out / "legs" / "part-00002.parquet").write_bytes(b"half a file")
    (out / "errors.jsonl").unlink()
    summary = run_local(source, out, settings())
    assert summary["partitions_skipped"] == 3
    _same_results(out, reference)
    assert (out / "errors.jsonl").read_text() == (reference / "errors.jsonl").read_text()


def test_resume_with_other_settings_is_refused(cohort_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    source = Source.open(cohort_dir)
    run_local(source, out, settings(size=1000))
    with pytest.raises(InvalidInput) as e:
        run_local(source, out, settings(size=1000, tpt="proximal"))
    assert "options" in e.value.problems[0].message
    run_local(source, out, settings(size=1000, tpt="proximal"), overwrite=True)
    assert (
        json.loads((out / "run.json").read_text())["options"]["tibioperoneal_trunk"] == "proximal"
    )


@pytest.mark.slow
def test_jsonl_input_and_per_exam_engine_give_the_same_results(
    cohort_dir: Path, tmp_path: Path
) -> None:
    parquet = Source.open(cohort_dir)
    jsonl = Source.open(cohort_dir / "exams.jsonl")
    assert jsonl.kind == "jsonl" and parquet.kind == "parquet"
    assert [(p.lo, p.hi) for p in plan(jsonl, 700)] == [(p.lo, p.hi) for p in plan(parquet, 700)]
    run_local(parquet, tmp_path / "a", settings())
    run_local(jsonl, tmp_path / "b", settings())
    run_local(jsonl, tmp_path / "c", settings(engine="per-exam", size=1250))
    a, b, c = (read_results(tmp_path / x) for x in "abc")
    for other in (b, c):
        assert_frame_equal(a[0], other[0])
        assert_frame_equal(a[1], other[1])
    # Parquet rows are checked by the vectorized validator, JSONL lines by the exam model:
    # the same exams and JSON paths are rejected (the messages are worded differently)
    assert_frame_equal(b[2], c[2])
    assert a[2].select("row", "path").equals(b[2].select("row", "path"))


def test_jsonl_bad_lines_are_reported_with_their_row(tmp_path: Path, cohort_dir: Path) -> None:
    lines = (cohort_dir / "exams.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    lines[1] = '{"format": "venous-exam/1", "patient": {"id": "X-1"'  # truncated
    lines[3] = ""  # blank: not an exam
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    summary = run_local(Source.open(tmp_path / "in.jsonl"), out, settings(size=2))
    assert summary["exams"] == 4 and summary["valid"] == 3
    (error,) = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert error["row"] == 1 and "not valid JSON" in error["problems"][0]["message"]


@pytest.mark.slow
def test_dask_two_workers_identical_to_single_process(cohort_dir: Path, tmp_path: Path) -> None:
    source = Source.open(cohort_dir)
    run_local(source, tmp_path / "local", settings(size=500))
    seen: list[int] = []
    summary = run_dask(
        source,
        tmp_path / "dask",
        settings(size=500),
        n_workers=2,
        progress=lambda s: seen.append(s.index),
    )
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert summary["valid"] == 2494
    _same_results(tmp_path / "local", tmp_path / "dask")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(cohort_app, name="cohort")
    app.command("synth")(synth_command)
    return app


@pytest.mark.slow
def test_cli_synth_assess_report(tmp_path: Path) -> None:
    runner = CliRunner()
    app = _app()
    r = runner.invoke(
        app, ["synth", "--n", "400", "--seed", "3", "-o", str(tmp_path / "c"), "--malformed", "2"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "cohort",
            "assess",
            str(tmp_path / "c"),
            "-o",
            str(tmp_path / "res.parquet"),
            "--partition-size",
            "150",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "398 of 400 exams assessed" in r.output and "2 exam(s) rejected" in r.output
    r = runner.invoke(
        app,
        [
            "cohort",
            "assess",
            str(tmp_path / "c"),
            "-o",
            str(tmp_path / "res.parquet"),
            "--partition-size",
            "150",
        ],
    )
    assert "3 partition(s) reused" in r.output
    r = runner.invoke(
        app, ["cohort", "assess", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x")]
    )
    assert r.exit_code == 2 and "neither a cohort folder" in r.output
    r = runner.invoke(
        app,
        ["cohort", "assess", str(tmp_path / "c"), "-o", str(tmp_path / "x"), "--criteria", "esvs"],
    )
    assert r.exit_code == 2 and "unknown criteria set" in r.output
    report = tmp_path / "report.html"
    r = runner.invoke(app, ["cohort", "report", str(tmp_path / "res.parquet"), "-o", str(report)])
    assert r.exit_code == 0, r.output
    text = report.read_text(encoding="utf-8")
    for heading in (
        "Reflux patterns by CEAP class",
        "Deep vein thrombosis",
        "Rejected exams",
        "<svg",
    ):
        assert heading in text
    assert "svs-avf-avls-2022" in text and "2 exam(s) were rejected" in text


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_chromium(cohort_dir: Path, tmp_path: Path) -> None:
    """The HTML is rendered by a real browser into a non-blank screenshot."""
    from PIL import Image

    from venalab.cohort.report import write_report

    run_local(Source.open(cohort_dir), tmp_path / "res", settings())
    html_file = tmp_path / "report.html"
    info = write_report(tmp_path / "res", html_file, image_format="png")
    assert info["figures"] >= 7
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is required (scripts/system-deps.sh installs it)")
    shot = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1200,2400",
                f"--screenshot={shot}",
                html_file.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 2400)
    colours = image.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 50  # text and plots, not a blank page
    assert pl.Series([c for _, c in colours]).min() < 80  # dark text present
