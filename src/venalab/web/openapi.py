"""The OpenAPI document: FastAPI's, plus the exam/result/error schemas and bearer security."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from venalab.web.schemas import EXAM_SCHEMA_REF, openapi_components


def install(app: FastAPI) -> None:
    """Replace `app.openapi` with a generator that adds what pydantic cannot see."""

    def _openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(openapi_components())
        # Bodies that wrap an exam document point at its schema (pydantic sees a plain dict).
        for wrapper in ("SaveBody", "AmendBody"):
            props = schema["components"]["schemas"].get(wrapper, {}).get("properties", {})
            if "document" in props:
                props["document"] = {
                    **EXAM_SCHEMA_REF,
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
