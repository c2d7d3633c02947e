"""Property-based tests of the engine's invariants (hypothesis)."""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exam_dict
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import ExamDocument, VeinCode, parse_exam_json, parse_exam_obj
from venalab.result import EngineOptions

VEINS = list(get_args(VeinCode))
ms = st.floats(min_value=0, max_value=20000, allow_nan=False)
criteria_ids = st.sampled_from(["svs-avf-avls-2022", "svs-avf-2011", "labropoulos-2003"])

segment = st.fixed_dictionaries(
    {"vein": st.sampled_from(VEINS)},
    optional={
        "reflux_ms": ms,
        "diameter_mm": st.floats(min_value=0.5, max_value=30, allow_nan=False),
        "site": st.sampled_from(["proximal", "mid", "distal"]),
        "compressibility": st.sampled_from(["full", "partial", "none"]),
        "thrombus": st.fixed_dictionaries(
            {},
            optional={
                "age": st.sampled_from(["acute", "subacute", "chronic", "indeterminate"]),
                "occlusive": st.booleans(),
                "length_cm": st.floats(min_value=0.1, max_value=60, allow_nan=False),
            },
        ),
    },
)
signs = st.lists(
    st.sampled_from(
        [
            "telangiectasia",
            "reticular",
            "varicose",
            "corona-phlebectatica",
            "edema",
            "pigmentation",
            "eczema",
            "lipodermatosclerosis",
            "atrophie-blanche",
            "ulcer-healed",
            "ulcer-active",
        ]
    ),
    unique=True,
    max_size=5,
)


def _with_perforator_fix(seg: dict[str, Any], beneath: bool) -> dict[str, Any]:
    if seg["vein"] in ("TPV", "CPV"):
        seg = {**seg, "beneath_ulcer": beneath}
    return seg


@st.composite
def exams(draw: st.DrawFn) -> dict[str, Any]:
    legs = {}
    for side in draw(st.sampled_from([["left"], ["right"], ["left", "right"]])):
        segs = [
            _with_perforator_fix(s, draw(st.booleans()))
            for s in draw(st.lists(segment, max_size=20))
        ]
        legs[side] = {
            "clinical": {"signs": draw(signs), "symptomatic": draw(st.booleans())},
            "segments": segs,
        }
    doc = exam_dict()
    doc["legs"] = legs
    return doc


@settings(max_examples=150, deadline=None)
@given(exams())
def test_any_valid_exam_round_trips_through_json(doc: dict[str, Any]) -> None:
    exam = parse_exam_obj(doc)
    assert parse_exam_json(exam.to_json()) == exam


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([v for v in VEINS]), ms, ms, criteria_ids)
def test_more_reflux_time_never_turns_present_into_absent(
    vein: str, a: float, b: float, criteria: str
) -> None:
    low, high = sorted((a, b))
    results = []
    for value in (low, high):
        exam = parse_exam_obj(exam_dict(left={"segments": [{"vein": vein, "reflux_ms": value}]}))
        leg = assess(exam, options=EngineOptions(criteria=criteria)).legs.left
        assert leg is not None
        results.append(leg.segments[0])
    if results[0].abnormal:
        assert results[1].abnormal is True
    order = {"absent": 0, "boundary": 1, "present": 2, "not-assessed": -1}
    if results[0].reflux != "not-assessed":
        assert order[results[1].reflux] >= order[results[0].reflux] or results[1].abnormal


@settings(max_examples=150, deadline=None)
@given(exams())
def test_every_conclusion_has_evidence(doc: dict[str, Any]) -> None:
    result = assess(parse_exam_obj(doc))
    for f in result.findings:
        assert f.evidence.rule and f.evidence.source
    for _, leg in ((s, result.leg(s)) for s in ("left", "right")):
        if leg is None:
            continue
        for s in leg.segments:
            assert s.evidence.rule
            if s.measured_ms is not None and s.threshold_ms is not None:
                assert s.evidence.measured == s.measured_ms
                assert s.evidence.threshold == s.threshold_ms and s.evidence.comparison
        for p in leg.perforators:
            assert p.evidence.rule == "perforator.pathologic"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [
    "vein",
    "reflux_ms",
    "diameter_mm",
    "site",
    "compressibility",
    "thrombus",
    "beneath_ulcer",
    "label",
    "obstruction",
    "position_cm",
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), json_values)
def test_invalid_values_name_their_path_never_crash(field: str, value: Any) -> None:
    doc = exam_dict(left={"segments": [{"vein": "GSVa", field: value}]})
    try:
        exam = parse_exam_obj(doc)
    except InvalidInput as err:
        assert err.problems
        assert all(p.path.startswith("legs.left.segments[0]") for p in err.problems), err.problems
    else:
        assert isinstance(exam, ExamDocument)
        assess(exam)
