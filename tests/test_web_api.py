"""REST API and authorization, on SQLite and on a real PostgreSQL (issue 6)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import EXAMPLES
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401 - fixtures
from venalab.store import audit, make_engine, session_factory, users
from venalab.web.app import create_app


class Env:
    def __init__(self, url: str, tmp: Path) -> None:
        self.app = create_app(url, var_dir=tmp)
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)
        self.tokens: dict[str, str] = {}
        self.passwords: dict[str, str] = {}
        with self.factory() as s, s.begin():
            for name, role in (("sono", "sonographer"), ("doc", "physician"), ("adm", "admin")):
                user, _ = users.create_user(s, name, role, name.title())
                password = f"{name}-correct-horse-battery"
                users.set_password(s, user, password)
                self.passwords[name] = password
                self.tokens[name] = users.create_token(s, user, "tests")

    def dispose(self) -> None:
        self.engine.dispose()
        self.app.state.venalab.engine.dispose()

    def client(self, who: str | None = None) -> TestClient:
        c = TestClient(self.app)
        if who:
            c.headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return c


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:  # noqa: F811
    e = Env(db_url, tmp_path)
    yield e
    e.dispose()


def _example(name: str = "seed-001-calcinosis.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def _create(env: Env, who: str = "sono") -> dict[str, Any]:
    r = env.client(who).post("/api/exams", json=_example())
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_anonymous_gets_401_json_and_pages_redirect(env: Env) -> None:
    c = env.client()
    r = c.get("/api/exams")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert c.post("/api/assess", json=_example()).status_code == 401
    page = c.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_assess_is_stateless_and_validates(env: Env) -> None:
    c = env.client("sono")
    r = c.post("/api/assess", json=_example())
    assert r.status_code == 200
    assert r.json()["legs"]["left"]["segments"][3]["reflux"] == "present"
    bad = _example()
    bad["legs"]["left"]["segments"][0]["reflux_ms"] = False
    r = c.post("/api/assess", json=bad)
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0]["path"] == "legs.left.segments[0].reflux_ms"
    assert c.post("/api/assess", content=b"{not json").status_code == 400
    assert c.get("/api/exams").json() == []  # nothing stored


def test_versions_sign_amend_history(env: Env) -> None:
    created = _create(env)
    exam_id = created["exam_id"]
    assert created["version"]["version"] == 1 and created["status"] == "draft"
    doc = _example()
    doc["legs"]["left"]["segments"][3]["reflux_ms"] = 1700
    sono = env.client("sono")
    r = sono.post(f"/api/exams/{exam_id}/versions", json={"document": doc, "expected_version": 1})
    assert r.status_code == 201 and r.json()["version"]["version"] == 2
    # a stale save is a conflict, and nothing is lost: version 2 is still there
    r = sono.post(f"/api/exams/{exam_id}/versions", json={"document": doc, "expected_version": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    # a sonographer cannot sign
    r = sono.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 2})
    assert r.status_code == 403
    r = env.client("doc").post(f"/api/exams/{exam_id}/sign", json={"expected_version": 2})
    assert r.status_code == 200 and r.json()["status"] == "signed"
    assert r.json()["version"]["signed_by"] == "doc"
    # signed exams are amended with a reason, never overwritten
    r = sono.post(f"/api/exams/{exam_id}/versions", json={"document": doc, "expected_version": 2})
    assert r.status_code == 409
    # the role is checked before the body: a sonographer learns nothing about the amend body
    empty_reason = {"document": doc, "expected_version": 2, "reason": ""}
    assert sono.post(f"/api/exams/{exam_id}/amend", json=empty_reason).status_code == 403
    r = env.client("doc").post(f"/api/exams/{exam_id}/amend", json=empty_reason)
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "reason"
    doc["exam"]["operator"] = "second sonographer"
    amend = {"document": doc, "expected_version": 2, "reason": "operator corrected"}
    assert sono.post(f"/api/exams/{exam_id}/amend", json=amend).status_code == 403
    r = env.client("doc").post(f"/api/exams/{exam_id}/amend", json=amend)
    assert r.status_code == 201 and r.json()["version"]["reason"] == "operator corrected"
    versions = sono.get(f"/api/exams/{exam_id}/versions").json()
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["status"] for v in versions] == ["draft", "signed", "draft"]
    diff = sono.get(f"/api/exams/{exam_id}/diff", params={"from": 1, "to": 3}).json()
    paths = {d["path"] for d in diff}
    assert {"legs.left.segments[3].reflux_ms", "exam.operator"} <= paths
    # the signed version stays readable as it was
    v2 = sono.get(f"/api/exams/{exam_id}/versions/2").json()
    assert "operator" not in v2["document"]["exam"]


def test_report_download_is_audited(env: Env) -> None:
    exam_id = _create(env)["exam_id"]
    r = env.client("doc").get(f"/api/exams/{exam_id}/report", params={"format": "pdf"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    with env.factory() as s:
        entries = audit.query(s, action="view-report")
        assert entries and entries[0].username == "doc" and entries[0].doc_hash


def test_token_identity_and_revocation(env: Env) -> None:
    exam_id = _create(env)["exam_id"]
    # a physician's session cookie does not lend its rights to a sonographer's token
    web = env.client()
    _login(web, "doc", env.passwords["doc"])
    r = web.post(
        f"/api/exams/{exam_id}/sign",
        json={"expected_version": 1},
        headers={"Authorization": f"Bearer {env.tokens['sono']}"},
    )
    assert r.status_code == 403
    r = env.client().get("/api/exams", headers={"Authorization": "Bearer vl_forged"})
    assert r.status_code == 401
    assert env.client("sono").get("/api/me").json()["username"] == "sono"


def _login(c: TestClient, username: str, password: str) -> None:
    page = c.get("/login")
    token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
    r = c.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_session_api_needs_csrf_header(env: Env) -> None:
    c = env.client()
    _login(c, "sono", env.passwords["sono"])
    assert c.get("/api/exams").status_code == 200
    r = c.post("/api/exams", json=_example())
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    page = c.get("/worksheet")
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    r = c.post("/api/exams", json=_example(), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


def test_login_throttling_and_audit(env: Env) -> None:
    c = env.client()
    for _ in range(5):
        page = c.get("/login")
        token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
        r = c.post("/login", data={"username": "sono", "password": "wrong", "login_csrf": token})
        assert r.status_code == 401
    page = c.get("/login")
    token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
    r = c.post(
        "/login", data={"username": "sono", "password": env.passwords["sono"], "login_csrf": token}
    )
    assert r.status_code == 429  # throttled even with the right password
    with env.factory() as s:
        assert len(audit.query(s, action="login-failure")) >= 5


def test_concurrent_saves_one_conflict(env: Env) -> None:
    exam_id = _create(env)["exam_id"]
    doc = _example()
    statuses: list[int] = []

    def save(who: str) -> None:
        r = env.client(who).post(
            f"/api/exams/{exam_id}/versions", json={"document": doc, "expected_version": 1}
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=save, args=(w,)) for w in ("sono", "doc")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409]
    assert len(env.client("sono").get(f"/api/exams/{exam_id}/versions").json()) == 2


def test_openapi_describes_documents(env: Env) -> None:
    spec = env.client().get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "ExamDocument" in schemas and "Result" in schemas and "ErrorBody" in schemas
    assert "/api/assess" in spec["paths"] and "/api/exams/{exam_id}/sign" in spec["paths"]


def test_import_page_opens_worksheet_and_stores_nothing(env: Env, tmp_path: Path) -> None:
    from venalab.engine import assess
    from venalab.exam import load_exam
    from venalab.interop.fhir_export import export_bundle

    exam = load_exam(EXAMPLES / "calf-dvt.json")
    bundle = json.dumps(export_bundle(exam, assess(exam))).encode()
    c = env.client()
    _login(c, "sono", env.passwords["sono"])
    csrf = c.get("/import").text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post(
        "/import",
        data={"csrf_token": csrf},
        files={"file": ("bundle.json", bundle, "application/fhir+json")},
    )
    assert r.status_code == 200 and "Imported from FHIR R4 Bundle" in r.text
    assert "DVT-0007" in r.text and 'id="worksheet"' in r.text
    r = c.post(
        "/import",
        data={"csrf_token": csrf},
        files={"file": ("x.json", b'{"resourceType": "Patient"}', "application/json")},
    )
    assert r.status_code == 422 and "Nothing imported" in r.text
    assert env.client("sono").get("/api/exams").json() == []  # nothing stored by an import
