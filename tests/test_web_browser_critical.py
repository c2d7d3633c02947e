"""Issue 18 in a real browser (Debian's Chromium, a real `venalab serve`): a critical draft
heads the worklist, the exam page asks for the communication before sign-off, the form
documents it and the physician then signs; editing in the worksheet keeps the fields the grid
has no column for (treatment, position_cm, thrombus lumen share)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from helpers import exam_dict, leg
from test_web_browser import browser, login, segment_row, server  # noqa: F401 - fixtures
from venalab.store import make_engine, session_factory, users
from venalab.store.db import transaction
from web_server import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _account(tmp_path: Path) -> tuple[str, str]:
    """A physician with a known password and an API token, straight in the server's database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'venalab.db'}")
    try:
        with transaction(session_factory(engine)) as s:
            user, _ = users.create_user(s, "drcrit", "physician", "Dr Crit")
            users.set_password(s, user, "drcrit-correct-horse-1")
            token = users.create_token(s, user, "browser test")
    finally:
        engine.dispose()
    return "drcrit-correct-horse-1", token


def _document() -> dict[str, Any]:
    doc = exam_dict(
        left=leg(
            {
                "vein": "FV",
                "compressibility": "none",
                "thrombus": {"age": "acute", "occlusive": True},
            },
            {
                "vein": "GSVa",
                "reflux_ms": 300,
                "position_cm": 4,
                "treatment": {
                    "method": "thermal-ablation",
                    "date": "2024-06-01",
                    "status": "occluded",
                },
            },
            {
                "vein": "CFV",
                "thrombus": {"age": "chronic", "occlusive": False, "lumen_percent": 30},
            },
        ),
        exam={"date": "2025-01-15", "purpose": "follow-up", "position": "supine"},
    )
    doc["patient"]["id"] = "CRIT-BROWSER"
    return doc


def test_critical_exam_in_the_browser(server: Server, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    password, token = _account(tmp_path)
    base = server.base
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
    created = api.post("/api/exams", json=_document())
    assert created.status_code == 201, created.text
    exam_id = created.json()["exam_id"]
    assert created.json()["critical"] is True

    page = browser.new_page()
    login(page, base, "drcrit", password)
    expect(page).to_have_url(f"{base}/")
    first = page.locator("table.grid tbody tr").first
    expect(first.locator("a").first).to_have_text(f"#{exam_id}")  # heads the worklist
    expect(first.locator(".badge-critical")).to_have_text("critical")

    # the worksheet keeps what its grid does not show
    page.goto(f"{base}/exams/{exam_id}/edit")
    gsva = segment_row(page, "left", "GSVa")
    gsva.locator('[data-field="reflux_ms"]').fill("350")
    expect(gsva.locator("td.verdict")).to_have_text("no reflux")
    page.click("#save-button")
    expect(page).to_have_url(f"{base}/exams/{exam_id}")
    saved = api.get(f"/api/exams/{exam_id}").json()["document"]["legs"]["left"]["segments"]
    by_vein = {s["vein"]: s for s in saved}
    assert by_vein["GSVa"]["reflux_ms"] == 350 and by_vein["GSVa"]["position_cm"] == 4
    assert by_vein["GSVa"]["treatment"]["method"] == "thermal-ablation"
    assert by_vein["CFV"]["thrombus"] == {"age": "chronic", "occlusive": False, "lumen_percent": 30}

    # sign-off waits for the documented communication
    expect(page.locator("#critical-results")).to_contain_text("Acute proximal deep vein thrombosis")
    expect(page.locator("#communication-needed")).to_be_visible()
    expect(page.locator("#sign-button")).to_be_disabled()
    form = page.locator("#communication-form")
    form.locator('input[name="recipient"]').fill("Dr Ward, referring GP")
    form.locator('select[name="method"]').select_option("telephone")
    form.locator('input[name="read_back"]').check()
    form.locator("#communication-submit").click()
    expect(page).to_have_url(f"{base}/exams/{exam_id}")
    expect(page.locator("#communications")).to_contain_text("Dr Ward, referring GP")
    expect(page.locator("#communication-needed")).to_have_count(0)
    expect(page.locator("#sign-button")).to_be_enabled()
    page.click("#sign-button")
    expect(page.locator("#exam-status")).to_contain_text("SIGNED")
    told = api.get(f"/api/exams/{exam_id}/communications").json()
    assert [(c["recipient"], c["read_back"]) for c in told] == [("Dr Ward, referring GP", True)]
    assert told[0]["version"] == 2
