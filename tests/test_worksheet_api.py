"""The worksheet's server side (issue 16): the live interpretation of incomplete documents,
the form described from the model's schema, and the draft store (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from helpers import exam_dict, leg
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401 - fixtures
from test_web_api import Env
from venalab.anatomy import VEINS
from venalab.criteria import get_criteria
from venalab.engine import assess
from venalab.exam import ExamDocument, VeinCode, parse_exam_obj
from venalab.store import audit, drafts
from venalab.store.models import WorksheetDraft
from venalab.web.worksheet_form import worksheet_form
from venalab.web.worksheet_live import live_assessment


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:  # noqa: F811
    e = Env(db_url, tmp_path)
    yield e
    e.dispose()


# ----------------------------------------------------------------------------- live answer


def _doc() -> dict[str, Any]:
    return exam_dict(
        leg(
            {"vein": "GSVa", "reflux_ms": 1500},
            {"vein": "SSV", "reflux_ms": -5},
            {"vein": "FV", "reflux_ms": 800},
            {"vein": "GSVb", "beneath_ulcer": True},
        )
    )


def test_one_bad_row_leaves_the_others_interpreted() -> None:
    answer = live_assessment(_doc(), get_criteria(None))
    assert [p["path"] for p in answer["problems"]] == [
        "legs.left.segments[1].reflux_ms",
        "legs.left.segments[3]",
    ]
    assert answer["rows"]["left"] == [0, 2]  # the result's segments are sent rows 0 and 2
    segs = answer["result"]["legs"]["left"]["segments"]
    assert [(s["vein"], s["reflux"]) for s in segs] == [("GSVa", "present"), ("FV", "absent")]
    assert answer["map"].startswith("<svg")


def test_problems_are_those_the_api_reports(env: Env) -> None:
    api = env.client("sono").post("/api/assess", json=_doc())
    assert api.status_code == 422
    live = env.client("sono").post("/api/worksheet/assess", json=_doc())
    assert live.status_code == 200
    assert live.json()["problems"] == api.json()["error"]["problems"]


def test_missing_patient_fields_get_stand_ins_that_change_no_verdict() -> None:
    doc = _doc()
    doc["legs"]["left"]["segments"] = doc["legs"]["left"]["segments"][:1]
    doc["patient"] = {"id": "", "sex": "unknown"}
    del doc["exam"]["date"]
    answer = live_assessment(doc, get_criteria(None))
    assert answer["assumed"] == ["exam.date", "patient.age_years", "patient.id"]
    # the stand-in date is today's (it is printed in the CEAP notation of the live panel)
    same = _doc() | {"legs": doc["legs"]}
    same["exam"]["date"] = dt.date.today().isoformat()
    full = json.loads(assess(parse_exam_obj(same)).to_json())
    assert answer["result"]["legs"] == full["legs"]


def test_the_engine_reads_no_patient_field() -> None:
    """Why stand-ins are safe: id, sex, age, birth date and BMI change no verdict. A rule that
    starts reading one of them must make the live answer say so (worksheet_live.py)."""
    base = exam_dict(
        leg({"vein": "GSVa", "reflux_ms": 900}, {"vein": "POPV", "thrombus": {}}, signs=["edema"])
    )
    results = []
    for patient in (
        {"id": "A", "age_years": 0},
        {"id": "zz-other", "age_years": 95, "sex": "male", "bmi": 45.0},
        {"id": "B", "birth_date": "1930-01-01", "sex": "female"},
    ):
        doc = copy.deepcopy(base)
        doc["patient"] = patient
        out = json.loads(assess(parse_exam_obj(doc)).to_json())
        out.pop("exam")
        results.append(out)
    assert results[0] == results[1] == results[2]


def test_unrecoverable_documents_answer_problems_and_the_empty_map() -> None:
    for doc in ({}, {"legs": {}}, [1, 2], "text", {"legs": {"left": 5}}):
        answer = live_assessment(doc, get_criteria(None))
        assert answer["result"] is None
        assert answer["problems"]
        assert 'data-vein="GSVa"' in answer["map"]  # still clickable


def test_invalid_values_elsewhere_are_left_out_and_named() -> None:
    doc = _doc()
    doc["legs"]["left"]["segments"] = doc["legs"]["left"]["segments"][:1]
    doc["patient"]["birth_date"] = "1950-13-01"
    doc["labs"] = {"calcium": {"value": 90, "unit": "mg/dL"}}
    answer = live_assessment(doc, get_criteria(None))
    assert answer["left_out"] == ["labs.calcium", "patient.birth_date"]
    assert answer["result"]["legs"]["left"]["segments"][0]["reflux"] == "present"


# ----------------------------------------------------------------------------- the form


def _scalar_paths(node: dict[str, Any], defs: dict[str, Any], path: str) -> set[str]:
    """Every leaf of the schema a control can hold (objects walked, maps and arrays of
    objects not)."""
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in node:
        real = [a for a in node["anyOf"] if a.get("type") != "null"]
        return _scalar_paths(real[0], defs, path) if len(real) == 1 else {path}
    if node.get("type") == "object" and "properties" in node:
        out: set[str] = set()
        for k, v in node["properties"].items():
            out |= _scalar_paths(v, defs, f"{path}.{k}" if path else k)
        return out
    if node.get("type") == "object":
        return set()  # a map: kept, listed by the page
    if node.get("type") == "array" and "properties" in node.get("items", {}):
        return set()
    return {path}


def test_every_field_of_the_model_has_a_control() -> None:
    """Issue 15: the worksheet is built from the schema, so no field is left without a place
    (but maps such as vcss `at_least`, which the page lists as kept)."""
    schema = ExamDocument.model_json_schema()
    defs = schema["$defs"]
    form = worksheet_form()
    placed: set[str] = set()

    def walk(group: Any) -> None:
        for f in group.fields:
            placed.add(f.path)
            if f.kind == "quantity":
                placed.update({f"{f.path}.value", f"{f.path}.unit"})
        for sub in group.groups:
            walk(sub)

    for section in form.sections:
        walk(section)
    for f in form.clinical.fields:
        placed.add(f.path.replace("{side}", "left"))
    expected = _scalar_paths(schema, defs, "") - {"format"}
    expected = {p for p in expected if not p.startswith("legs.right.")}
    segment = _scalar_paths(defs["Segment"], defs, "")
    for f in (*form.segment_fields, *form.thrombus_fields):
        placed.add(f.path)
    placed.add("thrombus.age")  # the Thrombus column: presence and age
    assert segment <= placed
    assert {p for p in expected if "segments" not in p} <= placed


def test_vein_picker_has_every_vein_with_its_name() -> None:
    veins = worksheet_form().page["veins"]
    assert sorted(v["value"] for v in veins) == sorted(get_args(VeinCode))
    assert all(v["name"] == VEINS[v["value"]].name for v in veins)
    vein = next(f for f in worksheet_form().segment_fields if f.key == "vein")
    assert {v for v, _ in vein.options} == set(get_args(VeinCode))  # from the schema
    reflux = next(f for f in worksheet_form().segment_fields if f.key == "reflux_ms")
    assert (reflux.minimum, reflux.maximum, reflux.unit) == (0, 20000, "ms")


def test_protocol_rows_are_valid_segments() -> None:
    for protocol in worksheet_form().page["protocols"]:
        doc = exam_dict(leg(*protocol["rows"]))
        parse_exam_obj(doc)


# ----------------------------------------------------------------------------- drafts


def _put(env: Env, who: str, key: str, doc: Any, **extra: Any) -> Any:
    return env.client(who).put(f"/api/drafts/{key}", json={"document": doc, **extra})


def test_drafts_are_kept_per_user_and_audited(env: Env) -> None:
    typed = {"patient": {"id": "P-1", "birth_date": "1956-03"}, "legs": {"left": {}}}
    r = _put(env, "sono", "new-abcdef12", typed, title="P-1, 0 rows", page="/worksheet")
    assert r.status_code == 200, r.text
    assert _put(env, "sono", "new-abcdef12", typed, title="P-1 again").status_code == 200
    assert _put(env, "sono", "exam-7", {"a": 1}, base_version=2).status_code == 200
    sono = env.client("sono")
    assert [d["key"] for d in sono.get("/api/drafts?kind=new").json()] == ["new-abcdef12"]
    assert [d["key"] for d in sono.get("/api/drafts?key=exam-7").json()] == ["exam-7"]
    assert sono.get("/api/drafts/exam-7").json()["base_version"] == 2
    got = sono.get("/api/drafts/new-abcdef12?restore=true").json()
    assert got["document"] == typed and got["title"] == "P-1 again"
    # nobody else sees or deletes it
    doc = env.client("doc")
    assert doc.get("/api/drafts").json() == []
    assert doc.get("/api/drafts/new-abcdef12").status_code == 404
    assert doc.delete("/api/drafts/new-abcdef12").json() == {"deleted": False}
    assert sono.delete("/api/drafts/new-abcdef12?discard=true").json() == {"deleted": True}
    assert sono.delete("/api/drafts/exam-7").json() == {"deleted": True}
    assert sono.get("/api/drafts").json() == []
    with env.factory() as s:
        actions = [e.action for e in audit.query(s, entity="draft")]
    assert sorted(actions) == ["draft-create", "draft-create", "draft-discard", "draft-restore"]


def test_drafts_refuse_bad_keys_and_bodies(env: Env) -> None:
    for key in ("new-x", "exam-0", "exam-abc", "other-12345678", "new-" + "a" * 65):
        assert _put(env, "sono", key, {}).status_code == 422, key
    assert _put(env, "sono", "new-abcdef12", [1, 2]).status_code == 422
    r = env.client("sono").put("/api/drafts/new-abcdef12", json={"document": {"x": "a\u0000b"}})
    assert r.status_code == 422
    assert env.client().get("/api/drafts").status_code == 401


def test_old_drafts_are_purged_and_the_count_is_bounded(env: Env) -> None:
    assert _put(env, "sono", "new-old00000", {}).status_code == 200
    with env.factory() as s, s.begin():
        d = s.query(WorksheetDraft).one()
        d.updated_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    assert _put(env, "sono", "new-fresh000", {}).status_code == 200
    keys = [d["key"] for d in env.client("sono").get("/api/drafts").json()]
    assert keys == ["new-fresh000"]
    for i in range(drafts.MAX_DRAFTS_PER_USER - 1):
        assert _put(env, "sono", f"exam-{i + 1}", {}).status_code == 200
    r = _put(env, "sono", "exam-999", {})
    assert r.status_code == 409 and "discard some" in r.json()["error"]["message"]
