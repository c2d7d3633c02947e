"""create_app(): the FastAPI application; bootstrap(): schema, first admin, example exams."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from venalab import __version__
from venalab.exam import load_exam
from venalab.store import audit, exams, make_engine, session_factory, upgrade, users
from venalab.store.db import database_url
from venalab.store.errors import StoreError
from venalab.web import api, cds, errors, knowledge_pages, pages
from venalab.web.cds import CdsConfig
from venalab.web.deps import AppState
from venalab.web.security import SessionSigner, load_secret_key

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "examples"


def create_app(
    url: str | None = None,
    *,
    var_dir: Path | None = None,
    cookie_secure: bool | None = None,
    cds_config: CdsConfig | None = None,
) -> FastAPI:
    """The app on the database at `url` (default: DATABASE_URL or the SQLite file)."""
    url = url or database_url()
    engine = make_engine(url)
    upgrade(engine)
    var = var_dir or Path(os.environ.get("VENALAB_VAR", "var"))
    app = FastAPI(
        title="venalab",
        version=__version__,
        description="Lower-limb venous duplex interpretation: exam documents in, cited results "
        "out; stored exams with versions, sign-off and audit. Decision support for "
        "clinicians; not a substitute for clinical judgement.",
    )
    app.state.venalab = AppState(
        engine=engine,
        session_factory=session_factory(engine),
        signer=SessionSigner(load_secret_key(var)),
        database_url=url,
        cookie_secure=bool(
            cookie_secure if cookie_secure is not None else os.environ.get("VENALAB_SECURE_COOKIES")
        ),
    )
    app.state.cds = cds_config or CdsConfig.from_env()
    errors.install(app)
    app.include_router(api.router)
    app.include_router(cds.router)
    app.include_router(pages.router)
    app.include_router(knowledge_pages.router)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )

    @app.exception_handler(pages.LoginRequired)
    async def _login(request: Request, exc: pages.LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(pages.PageForbidden)
    async def _forbidden(request: Request, exc: pages.PageForbidden) -> Response:
        return HTMLResponse(
            pages.templates.get_template("message.html").render(
                message=str(exc), user=None, csrf="", csrf_field="", request=request
            ),
            status_code=403,
        )

    # Pages get HTML errors, the API gets the JSON error shape.
    default_http = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(("/api", "/cds-services")):
            handled = default_http(request, exc)
            result: Response = await handled if inspect.isawaitable(handled) else handled
            return result
        return HTMLResponse(
            pages.templates.get_template("message.html").render(
                message=f"{exc.status_code}: {exc.detail}",
                user=None,
                csrf="",
                csrf_field="",
                request=request,
            ),
            status_code=exc.status_code,
        )

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    def _openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(
            api.openapi_components()
        )
        # Bodies that wrap an exam document point at its schema (pydantic sees a plain dict).
        for wrapper in ("SaveBody", "AmendBody"):
            props = schema["components"]["schemas"].get(wrapper, {}).get("properties", {})
            if "document" in props:
                props["document"] = {
                    **api.EXAM_SCHEMA_REF,
                    "description": "An exam document (venous-exam/1)",
                }
        schema["components"]["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "Per-user token from `venalab user token USER`.",
            }
        }
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = _openapi  # type: ignore[method-assign]

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app


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
