"""The command line as a user runs it: assess, schema, criteria; exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from helpers import EXAMPLES, exam_dict
from venalab.cli import app

runner = CliRunner()
SEED = str(EXAMPLES / "seed-001-calcinosis.json")
CALF = str(EXAMPLES / "calf-dvt.json")


def test_assess_json_seed001_gsv_reflux_with_threshold_and_citation() -> None:
    res = runner.invoke(app, ["assess", SEED])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["format"] == "venous-result/1" and doc["criteria"]["id"] == "svs-avf-avls-2022"
    gsva = next(s for s in doc["legs"]["left"]["segments"] if s["vein"] == "GSVa")
    assert gsva["reflux"] == "present" and gsva["threshold_ms"] == 500
    assert gsva["measured_ms"] == 1500
    expected = {
        "rule": "reflux.duration",
        "source": "SVS22",
        "threshold": 500.0,
        "measured": 1500.0,
        "comparison": ">",
    }
    assert gsva["evidence"].items() >= expected.items()


def test_assess_several_files_gives_a_list_and_calf_is_distal_axial() -> None:
    res = runner.invoke(app, ["assess", SEED, CALF, "--criteria", "svs-avf-2011"])
    assert res.exit_code == 0
    docs = json.loads(res.stdout)
    assert [d["criteria"]["id"] for d in docs] == ["svs-avf-2011"] * 2
    assert docs[1]["legs"]["right"]["thrombosis"]["classification"] == "distal-axial"


def test_assess_text_summary() -> None:
    res = runner.invoke(app, ["assess", SEED, CALF, "--format", "text"])
    assert res.exit_code == 0
    out = res.stdout
    assert "LEFT LEG" in out and "GSVa" in out and "present" in out
    assert "Reflux patterns: GSV axial" in out
    assert "Thrombosis: distal-axial (PRV, PTV)" in out
    assert "not a substitute" in out


def test_stdin_and_yaml(tmp_path: Path) -> None:
    res = runner.invoke(app, ["assess", "-"], input=Path(CALF).read_text())
    assert res.exit_code == 0 and json.loads(res.stdout)["exam"]["patient_id"] == "DVT-0007"


def test_malformed_exam_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    doc = exam_dict(
        left={"segments": [{"vein": "GSV", "reflux_ms": False}, {"vein": "FV", "reflux_ms": -1}]}
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    res = runner.invoke(app, ["assess", SEED, str(bad), "-o", str(out)])
    assert res.exit_code == 2
    assert "legs.left.segments[0].vein" in res.stderr
    assert "legs.left.segments[0].reflux_ms" in res.stderr
    assert "legs.left.segments[1].reflux_ms" in res.stderr
    assert not out.exists()  # nothing written when any input is invalid


def test_missing_file_and_unknown_criteria_exit_2() -> None:
    assert runner.invoke(app, ["assess", "nope.json"]).exit_code == 2
    res = runner.invoke(app, ["assess", SEED, "--criteria", "esvs"])
    assert res.exit_code == 2 and "accepted" in res.stderr


def test_schema_commands() -> None:
    exam = json.loads(runner.invoke(app, ["schema", "exam"]).stdout)
    assert exam["title"] == "ExamDocument" and "patient" in exam["properties"]
    result = json.loads(runner.invoke(app, ["schema", "result"]).stdout)
    assert "findings" in result["properties"]


def test_criteria_commands() -> None:
    res = runner.invoke(app, ["criteria", "list"])
    assert res.exit_code == 0 and "labropoulos-2003" in res.stdout
    res = runner.invoke(app, ["criteria", "show", "labropoulos-2003"])
    assert "> 350 ms" in res.stdout and "femoropopliteal" in res.stdout
    shown = json.loads(runner.invoke(app, ["criteria", "show", "svs-avf-2011", "--json"]).stdout)
    assert shown["perforator"]["diameter_mm"] == 3.5
    assert runner.invoke(app, ["criteria", "show", "nope"]).exit_code == 2


def test_console_script_exit_status_is_real() -> None:
    venalab = Path(sys.executable).with_name("venalab")
    proc = subprocess.run(
        [str(venalab), "assess", "-"],
        input='{"format": "venous-exam/1"}',
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "patient: required field is missing" in proc.stderr


def test_assess_prior_adds_the_comparison(tmp_path: Path) -> None:
    # Issue 18: `venalab assess EXAM --prior PRIOR`.
    prior = json.loads((EXAMPLES / "calf-dvt.json").read_text())
    prior["exam"]["date"] = "2025-02-03"
    prior["legs"]["right"]["segments"] = [
        {"vein": "POPV", "compressibility": "full"},
        {"vein": "PRV", "compressibility": "none", "thrombus": {"age": "acute", "length_cm": 4}},
    ]
    path = tmp_path / "prior.json"
    path.write_text(json.dumps(prior))
    res = runner.invoke(app, ["assess", str(EXAMPLES / "calf-dvt.json"), "--prior", str(path)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    leg = doc["comparison"]["legs"]["right"]
    assert (leg["course"], leg["serial_result"]) == ("extended-distal", "distal-extension")
    text = runner.invoke(
        app, ["assess", str(EXAMPLES / "calf-dvt.json"), "--prior", str(path), "-f", "text"]
    )
    assert "Compared with 2025-02-03 (7 days earlier)" in text.stdout
    # the prior must be earlier and of the same patient: exit 2, the problem named
    swapped = runner.invoke(app, ["assess", str(path), "--prior", str(EXAMPLES / "calf-dvt.json")])
    assert swapped.exit_code == 2
    assert "prior.exam.date" in swapped.output and "not earlier" in swapped.output
    missing = runner.invoke(app, ["assess", str(path), "--prior", str(tmp_path / "none.json")])
    assert missing.exit_code == 2
