"""The two shipped example exams give the results the README documents (issue 18: they must
still do so after the round-2 changes)."""

from __future__ import annotations

from helpers import EXAMPLES
from venalab.engine import assess
from venalab.exam import load_exam


def test_seed001_documented_result() -> None:
    r = assess(load_exam(EXAMPLES / "seed-001-calcinosis.json"))
    left = r.legs.left
    assert left is not None
    assert left.ceap.basic == "C6r,S Ep As Pr"
    assert left.reflux_patterns == {"GSV": "axial"}
    assert r.calcinosis is not None and r.calcinosis.subtype == "dystrophic"
    assert r.calcinosis.ca_x_p is not None and r.calcinosis.ca_x_p.value == 39.2
    assert r.critical == ()


def test_calf_dvt_documented_result() -> None:
    r = assess(load_exam(EXAMPLES / "calf-dvt.json"))
    right = r.legs.right
    assert right is not None
    assert right.thrombosis.classification == "distal-axial"
    assert set(right.thrombosis.veins_involved) == {"PRV", "PTV"}
    assert (right.pathway.pathway, right.pathway.decision) == ("iddvt", "anticoagulation")
    assert {f.id for f in right.pathway.risk_factors_present} == {
        "extensive-length",
        "extensive-multiple-veins",
    }
    assert r.wells_dvt is not None and (r.wells_dvt.score, r.wells_dvt.two_level) == (3, "likely")
    assert r.critical == ()
