"""Script injection, tried for real in Chromium against a `venalab serve` process (issue 13
item 1): hostile text typed into the worksheet (indication, operator, a segment label), in
a link's patient id, and in the patient identifier of an uploaded FHIR bundle. Each payload
would set `window.__pwned`, and one would create an admin account with the viewer's session;
none may run, wherever the text is shown. The Content-Security-Policy is checked live: an
inline script put into a page does not run, and the application's own pages cause no CSP
violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from test_web_browser import STEP_TIMEOUT_MS, browser, login, segment_row  # noqa: F401
from web_server import Server, start_server

ADMIN_PAYLOAD = (
    "</script><script>window.__pwned='script';fetch('/admin/users',{method:'POST',"
    "credentials:'same-origin',body:new URLSearchParams({username:'evil',role:'admin',"
    "csrf_token:document.querySelector('meta[name=csrf-token]').content})})</script>"
)
ID_PAYLOAD = "</script><script>window.__pwned='id'</script>"  # patient ids: 64 at most
IMG_PAYLOAD = '"><img src=x onerror="window.__pwned=\'img\'">'
SVG_PAYLOAD = "<svg/onload=window.__pwned='svg'>"
PASSWORDS = {"sono": "sono-correct-horse-battery", "boss": "boss-correct-horse-battery"}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Server]:
    """A server with a sonographer and a second admin whose passwords are known."""
    from venalab.store import create_user, make_engine, session_factory, transaction

    srv = start_server(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'venalab.db'}")
    try:
        with transaction(session_factory(engine)) as s:
            create_user(s, "sono", "sonographer", password=PASSWORDS["sono"])
            create_user(s, "boss", "admin", password=PASSWORDS["boss"])
    finally:
        engine.dispose()
    yield srv
    srv.stop()


class Watch:
    """A browser context for one user, recording CSP violations and page errors."""

    def __init__(self, browser: Browser, base: str) -> None:  # noqa: F811
        self.context: BrowserContext = browser.new_context(viewport={"width": 1500, "height": 1000})
        self.context.set_default_timeout(STEP_TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.base = base
        self.csp: list[str] = []
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None,
        )
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def visit(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.assert_nothing_ran(path)

    def assert_nothing_ran(self, where: str) -> None:
        pwned = self.page.evaluate("() => window.__pwned")
        assert pwned is None, f"a payload ran on {where}: {pwned}"


def _users(tmp_path: Path) -> list[str]:
    from venalab.store import list_users, make_engine, session_factory, transaction

    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'venalab.db'}")
    try:
        with transaction(session_factory(engine)) as s:
            return [u.username for u in list_users(s)]
    finally:
        engine.dispose()


def _hostile_bundle() -> bytes:
    from venalab.engine import assess
    from venalab.exam import load_exam, parse_exam_obj
    from venalab.interop.fhir_export import export_bundle

    examples = Path(__file__).resolve().parents[1] / "src" / "venalab" / "data" / "examples"
    doc = json.loads(load_exam(examples / "calf-dvt.json").to_json())
    doc["patient"]["id"] = ID_PAYLOAD
    exam = parse_exam_obj(doc)
    return json.dumps(export_bundle(exam, assess(exam))).encode()


def test_no_payload_runs_anywhere_in_chromium(
    lab: Server,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    base = lab.base
    sono = Watch(browser, base)
    page = sono.page
    login(page, base, "sono", PASSWORDS["sono"])
    expect(page).to_have_url(f"{base}/")

    # reflected: a "new exam" link whose patient id is a script
    sono.visit(f"/worksheet?patient={quote(ID_PAYLOAD, safe='')}")
    expect(page.locator('[data-path="patient.id"]')).to_have_value(ID_PAYLOAD)

    # stored: typed into the worksheet by a sonographer, saved
    page.fill('[data-path="patient.id"]', "XSS-001")
    page.fill('[data-path="patient.age_years"]', "61")
    page.fill('[data-path="exam.indication"]', ADMIN_PAYLOAD)
    page.fill('[data-path="exam.operator"]', IMG_PAYLOAD)
    page.check('.leg-examined[data-side="left"]')
    left = page.locator('fieldset.leg[data-side="left"]')
    left.locator('button.add-protocol[data-protocol="reflux"]').click()
    gsva = segment_row(page, "left", "GSVa")
    gsva.locator('[data-field="reflux_ms"]').fill("1500")
    gsva.locator("button.more").click()  # the label is on the row's detail line
    gsva.locator('[data-field="label"]').fill(SVG_PAYLOAD)
    expect(gsva.locator("td.verdict")).to_have_text("reflux (> 500 ms)")
    page.click("#save-button")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/exams/\d+$"))
    exam_id = int(page.url.rsplit("/", 1)[1])
    sono.assert_nothing_ran("the saved exam")

    # an administrator opens it with "Edit" (where the script once made a new admin) and
    # every other view of it; the text comes back exactly as typed, inert
    boss = Watch(browser, base)
    login(boss.page, base, "boss", PASSWORDS["boss"])
    expect(boss.page).to_have_url(f"{base}/")
    boss.visit(f"/exams/{exam_id}/edit")
    expect(boss.page.locator('[data-path="exam.indication"]')).to_have_value(ADMIN_PAYLOAD)
    expect(boss.page.locator('[data-path="exam.operator"]')).to_have_value(IMG_PAYLOAD)
    label = segment_row(boss.page, "left", "GSVa").locator('[data-field="label"]')
    expect(label).to_have_value(SVG_PAYLOAD)
    expect(boss.page.locator("#live-summary")).to_contain_text("left: CEAP")  # the JS ran
    boss.assert_nothing_ran("the edit page")
    for path in (
        f"/exams/{exam_id}",
        f"/exams/{exam_id}/history",
        f"/exams/{exam_id}/report",
        f"/exams/{exam_id}/report?audience=patient",
        "/",
        "/patients/XSS-001",
        "/admin/audit",
    ):
        boss.visit(path)
    report = boss.page
    report.goto(f"{base}/exams/{exam_id}/report")
    expect(report.locator("body")).to_contain_text(ADMIN_PAYLOAD[:20])  # shown as text
    assert _users(tmp_path) == ["admin", "boss", "sono", "system"]  # no "evil" admin

    # imported: the patient identifier of a FHIR bundle, on the review worksheet
    sono.visit("/import")
    page.set_input_files(
        'input[name="file"]',
        files=[
            {"name": "bundle.json", "mimeType": "application/json", "buffer": _hostile_bundle()}
        ],
    )
    page.click('form[action="/import"] button[type="submit"]')
    expect(page.locator("#import-notes")).to_contain_text("Imported from FHIR R4 Bundle")
    expect(page.locator('[data-path="patient.id"]')).to_have_value(ID_PAYLOAD)
    sono.assert_nothing_ran("the import review worksheet")
    assert _users(tmp_path) == ["admin", "boss", "sono", "system"]

    # the application's own pages run under the policy without a single violation
    assert sono.csp == [] and boss.csp == [], sono.csp + boss.csp
    assert sono.errors == [] and boss.errors == [], sono.errors + boss.errors

    # and the policy is live: an inline script slipped into a page does not run
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__pwned = \"inline\"'; document.body.appendChild(s); }"
    )
    sono.assert_nothing_ran("a page with an injected inline script")
    page.wait_for_timeout(200)
    assert any("script-src" in m for m in sono.csp), sono.csp
    sono.context.close()
    boss.context.close()


def test_served_app_ignores_forwarded_headers_from_an_untrusted_peer(
    lab: Server, tmp_path: Path
) -> None:
    """`venalab serve` without VENALAB_TRUSTED_PROXIES: a client on the loopback (where
    uvicorn would believe proxy headers by default) cannot choose the address that is
    throttled and audited, nor claim TLS."""
    import httpx

    from venalab.store import audit, make_engine, session_factory, transaction

    with httpx.Client(base_url=lab.base) as c:
        page = c.get("/login")
        token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
        r = c.post(
            "/login",
            data={"username": "sono", "password": "wrong-wrong-wrong", "login_csrf": token},
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        )
        assert r.status_code == 401
        assert "secure" not in r.headers.get("set-cookie", "").lower()
        assert "strict-transport-security" not in r.headers
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'venalab.db'}")
    try:
        with transaction(session_factory(engine)) as s:
            assert audit.query(s, action="login-failure")[0].client == "127.0.0.1"
    finally:
        engine.dispose()
