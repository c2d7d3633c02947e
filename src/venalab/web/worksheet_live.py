"""The worksheet's live interpretation of a document that may still be incomplete (issue 16).

`/api/assess` answers an invalid document with its problems only. While an exam is being
typed that would blank every verdict for one bad cell, and nothing at all before the patient
id and age are filled. Here the document's problems are reported exactly as the API would
report them, and the engine still interprets what is valid:

- a segment with a problem is left out of the interpretation (its row shows the problem;
  the other rows keep their verdicts), reported in `rows` (which sent segments the result's
  segments are);
- a missing patient id, age or exam date is replaced by a stand-in, listed in `assumed`
  (the engine reads neither the patient's id, sex, age nor birth date: tested in
  tests/test_worksheet_live.py, so a stand-in cannot change a verdict);
- any other invalid value is left out, listed in `left_out`.

Nothing here judges anything clinical: the one engine (`venalab.engine.assess`) does, on a
valid document. Nothing is stored.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from functools import cache
from typing import Any

from venalab.criteria import CriteriaSet, get_criteria
from venalab.engine import assess
from venalab.errors import InvalidInput, Problem
from venalab.exam import EXAM_FORMAT, SIDES, ExamDocument, parse_exam_obj
from venalab.report.venous_map import render_venous_map
from venalab.result import EngineOptions

#: Stand-ins for what the interpretation needs but the worksheet does not have yet.
STAND_IN_ID = "not-yet-entered"
STAND_IN_AGE = 0
_SEGMENT = re.compile(r"^legs\.(left|right)\.segments\[(\d+)\]")
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MAX_ROUNDS = 12
MAP_ID = "ws-map"


def _tokens(path: str) -> list[str | int]:
    return [int(i) if i else name for name, i in _TOKEN.findall(path)]


def _child(parent: Any, key: str | int) -> Any:
    if isinstance(parent, dict) and isinstance(key, str):
        return parent.get(key)
    if isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        return parent[key]
    return None


def _delete(obj: Any, path: list[str | int]) -> bool:
    """Remove the value at `path` (or, when it is not there, the deepest existing parent
    below the root sections); True when something was removed."""
    while path:
        parent: Any = obj
        for key in path[:-1]:
            parent = _child(parent, key)
        last = path[-1]
        if isinstance(parent, dict) and isinstance(last, str) and last in parent:
            del parent[last]
            return True
        if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            del parent[last]
            return True
        path = path[:-1]
        if len(path) == 1 and path[0] in ("patient", "exam", "legs"):
            return False
    return False


class _Repair:
    """One round of stand-ins and omissions for the problems of a candidate document."""

    def __init__(self, work: dict[str, Any]) -> None:
        self.work = work
        self.assumed: list[str] = []
        self.left_out: list[str] = []
        self.dropped: dict[str, set[int]] = {side: set() for side in SIDES}

    def segments(self, side: str) -> list[Any]:
        leg = (
            self.work.get("legs", {}).get(side) if isinstance(self.work.get("legs"), dict) else None
        )
        segs = leg.get("segments") if isinstance(leg, dict) else None
        return segs if isinstance(segs, list) else []

    def candidate(self) -> dict[str, Any]:
        doc = copy.deepcopy(self.work)
        legs = doc.get("legs")
        if isinstance(legs, dict):
            for side in SIDES:
                leg = legs.get(side)
                if isinstance(leg, dict) and isinstance(leg.get("segments"), list):
                    leg["segments"] = [
                        s for i, s in enumerate(leg["segments"]) if i not in self.dropped[side]
                    ]
        return doc

    def kept(self, side: str) -> list[int]:
        return [i for i in range(len(self.segments(side))) if i not in self.dropped[side]]

    def fix(self, problem: Problem) -> bool:
        path = problem.path
        m = _SEGMENT.match(path)
        if m:
            side, index = m.group(1), int(m.group(2))
            kept = self.kept(side)
            if index < len(kept):
                self.dropped[side].add(kept[index])
                return True
            return False
        work = self.work
        if path == "format":
            work["format"] = EXAM_FORMAT
            return True
        if path == "patient" and not isinstance(work.get("patient"), dict):
            work["patient"] = {"id": STAND_IN_ID, "age_years": STAND_IN_AGE}
            self.assumed += ["patient.id", "patient.age_years"]
            return True
        patient = work.get("patient")
        if path == "patient.id" and isinstance(patient, dict):
            patient["id"] = STAND_IN_ID
            self.assumed.append(path)
            return True
        if path == "patient" and isinstance(patient, dict):  # exactly one of age / birth date
            if "age_years" in patient and "birth_date" in patient:
                del patient["birth_date"]
                self.left_out.append("patient.birth_date")
            else:
                patient.pop("birth_date", None)
                patient["age_years"] = STAND_IN_AGE
                self.assumed.append("patient.age_years")
            return True
        if path in ("exam", "exam.date") or (
            path == "" and "birth_date" in problem.message and "exam.date" in problem.message
        ):
            if path == "" and isinstance(patient, dict):  # a birth date after the exam date
                patient.pop("birth_date", None)
                self.left_out.append("patient.birth_date")
                return True
            exam = work.get("exam")
            if not isinstance(exam, dict):
                work["exam"] = exam = {}
            exam["date"] = dt.date.today().isoformat()
            self.assumed.append("exam.date")
            return True
        if path in ("", "legs") or (path.startswith("legs.") and path.count(".") == 1):
            return False  # no leg to interpret (or a leg that is not an object)
        if _delete(work, _tokens(path)):
            self.left_out.append(path)
            return True
        return False


@cache
def _empty_map(criteria_id: str) -> str:
    """The map of an exam with both legs and no rows: every vein clickable, none examined."""
    doc = parse_exam_obj(
        {
            "format": EXAM_FORMAT,
            "patient": {"id": STAND_IN_ID, "age_years": STAND_IN_AGE},
            "exam": {"date": "2000-01-01"},
            "legs": {"left": {}, "right": {}},
        }
    )
    cs = get_criteria(criteria_id)
    result = assess(doc, cs, EngineOptions(criteria=criteria_id))
    title = "Venous map: click a vein to add its row"
    return render_venous_map(result, title=title, id_prefix=MAP_ID)


def live_assessment(obj: Any, cs: CriteriaSet) -> dict[str, Any]:
    """The live answer for the worksheet: problems of the document as sent, and the
    interpretation of its valid part (see the module docstring). JSON-ready."""
    problems: list[dict[str, str]] = []
    try:
        doc: ExamDocument | None = parse_exam_obj(obj)
    except InvalidInput as e:
        problems = e.as_dicts()
        doc = None
    repair = _Repair(copy.deepcopy(obj) if isinstance(obj, dict) else {})
    if doc is None and isinstance(obj, dict):
        for _ in range(_MAX_ROUNDS):
            try:
                doc = parse_exam_obj(repair.candidate())
                break
            except InvalidInput as e:
                if not any([repair.fix(p) for p in e.problems]):
                    break
    answer: dict[str, Any] = {
        "problems": problems,
        "assumed": sorted(set(repair.assumed)),
        "left_out": sorted(set(repair.left_out)),
        "rows": {side: repair.kept(side) for side in SIDES},
        "result": None,
    }
    if doc is None:
        answer["map"] = _empty_map(cs.id)
        return answer
    result = assess(doc, cs, EngineOptions(criteria=cs.id))
    answer["result"] = json.loads(result.to_json())
    title = "Venous map of this worksheet: click a vein to add or go to its row"
    answer["map"] = render_venous_map(result, title=title, id_prefix=MAP_ID)
    return answer
