"""`venalab score` calculators (issue 4 item 8)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from venalab.cli import app

runner = CliRunner()

TV21 = [
    "pain=2",
    "varicose_veins=3",
    "edema=2",
    "pigmentation=2",
    "inflammation=1",
    "induration=2",
    "active_ulcers=1",
    "ulcer_duration=2",
    "ulcer_size=2",
    "compression=2",
]


def test_ceap_explains_and_normalises() -> None:
    res = runner.invoke(app, ["score", "ceap", "C2,4a,5,S Ep As,p Pr2,3,18"])
    assert res.exit_code == 0
    assert "healed venous ulcer" in res.stdout
    assert "C2,4a,5,S Ep As,p Pr(GSVa,GSVb,CPV)" in res.stdout


def test_ceap_invalid_exit_2_with_position() -> None:
    res = runner.invoke(app, ["score", "ceap", "C7 Ep"])
    assert res.exit_code == 2 and "ceap[0:2]" in res.stderr and "C7" in res.stderr


def test_vcss_tv21_total_19() -> None:
    res = runner.invoke(app, ["score", "vcss", *TV21, "--json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["total"] == 19 and doc["complete"] is True and doc["severe"] is True


def test_vcss_from_file_and_missing(tmp_path: Path) -> None:
    f = tmp_path / "items.json"
    f.write_text(json.dumps({"pain": 1, "edema": 2}))
    res = runner.invoke(app, ["score", "vcss", "--file", str(f), "compression=1", "--json"])
    doc = json.loads(res.stdout)
    assert doc["total"] == 4 and doc["complete"] is False and "varicose_veins" in doc["missing"]


def test_vcss_bad_items_exit_2() -> None:
    res = runner.invoke(app, ["score", "vcss", "pain=4", "edema=x", "colour=1"])
    assert res.exit_code == 2
    assert "vcss.edema" in res.stderr


def test_villalta_tv19() -> None:
    res = runner.invoke(
        app,
        [
            "score",
            "villalta",
            "pain=1",
            "cramps=1",
            "heaviness=2",
            "paresthesia=0",
            "pruritus=1",
            "pretibial_edema=1",
            "skin_induration=0",
            "hyperpigmentation=1",
            "redness=0",
            "venous_ectasia=1",
            "calf_compression_pain=0",
            "ulcer=no",
            "--json",
        ],
    )
    doc = json.loads(res.stdout)
    assert doc["total"] == 8 and doc["category"] == "mild"


def test_wells_tv12_with_others_no() -> None:
    res = runner.invoke(
        app,
        [
            "score",
            "wells",
            "active_cancer=yes",
            "entire_leg_swollen=yes",
            "pitting_edema=yes",
            "--others-no",
            "--json",
        ],
    )
    doc = json.loads(res.stdout)
    assert (doc["score"], doc["two_level"], doc["three_level"]) == (3, "likely", "high")
    res = runner.invoke(app, ["score", "wells", "active_cancer=yes", "--json"])
    assert json.loads(res.stdout)["score"] is None  # unanswered items are missing, not 0
    assert runner.invoke(app, ["score", "wells", "active_cancer=maybe"]).exit_code == 2
