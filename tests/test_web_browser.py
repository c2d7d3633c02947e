"""The web application in a real browser (issue 6): Debian's Chromium driven by Playwright
against a real `venalab serve` process on a temporary SQLite database.

One scenario, in the order a lab uses the application: first admin login with the printed
one-time password, users created on /admin/users, a sonographer enters an exam on the
worksheet and sees live verdicts and validation messages, a physician signs and amends it,
the history shows the three versions with their differences, the report opens as HTML and
downloads as PDF. Screenshots of the key pages go to $VENALAB_SCREENSHOTS (else a temporary
directory) to be looked at.

The browser is /usr/bin/chromium (Debian's package; `playwright install` is never run).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from web_server import Server, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Timeouts of the browser steps; the live interpretation waits 250 ms before asking the engine.
STEP_TIMEOUT_MS = 15_000
expect.set_options(timeout=STEP_TIMEOUT_MS)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():  # fail, not skip: CI installs it (scripts/system-deps.sh)
        pytest.fail("Debian's chromium is missing: apt-get install chromium", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get("VENALAB_SCREENSHOTS")
    directory = Path(target) if target else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# ----------------------------------------------------------------------------- steps


def login(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('form[action="/login"] button[type="submit"]')


def first_login(page: Page, base: str, username: str, one_time: str, new: str, role: str) -> None:
    """Log in with a one-time password: the app forces the password change first."""
    login(page, base, username, one_time)
    expect(page).to_have_url(f"{base}/account/password")
    # Anything else is refused until the password is changed.
    page.goto(f"{base}/worksheet")
    expect(page).to_have_url(re.compile(r"/login\?next=/account/password$"))
    page.goto(f"{base}/account/password")
    page.fill('input[name="current"]', one_time)
    page.fill('input[name="new"]', new)
    page.fill('input[name="repeat"]', new)
    page.click('form[action="/account/password"] button[type="submit"]')
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("header.top .who")).to_contain_text(f"({role})")


def logout(page: Page, base: str) -> None:
    page.click('header.top form.who button[type="submit"]')
    expect(page).to_have_url(f"{base}/login")


def add_user(page: Page, base: str, username: str, role: str, name: str) -> str:
    page.goto(f"{base}/admin/users")
    form = page.locator('form[action="/admin/users"]')
    form.locator('input[name="username"]').fill(username)
    form.locator('input[name="display_name"]').fill(name)
    form.locator('select[name="role"]').select_option(role)
    form.locator('button[type="submit"]').click()
    expect(page.locator("#created-user")).to_contain_text(username)
    password = page.locator("#one-time-password").inner_text().strip()
    assert len(password) >= 12
    return password


def segment_row(page: Page, side: str, vein: str) -> Locator:
    rows = page.locator(f'table.segments[data-side="{side}"] tbody tr')
    for i in range(rows.count()):
        row = rows.nth(i)
        if row.locator('[data-field="vein"]').input_value() == vein:
            return row
    raise AssertionError(f"no {vein} row on the {side} leg")


def test_lab_workflow_in_chromium(server: Server, browser: Browser, shots: Path) -> None:
    base = server.base
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))

    # -- anonymous visitors are sent to the login page
    page.goto(f"{base}/worksheet")
    expect(page).to_have_url(re.compile(r"/login\?next=/worksheet$"))

    # -- the first admin login uses the printed one-time password, then must change it
    first_login(page, base, "admin", server.admin_password(), "admin-correct-horse-1", "admin")
    sono_otp = add_user(page, base, "sono1", "sonographer", "Sonographer One")
    doc_otp = add_user(page, base, "doc1", "physician", "Physician One")
    expect(page.locator("table.grid")).to_contain_text("sono1")
    logout(page, base)

    # -- the sonographer enters an exam on the worksheet
    first_login(page, base, "sono1", sono_otp, "sono1-correct-horse-1", "sonographer")
    page.goto(f"{base}/worksheet")
    expect(page.locator("h1")).to_have_text("New exam")
    # nothing entered yet: the live panel says why there is no interpretation
    expect(page.locator("#top-problems")).to_contain_text("at least one of 'left' or 'right'")
    page.screenshot(path=str(shots / "00-worksheet-new.png"), full_page=True)
    page.fill('[data-path="patient.id"]', "BRW-001")
    page.select_option('[data-path="patient.sex"]', "female")
    page.fill('[data-path="patient.age_years"]', "54")
    page.fill('[data-path="exam.date"]', "2024-03-05")
    page.select_option('[data-path="exam.purpose"]', "insufficiency")
    page.select_option('[data-path="exam.position"]', "standing")
    page.check('.leg-examined[data-side="left"]')
    left = page.locator('fieldset.leg[data-side="left"]')
    left.locator('button.add-protocol[data-protocol="reflux"]').click()
    expect(left.locator("table.segments tbody tr")).to_have_count(12)
    # one more row by hand, keyboard style: + Segment focuses the new row's vein
    left.locator("button.add-segment").click()
    expect(left.locator("table.segments tbody tr")).to_have_count(13)
    new_row = left.locator("table.segments tbody tr").last
    expect(new_row.locator('[data-field="vein"]')).to_be_focused()
    new_row.locator('[data-field="vein"]').select_option("PTV")
    new_row.locator('[data-field="reflux_ms"]').fill("1200")

    gsva = segment_row(page, "left", "GSVa")
    fv = segment_row(page, "left", "FV")
    gsva.locator('[data-field="reflux_ms"]').fill("1500")
    gsva.locator('[data-field="diameter_mm"]').fill("6.5")
    fv.locator('[data-field="reflux_ms"]').fill("800")
    # live verdicts beside the rows and in the live panel (the engine decides, via /api/assess)
    expect(gsva.locator("td.verdict")).to_have_text("reflux (> 500 ms)")
    expect(fv.locator("td.verdict")).to_have_text("no reflux")
    expect(new_row.locator("td.verdict")).to_have_text("reflux (> 500 ms)")
    expect(gsva.locator("td.verdict")).to_have_class(re.compile(r"\bv-present\b"))
    summary = page.locator("#live-summary")
    expect(summary).to_contain_text("left: CEAP")
    expect(summary).to_contain_text("GSV")
    expect(page.locator("#live-findings li").first).to_be_visible()
    page.screenshot(path=str(shots / "01-worksheet-live-verdicts.png"), full_page=True)

    # a negative reflux time: the message appears beside the field that caused it
    ssv = segment_row(page, "left", "SSV")
    ssv.locator('[data-field="reflux_ms"]').fill("-5")
    error = ssv.locator('.field-error[role="alert"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("greater than or equal to 0")
    expect(ssv.locator('[data-field="reflux_ms"]')).to_have_class(re.compile(r"\binvalid\b"))
    # one bad cell does not blank the verdicts of the other rows (issue 16)
    expect(gsva.locator("td.verdict")).to_have_text("reflux (> 500 ms)")
    expect(summary).to_contain_text("Rows with a problem have no verdict until corrected")
    page.screenshot(path=str(shots / "02-worksheet-validation.png"), full_page=True)
    ssv.locator('[data-field="reflux_ms"]').fill("300")
    expect(error).to_have_count(0)
    # a problem with a whole row (beneath_ulcer is for perforators) shows in its verdict cell
    gsva.locator("button.more").click()  # beneath_ulcer is on the row's detail line
    gsva.locator('[data-field="beneath_ulcer"]').select_option("true")
    expect(gsva.locator("td.verdict .field-error")).to_contain_text("perforator")
    expect(gsva).to_have_class(re.compile(r"\binvalid\b"))
    expect(page.locator("#live-findings li").first).to_be_visible()  # the other rows still count
    gsva.locator('[data-field="beneath_ulcer"]').select_option("")
    expect(gsva.locator("td.verdict .field-error")).to_have_count(0)
    expect(ssv.locator("td.verdict")).to_have_text("no reflux")
    expect(gsva.locator("td.verdict")).to_have_text("reflux (> 500 ms)")

    page.click("#save-button")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/exams/\d+$"))
    exam_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#exam-status")).to_contain_text("DRAFT")
    expect(page.locator("#exam-status")).to_contain_text("version 1")
    expect(page.locator("section.map svg")).to_be_visible()
    # a sonographer sees no sign button, and a forged sign request is refused
    expect(page.locator("#sign-button")).to_have_count(0)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    forged = page.request.post(
        f"{base}/exams/{exam_id}/sign",
        form={"csrf_token": csrf, "expected_version": "1"},
        max_redirects=0,
    )
    assert forged.status == 403, forged.text()
    forged = page.request.post(
        f"{base}/api/exams/{exam_id}/sign",
        data={"expected_version": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert forged.status == 403, forged.text()
    page.reload()
    expect(page.locator("#exam-status")).to_contain_text("DRAFT")

    # the sonographer edits the draft: a second version, nothing overwritten
    page.get_by_role("link", name="Edit draft", exact=True).click()
    expect(page).to_have_url(f"{base}/exams/{exam_id}/edit")
    expect(page.locator("h1")).to_have_text(f"Edit exam #{exam_id} (draft)")
    expect(segment_row(page, "left", "GSVa").locator("td.verdict")).to_have_text(
        "reflux (> 500 ms)"
    )
    page.check('input[data-list="legs.left.clinical.signs"][value="varicose"]')
    expect(summary).to_contain_text("CEAP C2")
    page.click("#save-button")
    expect(page).to_have_url(f"{base}/exams/{exam_id}")
    expect(page.locator("#exam-status")).to_contain_text("version 2")
    expect(page.locator("#sign-button")).to_have_count(0)
    logout(page, base)

    # -- the physician signs, then amends with a reason
    first_login(page, base, "doc1", doc_otp, "doc1-correct-horse-1", "physician")
    page.goto(f"{base}/exams/{exam_id}")
    expect(page.locator("#sign-button")).to_have_text("Sign version 2")
    page.click("#sign-button")
    expect(page).to_have_url(f"{base}/exams/{exam_id}")
    status = page.locator("#exam-status")
    expect(status).to_contain_text("SIGNED")
    expect(status).to_contain_text("signed by Physician One")  # the name frozen at signing
    expect(page.locator("#sign-button")).to_have_count(0)
    page.screenshot(path=str(shots / "03-exam-signed-venous-map.png"), full_page=True)

    page.get_by_role("link", name="Amend", exact=True).click()
    expect(page).to_have_url(f"{base}/exams/{exam_id}/edit")
    expect(page.locator("h1")).to_have_text(f"Amend signed exam #{exam_id}")
    gsva = segment_row(page, "left", "GSVa")
    expect(gsva.locator('[data-field="reflux_ms"]')).to_have_value("1500")
    expect(gsva.locator("td.verdict")).to_have_text("reflux (> 500 ms)")
    gsva.locator('[data-field="reflux_ms"]').fill("1700")
    page.fill("#amend-reason", "GSV reflux time re-measured")
    expect(gsva.locator("td.verdict")).to_have_text("reflux (> 500 ms)")
    expect(page.locator("#live-findings")).to_contain_text("reflux 1700 ms")
    page.screenshot(path=str(shots / "04-worksheet-amend.png"), full_page=True)
    page.click("#save-button")
    expect(page).to_have_url(f"{base}/exams/{exam_id}")
    status = page.locator("#exam-status")
    expect(status).to_contain_text("version 3")
    expect(status).to_contain_text("Amendment reason: GSV reflux time re-measured")

    # -- history: three versions, each with its differences from the previous one
    page.get_by_role("link", name=re.compile(r"^History")).click()
    expect(page).to_have_url(f"{base}/exams/{exam_id}/history")
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(3)
    v3, v2, v1 = rows.nth(0), rows.nth(1), rows.nth(2)  # newest first
    expect(v1).to_contain_text("first version")
    expect(v1.locator(".badge")).to_have_text("draft")
    expect(v2.locator(".badge")).to_have_text("signed")
    expect(v3.locator(".badge")).to_have_text("draft")
    expect(v1).to_contain_text("sono1")
    expect(v2).to_contain_text("legs.left.clinical.signs")
    expect(v2).to_contain_text("varicose")
    expect(v2).to_contain_text("doc1")  # signed by
    expect(v3).to_contain_text("GSV reflux time re-measured")
    expect(v3.locator("ul.diff")).to_contain_text("reflux_ms: 1500 \u2192 1700")
    page.screenshot(path=str(shots / "05-history.png"), full_page=True)

    # -- the patient's timeline and trend chart
    page.goto(f"{base}/patients/BRW-001")
    expect(page.locator(".chart svg")).to_be_visible()
    expect(page.locator("table.grid tbody tr")).to_have_count(1)  # one exam, left leg
    expect(page.locator("table.grid tbody")).to_contain_text("C2")
    page.screenshot(path=str(shots / "06-patient.png"), full_page=True)

    # -- report as HTML, and the PDF download
    page.goto(f"{base}/exams/{exam_id}")
    page.click("#report-link")
    expect(page.locator("h1")).to_have_text("Lower Extremity Venous Duplex Ultrasound")
    page.screenshot(path=str(shots / "07-report.png"), full_page=True)
    page.go_back()
    with page.expect_download() as info:
        page.click("#pdf-link")
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")

    assert not console_errors, console_errors
    context.close()
