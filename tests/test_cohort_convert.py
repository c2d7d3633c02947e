"""JSONL input converted once to Parquet: same results as reading the JSONL, reused while
the file is unchanged, redone (and a resume refused) when it changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
import typer
from polars.testing import assert_frame_equal
from typer.testing import CliRunner, Result

from helpers import cohort_settings
from venalab.cli.cohort import cohort_app
from venalab.cohort import convert
from venalab.cohort.runner import Source, read_results, run_local
from venalab.cohort.synth import write_synthetic


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """900 synthetic exams (5 malformed) plus a line that is not JSON in the middle, a blank
    line, and an invalid document as the very last line (a row after every valid one)."""
    folder = tmp_path_factory.mktemp("cohort")
    write_synthetic(900, 41, folder, parquet=False, malformed=5)
    lines = (folder / "exams.jsonl").read_text(encoding="utf-8").splitlines()
    lines[400] = '{"format": "venous-exam/1", "patient"'
    lines.insert(600, "")
    lines.append(json.dumps({"format": "venous-exam/1", "patient": {"id": "LAST"}}))
    path = folder / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_converted_run_equals_reading_the_jsonl(
    jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(convert, "_CHUNK_LINES", 170)  # several chunks, out of step with partitions
    folder = tmp_path / "converted"
    digest = convert.input_digest(jsonl, folder)
    c = convert.cached_conversion(jsonl, folder, digest, workers=workers)
    assert not c.reused
    assert c.counts == {"exams": 901, "valid": 894, "rejected": 7, "lines": 902}
    converted = Source("parquet", str(folder), origin=str(jsonl), digest=digest)
    direct = run_local(Source.open(jsonl), tmp_path / "direct", cohort_settings(size=250))
    via = run_local(converted, tmp_path / "via", cohort_settings(size=250))
    assert via == direct
    for a, b in zip(read_results(tmp_path / "direct"), read_results(tmp_path / "via"), strict=True):
        assert_frame_equal(a, b)
    errors = (tmp_path / "via" / "errors.jsonl").read_text(encoding="utf-8")
    assert errors == (tmp_path / "direct" / "errors.jsonl").read_text(encoding="utf-8")
    last = json.loads(errors.splitlines()[-1])
    assert last["row"] == 901 and last["patient_id"] == "LAST"
    run = json.loads((tmp_path / "via" / "run.json").read_text(encoding="utf-8"))
    assert run["input"] == {"kind": "jsonl", "path": str(jsonl), "blake2b": digest}


def _text(r: Result) -> str:
    """The command's output with the console's line wrapping undone."""
    return " ".join(r.output.split())


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(cohort_app, name="cohort")
    return app


def test_cli_converts_once_reuses_and_notices_a_change(jsonl: Path, tmp_path: Path) -> None:
    runner, app = CliRunner(), _app()
    src = tmp_path / "exams.jsonl"
    src.write_bytes(jsonl.read_bytes())
    out = tmp_path / "out"
    assess = ["cohort", "assess", str(src), "-o", str(out), "--partition-size", "300"]
    r = runner.invoke(app, assess)
    assert r.exit_code == 0, r.output
    assert "converting exams.jsonl to Parquet once" in _text(r)
    assert "894 of 901 exams assessed" in _text(r)
    stamp = json.loads((out / "_input" / "source.json").read_text(encoding="utf-8"))

    # another criteria set into another folder: converted there; into the same folder with
    # --overwrite: the conversion is reused
    r = runner.invoke(app, [*assess, "--criteria", "svs-avf-2011", "--overwrite"])
    assert r.exit_code == 0, r.output
    assert "reusing its Parquet conversion" in _text(r) and "converting" not in _text(r)

    # touched, same content: reused, and the new modification time is recorded
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    r = runner.invoke(app, [*assess, "--criteria", "svs-avf-2011"])
    assert r.exit_code == 0, r.output
    assert "reusing" in _text(r) and "partition(s) reused" in _text(r)
    again = json.loads((out / "_input" / "source.json").read_text(encoding="utf-8"))
    assert again["converted"] == stamp["converted"]
    assert again["source"]["mtime_ns"] == src.stat().st_mtime_ns

    # changed content: resuming is refused before any conversion; --overwrite converts again
    with open(src, "a", encoding="utf-8") as fh:
        fh.write("not json\n")
    r = runner.invoke(app, [*assess, "--criteria", "svs-avf-2011"])
    assert r.exit_code == 2 and "differs in: input" in _text(r)
    assert "converting" not in _text(r)
    r = runner.invoke(app, [*assess, "--criteria", "svs-avf-2011", "--overwrite"])
    assert r.exit_code == 0, r.output
    assert "converting exams.jsonl" in _text(r) and "894 of 902 exams assessed" in _text(r)


def test_cli_convert_command(jsonl: Path, tmp_path: Path) -> None:
    runner, app = CliRunner(), _app()
    folder = tmp_path / "cohort"
    r = runner.invoke(app, ["cohort", "convert", str(jsonl), "-o", str(folder), "--parallel", "1"])
    assert r.exit_code == 0, r.output
    assert "converted 901 exams (7 rejected)" in _text(r)
    assert pl.read_parquet(folder / "rejected.parquet").get_column("row").n_unique() == 7
    r = runner.invoke(app, ["cohort", "convert", str(jsonl), "-o", str(folder)])
    assert r.exit_code == 0 and "already holds its conversion" in _text(r)
    r = runner.invoke(app, ["cohort", "assess", str(folder), "-o", str(tmp_path / "res")])
    assert r.exit_code == 0 and "894 of 901 exams assessed" in _text(r)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine", encoding="utf-8")
    r = runner.invoke(app, ["cohort", "convert", str(jsonl), "-o", str(tmp_path / "other")])
    assert r.exit_code == 2 and "not a conversion folder" in _text(r)
    assert (tmp_path / "other" / "notes.txt").read_text(encoding="utf-8") == "mine"
