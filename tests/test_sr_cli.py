"""`venalab import sr` / `venalab export sr`, mounted here as cli/interop.py mounts them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from helpers import EXAMPLES, load_example
from venalab.cli.sr import export_sr_cmd, import_sr_cmd
from venalab.exam import parse_exam_obj

DATA = Path(__file__).parent / "data" / "sr"

app = typer.Typer()
import_app = typer.Typer()
export_app = typer.Typer()
import_app.command("sr")(import_sr_cmd)
export_app.command("sr")(export_sr_cmd)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
runner = CliRunner()


def xml2dsr(name: str, out_dir: Path) -> Path:
    tool = shutil.which("xml2dsr")
    assert tool, "xml2dsr is missing: install Debian dcmtk (scripts/system-deps.sh)"
    out = out_dir / f"{name}.dcm"
    subprocess.run([tool, str(DATA / f"{name}.xml"), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture
def vendor_b(tmp_path: Path) -> Path:
    return xml2dsr("vendor_b_legacy_seed001", tmp_path)


@pytest.fixture
def vendor_b_map(tmp_path: Path) -> Path:
    path = tmp_path / "vendor-b.json"
    path.write_text(
        json.dumps(
            {
                "99VENB:RFLX": "reflux_ms",
                "99VENB:COMP": "compressibility",
                "99VENB:FULL": "compressibility=full",
            }
        )
    )
    return path


def test_import_prints_the_exam_and_reports_on_stderr(vendor_b: Path, vendor_b_map: Path) -> None:
    res = runner.invoke(app, ["import", "sr", str(vendor_b), "--local-codes", str(vendor_b_map)])
    assert res.exit_code == 0, res.output
    exam = parse_exam_obj(json.loads(res.stdout))
    seed = parse_exam_obj(load_example("seed-001-calcinosis.json"))
    assert exam.legs.left is not None and seed.legs.left is not None
    assert exam.legs.left.segments == seed.legs.left.segments
    assert "imported segments: left 5" in res.stderr
    assert "1.5 s -> 1500 ms" in res.stderr


def test_import_without_map_lists_what_it_did_not_import(vendor_b: Path, tmp_path: Path) -> None:
    out = tmp_path / "exam.json"
    res = runner.invoke(app, ["import", "sr", str(vendor_b), "-o", str(out)])
    assert res.exit_code == 0
    assert "not imported (5)" in res.stderr and "99VENB:RFLX" in res.stderr
    assert parse_exam_obj(json.loads(out.read_text())).legs.left is not None


def test_strict_refuses_partial_imports(vendor_b: Path, tmp_path: Path) -> None:
    out = tmp_path / "exam.json"
    res = runner.invoke(app, ["import", "sr", str(vendor_b), "--strict", "-o", str(out)])
    assert res.exit_code == 2 and "nothing written" in res.stderr
    assert not out.exists()


def test_corrupt_file_exits_2_and_writes_nothing(vendor_b: Path, tmp_path: Path) -> None:
    data = vendor_b.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 40])
    out = tmp_path / "exam.json"
    res = runner.invoke(app, ["import", "sr", str(cut), "-o", str(out)])
    assert res.exit_code == 2
    assert "damaged" in res.stderr and "nothing imported" in res.stderr
    assert not out.exists()
    assert res.stdout == ""


def test_bad_map_exits_2(vendor_b: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"99VENB:RFLX": "reflux"}))
    res = runner.invoke(app, ["import", "sr", str(vendor_b), "--local-codes", str(bad)])
    assert res.exit_code == 2
    assert "99VENB:RFLX" in res.stderr and "unknown target" in res.stderr


def test_side_option(tmp_path: Path) -> None:
    path = xml2dsr("no_laterality", tmp_path)
    res = runner.invoke(app, ["import", "sr", str(path)])
    assert res.exit_code == 2 and "--side" in res.stderr
    res = runner.invoke(app, ["import", "sr", str(path), "--side", "left"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["legs"]["left"]["segments"] == [
        {"vein": "SSV", "reflux_ms": 900.0}
    ]


def test_plain_gsv_option(tmp_path: Path) -> None:
    path = xml2dsr("vendor_b_legacy_findings", tmp_path)
    res = runner.invoke(app, ["import", "sr", str(path), "--plain-gsv", "calf"])
    assert res.exit_code == 0
    veins = [s["vein"] for s in json.loads(res.stdout)["legs"]["right"]["segments"]]
    assert veins.count("GSVb") == 2


def test_export_then_import(tmp_path: Path) -> None:
    out = tmp_path / "out.dcm"
    exam_file = EXAMPLES / "calf-dvt.json"
    res = runner.invoke(
        app, ["export", "sr", str(exam_file), "-o", str(out), "--signed-by", "Jane Roe"]
    )
    assert res.exit_code == 0, res.output
    assert "VERIFIED by Jane Roe" in res.stderr
    back = runner.invoke(app, ["import", "sr", str(out)])
    assert back.exit_code == 0
    original = parse_exam_obj(load_example("calf-dvt.json"))
    imported = parse_exam_obj(json.loads(back.stdout))
    assert imported.legs.right is not None and original.legs.right is not None
    assert imported.legs.right.segments == original.legs.right.segments


def test_export_of_an_invalid_exam_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "venous-exam/1", "patient": {"id": "X"}}))
    out = tmp_path / "out.dcm"
    res = runner.invoke(app, ["export", "sr", str(bad), "-o", str(out)])
    assert res.exit_code == 2 and "nothing written" in res.stderr
    assert not out.exists()
    missing = runner.invoke(app, ["export", "sr", str(tmp_path / "nope.json"), "-o", str(out)])
    assert missing.exit_code == 2 and not out.exists()
