"""diff_versions: the differences between two stored exam documents (pure function)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exam_dict, leg
from venalab.store import Change, diff_versions


def _doc(*segments: dict[str, Any], signs: list[str] | None = None, **top: Any) -> dict[str, Any]:
    return exam_dict(left=leg(*segments, signs=signs or []), **top)


def test_changed_measurement_has_the_json_path() -> None:
    a = _doc({"vein": "CFV"}, {"vein": "GSVa", "site": "proximal", "reflux_ms": 800})
    b = copy.deepcopy(a)
    b["legs"]["left"]["segments"][1]["reflux_ms"] = 1200
    assert diff_versions(a, b) == [
        Change(path="legs.left.segments[1].reflux_ms", before=800, after=1200, kind="changed")
    ]


def test_added_removed_and_nested_changes_in_deterministic_order() -> None:
    a = _doc({"vein": "GSVa", "reflux_ms": 800, "diameter_mm": 6.0})
    b = copy.deepcopy(a)
    del b["legs"]["left"]["segments"][0]["diameter_mm"]
    b["legs"]["left"]["segments"][0]["compressibility"] = "full"
    b["patient"]["age_years"] = 61
    b["labs"] = {"calcium": {"value": 2.4, "unit": "mmol/L"}}
    assert [(c.kind, c.path, c.before, c.after) for c in diff_versions(a, b)] == [
        ("added", "labs", None, {"calcium": {"value": 2.4, "unit": "mmol/L"}}),
        ("added", "legs.left.segments[0].compressibility", None, "full"),
        ("removed", "legs.left.segments[0].diameter_mm", 6.0, None),
        ("changed", "patient.age_years", 60, 61),
    ]
    assert [c.kind for c in diff_versions(b, a)] == ["removed", "removed", "added", "changed"]


def test_inserting_a_row_shows_one_added_row_not_every_later_row_changed() -> None:
    rows = [{"vein": v, "reflux_ms": 100 * i} for i, v in enumerate(["CFV", "FV", "POPV"])]
    a = _doc(*rows)
    b = _doc(rows[0], {"vein": "GSVa", "site": "mid", "reflux_ms": 900}, rows[1], rows[2])
    assert diff_versions(a, b) == [
        Change(
            path="legs.left.segments[1]",
            after={"vein": "GSVa", "site": "mid", "reflux_ms": 900},
            kind="added",
        )
    ]
    # Removal: the path indexes the older document.
    assert diff_versions(b, a) == [
        Change(
            path="legs.left.segments[1]",
            before={"vein": "GSVa", "site": "mid", "reflux_ms": 900},
            kind="removed",
        )
    ]


def test_same_vein_at_several_sites_is_matched_by_site() -> None:
    a = _doc(
        {"vein": "GSVa", "site": "proximal", "reflux_ms": 600}, {"vein": "GSVa", "site": "distal"}
    )
    b = _doc(
        {"vein": "GSVa", "site": "distal"}, {"vein": "GSVa", "site": "proximal", "reflux_ms": 700}
    )
    assert diff_versions(a, b) == [
        Change(path="legs.left.segments[1].reflux_ms", before=600, after=700, kind="changed")
    ]


def test_ambiguous_rows_fall_back_to_position() -> None:
    a = _doc({"vein": "GSVa", "reflux_ms": 600}, {"vein": "GSVa", "reflux_ms": 300})
    b = _doc({"vein": "GSVa", "reflux_ms": 300}, {"vein": "GSVa", "reflux_ms": 600})
    assert [c.path for c in diff_versions(a, b)] == [
        "legs.left.segments[0].reflux_ms",
        "legs.left.segments[1].reflux_ms",
    ]


def test_signs_are_a_set() -> None:
    a = _doc(signs=["varicose", "edema"])
    b = _doc(signs=["edema", "varicose", "pigmentation"])
    assert diff_versions(a, b) == [
        Change(path="legs.left.clinical.signs[2]", after="pigmentation", kind="added")
    ]


def test_numbers_and_types() -> None:
    assert diff_versions({"x": 6}, {"x": 6.0}) == []
    assert diff_versions({"x": 1}, {"x": True}) == [
        Change(path="x", before=1, after=True, kind="changed")
    ]
    assert diff_versions({"x": [1]}, {"x": {"a": 1}}) == [
        Change(path="x", before=[1], after={"a": 1}, kind="changed")
    ]


def test_identical_documents_have_no_changes() -> None:
    a = _doc({"vein": "GSVa", "reflux_ms": 800}, signs=["edema"])
    assert diff_versions(a, copy.deepcopy(a)) == []


# ---------------------------------------------------------------------------------------
# Properties over arbitrary JSON objects

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", "GSVa"])
)
keys = st.sampled_from(["vein", "site", "reflux_ms", "x", "y"])
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(keys, json_values, max_size=5)

_STEP = re.compile(r"\.?([^.\[]+)|\[(\d+)\]")


def _at(doc: Any, path: str) -> Any:
    for name, index in _STEP.findall(path):
        doc = doc[int(index)] if index else doc[name]
    return doc


@settings(max_examples=300, deadline=None)
@given(json_objects)
def test_property_a_document_equals_itself(a: dict[str, Any]) -> None:
    assert diff_versions(a, copy.deepcopy(a)) == []


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(json_objects, json_objects)
def test_property_changes_point_at_the_values_they_report(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    changes = diff_versions(a, b)
    for change in changes:
        if change.kind in ("added", "changed"):
            assert _at(b, change.path) == change.after
        if change.kind == "removed":
            assert _at(a, change.path) == change.before
    # Deterministic: the same inputs (even with keys inserted in another order) give the same list.
    b_reordered = json.loads(json.dumps(b, sort_keys=True))
    assert diff_versions(a, b_reordered) == changes
    # Empty exactly when nothing differs (up to list order where lists are sets or keyed rows).
    if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
        assert changes or _order_only_difference(a, b)


def _order_only_difference(a: Any, b: Any) -> bool:
    def norm(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return sorted((norm(v) for v in x), key=lambda v: json.dumps(v, sort_keys=True))
        if isinstance(x, float) and x.is_integer():
            return int(x)
        return x

    return json.dumps(norm(a), sort_keys=True) == json.dumps(norm(b), sort_keys=True)
