"""Critical results and serial comparison in the web app (issue 18), on SQLite and PostgreSQL:
the communication is documented before sign-off, critical drafts head the worklist, both are
audited; stored exams are assessed with the patient's previous exam as prior."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from sqlalchemy import text

from helpers import EXAMPLES, exam_dict, leg
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401 - fixtures
from test_web_api import Env, _login, env  # noqa: F401 - fixture
from venalab.store import audit

ACUTE_FV = {
    "vein": "FV",
    "compressibility": "none",
    "thrombus": {"age": "acute", "occlusive": True},
}


def _doc(
    date: str = "2025-03-10", *segments: dict[str, Any], pid: str = "CRIT-1"
) -> dict[str, Any]:
    doc = exam_dict(
        right=leg(*(segments or (ACUTE_FV,))), exam={"date": date, "purpose": "thrombosis"}
    )
    doc["patient"]["id"] = pid
    return doc


def _create(env: Env, doc: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    r = env.client("sono").post("/api/exams", json=doc)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _told(when: dt.datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "recipient": "Dr Ward, on-call vascular",
        "method": "telephone",
        "communicated_at": (when or dt.datetime.now(dt.UTC)).isoformat(),
        "read_back": True,
        **extra,
    }


def test_critical_exam_signs_only_after_documented_communication(env: Env) -> None:  # noqa: F811
    created = _create(env, _doc())
    exam_id = created["exam_id"]
    assert created["critical"] is True
    doc = env.client("doc")
    refused = doc.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 1})
    assert refused.status_code == 409
    assert "document their communication" in refused.json()["error"]["message"]
    # a communication without read-back does not open the gate
    sono = env.client("sono")
    r = sono.post(f"/api/exams/{exam_id}/communications", json=_told(read_back=False))
    assert r.status_code == 201 and r.json()["criteria"] == ["proximal-dvt"]
    assert doc.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 1}).status_code == 409
    r = sono.post(f"/api/exams/{exam_id}/communications", json=_told())
    assert r.status_code == 201 and r.json()["documented_by"] == "sono"
    signed = doc.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 1})
    assert signed.status_code == 200 and signed.json()["status"] == "signed"
    listed = sono.get(f"/api/exams/{exam_id}/communications").json()
    assert [c["read_back"] for c in listed] == [False, True]
    with env.factory() as s:
        entries = audit.query(s, entity="exam", entity_id=str(exam_id))
        actions = [e.action for e in entries]
        assert actions.count("critical-communication") == 2
        sign_entry = next(e for e in entries if e.action == "exam-sign")
        assert sign_entry.detail is not None
        assert sign_entry.detail["critical"] == ["proximal-dvt"]
        assert sign_entry.detail["communications"] == [listed[1]["id"]]
    # the signed report carries the communication record
    report = doc.get(f"/api/exams/{exam_id}/report", params={"format": "html"})
    assert "Communicated to Dr Ward, on-call vascular by telephone" in report.text


def test_communications_are_validated_and_append_only(env: Env) -> None:  # noqa: F811
    exam_id = _create(env, _doc())["exam_id"]
    sono = env.client("sono")
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    r = sono.post(f"/api/exams/{exam_id}/communications", json=_told(future))
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "communicated_at"
    r = sono.post(f"/api/exams/{exam_id}/communications", json=_told(recipient="   "))
    assert r.status_code == 422
    odd = {**_told(), "communicated_at": "0001-01-01T00:00:00+05:00"}  # before year 1 in UTC
    r = sono.post(f"/api/exams/{exam_id}/communications", json=odd)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "communicated_at"
    r = sono.post(f"/api/exams/{exam_id}/communications", json={**_told(), "extra": 1})
    assert r.status_code == 422
    # a version without a critical result has nothing to communicate
    calm = _create(env, _doc("2025-03-11", {"vein": "FV", "compressibility": "full"}, pid="CALM"))
    r = sono.post(f"/api/exams/{calm['exam_id']}/communications", json=_told())
    assert r.status_code == 409
    assert sono.post(f"/api/exams/{exam_id}/communications", json=_told()).status_code == 201
    with env.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE critical_communications SET read_back = false"))
    with env.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM critical_communications"))


def test_critical_drafts_head_the_worklist(env: Env) -> None:  # noqa: F811
    calm_id = _create(env, _doc("2025-03-12", {"vein": "FV", "compressibility": "full"}, pid="A"))[
        "exam_id"
    ]
    critical_id = _create(env, _doc("2025-01-02", pid="B"))["exam_id"]
    c = env.client()
    _login(c, "doc", env.passwords["doc"])
    page = c.get("/").text
    order = [int(m) for m in re.findall(r'href="/exams/(\d+)">#', page)]
    assert order.index(critical_id) < order.index(calm_id)  # older, but critical first
    assert 'data-critical="1"' in page
    # the exam page shows the marks and the form; sign-off waits for it
    exam_page = c.get(f"/exams/{critical_id}").text
    assert 'id="critical-results"' in exam_page and 'id="communication-form"' in exam_page
    assert "Acute proximal deep vein thrombosis" in exam_page
    assert re.search(r'id="sign-button" disabled', exam_page)
    # saving a calm version clears the flag
    calm = _doc("2025-01-02", {"vein": "FV", "compressibility": "full"}, pid="B")
    r = env.client("sono").post(
        f"/api/exams/{critical_id}/versions", json={"document": calm, "expected_version": 1}
    )
    assert r.status_code == 201 and r.json()["critical"] is False


def test_form_documents_the_communication(env: Env) -> None:  # noqa: F811
    exam_id = _create(env, _doc())["exam_id"]
    c = env.client()
    _login(c, "sono", env.passwords["sono"])
    page = c.get(f"/exams/{exam_id}").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    form = {
        "csrf_token": csrf.group(1),
        "version": "1",
        "recipient": "Dr Ward",
        "method": "in person",
        "communicated_at": now,
        "read_back": "true",
    }
    r = c.post(f"/exams/{exam_id}/communications", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/exams/{exam_id}").text
    assert 'id="communications"' in page and "Dr Ward" in page and "confirmed" in page
    assert 'id="communication-needed"' not in page
    bad = c.post(f"/exams/{exam_id}/communications", data={**form, "csrf_token": "x"})
    assert bad.status_code == 403


def test_stored_exams_are_compared_with_the_previous_exam(env: Env) -> None:  # noqa: F811
    first = _doc("2025-03-03", {"vein": "POPV", "compressibility": "full"}, pid="SER")
    first["legs"]["right"]["segments"].append(
        {"vein": "PRV", "compressibility": "none", "thrombus": {"age": "acute", "length_cm": 3}}
    )
    second = json.loads(json.dumps(first))
    second["exam"]["date"] = "2025-03-10"
    second["legs"]["right"]["segments"][0] = {
        "vein": "POPV",
        "compressibility": "none",
        "thrombus": {"age": "acute"},
    }
    _create(env, first)
    second_id = _create(env, second)["exam_id"]
    c = env.client()
    _login(c, "doc", env.passwords["doc"])
    page = c.get(f"/exams/{second_id}").text
    assert 'id="comparison"' in page and "Compared with the exam of 2025-03-03" in page
    assert "popliteal vein or above" in page and "proximal-extension" in page
    patient = c.get("/patients/SER").text
    assert "first exam" in patient and "popliteal vein or above" in patient
    report = env.client("doc").get(f"/api/exams/{second_id}/report", params={"format": "html"})
    assert "Comparison with the exam of 2025-03-03" in report.text


def test_examples_are_not_critical(env: Env) -> None:  # noqa: F811
    for name in ("seed-001-calcinosis.json", "calf-dvt.json"):
        created = _create(env, json.loads((EXAMPLES / name).read_text()))
        assert created["critical"] is False


def test_communications_cannot_be_replaced_on_sqlite(env: Env) -> None:  # noqa: F811
    exam_id = _create(env, _doc())["exam_id"]
    assert (
        env.client("sono").post(f"/api/exams/{exam_id}/communications", json=_told()).status_code
        == 201
    )
    if env.engine.dialect.name != "sqlite":
        return  # PostgreSQL has no INSERT OR REPLACE (its UPDATE guard is tested above)
    with env.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(
            text(
                "INSERT OR REPLACE INTO critical_communications (id, exam_id, version, criteria, "
                "recipient, method, communicated_at, read_back, documented_by, documented_at) "
                "SELECT id, exam_id, version, criteria, 'someone else', method, communicated_at, "
                "read_back, documented_by, documented_at FROM critical_communications"
            )
        )


def test_a_save_assesses_its_document_once(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Issue 14: the critical mark of a create, save or amendment reuses the one assessment
    made before the write (with the patient's prior exam), also for the response."""
    import venalab.web.critical as web_critical

    calls: list[str] = []
    real = web_critical.assess

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("assess")
        return real(*args, **kwargs)

    monkeypatch.setattr(web_critical, "assess", counted)
    doc = json.loads((EXAMPLES / "calf-dvt.json").read_text())
    sono, physician = env.client("sono"), env.client("doc")
    created = _create(env, doc)
    assert len(calls) == 1
    exam_id = created["exam_id"]
    doc["exam"]["indication"] = "Right calf pain, swelling and redness after a long trip"
    r = sono.post(f"/api/exams/{exam_id}/versions", json={"document": doc, "expected_version": 1})
    assert r.status_code == 201 and len(calls) == 2
    assert physician.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 2}).is_success
    calls.clear()
    amend = {"document": doc, "expected_version": 2, "reason": "wrong side noted"}
    r = physician.post(f"/api/exams/{exam_id}/amend", json=amend)
    assert r.status_code == 201, r.text
    assert len(calls) == 1 and r.json()["amended"] is True and r.json()["critical"] is False


def test_the_mark_is_assessed_again_when_the_prior_moved(env: Env) -> None:  # noqa: F811
    """mark_written reuses the assessment made before the write only if the prior exam is
    still the one it was made with; otherwise it assesses again inside the transaction."""
    from venalab.exam import parse_exam_obj
    from venalab.store import exams
    from venalab.web.critical import Marks, mark_written

    first = _create(env, _doc("2025-03-03", {"vein": "POPV", "compressibility": "full"}))
    later = _doc("2025-03-10", {"vein": "POPV", "compressibility": "full"})
    exam_id = _create(env, later)["exam_id"]
    doc = parse_exam_obj(later)
    with env.factory() as s:
        prior = exams.previous_version_id(s, "CRIT-1", doc.exam.date, exclude_exam_id=exam_id)
        assert prior is not None and prior == exams.get_version(s, first["exam_id"]).id
    stale, current = Marks(-1, ("proximal-dvt",)), Marks(prior, ("proximal-dvt",))
    for marks, expected in ((current, True), (stale, False)):
        with env.factory() as s, s.begin():
            mark_written(s, exam_id, doc, marks)
        with env.factory() as s:
            assert exams.get_exam(s, exam_id).critical is expected


@pytest.mark.parametrize(
    "doc",
    [
        _doc(),
        _doc(
            "2025-03-10", {"vein": "PRV", "compressibility": "none", "thrombus": {"age": "acute"}}
        ),
        *(json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))),
    ],
)
def test_marks_without_a_prior_equal_the_full_results(doc: dict[str, Any]) -> None:
    """A save without a prior exam marks from the decisions tier: the same criteria, in the
    same order, as the full result the exam page and the sign-off gate read."""
    from venalab.engine import assess
    from venalab.exam import parse_exam_obj
    from venalab.web.critical import criteria_of, criteria_with

    parsed = parse_exam_obj(doc)
    assert criteria_with(parsed, None) == criteria_of(assess(parsed))
