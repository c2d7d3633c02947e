"""The decisions tier (venalab.decisions, issue 21) against the full result: the same
decisions, on generated exams (the generators of test_properties and the cohort
differential test) and on hand-built exams with treatments, scores, labs and a prior."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import EXAMPLES, exam_dict, leg
from test_cohort_differential import exams as cohort_exams
from test_properties import exams as property_exams
from venalab.cli import app
from venalab.decisions import DECISIONS_FORMAT, Decisions, decide, decisions_of
from venalab.engine import assess
from venalab.exam import ExamDocument, parse_exam_obj
from venalab.result import EngineOptions

DATA = Path(__file__).parent / "data"
options = st.builds(
    EngineOptions,
    criteria=st.sampled_from(["svs-avf-avls-2022", "svs-avf-2011", "labropoulos-2003"]),
    tibioperoneal_trunk=st.sampled_from(["distal", "proximal"]),
    ceap_legacy_numbers=st.booleans(),
)


@st.composite
def varied(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A generated exam with the context the decisions read: purpose, symptoms, etiology."""
    doc = draw(base)
    doc["exam"]["purpose"] = draw(st.sampled_from(["insufficiency", "thrombosis", "other"]))
    for body in doc["legs"].values():
        clinical = body["clinical"]
        if draw(st.booleans()):
            clinical.pop("symptomatic", None)
        etiology = draw(st.sampled_from([None, "primary", "secondary-intravenous"]))
        if etiology:
            clinical["etiology"] = etiology
    return doc


def same(exam: ExamDocument, opts: EngineOptions | None = None, **kw: Any) -> Decisions:
    lean = assess(exam, options=opts, detail="decisions", **kw)
    assert lean == decisions_of(assess(exam, options=opts, **kw))
    return lean


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(varied(property_exams()), varied(cohort_exams())), options)
def test_property_both_tiers_take_the_same_decisions(
    doc: dict[str, Any], opts: EngineOptions
) -> None:
    same(parse_exam_obj(doc), opts)


ABLATED = {
    "vein": "GSVa",
    "site": "proximal",
    "treatment": {"method": "thermal-ablation", "date": "2025-01-10", "status": "occluded"},
}
HAND_BUILT = {
    "ehit-iii": exam_dict(
        left=leg(
            ABLATED,
            {"vein": "SFJ", "compressibility": "none", "thrombus": {"age": "acute"}},
            {
                "vein": "CFV",
                "compressibility": "partial",
                "thrombus": {"age": "acute", "occlusive": False, "lumen_percent": 70},
            },
        ),
        exam={"date": "2025-01-15", "purpose": "follow-up", "position": "supine"},
    ),
    "proximal-dvt-svt": exam_dict(
        right=leg(
            {"vein": "POPV", "compressibility": "none", "thrombus": {"age": "acute"}},
            {"vein": "GSVa", "thrombus": {"age": "acute", "distance_to_junction_cm": 2}},
        ),
        exam={"date": "2025-03-01", "purpose": "thrombosis"},
    ),
    "scores": exam_dict(
        left=leg({"vein": "GSVa", "reflux_ms": 900}, signs=["varicose", "edema"]),
        scores={
            "wells_dvt": {"active_cancer": True, "entire_leg_swollen": True},
            "vcss": {"left": {"pain": 2, "varicose_veins": 1}},
            "villalta": {"left": {"pain": 1, "cramps": 0, "heaviness": 2}},
        },
    ),
}


@pytest.mark.parametrize("name", sorted(HAND_BUILT))
def test_hand_built_exams(name: str) -> None:
    lean = same(parse_exam_obj(HAND_BUILT[name]))
    if name == "ehit-iii":
        assert lean.legs["left"].ehit[0][1] == "III" and lean.legs["left"].critical
    if name == "proximal-dvt-svt":
        right = lean.legs["right"]
        assert right.thrombosis == "proximal" and right.pathway != "none"
        assert right.ceap is None  # a thrombosis study without chronic signs
    if name == "scores":
        assert lean.wells_dvt is not None and lean.legs["left"].villalta is not None


@pytest.mark.parametrize(
    "path", [*sorted(EXAMPLES.glob("*.json")), *sorted(DATA.glob("*.json"))], ids=lambda p: p.name
)
def test_example_documents(path: Path) -> None:
    doc = json.loads(path.read_text())
    for criteria in ("svs-avf-avls-2022", "labropoulos-2003"):
        same(parse_exam_obj(doc), EngineOptions(criteria=criteria))


def test_with_a_prior_exam_the_decisions_are_read_off_the_full_result() -> None:
    first = exam_dict(left=leg({"vein": "PTV", "thrombus": {"age": "acute"}}))
    later = exam_dict(
        left=leg({"vein": "PTV", "thrombus": {"age": "acute"}}, {"vein": "POPV"}),
        exam={"date": "2025-03-08", "purpose": "thrombosis"},
    )
    prior = parse_exam_obj(first)
    lean = same(parse_exam_obj(later), prior=prior)
    assert lean.legs["left"].thrombosis == "distal-axial"


def test_lean_document_shape() -> None:
    doc = exam_dict(
        left=leg(
            {"vein": "SFJ", "reflux_ms": 800},
            {"vein": "GSVa", "reflux_ms": 500},
            {"vein": "CPV", "reflux_ms": 600, "diameter_mm": 4.0, "beneath_ulcer": True},
            signs=["varicose", "ulcer-active"],
        )
    )
    out = decide(parse_exam_obj(doc)).to_dict()
    assert json.loads(json.dumps(out)) == out  # plain JSON
    assert out["format"] == DECISIONS_FORMAT and out["criteria"] == "svs-avf-avls-2022"
    left = out["legs"]["left"]
    assert [(s["vein"], s["reflux"], s["rule"]) for s in left["segments"]] == [
        ("SFJ", "present", "reflux.duration"),
        ("GSVa", "boundary", "reflux.duration"),
        ("CPV", "present", "perforator.duration"),
    ]
    assert left["perforators"] == [
        {"vein": "CPV", "site": None, "incompetent": True, "pathologic": True,
         "rule": "perforator.pathologic"}
    ]  # fmt: skip
    assert left["reflux_patterns"][0]["trunk"] == "GSV"
    assert (
        left["ceap"]["c_classes"] == ["C2", "C6"] and left["ceap"]["rule"] == "ceap.classification"
    )
    assert left["thrombosis"] == {"classification": "none", "rule": "thrombosis.none"}
    assert "cvi.compression.ulcer.left" in left["recommendations"]
    assert "evidence" not in json.dumps(out) and "text" not in json.dumps(out)


def test_unknown_detail_is_refused() -> None:
    exam = parse_exam_obj(exam_dict(left=leg({"vein": "SFJ", "reflux_ms": 800})))
    with pytest.raises(ValueError, match="detail must be one of full, decisions"):
        assess(exam, detail="lean")  # type: ignore[call-overload]


def test_cli_detail_decisions(tmp_path: Path) -> None:
    src = DATA / "bilateral-insufficiency.json"
    runner = CliRunner()
    res = runner.invoke(app, ["assess", str(src), "--detail", "decisions"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    exam = parse_exam_obj(json.loads(src.read_text()))
    assert out == decisions_of(assess(exam)).to_dict()
    res = runner.invoke(app, ["assess", str(src), "--detail", "decisions", "-f", "text"])
    assert res.exit_code == 2 and "JSON only" in res.output
    default = runner.invoke(app, ["assess", str(src)])
    assert json.loads(default.stdout)["format"] == "venous-result/1"  # full stays the default
