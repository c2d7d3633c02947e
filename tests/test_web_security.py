"""Security of the web layer (issue 13 items 1-3, issue 14 token cache): every page's
headers, inert embedding of hostile text, sessions that end on the server, expiring and
revocable tokens (also across workers), login throttling under real concurrency, trusted
proxies, open redirects and CSRF on every form. SQLite and PostgreSQL where the database
matters. The same payloads in a real browser: test_web_browser_security.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from pg_fixture import db_url, pg_server, pg_url  # noqa: F401
from test_web_api import Env, _example, _login
from venalab.store import ApiToken, audit, users
from venalab.store import interop as si
from venalab.web.app import create_app
from venalab.web.proxies import TrustedProxies
from venalab.web.routes import ROUTERS
from venalab.web.security import PAGE_CSP, SESSION_COOKIE, safe_next
from venalab.web.settings import Settings

SCRIPT_PAYLOAD = "</script><script>window.__pwned=1</script>"
IMG_PAYLOAD = '"><img src=x onerror="window.__pwned=2">'
REQUIRED_CSP = (
    "default-src 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'none'",
)


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[Env]:  # noqa: F811
    e = Env(db_url, tmp_path)
    yield e
    e.dispose()


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Env]:
    """SQLite only: for what does not depend on the database."""
    e = Env(f"sqlite:///{tmp_path / 'web.db'}", tmp_path)
    yield e
    e.dispose()


def _csrf(c: TestClient, page: str = "/") -> str:
    return c.get(page).text.split('name="csrf-token" content="')[1].split('"')[0]


def _login_token(html: str) -> str:
    return html.split('name="login_csrf" value="')[1].split('"')[0]


def _logged_in(env: Env, who: str) -> TestClient:
    c = env.client()
    _login(c, who, env.passwords[who])
    return c


def _assert_strict_csp(value: str) -> None:
    for directive in REQUIRED_CSP:
        assert directive in value, (directive, value)
    assert "unsafe-inline" not in value and "unsafe-eval" not in value and "*" not in value


class _InlineCode(HTMLParser):
    """Collects what a strict CSP would block in a page: inline scripts, event-handler
    attributes, style attributes and <style> elements, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and not a.get("src") and a.get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag} {name}=")
            if name in ("href", "src", "action") and (value or "").lower().startswith("javascript"):
                self.found.append(f"{tag} {name}=javascript:")


# ----------------------------------------------------------------------------- item 1


def _routes(env: Env) -> list[APIRoute]:
    """The app's routes: its own and those of every router (web/routes ROUTERS)."""
    found = [r for r in env.app.routes if isinstance(r, APIRoute)]
    return found + [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def _page_paths(env: Env) -> list[str]:
    """Every GET page of the app with its path parameters filled in (an unknown parameter
    fails the test, so a new page cannot escape these checks)."""
    exam_id = env.client("sono").post("/api/exams", json=_example()).json()["exam_id"]
    with env.factory() as s, s.begin():
        order = si.receive_order(
            s,
            si.OrderIn("ACC-1", "P-1", indication=SCRIPT_PAYLOAD),
            source="hl7:test",
            message_id="M1",
        )
    values = {
        "exam_id": str(exam_id),
        "local_id": _example()["patient"]["id"],
        "order_id": str(order.id),
        "item_id": "999999",  # no incoming report: the 404 page is checked
    }
    paths = []
    for route in _routes(env):
        if "GET" not in route.methods:
            continue
        if route.path.startswith(("/api", "/cds-services", "/openapi", "/healthz")):
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], route.path)
        paths.append(path)
    assert {"/", "/worksheet", "/admin/users", "/admin/tokens", "/import"} <= set(paths)
    return paths


def test_every_page_has_a_strict_csp_no_store_and_no_inline_code(lite: Env) -> None:
    admin = _logged_in(lite, "adm")
    pages = _page_paths(lite)
    seen = 0
    for path in [*pages, "/worksheet?patient=x", "/ask?q=ulcer"]:
        r = admin.get(path)
        assert r.status_code == (404 if "999999" in path else 200), (path, r.status_code)
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-frame-options"] == "DENY"
        _assert_strict_csp(r.headers["content-security-policy"])
        if r.headers["content-type"].startswith("text/html") and "/report" not in path:
            seen += 1
            assert r.headers["content-security-policy"] == PAGE_CSP, path
            assert "form-action 'self'" in PAGE_CSP and "script-src 'self'" in PAGE_CSP
            parser = _InlineCode()
            parser.feed(r.text)
            assert parser.found == [], (path, parser.found)
    assert seen >= 10
    anonymous = lite.client().get("/login")
    assert anonymous.headers["content-security-policy"] == PAGE_CSP
    assert lite.client().get("/nowhere").headers["content-security-policy"] == PAGE_CSP
    # API answers with patient data are not stored by browsers or proxies either.
    api = lite.client("sono").get("/api/exams")
    assert api.headers["cache-control"] == "no-store"
    # Static files may be cached; they hold no patient data.
    assert "no-store" not in lite.client().get("/static/worksheet.js").headers.get(
        "cache-control", ""
    )


def test_scripts_build_the_page_without_html_strings() -> None:
    """The static scripts create elements and set textContent/value; none parses a string as
    HTML or code (the sinks a DOM injection needs)."""
    static = Path(__file__).resolve().parents[1] / "src" / "venalab" / "web" / "static"
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"setTimeout\(\s*['\"`]|srcdoc|createContextualFragment"
    )
    scripts = sorted(static.glob("*.js"))
    assert scripts
    for script in scripts:
        found = sinks.findall(script.read_text())
        assert found == [], (script.name, found)


def test_reports_allow_their_own_stylesheet_by_hash_and_nothing_else(lite: Env) -> None:
    exam_id = lite.client("sono").post("/api/exams", json=_example()).json()["exam_id"]
    for client, url in (
        (_logged_in(lite, "doc"), f"/exams/{exam_id}/report"),
        (lite.client("doc"), f"/api/exams/{exam_id}/report?format=html"),
    ):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        _assert_strict_csp(csp)
        assert re.search(r"style-src 'sha256-[A-Za-z0-9+/=]{44}'", csp), csp
        assert "script-src" not in csp  # default-src 'none': no script at all
        assert r.headers["cache-control"] == "no-store"


def _initial_document(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="initial-document">(.*?)</script>', html, re.S
    )
    assert match, "no initial document"
    text = match.group(1)
    assert "<" not in text and ">" not in text  # nothing can close or open an element
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_hostile_text_is_embedded_inertly_in_every_worksheet(lite: Env, tmp_path: Path) -> None:
    from venalab.engine import assess
    from venalab.exam import parse_exam_obj
    from venalab.interop.fhir_export import export_bundle

    c = _logged_in(lite, "sono")
    # reflected: the patient id of a "new exam" link
    r = c.get("/worksheet", params={"patient": SCRIPT_PAYLOAD})
    assert _initial_document(r.text)["patient"]["id"] == SCRIPT_PAYLOAD
    # stored: indication, operator and a segment label, opened by someone else with "Edit"
    doc = _example()
    doc["exam"]["indication"] = SCRIPT_PAYLOAD
    doc["exam"]["operator"] = IMG_PAYLOAD
    doc["legs"]["left"]["segments"][0]["label"] = "<!--<script>"
    exam_id = lite.client("sono").post("/api/exams", json=doc).json()["exam_id"]
    stored = _initial_document(_logged_in(lite, "adm").get(f"/exams/{exam_id}/edit").text)
    assert stored["exam"]["indication"] == SCRIPT_PAYLOAD
    assert stored["exam"]["operator"] == IMG_PAYLOAD
    assert stored["legs"]["left"]["segments"][0]["label"] == "<!--<script>"
    # imported: the patient identifier of a FHIR bundle, shown for review
    exam = parse_exam_obj(
        {**_example(), "patient": {**_example()["patient"], "id": SCRIPT_PAYLOAD}}
    )
    bundle = json.dumps(export_bundle(exam, assess(exam))).encode()
    r = c.post(
        "/import",
        data={"csrf_token": _csrf(c, "/import")},
        files={"file": ("bundle.json", bundle, "application/fhir+json")},
    )
    assert r.status_code == 200
    assert _initial_document(r.text)["patient"]["id"] == SCRIPT_PAYLOAD
    # an amendment reason too; elsewhere the text is escaped as text
    doc_api = lite.client("doc")
    assert (
        doc_api.post(f"/api/exams/{exam_id}/sign", json={"expected_version": 1}).status_code == 200
    )
    amend = {"document": doc, "expected_version": 1, "reason": IMG_PAYLOAD}
    assert doc_api.post(f"/api/exams/{exam_id}/amend", json=amend).status_code == 201
    for page in (f"/exams/{exam_id}", f"/exams/{exam_id}/history", f"/exams/{exam_id}/report", "/"):
        text = c.get(page).text
        assert "<script>window.__pwned" not in text and "<img src=x" not in text, page
    assert "&lt;img src=x onerror=" in c.get(f"/exams/{exam_id}/history").text


# ----------------------------------------------------------------------------- item 2


def test_logout_ends_the_session_on_the_server(env: Env) -> None:
    c = _logged_in(env, "sono")
    stolen = c.cookies[SESSION_COOKIE]
    assert c.get("/api/me").status_code == 200
    r = c.post("/logout", data={"csrf_token": _csrf(c)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    replay = env.client()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/api/me").status_code == 401
    assert replay.get("/", follow_redirects=False).status_code == 303
    with env.factory() as s:
        assert audit.query(s, action=users.ACTION_LOGOUT)[0].username == "sono"


def test_password_change_ends_every_other_session(env: Env) -> None:
    c1, c2 = _logged_in(env, "sono"), _logged_in(env, "sono")
    old_cookie = c1.cookies[SESSION_COOKIE]
    new = "sono-new-correct-horse-2"
    r = c1.post(
        "/account/password",
        data={
            "current": env.passwords["sono"],
            "new": new,
            "repeat": new,
            "csrf_token": _csrf(c1),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert c2.get("/api/me").status_code == 401  # the other browser is out
    assert c1.get("/api/me").status_code == 200  # this one continues in a fresh session
    assert c1.cookies[SESSION_COOKIE] != old_cookie
    replay = env.client()
    replay.cookies.set(SESSION_COOKIE, old_cookie)
    assert replay.get("/api/me").status_code == 401


def test_the_current_password_cannot_be_guessed_through_the_change_form(lite: Env) -> None:
    c = _logged_in(lite, "sono")
    form = {"new": "n" * 16, "repeat": "n" * 16, "csrf_token": _csrf(c)}
    for i in range(users.THROTTLE_MAX_FAILURES):
        r = c.post("/account/password", data=form | {"current": f"guess-{i}"})
        assert r.status_code == 422 and "current password is wrong" in r.text
    r = c.post("/account/password", data=form | {"current": lite.passwords["sono"]})
    assert r.status_code == 429  # even the right one, until the window has passed
    with lite.factory() as s:
        failures = audit.query(s, action="login-failure", username="sono")
        assert len(failures) == 6 and failures[0].detail == {
            "reason": "throttled",
            "during": "password-change",
        }


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(env: Env) -> None:
    sono = _logged_in(env, "sono")
    api = env.client("sono")
    assert api.get("/api/me").status_code == 200  # the token is now in the worker's cache
    admin = _logged_in(env, "adm")
    r = admin.post("/admin/users/sono/disable", data={"csrf_token": _csrf(admin)})
    assert r.status_code == 200
    assert sono.get("/api/me").status_code == 401
    assert api.get("/api/me").status_code == 401


def test_login_always_starts_a_new_session(env: Env) -> None:
    """Session fixation: a session id planted in the victim's browser (the attacker's own)
    is ended at the victim's login, and the victim gets a new id."""
    attacker = _logged_in(env, "doc")
    planted = attacker.cookies[SESSION_COOKIE]
    victim = env.client()
    victim.cookies.set(SESSION_COOKIE, planted, domain="testserver.local")
    _login(victim, "sono", env.passwords["sono"])
    assert victim.cookies[SESSION_COOKIE] != planted
    assert victim.get("/api/me").json()["username"] == "sono"
    assert attacker.get("/api/me").status_code == 401


def test_forged_and_garbled_session_cookies_are_refused(lite: Env) -> None:
    c = _logged_in(lite, "sono")
    session_id, mac = c.cookies[SESSION_COOKIE].rsplit(".", 1)
    for forged in (
        session_id,
        f"{session_id}.{mac[:-1]}{'B' if mac.endswith('A') else 'A'}",
        "x" * 5000,
        ".",
        "a.b.c",
    ):
        other = lite.client()
        other.cookies.set(SESSION_COOKIE, forged)
        assert other.get("/api/me").status_code == 401, forged[:60]


def test_expired_tokens_are_refused(env: Env) -> None:
    with env.factory() as s, s.begin():
        s.execute(update(ApiToken).values(expires_at=ApiToken.created_at))
    r = env.client("sono").get("/api/me")
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_admin_lists_and_revokes_tokens_at_once(env: Env) -> None:
    api = env.client("sono")
    assert api.get("/api/me").status_code == 200  # cached by this worker
    assert _logged_in(env, "doc").get("/admin/tokens").status_code == 403
    admin = _logged_in(env, "adm")
    page = admin.get("/admin/tokens")
    assert page.status_code == 200
    with env.factory() as s:
        token = next(t for t in users.list_tokens(s) if t.user.username == "sono")
    assert f'data-token-id="{token.id}"' in page.text and "active" in page.text
    # a sonographer cannot revoke, and no form without its CSRF token can
    sono = _logged_in(env, "sono")
    denied = sono.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": _csrf(sono)})
    assert denied.status_code == 403
    assert admin.post(f"/admin/tokens/{token.id}/revoke", data={}).status_code == 403
    assert api.get("/api/me").status_code == 200
    r = admin.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": _csrf(admin)})
    assert r.status_code == 200 and "revoked" in r.text
    assert api.get("/api/me").status_code == 401
    with env.factory() as s:
        [entry] = audit.query(s, action="token-revoke")
        assert entry.username == "adm" and entry.entity_id == str(token.id)
    assert (
        admin.post("/admin/tokens/999999/revoke", data={"csrf_token": _csrf(admin)}).status_code
        == 404
    )


def test_a_cached_token_costs_no_database_query(lite: Env) -> None:
    """Issue 14: within VENALAB_TOKEN_CACHE_SECONDS a worker does not look the token up
    again; the owner it remembers works for writes too (merged into the request's session)."""
    engine = lite.app.state.venalab.engine
    c = lite.client("sono")
    assert c.get("/api/me").status_code == 200
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert c.get("/api/me").json()["username"] == "sono"
        assert c.post("/api/assess", json=_example()).status_code == 200
        assert statements == []
        created = c.post("/api/exams", json=_example())
        assert created.status_code == 201
        assert not any("api_tokens" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert created.json()["version"]["created_by"] == "sono"


def test_revocation_reaches_other_workers_sharing_var(lite: Env, tmp_path: Path) -> None:
    """Two workers (two apps on one database and one VENALAB_VAR) each cached the token; a
    revocation in one is refused by the other at once. A worker that shares neither the
    process nor VENALAB_VAR may accept it until its cache entry is VENALAB_TOKEN_CACHE_SECONDS
    old (the documented limit)."""
    url = lite.app.state.venalab.database_url
    other = create_app(url, var_dir=tmp_path)
    elsewhere = create_app(
        settings=Settings(database_url=url, var_dir=tmp_path / "other", token_cache_seconds=60)
    )
    try:
        token = {"Authorization": f"Bearer {lite.tokens['sono']}"}
        clients = [TestClient(app, headers=token) for app in (lite.app, other, elsewhere)]
        assert [c.get("/api/me").status_code for c in clients] == [200, 200, 200]
        admin = _logged_in(lite, "adm")
        with lite.factory() as s:
            token_id = users.list_tokens(s, users.get_user(s, "sono"))[0].id
        admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": _csrf(admin)})
        assert clients[0].get("/api/me").status_code == 401
        assert clients[1].get("/api/me").status_code == 401
        assert clients[2].get("/api/me").status_code == 200  # within its 60 s
        cache = elsewhere.state.venalab.token_cache
        now = time.monotonic()
        cache.clock = lambda: now + 61
        assert clients[2].get("/api/me").status_code == 401
    finally:
        other.state.venalab.engine.dispose()
        elsewhere.state.venalab.engine.dispose()


def test_secure_cookies_only_over_tls_from_a_trusted_proxy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'proxy.db'}"
    env = Env(url, tmp_path)
    app = create_app(
        settings=Settings(database_url=url, var_dir=tmp_path, trusted_proxies=("10.0.0.0/8",))
    )
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "6.6.6.6, 203.0.113.7"}
    try:
        for peer, secure, client in (
            ("10.1.2.3", True, "203.0.113.7"),
            ("198.51.100.9", False, "198.51.100.9"),
        ):
            c = TestClient(app, client=(peer, 50000), headers=forwarded)
            page = c.get("/login")
            assert ("secure" in page.headers["set-cookie"].lower()) is secure
            assert ("strict-transport-security" in page.headers) is secure
            token = _login_token(page.text)
            # (a Secure cookie is not sent back over the test's plain http: the proxy's side
            # of the connection; the browser's side was TLS)
            r = c.post(
                "/login",
                data={"username": "sono", "password": env.passwords["sono"], "login_csrf": token},
                headers={"Cookie": f"venalab_login_csrf={token}"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            cookie = next(
                v for k, v in r.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
            )
            assert ("; secure" in cookie.lower()) is secure, cookie
            assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
            with env.factory() as s:
                assert audit.query(s, action="login-success")[0].client == client
    finally:
        app.state.venalab.engine.dispose()
        env.dispose()


def _key_in_a_new_process(var_dir: str) -> bytes:
    from venalab.web.security import load_secret_key

    return load_secret_key(None, Path(var_dir))


def test_workers_starting_together_share_one_secret_key(tmp_path: Path) -> None:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(8) as pool:
        keys = pool.map(_key_in_a_new_process, [str(tmp_path / "var")] * 16)
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["secret_key"]


def test_forwarded_headers_believed_only_from_trusted_proxies() -> None:
    class Conn:
        def __init__(self, peer: str, headers: list[tuple[str, str]], scheme: str = "http"):
            from starlette.datastructures import URL, Address, Headers

            self.client = Address(peer, 1)
            self.headers = Headers(raw=[(k.encode(), v.encode()) for k, v in headers])
            self.url = URL(f"{scheme}://h/")

    none = TrustedProxies.parse([])
    proxies = TrustedProxies.parse(["10.0.0.1", "10.0.0.2", "fd00::/8"])
    xff = [("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.2"), ("x-forwarded-proto", "https")]
    assert none.client(Conn("10.0.0.1", xff)) == "10.0.0.1"  # type: ignore[arg-type]
    assert not none.is_tls(Conn("10.0.0.1", xff))  # type: ignore[arg-type]
    assert proxies.client(Conn("10.0.0.1", xff)) == "2.2.2.2"  # type: ignore[arg-type]
    assert proxies.is_tls(Conn("10.0.0.1", xff))  # type: ignore[arg-type]
    assert proxies.client(Conn("9.9.9.9", xff)) == "9.9.9.9"  # type: ignore[arg-type]
    assert not proxies.is_tls(Conn("9.9.9.9", xff))  # type: ignore[arg-type]
    assert proxies.is_tls(Conn("9.9.9.9", [], scheme="https"))  # type: ignore[arg-type]
    split = [("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2")]
    assert proxies.client(Conn("fd00::5", split)) == "2.2.2.2"  # type: ignore[arg-type]
    garbage = [("x-forwarded-for", "1.1.1.1, not-an-ip")]
    assert proxies.client(Conn("10.0.0.1", garbage)) == "10.0.0.1"  # type: ignore[arg-type]
    only_proxies = [("x-forwarded-for", "10.0.0.2")]
    assert proxies.client(Conn("10.0.0.1", only_proxies)) == "10.0.0.2"  # type: ignore[arg-type]
    assert proxies.client(Conn("10.0.0.1", [])) == "10.0.0.1"  # type: ignore[arg-type]
    http_last = [("x-forwarded-proto", "https, http")]
    assert not proxies.is_tls(Conn("10.0.0.1", http_last))  # type: ignore[arg-type]


def test_untrusted_forwarded_for_does_not_move_the_throttle(lite: Env) -> None:
    """Without a trusted proxy, a client cannot escape throttling (or frame another address)
    by sending X-Forwarded-For: the socket address is what counts and what is audited."""
    c = TestClient(lite.app, client=("192.0.2.50", 50000))
    for i in range(users.THROTTLE_MAX_FAILURES):
        page = c.get("/login")
        token = _login_token(page.text)
        c.post(
            "/login",
            data={"username": f"ghost{i}", "password": "guess-guess-guess", "login_csrf": token},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
    with lite.factory() as s:
        assert {e.client for e in audit.query(s, action="login-failure")} == {"192.0.2.50"}
    page = c.get("/login")
    token = _login_token(page.text)
    r = c.post(
        "/login",
        data={"username": "sono", "password": lite.passwords["sono"], "login_csrf": token},
        headers={"X-Forwarded-For": "203.0.113.99"},
    )
    assert r.status_code == 429


# ----------------------------------------------------------------------------- item 3


def _count_password_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap the password check: count calls and make each take 50 ms, so that concurrent
    attempts overlap the way they do with real Argon2 on a loaded server."""
    calls: list[int] = []
    lock = threading.Lock()
    real = users._verify

    def counting(password_hash: str, password: str) -> bool:
        with lock:
            calls.append(1)
        time.sleep(0.05)
        return real(password_hash, password)

    monkeypatch.setattr(users, "_verify", counting)
    return calls


def test_parallel_guesses_check_at_most_five_passwords(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 guesses at one account at the same moment, each in its own transaction and thread
    (as 20 requests are): 5 passwords are checked, 15 attempts are refused as throttled."""
    calls = _count_password_checks(monkeypatch)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def guess(i: int) -> None:
        barrier.wait()
        with env.factory() as s, s.begin():
            outcomes.append(users.login(s, "doc", f"guess-{i}-wrong", f"10.9.0.{i}").reason)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == users.THROTTLE_MAX_FAILURES
    assert sorted(outcomes) == ["throttled"] * 15 + ["wrong-password"] * 5
    with env.factory() as s:
        assert len(audit.query(s, action="login-failure")) == 20
        assert users.login(s, "doc", env.passwords["doc"], "10.9.1.1").throttled


def test_parallel_login_requests_check_at_most_five_passwords(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_password_checks(monkeypatch)
    forms = []
    for i in range(20):
        c = TestClient(env.app, client=(f"10.8.0.{i}", 50000))
        page = c.get("/login")
        forms.append((c, _login_token(page.text)))
    barrier = threading.Barrier(len(forms))
    statuses: list[int] = []

    def post(c: TestClient, token: str) -> None:
        barrier.wait()
        r = c.post(
            "/login", data={"username": "adm", "password": "nope-nope-nope", "login_csrf": token}
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=post, args=form) for form in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) <= users.THROTTLE_MAX_FAILURES
    assert sorted(statuses) == [401] * len(calls) + [429] * (20 - len(calls))


# ----------------------------------------------------------------------------- redirects, CSRF


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_login_never_redirects_off_site(lite: Env, target: str) -> None:
    assert safe_next(target) == "/"
    c = lite.client()
    page = c.get("/login", params={"next": target})
    token = _login_token(page.text)
    r = c.post(
        "/login",
        data={
            "username": "sono",
            "password": lite.passwords["sono"],
            "login_csrf": token,
            "next": target,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_login_returns_to_the_page_asked_for(lite: Env) -> None:
    c = lite.client()
    r = c.get("/worksheet?patient=P%26Q", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/worksheet%3Fpatient%3DP%2526Q"
    page = c.get(r.headers["location"])
    assert 'name="next" value="/worksheet?patient=P%26Q"' in page.text
    _login(c, "sono", lite.passwords["sono"])
    assert safe_next("/exams/1?version=2") == "/exams/1?version=2"


def test_every_page_form_needs_its_csrf_token(lite: Env) -> None:
    """Each POST page refuses a request without the session's CSRF token, and changes
    nothing (an unknown route fails here until it is listed)."""
    exam_id = lite.client("sono").post("/api/exams", json=_example()).json()["exam_id"]
    bodies: dict[str, tuple[str, dict[str, str]]] = {
        "/logout": ("/logout", {}),
        "/account/password": (
            "/account/password",
            {"current": lite.passwords["adm"], "new": "x" * 20, "repeat": "x" * 20},
        ),
        "/admin/users": ("/admin/users", {"username": "mallory", "role": "admin"}),
        "/admin/users/{username}/disable": ("/admin/users/sono/disable", {}),
        "/admin/tokens/{token_id}/revoke": ("/admin/tokens/1/revoke", {}),
        "/exams/{exam_id}/sign": (f"/exams/{exam_id}/sign", {"expected_version": "1"}),
        "/exams/{exam_id}/communications": (
            f"/exams/{exam_id}/communications",
            {
                "version": "1",
                "recipient": "Dr Ward",
                "method": "phone",
                "communicated_at": "2025-03-10T09:30",
            },
        ),
        "/import": ("/import", {}),
        "/knowledge/{entry_id}/{action}": ("/knowledge/x/submit", {}),
        "/incoming/{item_id}/dismiss": ("/incoming/1/dismiss", {"reason": "x"}),
        "/admin/sr-codes": (
            "/admin/sr-codes",
            {"scheme": "99X", "code": "C1", "target": "reflux_ms"},
        ),
        "/admin/sr-codes/{row_id}/delete": ("/admin/sr-codes/1/delete", {}),
        # JSON endpoints called by the worksheet script: the X-CSRF-Token header
        "/incoming/{item_id}/done": ("/incoming/1/done", {}),
        "/orders/{order_id}/link": ("/orders/1/link", {}),
    }
    posts = {
        r.path
        for r in _routes(lite)
        if "POST" in r.methods and not r.path.startswith(("/api", "/cds-services", "/login"))
    }
    assert posts == set(bodies), posts ^ set(bodies)
    admin = _logged_in(lite, "adm")
    for path, data in bodies.values():
        for token in (None, "wrong"):
            form = data | ({"csrf_token": token} if token else {})
            if path.endswith(("/done", "/link")):
                headers = {"X-CSRF-Token": token} if token else {}
                r = admin.post(path, json={"exam_id": exam_id}, headers=headers)
                assert r.status_code == 403, (path, token, r.status_code)
                continue
            files = {"file": ("x.json", b"{}", "application/json")} if path == "/import" else None
            r = admin.post(path, data=form, files=files, follow_redirects=False)
            assert r.status_code == 403, (path, token, r.status_code)
    assert admin.get("/api/me").status_code == 200  # still logged in, password unchanged
    with lite.factory() as s:
        assert [u.username for u in users.list_users(s)] == ["adm", "doc", "sono"]
        assert all(u.active for u in users.list_users(s))
        assert all(users.token_state(t) == "active" for t in users.list_tokens(s))
