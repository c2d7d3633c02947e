"""The application's routers, one per resource (the API under /api, pages at the root)."""

from __future__ import annotations

from fastapi import APIRouter

from venalab.web import cds
from venalab.web.routes import (
    api_assess,
    api_exams,
    incoming,
    knowledge,
    pages_admin,
    pages_auth,
    pages_exams,
)

ROUTERS: tuple[APIRouter, ...] = (
    api_assess.router,
    api_exams.router,
    cds.router,
    pages_auth.router,
    pages_exams.router,
    pages_admin.router,
    knowledge.router,
    incoming.router,
)
