"""Fixtures shared by the test modules; builders live in helpers.py."""

from __future__ import annotations

import pytest

from helpers import load_example
from venalab.exam import ExamDocument, parse_exam_obj


@pytest.fixture
def seed001() -> ExamDocument:
    return parse_exam_obj(load_example("seed-001-calcinosis.json"))


@pytest.fixture
def calf_dvt() -> ExamDocument:
    return parse_exam_obj(load_example("calf-dvt.json"))
