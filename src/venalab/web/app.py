"""create_app(): the FastAPI application; bootstrap(): schema, first admin, example exams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from venalab import __version__
from venalab.errors import InvalidInput, Problem
from venalab.exam import load_exam
from venalab.report.lab import load_lab
from venalab.store import audit, exams, make_engine, session_factory, upgrade, users
from venalab.store.db import database_url
from venalab.store.errors import StoreError
from venalab.web import errors, openapi
from venalab.web.cds import CdsConfig
from venalab.web.deps import AppState
from venalab.web.input_guard import InputGuard
from venalab.web.offload import PROCESSES
from venalab.web.proxies import TrustedProxies
from venalab.web.rendering import LoginRequired, PageForbidden, templates
from venalab.web.routes import ROUTERS
from venalab.web.security import SessionSigner, add_security_headers, load_secret_key
from venalab.web.settings import CDS_BASE_URL_REQUIRED, Settings
from venalab.web.token_cache import TokenCache

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "examples"


def create_app(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    var_dir: Path | None = None,
    cookie_secure: bool | None = None,
    cds_config: CdsConfig | None = None,
    migrate: bool = True,
) -> FastAPI:
    """The app for `settings` (default: from the environment, see web/settings.py).

    `url`, `var_dir` and `cookie_secure` override the matching settings (tests, `serve`).
    `migrate=False`: the schema is known to be at head (`serve` migrated before the workers).
    """
    settings = settings or Settings.from_env()
    overrides: dict[str, Any] = {}
    if url is not None:
        overrides["database_url"] = url
    if var_dir is not None:
        overrides["var_dir"] = var_dir
    if cookie_secure is not None:
        overrides["secure_cookies"] = cookie_secure
    if overrides:
        settings = settings.model_copy(update=overrides)
    # CDS Hooks: the token audience is the configured URL, never the request's Host header.
    cds = cds_config or CdsConfig.from_file(settings.cds_clients_file)
    if cds.clients and settings.cds_base_url is None:
        raise InvalidInput([Problem("VENALAB_CDS_BASE_URL", CDS_BASE_URL_REQUIRED)], "settings")
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    if migrate:
        upgrade(engine)
    PROCESSES.configure(settings.cpu_processes)
    app = FastAPI(
        lifespan=_lifespan,
        title="venalab",
        version=__version__,
        description="Lower-limb venous duplex interpretation: exam documents in, cited results "
        "out; stored exams with versions, sign-off and audit. Decision support for "
        "clinicians; not a substitute for clinical judgement.",
        # The interactive docs pages load their scripts from a CDN into this origin (and need
        # inline script): off. The OpenAPI document is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.venalab = AppState(
        settings=settings,
        engine=engine,
        session_factory=session_factory(engine),
        writer_factory=session_factory(engine, write=True),
        signer=SessionSigner(load_secret_key(settings.secret_key, settings.var_dir)),
        proxies=TrustedProxies.parse(settings.trusted_proxies),
        token_cache=TokenCache(settings.token_cache_seconds, settings.var_dir),
        lab=load_lab(settings.lab_file),
    )
    app.state.cds = cds
    errors.install(app, html=_error_page)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client went away while its body was being read: nobody to answer, no error.
        return Response(status_code=400)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return _error_page(request, 403, str(exc), [])

    # Inside the headers middleware (added after it: outer), so its answers get the headers.
    app.add_middleware(InputGuard, html=_error_page)
    app.add_middleware(SecurityHeaders, proxies=app.state.venalab.proxies)

    openapi.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    PROCESSES.shutdown()


class SecurityHeaders:
    """Adds the headers every response carries (web/security.add_security_headers: CSP,
    no-store, HSTS over TLS...), unless the response set them itself.

    Plain ASGI: Starlette's BaseHTTPMiddleware (`@app.middleware("http")`) runs each request
    in an extra task with a streaming response wrapper, which cost more than the header
    setting itself.
    """

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(
                    MutableHeaders(scope=message),
                    path=scope["path"],
                    tls=self.proxies.is_tls(HTTPConnection(scope)),
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_page(
    request: Request, status: int, message: str, problems: list[dict[str, str]]
) -> HTMLResponse:
    """The HTML answer to an error on a page (the API answers JSON)."""
    return HTMLResponse(
        templates.get_template("message.html").render(
            message=message if status in (403, 422) else f"{status}: {message}",
            problems=problems,
            user=None,
            csrf="",
            csrf_field="",
            request=request,
        ),
        status_code=status,
    )


def bootstrap(url: str | None = None, *, load_examples: bool = True) -> list[str]:
    """Migrate, make sure an admin can log in, load the example exams once.

    Returns lines to print. The admin's one-time password is generated here and shown once;
    there is no fixed default password.
    """
    url = url or database_url()
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    lines: list[str] = []
    with factory() as s, s.begin():
        admins = [u for u in users.list_users(s) if u.role == "admin" and u.active]
        fresh = [u for u in admins if u.must_change_password]
        if not admins or (fresh and len(fresh) == len(admins)):
            if admins:
                user = fresh[0]
                password = users.reset_password(s, user.username)
            else:
                user, password = users.create_user(s, "admin", "admin", "Administrator")
            audit.record(
                s, "bootstrap-admin", user=None, username="system", entity="user", entity_id=user.id
            )
            lines += [
                "First login: user 'admin', one-time password: " + password,
                "  (you will be asked to choose a new password; create lab users on /admin/users)",
            ]
        if load_examples and not exams.list_exams(s, limit=1):
            # A disabled 'system' account owns the examples, so the audit log says who
            # loaded them and nobody can log in as it.
            system = _system_user(s)
            system.active = True
            for path in sorted(EXAMPLES_DIR.glob("*.json")):
                exams.create_exam(s, load_exam(path), system)
                lines.append(f"Loaded example exam {path.name}")
            system.active = False
    engine.dispose()
    return lines


def _system_user(s: Any) -> Any:
    try:
        return users.get_user(s, "system")
    except StoreError:
        user, _ = users.create_user(s, "system", "sonographer", "Example loader")
        return user
