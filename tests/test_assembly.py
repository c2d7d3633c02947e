"""The result's last assembly step (issue 17): recommendations name their side and are not
repeated, CEAP only where chronic venous disease was examined, what each segment examined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import EXAMPLES, leg, make_exam
from test_properties import exams
from venalab.assembly import segment_reading, side_label, sided_recommendations, unsided_text
from venalab.engine import assess
from venalab.evidence import Recommendation, evidence
from venalab.exam import load_exam, parse_exam_obj

BILATERAL = Path(__file__).parent / "data" / "bilateral-insufficiency.json"

VARICOSE = leg(
    {"vein": "GSVa", "reflux_ms": 200}, {"vein": "CFV", "reflux_ms": 300}, signs=["varicose"],
    symptomatic=True,
)  # fmt: skip


def _rec(rid: str, side: str | None, text: str = "Do this.") -> Recommendation:
    return Recommendation(
        id=f"{rid}.{side}" if side else rid,
        text=text,
        leg=side,  # type: ignore[arg-type]
        evidence=evidence("cvi.x", ["SVS11"]),
    )


def test_identical_recommendations_of_both_legs_become_one_for_both_legs() -> None:
    r = assess(make_exam(left=VARICOSE, right=VARICOSE))
    recs = [x for x in r.recommendations if x.id.startswith("cvi.compression.varicose")]
    assert [(x.id, x.sides, x.leg) for x in recs] == [
        ("cvi.compression.varicose.both", ("left", "right"), None)
    ]
    assert recs[0].text.startswith("Both legs: Compression stockings")


def test_one_legs_recommendation_names_that_leg() -> None:
    r = assess(make_exam(right=VARICOSE))
    (rec,) = r.recommendations
    assert rec.sides == ("right",) and rec.leg == "right" and rec.id.endswith(".right")
    assert rec.text.startswith("Right leg: ") and unsided_text(rec).startswith("Compression")


def test_different_texts_stay_apart_and_keep_the_engine_order() -> None:
    recs = (
        _rec("a", "left", "One."),
        _rec("b", None, "Labs."),
        _rec("a", "right", "Two."),
        _rec("c", "left"),
        _rec("c", "right"),
    )
    out = sided_recommendations(recs)
    assert [(x.id, x.text) for x in out] == [
        ("a.left", "Left leg: One."),
        ("b", "Labs."),
        ("a.right", "Right leg: Two."),
        ("c.both", "Both legs: Do this."),
    ]
    assert sided_recommendations(out) == out  # idempotent
    assert side_label(()) is None and side_label(("right", "left")) == "Both legs"  # type: ignore[arg-type]


def test_bilateral_example_merges_compression_and_keeps_ablations_per_leg() -> None:
    r = assess(load_exam(BILATERAL))
    by_id = {x.id: x for x in r.recommendations}
    assert "cvi.compression.after-ablation.both" in by_id
    assert by_id["cvi.ablation.gsv.right"].sides == ("right",)
    assert by_id["cvi.ablation.ssv.left"].sides == ("left",)
    texts = [unsided_text(x) for x in r.recommendations]
    assert len(texts) == len(set(texts))


def test_ceap_is_not_assessed_on_the_acute_dvt_example() -> None:
    r = assess(load_exam(EXAMPLES / "calf-dvt.json"))
    right = r.leg("right")
    assert right is not None and right.ceap is None
    assert right.ceap_not_assessed is not None
    assert "edema is attributed to the thrombosis" in right.ceap_not_assessed.reason
    assert right.ceap_not_assessed.evidence.level == "D"
    ceap = [f for f in r.findings if f.id.startswith("ceap.")]
    assert [f.id for f in ceap] == ["ceap.right"] and "not assessed" in ceap[0].text
    assert "C3" not in r.to_json() and "C0" not in r.to_json()


def test_ceap_stays_where_chronic_signs_are_recorded_or_the_study_is_for_reflux() -> None:
    thrombus = {"vein": "POPV", "thrombus": {"age": "acute"}, "compressibility": "none"}
    dvt = {"exam": {"date": "2025-01-15", "purpose": "thrombosis"}}
    with_varicose = make_exam(right=leg(thrombus, signs=["varicose", "edema"]), **dvt)
    assert (leg_r := assess(with_varicose).leg("right")) and leg_r.ceap is not None
    assert leg_r.ceap.c_basic == "C3"
    nothing = make_exam(right=leg(thrombus), **dvt)
    assert (leg_r := assess(nothing).leg("right")) and leg_r.ceap is None  # not "C0 Ad Po"
    # an insufficiency study classifies as before, even with a thrombus found
    insufficiency = make_exam(right=leg(thrombus))
    assert (leg_r := assess(insufficiency).leg("right")) and leg_r.ceap is not None
    # no purpose stated: an acute thrombus makes it a thrombosis study, a chronic one not
    undated = {"exam": {"date": "2025-01-15"}}
    assert assess(make_exam(right=leg(thrombus), **undated)).legs.right.ceap is None  # type: ignore[union-attr]
    old = {"vein": "FV", "thrombus": {"age": "chronic"}, "obstruction": True}
    assert assess(make_exam(right=leg(old), **undated)).legs.right.ceap is not None  # type: ignore[union-attr]


def test_segments_say_what_they_examined() -> None:
    r = assess(load_exam(EXAMPLES / "calf-dvt.json"))
    assert r.legs.right is not None
    cfv, prv = r.legs.right.segments[0], r.legs.right.segments[3]
    assert cfv.examined == ("compression",) and cfv.reflux == "not-assessed"
    assert segment_reading(cfv) == "compressible, reflux not measured"
    assert prv.examined == ("compression", "thrombus")
    assert segment_reading(prv) == "non-compressible, reflux not measured"
    bare = assess(make_exam(left=leg({"vein": "GSVa"}))).legs.left
    assert bare is not None and bare.segments[0].examined == ()
    assert segment_reading(bare.segments[0]) == "recorded, not assessed"
    measured = assess(make_exam(left=leg({"vein": "GSVa", "reflux_ms": 500}))).legs.left
    assert measured is not None and segment_reading(measured.segments[0]).startswith("at cut-off")


@settings(max_examples=60, deadline=None)
@given(exams(), st.sampled_from(["insufficiency", "thrombosis", None]))
def test_every_leg_recommendation_names_its_side_once(doc: dict[str, Any], purpose: Any) -> None:
    doc["exam"] = {"date": "2025-01-15"} | ({"purpose": purpose} if purpose else {})
    exam = parse_exam_obj(doc)
    r = assess(exam)
    seen = set()
    for rec in r.recommendations:
        label = side_label(rec.sides)
        if rec.sides:
            assert rec.text.startswith(f"{label}: ") and rec.id.endswith(
                ".both" if len(rec.sides) == 2 else f".{rec.sides[0]}"
            )
        else:
            assert rec.leg is None and rec.id.startswith("calcinosis.")
        key = (rec.id.rsplit(".", 1)[0], unsided_text(rec), rec.evidence)
        assert key not in seen, rec.id  # the same recommendation is never repeated
        seen.add(key)
    for side in ("left", "right"):
        lr, el = r.leg(side), exam.leg(side)
        if lr is None or el is None:
            continue
        chronic = [s for s in el.clinical.signs if s != "edema"]
        if purpose == "thrombosis" and not chronic and not el.clinical.recurrent:
            assert lr.ceap is None and lr.ceap_not_assessed is not None
        elif purpose == "insufficiency" or chronic:
            assert lr.ceap is not None and lr.ceap_not_assessed is None
