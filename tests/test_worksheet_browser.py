"""The worksheet a lab uses all day (issue 16), in Debian's Chromium against `venalab serve`.

One server and one browser for the module. Each test names the item of the issue it checks:
nothing lost (generated exams and an SR-imported thrombus open and save unchanged), nothing
misread (decimal comma, seconds typed in a ms field, rows without a vein, a partial birth
date), unsaved work (leaving warns, drafts kept server-side and offered back), live verdicts
per row, speed of entry (map, protocol shortcuts, copy, keyboard path, Alt+N), layout and
accessibility (1024 and 390 px, labels, skip link, focus, one-stop dates).

`VENALAB_WORKSHEET_EXAMPLES` sets how many generated exams the round-trip test opens and saves
(default 15; e.g. 200 for a long run). Screenshots go to $VENALAB_SCREENSHOTS if set.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from exam_strategies import exam_documents, normalised
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, login
from web_server import Server, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLES = int(os.environ.get("VENALAB_WORKSHEET_EXAMPLES", "15"))
PASSWORD = "sono-correct-horse-battery"


@dataclass
class Lab:
    server: Server
    token: str  # bearer token of the sonographer (API calls from the test)
    browser: Browser
    shots: Path

    @property
    def base(self) -> str:
        return self.server.base

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def context(self, width: int = 1440, height: int = 1000, user: str = "sono") -> BrowserContext:
        ctx = self.browser.new_context(viewport={"width": width, "height": height})
        ctx.set_default_timeout(STEP_TIMEOUT_MS)
        page = ctx.new_page()
        login(page, self.base, user, PASSWORD)
        expect(page).to_have_url(f"{self.base}/")
        page.close()
        return ctx


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from venalab.store import create_token, create_user, make_engine, session_factory, transaction

    tmp = tmp_path_factory.mktemp("worksheet")
    server = start_server(tmp)
    engine = make_engine(f"sqlite:///{tmp / 'var' / 'venalab.db'}")
    try:
        with transaction(session_factory(engine)) as s:
            sono, _ = create_user(s, "sono", "sonographer", password=PASSWORD)
            create_user(s, "doc", "physician", password=PASSWORD)
            token = create_token(s, sono, "tests")
    finally:
        engine.dispose()
    target = os.environ.get("VENALAB_SCREENSHOTS")
    shots = Path(target) if target else tmp / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install chromium", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield Lab(server, token, browser, shots)
        finally:
            browser.close()
            server.stop()


@pytest.fixture(scope="module")
def sono(lab: Lab) -> Iterator[BrowserContext]:
    ctx = lab.context()
    yield ctx
    ctx.close()


@pytest.fixture
def page(sono: BrowserContext) -> Iterator[Page]:
    errors: list[str] = []
    pg = sono.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", lambda d: d.accept())
    yield pg
    pg.close(run_before_unload=False)
    assert not errors, errors


# ----------------------------------------------------------------------------- helpers


def ready(page: Page) -> None:
    """Wait until the worksheet has its first live answer."""
    expect(page.locator("#worksheet")).to_have_attribute("data-ready", "1")


def rows(page: Page, side: str) -> Locator:
    return page.locator(f'table.segments[data-side="{side}"] tbody tr')


def row(page: Page, side: str, vein: str, site: str = "") -> Locator:
    """The first row of `vein` (and `site`) on a leg."""
    found = rows(page, side)
    for i in range(found.count()):
        r = found.nth(i)
        if r.locator('[data-field="vein"]').input_value() != vein:
            continue
        if site and r.locator('[data-field="site"]').input_value() != site:
            continue
        return r
    raise AssertionError(f"no {vein} {site} row on the {side} leg")


def create_exam(lab: Lab, doc: dict[str, Any]) -> int:
    with lab.api() as c:
        r = c.post("/api/exams", json=doc)
        assert r.status_code == 201, r.text
        exam_id: int = r.json()["exam_id"]
        return exam_id


def stored(lab: Lab, exam_id: int, version: int) -> dict[str, Any]:
    with lab.api() as c:
        r = c.get(f"/api/exams/{exam_id}/versions/{version}")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()["document"]
        return doc


def open_and_save_unchanged(lab: Lab, page: Page, exam_id: int) -> None:
    page.goto(f"{lab.base}/exams/{exam_id}/edit")
    ready(page)
    page.click("#save-button")
    expect(page).to_have_url(f"{lab.base}/exams/{exam_id}")


# ----------------------------------------------------------------------------- nothing lost


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
@given(doc=exam_documents())
def test_any_valid_exam_opens_and_saves_unchanged(lab: Lab, page: Page, doc: dict[str, Any]) -> None:
    """Data integrity, the property: a valid exam document (any field of the model, generated
    from its schema) opened in the worksheet and saved without edits is stored unchanged."""
    exam_id = create_exam(lab, doc)
    expected = normalised(doc)
    assert stored(lab, exam_id, 1) == expected
    open_and_save_unchanged(lab, page, exam_id)
    assert stored(lab, exam_id, 2) == expected


def test_fields_without_a_column_are_shown_and_kept(lab: Lab, page: Page) -> None:
    """Segment fields off the grid sit on the row's detail line (summarised under the vein);
    a value the worksheet has no control for is listed as kept, and saved as it was."""
    doc = {
        "format": "venous-exam/1",
        "patient": {"id": "KEEP-1", "age_years": 70},
        "exam": {"date": "2025-03-01"},
        "legs": {
            "left": {
                "segments": [
                    {"vein": "AASV", "reflux_ms": 900, "position_cm": 7.5, "obstruction": True},
                    {"vein": "CPV", "reflux_ms": 600, "beneath_ulcer": True, "label": "12 cm"},
                ]
            }
        },
        "scores": {"vcss": {"left": {"at_least": {"active_ulcers": 2}, "pain": 1}}},
    }
    exam_id = create_exam(lab, doc)
    page.goto(f"{lab.base}/exams/{exam_id}/edit")
    ready(page)
    aasv = row(page, "left", "AASV")
    expect(aasv.locator(".detail-summary")).to_contain_text("distance from junction 7.5 cm")
    expect(aasv.locator(".detail-summary")).to_contain_text("obstruction yes")
    kept = page.locator("#kept-fields")
    expect(kept).to_be_visible()
    expect(kept).to_contain_text("scores.vcss.left.at_least.active_ulcers: 2")
    page.click("#save-button")
    expect(page).to_have_url(f"{lab.base}/exams/{exam_id}")
    assert stored(lab, exam_id, 2) == normalised(doc)


def _sr_bytes(doc: dict[str, Any]) -> bytes:
    from venalab.engine import assess
    from venalab.exam import parse_exam_obj
    from venalab.interop.sr_export import build_sr

    exam = parse_exam_obj(doc)
    buf = io.BytesIO()
    build_sr(exam, assess(exam)).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_sr_imported_definite_thrombus_is_shown_and_saved(lab: Lab, page: Page) -> None:
    """The reported defect: a definite popliteal thrombus (no age) imported from a DICOM SR
    showed "thrombosis none" and was saved without the thrombus."""
    doc = {
        "format": "venous-exam/1",
        "patient": {"id": "SR-77", "sex": "male", "age_years": 64},
        "exam": {"date": "2025-02-03", "purpose": "thrombosis"},
        "legs": {
            "left": {
                "segments": [
                    {"vein": "CFV", "compressibility": "full"},
                    {"vein": "POPV", "compressibility": "none", "thrombus": {}},
                ]
            }
        },
    }
    page.goto(f"{lab.base}/import")
    page.set_input_files(
        'input[name="file"]',
        files=[{"name": "popv.dcm", "mimeType": "application/dicom", "buffer": _sr_bytes(doc)}],
    )
    page.click('form[action="/import"] button[type="submit"]')
    expect(page.locator("#import-notes")).to_contain_text("Imported from DICOM SR")
    ready(page)
    popv = row(page, "left", "POPV")
    expect(popv.locator('[data-field="thrombus"]')).to_have_value("present")
    expect(popv.locator("td.verdict")).to_have_text("thrombus")
    expect(page.locator("#live-summary")).to_contain_text("thrombosis proximal")
    page.click("#save-button")
    expect(page).to_have_url(re.compile(rf"{re.escape(lab.base)}/exams/\d+$"))
    exam_id = int(page.url.rsplit("/", 1)[1])
    assert stored(lab, exam_id, 1) == normalised(doc)
    expect(page.locator("body")).to_contain_text("thrombosis proximal")
