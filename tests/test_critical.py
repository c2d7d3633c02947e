"""Critical results (rules/critical.py, data/critical.toml): docs/vectors-issue18.md V18-K*."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import leg, load_example, make_exam
from venalab.citations import CITATIONS
from venalab.datafiles import data_path, read_toml
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import parse_exam_obj
from venalab.rules.critical import CRITICAL, parse_critical_data


def _critical(*segments: dict[str, Any]) -> list[str]:
    r = assess(make_exam(left=leg(*segments), exam={"date": "2025-01-15", "purpose": "thrombosis"}))
    return [c.criterion for c in r.critical]


def test_v18_k1_acute_proximal_dvt_is_critical_chronic_is_not() -> None:
    acute = {"vein": "FV", "compressibility": "none", "thrombus": {"age": "acute"}}
    r = assess(make_exam(left=leg(acute)))
    (mark,) = r.critical
    assert (mark.criterion, mark.leg) == ("proximal-dvt", "left")
    assert mark.evidence.rule == "critical.proximal-dvt" and "STE21" in mark.evidence.sources
    assert "FV" in mark.text and mark.reason
    finding = next(f for f in r.findings if f.id == "thrombosis.proximal.left")
    assert finding.critical and r.findings[0] == finding  # critical first
    chronic = {"vein": "FV", "compressibility": "none", "thrombus": {"age": "chronic"}}
    assert _critical(chronic) == []
    unaged = {"vein": "POPV", "compressibility": "none", "thrombus": {}}
    assert _critical(unaged) == ["proximal-dvt"]  # age not stated: treated as possibly acute


@pytest.mark.parametrize(("distance", "critical"), [(2.0, True), (3.0, True), (3.5, False)])
def test_v18_k2_tv34_svt_near_the_junction(distance: float, critical: bool) -> None:
    svt = {
        "vein": "GSVa",
        "compressibility": "none",
        "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": distance},
    }
    r = assess(make_exam(left=leg(svt, {"vein": "CFV", "compressibility": "full"})))
    assert ([c.criterion for c in r.critical] == ["svt-near-junction"]) is critical
    if critical:
        ev = r.critical[0].evidence
        assert (ev.threshold, ev.measured, ev.unit) == (3.0, distance, "cm")
        assert ("boundary" in r.critical[0].text) is (distance == 3.0)


def test_v18_k3_calf_dvt_example_is_not_critical() -> None:
    r = assess(parse_exam_obj(load_example("calf-dvt.json")))
    assert r.critical == () and not any(f.critical for f in r.findings)
    seed = assess(parse_exam_obj(load_example("seed-001-calcinosis.json")))
    assert seed.critical == ()


def test_critical_data_is_cited_and_validated() -> None:
    for spec in CRITICAL.criteria.values():
        assert all(s in CITATIONS for s in spec.sources) and spec.reason
    assert set(CRITICAL.communication.fields) == {
        "recipient",
        "method",
        "communicated_at",
        "read_back",
    }
    raw = read_toml(data_path("critical.toml"))
    broken = {**raw, "criteria": {**raw["criteria"], "pe": raw["criteria"]["proximal-dvt"]}}
    with pytest.raises(InvalidInput) as info:
        parse_critical_data(broken)
    assert any(p.path.startswith("criteria") for p in info.value.problems)
