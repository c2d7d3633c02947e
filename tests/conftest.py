"""Fixtures shared by the test modules; builders live in helpers.py."""

from __future__ import annotations

import pytest

from helpers import load_example
from venalab.exam import ExamDocument, parse_exam_obj


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the PostgreSQL cluster get the `db` marker (markers: pyproject.toml)."""
    for item in items:
        if {"pg_url", "pg_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture
def seed001() -> ExamDocument:
    return parse_exam_obj(load_example("seed-001-calcinosis.json"))


@pytest.fixture
def calf_dvt() -> ExamDocument:
    return parse_exam_obj(load_example("calf-dvt.json"))
