"""The /ask page and the knowledge review workflow in the web app (issue 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from test_web_api import Env, _login
from venalab.knowledge.entries import ENTRIES_DIR
from venalab.store import audit


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    entries = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, entries, ignore=shutil.ignore_patterns(".workflow.lock"))
    monkeypatch.setenv("VENALAB_KNOWLEDGE_DIR", str(entries))
    return Env(f"sqlite:///{tmp_path / 'k.db'}", tmp_path)


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.fixture
def strict_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """The lab policy "patients see approved entries only", set before the app starts."""
    monkeypatch.setenv("VENALAB_PATIENT_REVIEW_POLICY", "approved-only")
    entries = tmp_path / "entries"
    shutil.copytree(ENTRIES_DIR, entries, ignore=shutil.ignore_patterns(".workflow.lock"))
    monkeypatch.setenv("VENALAB_KNOWLEDGE_DIR", str(entries))
    return Env(f"sqlite:///{tmp_path / 'k.db'}", tmp_path)


def test_ask_page_answers_with_citations_and_status(env: Env) -> None:
    c = env.client()
    _login(c, "sono", env.passwords["sono"])
    r = c.get("/ask", params={"q": "How is isolated calf muscle vein thrombosis managed?"})
    assert r.status_code == 200 and 'id="answer"' in r.text
    assert "Key points" in r.text and "References" in r.text and "submitted" in r.text
    r = c.get("/ask", params={"q": "is 600 ms of reflux in the great saphenous vein abnormal?"})
    assert "Answered by the venalab engine" in r.text and "500" in r.text
    r = c.get("/ask", params={"q": "What is the capital of France?"})
    assert "No reviewed content" in r.text
    # default policy: a patient gets the unreviewed entry with the banner and its status,
    # and advice on when to get help
    r = c.get("/ask", params={"q": "What is chronic venous insufficiency?", "audience": "patient"})
    assert 'id="review-banner"' in r.text and "not yet reviewed by a clinician" in r.text
    assert 'id="get-help"' in r.text
    # an urgent question starts with the emergency advice
    r = c.get("/ask", params={"q": "my varicose vein is bleeding", "audience": "patient"})
    assert r.text.index('id="urgent"') < r.text.index("short-answer")


def test_ask_page_under_the_strict_policy(strict_env: Env) -> None:
    c = strict_env.client()
    _login(c, "sono", strict_env.passwords["sono"])
    r = c.get("/ask", params={"q": "What is chronic venous insufficiency?", "audience": "patient"})
    assert "No reviewed content" in r.text and 'id="review-banner"' not in r.text


def test_review_workflow_reaches_patients_only_after_approval(strict_env: Env) -> None:
    env = strict_env
    doc = env.client()
    _login(doc, "doc", env.passwords["doc"])
    page = doc.get("/knowledge")
    assert page.status_code == 200 and "cvi-patient" in page.text
    token = _csrf(page.text)
    sono = env.client()
    _login(sono, "sono", env.passwords["sono"])
    refused = sono.post(
        "/knowledge/cvi-patient/approve", data={"csrf_token": _csrf(sono.get("/knowledge").text)}
    )
    assert refused.status_code == 403  # sonographers do not review
    for action in ("start-review", "approve"):
        r = doc.post(
            f"/knowledge/cvi-patient/{action}", data={"csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303, r.text
    assert "approved" in doc.get("/knowledge").text
    r = sono.get(
        "/ask", params={"q": "What is chronic venous insufficiency?", "audience": "patient"}
    )
    assert 'id="review-status">approved' in r.text
    with env.factory() as s:
        assert [e.action for e in audit.query(s, username="doc", entity="knowledge")] == [
            "knowledge-approve",
            "knowledge-start-review",
        ]
