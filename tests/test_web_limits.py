"""Bounded input on the web edge (security issue, items 5 and 6): every JSON endpoint, the
upload page, URLs and forms answer hostile input with 413/422 naming the path (400 for what
is not JSON at all), never a server error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import EXAMPLES, exam_dict
from test_web_api import Env, _login
from venalab.limits import LIMITS

DEEP = "[" * 5000 + "]" * 5000
HUGE = "9" * 5000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("limits")
    e = Env(f"sqlite:///{tmp / 'web.db'}", tmp)
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def signed_exam(env: Env) -> int:
    c = env.client("doc")
    exam_id: int = c.post("/api/exams", json=_example()).json()["exam_id"]
    assert c.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 1}).status_code == 200
    return exam_id


def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "seed-001-calcinosis.json").read_text())
    return data


def _post(c: TestClient, path: str, text: str) -> Any:
    return c.post(path, content=text, headers={"Content-Type": "application/json"})


def _with(doc: dict[str, Any], key: str, raw: str) -> str:
    """`doc` as JSON text with `"key": raw` added to its end (raw JSON, not escaped)."""
    return json.dumps(doc)[:-1] + f', "{key}": {raw}' + "}"


def test_exam_endpoints_answer_422_with_the_path(env: Env, signed_exam: int) -> None:
    c = env.client("doc")
    draft = c.post("/api/exams", json=_example()).json()["exam_id"]
    wrappers = {
        "/api/assess": lambda raw: _with(_example(), "x", raw),
        "/api/exams": lambda raw: _with(_example(), "x", raw),
        f"/api/exams/{draft}/versions": lambda raw: _with(
            {"expected_version": 1, "document": _example()}, "x", raw
        ),
        f"/api/exams/{signed_exam}/amend": lambda raw: _with(
            {"expected_version": 1, "reason": "typo", "document": _example()}, "x", raw
        ),
    }
    for path, wrap in wrappers.items():
        for raw, message in ((DEEP, "nested deeper than 32"), (HUGE, "longer than 30 digits")):
            r = _post(c, path, wrap(raw))
            assert r.status_code == 422, (path, r.status_code, r.text[:200])
            [problem] = r.json()["error"]["problems"]
            assert problem["path"].startswith("x") and message in problem["message"], path
        r = _post(c, path, '{"a": "x\\u0000y"}')
        assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "a"
        assert _post(c, path, "{nope").status_code == 400


def test_oversized_bodies_get_413_declared_or_chunked(env: Env) -> None:
    c = env.client("sono")
    big = b" " * (LIMITS.body_bytes + 1)
    r = c.post("/api/assess", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too-large"

    def chunks() -> Iterator[bytes]:
        for _ in range(LIMITS.body_bytes // 65536 + 2):
            yield b" " * 65536

    r = c.post("/api/exams", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_segments_per_leg_limit_on_the_api(env: Env) -> None:
    seg = {"vein": "GSVa", "reflux_ms": 600}
    c = env.client("sono")
    ok = exam_dict(left={"segments": [seg] * LIMITS.segments_per_leg})
    assert c.post("/api/assess", json=ok).status_code == 200
    too_many = exam_dict(left={"segments": [seg] * (LIMITS.segments_per_leg + 1)})
    r = c.post("/api/assess", json=too_many)
    assert r.status_code == 422
    assert r.json()["error"]["problems"][0]["path"] == "legs.left.segments"


def test_control_characters_in_urls_and_forms(env: Env) -> None:
    c = env.client("sono")
    r = c.get("/api/exams", params={"patient": "a\x00b"})
    assert r.status_code == 422 and r.json()["error"]["problems"][0]["path"] == "query.patient"
    assert c.get("/api/exams", params={"patient": "a\tb"}).status_code == 200
    page = env.client()
    r = page.post("/login", data={"username": "so\x00no", "password": "x", "login_csrf": "t"})
    assert r.status_code == 422 and "username" in r.text
    assert page.get("/patients/x%00y").status_code == 400


def test_import_page_bounds(env: Env, tmp_path: Path) -> None:
    c = env.client()
    _login(c, "sono", env.passwords["sono"])
    csrf = c.get("/import").text.split('name="csrf_token" value="')[1].split('"')[0]

    def upload(name: str, data: bytes) -> Any:
        return c.post("/import", data={"csrf_token": csrf}, files={"file": (name, data)})

    deep = ('{"resourceType": "Bundle", "entry": ' + DEEP + "}").encode()
    r = upload("deep.json", deep)
    assert r.status_code == 422 and "entry[0][0]" in r.text
    huge = ('{"resourceType": "Bundle", "total": ' + HUGE + "}").encode()
    r = upload("huge.json", huge)
    assert r.status_code == 422 and "longer than 30 digits" in r.text
    from test_input_limits import _nested_sequences
    from venalab.engine import assess
    from venalab.exam import load_exam
    from venalab.interop.sr_export import export_sr

    exam = load_exam(EXAMPLES / "calf-dvt.json")
    export_sr(exam, assess(exam), tmp_path / "sr.dcm")
    deep_sr = (tmp_path / "sr.dcm").read_bytes() + _nested_sequences(5000)
    r = upload("deep.dcm", deep_sr)
    assert r.status_code == 422 and "nested deeper than 24" in r.text
    r = upload("big.dcm", b"\x00" * (LIMITS.upload_bytes + 1))
    assert r.status_code == 413
