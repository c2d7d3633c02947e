"""Issue 17: the patient letter says only what was examined, names the side of each next
step, and ends with when to get help for what was found; the rVCSS trend draws an
incomplete score as its bounds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from helpers import EXAMPLES, leg, make_exam
from venalab.engine import assess
from venalab.exam import load_exam
from venalab.report.patient import patient_letter
from venalab.web.trend import trend_svg

DATA = Path(__file__).parent / "data"


def _letter(**legs: object) -> dict[str, str]:
    exam = make_exam(**legs)
    letter = patient_letter(exam, assess(exam))
    return {s.key: " ".join(s.paragraphs) for s in letter.sections}


def test_no_leaky_valves_only_where_reflux_was_measured() -> None:
    # a thrombosis exam: veins compressed, no reflux time recorded
    only_compression = _letter(right=leg({"vein": "FV", "compressibility": "full"}))
    assert "leaky valves" not in only_compression["found"]
    assert "did not find a clot" in only_compression["found"]
    assert "did not test the valves of your right leg" in only_compression["found"]
    measured = _letter(right=leg({"vein": "GSVa", "reflux_ms": 100}))
    assert "did not find leaky valves" in measured["found"]
    assert "did not test the valves" not in measured["found"]


def test_when_to_get_help_follows_the_findings() -> None:
    dvt = load_exam(EXAMPLES / "calf-dvt.json")
    urgent = next(s for s in patient_letter(dvt, assess(dvt)).sections if s.key == "urgent")
    text = " ".join(urgent.paragraphs)
    assert urgent.heading == "When to get help"
    assert "move to your lungs" in text and "short of breath" in text
    assert "infected" not in text
    ulcer = _letter(
        left=leg({"vein": "GSVa", "reflux_ms": 1500}, signs=["ulcer-active"]),
    )["urgent"]
    assert "infected" in ulcer and "fever" in ulcer
    assert "lungs" not in ulcer  # no clot found: no pulmonary-embolism warning
    assert "bleeds" in ulcer  # varicose reflux: what to do if a vein bleeds
    normal = _letter(left=leg({"vein": "GSVa", "reflux_ms": 100}))["urgent"]
    assert "can be a clot" in normal and "infected" not in normal


def test_next_steps_name_their_side() -> None:
    one = load_exam(EXAMPLES / "calf-dvt.json")
    nxt = next(s for s in patient_letter(one, assess(one)).sections if s.key == "next")
    assert nxt.paragraphs[0].startswith("Right leg: ")
    bilateral = load_exam(DATA / "bilateral-insufficiency.json")
    nxt = next(s for s in patient_letter(bilateral, assess(bilateral)).sections if s.key == "next")
    labels = [p.split(":")[0] for p in nxt.paragraphs[:-1]]
    assert labels and set(labels) <= {"Right leg", "Left leg", "Both legs"}
    assert len(set(nxt.paragraphs)) == len(nxt.paragraphs)  # nothing said twice


def _point(day: int, vcss: int, upper: int, complete: bool) -> dict[str, object]:
    return {
        "side": "left",
        "date": dt.date(2025, 1, 1) + dt.timedelta(days=day),
        "ceap": "C2",
        "c": "C2",
        "vcss": vcss,
        "vcss_upper": upper,
        "vcss_complete": complete,
    }


def test_trend_never_joins_an_incomplete_rvcss_to_a_complete_one() -> None:
    svg = trend_svg([_point(0, 6, 6, True), _point(100, 3, 12, False), _point(200, 5, 5, True)])
    vcss_lines = re.findall(r'<line [^>]*data-series="vcss"', svg)
    assert vcss_lines == []  # complete-incomplete-complete: no joining line at all
    assert 'data-bound="3-12"' in svg and 'data-complete="false"' in svg
    assert "3-12 (incomplete)" in svg
    joined = trend_svg([_point(0, 6, 6, True), _point(100, 4, 4, True)])
    assert len(re.findall(r'<line [^>]*data-series="vcss"', joined)) == 1
