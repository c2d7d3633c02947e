"""Test builders: exam documents from small dicts, and the example exams.

Imported by test modules (`from helpers import make_exam, leg`); conftest.py holds fixtures only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from venalab.exam import ExamDocument, parse_exam_obj

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "venalab" / "data" / "examples"
SHARED_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"


def exam_dict(
    left: dict[str, Any] | None = None,
    right: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """A minimal valid exam document as a dict; pass leg bodies and top-level sections."""
    doc: dict[str, Any] = {
        "format": "venous-exam/1",
        "patient": {"id": "T-1", "sex": "female", "age_years": 60},
        "exam": {"date": "2025-01-15", "purpose": "insufficiency", "position": "standing"},
        "legs": {},
    }
    if left is not None:
        doc["legs"]["left"] = left
    if right is not None:
        doc["legs"]["right"] = right
    if left is None and right is None:
        doc["legs"]["left"] = {"segments": []}
    doc.update(copy.deepcopy(top))
    return doc


def make_exam(
    left: dict[str, Any] | None = None, right: dict[str, Any] | None = None, **top: Any
) -> ExamDocument:
    return parse_exam_obj(exam_dict(left, right, **top))


def leg(
    *segments: dict[str, Any], signs: list[str] | None = None, **clinical: Any
) -> dict[str, Any]:
    """A leg body: segments plus clinical signs/fields."""
    return {"clinical": {"signs": signs or [], **clinical}, "segments": list(segments)}


def load_example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def cohort_settings(engine: str = "vectorized", size: int = 700, tpt: str = "distal") -> Any:
    """`venalab.cohort.runner.Settings` of a cohort run under the default criteria set."""
    from venalab.cohort.runner import Settings

    return Settings(
        criteria="svs-avf-avls-2022",
        options={"criteria": "svs-avf-avls-2022", "tibioperoneal_trunk": tpt},
        engine=engine,  # type: ignore[arg-type]
        partition_size=size,
    )
