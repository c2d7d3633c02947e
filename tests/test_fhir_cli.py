"""`venalab export fhir` / `venalab import fhir`, mounted the way venalab.cli mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from helpers import EXAMPLES
from test_fhir_schema import assert_valid_r4
from venalab.cli.fhir import (
    fhir_export_app,
    fhir_export_cmd,
    fhir_import_app,
    fhir_import_cmd,
)
from venalab.exam import load_exam
from venalab.interop import fhir_codes as fc

app = typer.Typer()
app.add_typer(fhir_export_app, name="export")
app.add_typer(fhir_import_app, name="import")
runner = CliRunner()


def test_export_then_import_gives_back_the_exam(tmp_path: Path) -> None:
    source = EXAMPLES / "seed-001-calcinosis.json"
    bundle_file = tmp_path / "bundle.json"
    r = runner.invoke(app, ["export", "fhir", str(source), "-o", str(bundle_file)])
    assert r.exit_code == 0, r.output
    bundle = json.loads(bundle_file.read_text())
    assert_valid_r4(bundle)
    exam_file = tmp_path / "exam.json"
    r = runner.invoke(app, ["import", "fhir", str(bundle_file), "-o", str(exam_file)])
    assert r.exit_code == 0, r.output
    assert load_exam(exam_file) == load_exam(source)
    assert "0 unmapped" in r.stderr


def test_export_to_stdout_and_import_from_stdin() -> None:
    r = runner.invoke(app, ["export", "fhir", str(EXAMPLES / "calf-dvt.json")])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["resourceType"] == "Bundle"
    r2 = runner.invoke(app, ["import", "fhir", "-"], input=r.stdout)
    assert r2.exit_code == 0
    assert json.loads(r2.stdout)["patient"]["id"] == "DVT-0007"


def test_unmapped_items_go_to_stderr(tmp_path: Path) -> None:
    r = runner.invoke(app, ["export", "fhir", str(EXAMPLES / "calf-dvt.json")])
    bundle = json.loads(r.stdout)
    bundle["entry"].append({"resource": {"resourceType": "Device", "status": "active"}})
    seg = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "venous-segment"
    )
    seg["component"].append(
        {
            "code": {"coding": [{"system": "http://vendor.invalid", "code": "X1"}]},
            "valueString": "?",
        }
    )
    f = tmp_path / "b.json"
    f.write_text(json.dumps(bundle))
    r = runner.invoke(app, ["import", "fhir", str(f)])
    assert r.exit_code == 0
    assert "unmapped: entry[" in r.stderr and "Device: not part of the exam document" in r.stderr
    assert "http://vendor.invalid|X1" in r.stderr
    assert json.loads(r.stdout)["format"] == "venous-exam/1"


def test_not_fhir_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "exam.json"
    for content, message in [
        ("not json", "not JSON"),
        ('{"resourceType": "Patient"}', "expected a FHIR Bundle"),
        (
            json.dumps(
                {
                    "resourceType": "Bundle",
                    "entry": [
                        {
                            "resource": {
                                "resourceType": "Observation",
                                "status": "final",
                                "bodyStructure": {},
                                "code": {"coding": [{"system": fc.LOINC, "code": "x"}]},
                            }
                        }
                    ],
                }
            ),
            "FHIR R5 element",
        ),
    ]:
        f = tmp_path / "in.json"
        f.write_text(content)
        r = runner.invoke(app, ["import", "fhir", str(f), "-o", str(out)])
        assert r.exit_code == 2, r.output
        assert message in r.stderr
        assert not out.exists()
    r = runner.invoke(app, ["import", "fhir", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_export_of_an_invalid_exam_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{"format": "venous-exam/1", "patient": {"id": "x"}}')
    out = tmp_path / "b.json"
    r = runner.invoke(app, ["export", "fhir", str(f), "-o", str(out)])
    assert r.exit_code == 2 and "exam" in r.stderr
    assert not out.exists()
    r = runner.invoke(app, ["export", "fhir", str(EXAMPLES / "calf-dvt.json"), "-c", "nope"])
    assert r.exit_code == 2


def test_commands_can_be_composed_into_shared_groups() -> None:
    export_app, import_app, root = typer.Typer(), typer.Typer(), typer.Typer()
    export_app.command("fhir")(fhir_export_cmd)
    import_app.command("fhir")(fhir_import_cmd)
    root.add_typer(export_app, name="export")
    root.add_typer(import_app, name="import")
    r = runner.invoke(root, ["export", "fhir", str(EXAMPLES / "calf-dvt.json")])
    assert r.exit_code == 0 and '"resourceType": "Bundle"' in r.stdout
