"""Calcinosis cutis workup and radiographic patterns (clinical.md section 5; TV04, TV05,
TV24-TV29)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exam_dict, leg, load_example, make_exam
from venalab.citations import CITATIONS
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput
from venalab.exam import Calcium, ExamDocument, LegImaging, Phosphate, Side
from venalab.rules.calcinosis import CONFIRMATION, SUBTYPES, CalcinosisResult, assess_calcinosis
from venalab.rules.ceap import clinical_classes
from venalab.rules.imaging import (
    IMAGING_PATTERNS,
    cohort_context_text,
    interpret_imaging,
    parse_imaging_patterns,
)
from venalab.rules.labs import (
    DEFAULT_RANGES,
    ca_x_p_product,
    load_reference_ranges,
    parse_reference_ranges,
)

SEED_LABS_MG = {
    "calcium": {"value": 9.8, "unit": "mg/dL"},
    "phosphate": {"value": 4.0, "unit": "mg/dL"},
    "pth": {"value": 57, "unit": "pg/mL"},
    "creatinine": {"value": 0.9, "unit": "mg/dL"},
    "vitamin_d_25oh": {"value": 35, "unit": "ng/mL"},
}
NO_HISTORY = {
    "tissue_injury_at_site": False,
    "calcium_or_phosphate_infusion_at_site": False,
    "connective_tissue_disease": False,
    "malignancy": False,
    "retiform_purpura_or_necrosis": False,
}
NORMAL_LABS = {
    "calcium": {"value": 9.4, "unit": "mg/dL"},
    "phosphate": {"value": 3.5, "unit": "mg/dL"},
    "pth": {"value": 40, "unit": "pg/mL"},
    "creatinine": {"value": 0.9, "unit": "mg/dL"},
    "vitamin_d_25oh": {"value": 32, "unit": "ng/mL"},
}


def classes_of(exam: ExamDocument) -> dict[str, tuple[str, ...]]:
    return {side: clinical_classes(lg.clinical) for side, lg in exam.legs.items()}


def run(exam: ExamDocument, **kw: Any) -> CalcinosisResult:
    res = assess_calcinosis(exam, classes_of(exam), **kw)
    assert res is not None
    return res


def seed_with(**changes: Any) -> ExamDocument:
    """Seed 001 with top-level sections replaced (None removes a section)."""
    doc = copy.deepcopy(load_example("seed-001-calcinosis.json"))
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    from venalab.exam import parse_exam_obj

    return parse_exam_obj(doc)


# ---------------------------------------------------------------------------------------
# Test vectors


def test_tv04_seed001_labs_normal_product_dystrophic(seed001: ExamDocument) -> None:
    res = run(seed001)
    assert set(res.labs) == {"calcium", "phosphate", "pth", "creatinine", "vitamin_d_25oh"}
    assert all(lab.status == "normal" for lab in res.labs.values())
    assert res.labs["calcium"].si_value == pytest.approx(2.445, abs=0.001)
    assert res.ca_x_p is not None
    assert res.ca_x_p.value == 39.2
    assert res.ca_x_p.threshold == 55
    assert res.ca_x_p.status == "below-target"
    ev = res.ca_x_p.evidence
    assert (ev.threshold, ev.measured, ev.comparison) == (55, 39.2, "<")
    assert ev.level == "U" and ev.unverified  # adult KDOQI target is [U]
    assert res.subtype == "dystrophic"
    assert res.provisional_subtype is None and res.missing == ()
    assert [s.id for s in res.reasoning] == [
        "calcification",
        "calciphylaxis",
        "metastatic",
        "iatrogenic",
        "dystrophic",
    ]
    assert [s.answer for s in res.reasoning[1:]] == ["no", "no", "no", "yes"]
    assert all(s.evidence.level == "D" and s.evidence.source == "VENALAB" for s in res.reasoning)
    assert "REI11a" in res.evidence.sources and res.evidence.level == "D"
    assert res.confirmation.text == CONFIRMATION
    assert "left" in res.step("dystrophic").conclusion  # type: ignore[union-attr]
    assert res.workup == ()
    subtype_finding = res.findings()[0]
    assert subtype_finding.id == "calcinosis.subtype"
    assert CONFIRMATION in subtype_finding.text


def test_tv04_same_labs_in_si_units_give_same_product() -> None:
    si = {
        "calcium": {"value": 9.8 * 0.2495, "unit": "mmol/L"},
        "phosphate": {"value": 4.0 * 0.3229, "unit": "mmol/L"},
        "pth": {"value": 57 * 0.1061, "unit": "pmol/L"},
        "creatinine": {"value": 0.9 * 88.4, "unit": "umol/L"},
        "vitamin_d_25oh": {"value": 35 * 2.496, "unit": "nmol/L"},
        "dialysis": False,
    }
    res = run(seed_with(labs=si))
    assert res.ca_x_p is not None and res.ca_x_p.value == 39.2
    assert res.ca_x_p.converted and "SI-UNITS" in res.ca_x_p.evidence.sources
    assert res.labs["calcium"].conventional_value == 9.8
    assert all(lab.status == "normal" for lab in res.labs.values())
    assert res.subtype == "dystrophic"
    # As a laboratory would print them (2 decimals):
    rounded = ca_x_p_product(
        Calcium(value=2.45, unit="mmol/L"), Phosphate(value=1.29, unit="mmol/L")
    )
    assert rounded.value == 39.2


def test_tv05_amorphous_pattern_unclassified(seed001: ExamDocument) -> None:
    assert seed001.imaging is not None and seed001.imaging.left is not None
    classes = classes_of(seed001)["left"]
    res = interpret_imaging(
        "left", seed001.imaging.left, classes, contralateral=LegImaging(calcification="amorphous")
    )
    assert res is not None
    assert res.soft_tissue_calcification and res.calcification_kind == "subcutaneous"
    assert res.classifiable_pattern is False and res.advanced_pattern is False
    present = next(
        f for f in res.findings if f.id == "imaging.calcification.amorphous.present.left"
    )
    assert (
        "Subcutaneous calcification present, pattern not classifiable as "
        "punctate/trabecular/reticular"
    ) in present.text
    assert present.evidence.level == "D" and "PAC22" in present.evidence.sources
    assert res.bilateral_calcification is True
    assert res.unusual_for_c_class == ()  # a C6r leg
    assert res.stasis_periostitis_suggested is False


def test_tv24_tokoro_cohort_loads() -> None:
    c = IMAGING_PATTERNS.cohort("tokoro-2009")
    assert c.vector == "TV24" and c.source == "TOK09" and c.evidence == "V"
    patients, controls = c.observation("patients"), c.observation("controls")
    assert (patients.events, patients.n, patients.percent) == (13, 20, 65.0)
    assert (controls.events, controls.n, controls.percent) == (4, 20, 20.0)
    assert c.observation("advanced-in-controls").events == 0
    assert "13/20" in cohort_context_text(c)


def test_tv25_ultrasound_cohort_loads() -> None:
    c = IMAGING_PATTERNS.cohort("ultrasound-500-legs")
    assert c.vector == "TV25" and (c.legs, c.patients) == (500, 250)
    assert c.c_class_legs == {
        "C1": 43,
        "C2": 189,
        "C3": 34,
        "C4a": 16,
        "C4b/c": 45,
        "C5": 18,
        "C6": 16,
    }
    assert sum(c.c_class_legs.values()) == c.cvd_legs == 361
    adv, early = c.observation("tissue-advanced"), c.observation("tissue-early")
    assert (adv.events, adv.n) == (24, 95)
    assert (early.events, early.n) == (0, 266)
    wall = c.observation("vein-wall")
    assert (wall.events, wall.n, wall.percent) == (12, 273, 4.4)


def test_tv26_undulating_periosteal_reaction_is_stasis_periostitis() -> None:
    exam = make_exam(
        left=leg(signs=["varicose", "ulcer-healed"]),
        imaging={"left": {"calcification": "phlebolith", "periosteal_reaction": "undulating"}},
    )
    assert exam.imaging is not None and exam.imaging.left is not None
    res = interpret_imaging("left", exam.imaging.left, classes_of(exam)["left"])
    assert res is not None
    assert res.stasis_periostitis_suggested
    ids = {f.id for f in res.findings}
    assert "imaging.periosteal-reaction.undulating.stasis-periostitis.left" in ids
    mimic = next(f for f in res.findings if "osteomyelitis-mimic" in f.id)
    assert "MRI" in mimic.text and "bone scan" in mimic.text
    assert set(res.differential) >= {
        "hypertrophic osteoarthropathy",
        "pachydermoperiostitis",
        "thyroid acropachy",
        "fluorosis",
    }
    assert res.calcification_kind == "phlebolith" and not res.soft_tissue_calcification
    assert res.unusual_for_c_class == ()
    phleb = next(f for f in res.findings if "phlebolith" in f.id)
    assert "varicose" in phleb.text


def test_tv27_bilateral_venous_stasis_periosteal_reaction() -> None:
    both = {"calcification": "phlebolith", "periosteal_reaction": "undulating"}
    exam = make_exam(
        left=leg(signs=["varicose", "edema", "pigmentation"]),
        right=leg(signs=["varicose", "edema", "pigmentation"]),
        imaging={"left": both, "right": both},
    )
    assert exam.imaging is not None and exam.imaging.left and exam.imaging.right
    pairs: list[tuple[Side, LegImaging, LegImaging]] = [
        ("left", exam.imaging.left, exam.imaging.right),
        ("right", exam.imaging.right, exam.imaging.left),
    ]
    for side, mine, other in pairs:
        res = interpret_imaging(side, mine, classes_of(exam)[side], contralateral=other)
        assert res is not None and res.stasis_periostitis_suggested
        assert res.bilateral_periostitis is True
        assert any(f.id == f"imaging.periosteal-reaction.bilateral.{side}" for f in res.findings)
    # Phleboliths alone are not calcinosis cutis: no workup without labs/history.
    assert assess_calcinosis(exam, classes_of(exam)) is None


def test_tv28_calciphylaxis_suspected() -> None:
    exam = make_exam(
        left=leg(),
        labs={
            "calcium": {"value": 9.6, "unit": "mg/dL"},
            "phosphate": {"value": 7.5, "unit": "mg/dL"},
            "pth": {"value": 800, "unit": "pg/mL"},
            "dialysis": True,
        },
        history={"retiform_purpura_or_necrosis": True},
    )
    res = run(exam)
    assert res.subtype == "calciphylaxis"
    assert res.ca_x_p is not None and res.ca_x_p.value == 72.0
    # Exactly at the >72 high-risk cut-off: above the 55 target, flagged as a boundary.
    assert res.ca_x_p.status == "above-target" and res.ca_x_p.boundary
    assert res.labs["phosphate"].status == "high" and res.labs["pth"].status == "high"
    assert res.renal.end_stage is True
    assert res.reasoning[-1].id == "calciphylaxis" and res.reasoning[-1].answer == "yes"
    assert any(w.kind == "biopsy" for w in res.workup)
    top = res.findings()[0]
    assert top.importance == 1 and "biopsy" in top.text and CONFIRMATION in top.text


def test_tv29a_metastatic() -> None:
    exam = make_exam(
        left=leg(),
        labs={
            "calcium": {"value": 12.5, "unit": "mg/dL"},
            "phosphate": {"value": 4.0, "unit": "mg/dL"},
            "pth": {"value": 150, "unit": "pg/mL"},
            "creatinine": {"value": 0.9, "unit": "mg/dL"},
        },
        history=NO_HISTORY,
    )
    res = run(exam)
    assert res.subtype == "metastatic"
    step = res.step("metastatic")
    assert step is not None and step.answer == "yes"
    assert (step.evidence.threshold, step.evidence.measured, step.evidence.comparison) == (
        10.3,
        12.5,
        ">",
    )
    assert res.labs["calcium"].status == "high"


def test_tv29b_iatrogenic() -> None:
    history = {**NO_HISTORY, "calcium_or_phosphate_infusion_at_site": True}
    labs = {k: v for k, v in NORMAL_LABS.items() if k != "vitamin_d_25oh"}
    res = run(make_exam(left=leg(), labs=labs, history=history))
    assert res.subtype == "iatrogenic"
    assert [s.answer for s in res.reasoning[1:]] == ["no", "no", "yes"]
    assert [w.id for w in res.workup] == ["vitamin-d"]


def test_tv29c_idiopathic() -> None:
    exam = parse_exam_from(
        exam_dict(
            left=leg(),
            right=leg(),
            labs=NORMAL_LABS,
            history=NO_HISTORY,
            patient={"id": "T-29c", "sex": "male", "age_years": 24},
        )
    )
    res = run(exam)
    assert res.subtype == "idiopathic"
    assert res.reasoning[-1].id == "idiopathic" and res.reasoning[-1].answer == "yes"


def parse_exam_from(doc: dict[str, Any]) -> ExamDocument:
    from venalab.exam import parse_exam_obj

    return parse_exam_obj(doc)


# ---------------------------------------------------------------------------------------
# Missing data, boundaries, configuration


def test_none_when_nothing_calcinosis_related() -> None:
    assert assess_calcinosis(make_exam(left=leg()), {"left": ("C0",)}) is None
    assert assess_calcinosis(make_exam(left=leg(), history=NO_HISTORY), {"left": ("C0",)}) is None
    none_imaging = make_exam(left=leg(), imaging={"left": {"calcification": "none"}})
    assert assess_calcinosis(none_imaging, {"left": ("C0",)}) is None
    renal_only = make_exam(
        left=leg(), labs={"creatinine": {"value": 0.9, "unit": "mg/dL"}, "dialysis": False}
    )
    assert assess_calcinosis(renal_only, {"left": ("C0",)}) is None
    assert (
        assess_calcinosis(make_exam(left=leg(), labs={"dialysis": True}), {"left": ("C0",)})
        is not None
    )


def test_missing_labs_undetermined_with_workup() -> None:
    exam = make_exam(
        left=leg(signs=["ulcer-active"]), imaging={"left": {"calcification": "reticular"}}
    )
    res = run(exam)
    assert res.subtype == "undetermined"
    assert res.provisional_subtype == "dystrophic"
    assert "labs.calcium" in res.missing and "labs.phosphate" in res.missing
    assert "history.retiform_purpura_or_necrosis" in res.missing
    assert res.ca_x_p is None and res.labs == {}
    assert [w.id for w in res.workup] == [
        "calcium",
        "phosphate",
        "pth",
        "renal-function",
        "vitamin-d",
    ]
    assert res.step("calciphylaxis").answer == "unknown"  # type: ignore[union-attr]
    text = res.findings()[0].text
    assert "undetermined" in text and "labs.calcium" in text and CONFIRMATION in text
    assert len(res.recommendations()) == 5


def test_partial_labs_still_decide_but_list_workup() -> None:
    labs = {k: v for k, v in SEED_LABS_MG.items() if k in ("calcium", "phosphate", "creatinine")}
    res = run(seed_with(labs=labs))
    assert res.subtype == "dystrophic"
    assert [w.id for w in res.workup] == ["pth", "vitamin-d"]
    assert "not fully assessed" in res.step("metastatic").conclusion  # type: ignore[union-attr]


def test_missing_history_fact_names_the_field() -> None:
    history = {k: v for k, v in NO_HISTORY.items() if k != "calcium_or_phosphate_infusion_at_site"}
    res = run(make_exam(left=leg(signs=["pigmentation"]), labs=NORMAL_LABS, history=history))
    assert res.subtype == "undetermined"
    assert res.missing == ("history.calcium_or_phosphate_infusion_at_site",)
    assert res.provisional_subtype == "dystrophic"


def test_damage_on_other_leg_does_not_count() -> None:
    exam = make_exam(
        left=leg(signs=["ulcer-active"]),
        right=leg(),
        labs=NORMAL_LABS,
        history=NO_HISTORY,
        imaging={"right": {"calcification": "punctate"}},
    )
    res = run(exam)
    assert res.calcification_sides == ("right",)
    assert res.subtype == "idiopathic"
    assert "only on the left leg" in res.step("dystrophic").conclusion  # type: ignore[union-attr]


def test_calcium_exactly_at_upper_limit_is_normal_boundary() -> None:
    labs = {**NORMAL_LABS, "calcium": {"value": 10.3, "unit": "mg/dL"}}
    res = run(make_exam(left=leg(), labs=labs, history=NO_HISTORY))
    ca = res.labs["calcium"]
    assert ca.status == "normal" and ca.boundary
    assert (ca.evidence.threshold, ca.evidence.measured, ca.evidence.comparison) == (
        10.3,
        10.3,
        "<=",
    )
    assert "VENALAB" in ca.evidence.sources
    assert any(f.id == "calcinosis.lab.calcium" and "limit" in f.text for f in res.findings())
    just_above = {**NORMAL_LABS, "calcium": {"value": 10.31, "unit": "mg/dL"}}
    assert run(make_exam(left=leg(), labs=just_above)).labs["calcium"].status == "high"


def test_si_value_at_the_si_limit_is_not_pushed_across_by_conversion() -> None:
    at = {**NORMAL_LABS, "calcium": {"value": 2.57, "unit": "mmol/L"}}
    res = run(make_exam(left=leg(), labs=at))
    assert res.labs["calcium"].status == "normal"
    above = {**NORMAL_LABS, "calcium": {"value": 2.58, "unit": "mmol/L"}}
    assert run(make_exam(left=leg(), labs=above)).labs["calcium"].status == "high"


def test_custom_reference_range_changes_status() -> None:
    labs = {**NORMAL_LABS, "calcium": {"value": 10.3, "unit": "mg/dL"}}
    exam = make_exam(left=leg(signs=["ulcer-active"]), labs=labs, history=NO_HISTORY)
    assert run(exam).subtype == "dystrophic"
    lab_ranges = DEFAULT_RANGES.with_range("calcium", 8.5, 10.2)
    res = run(exam, ranges=lab_ranges)
    assert res.labs["calcium"].status == "high"
    assert res.labs["calcium"].evidence.source == "LOCAL-LAB"
    assert res.subtype == "metastatic"
    assert res.reference_ranges.startswith("adult-typical-local@")
    with pytest.raises(InvalidInput, match="low"):
        DEFAULT_RANGES.with_range("calcium", 10.5, 8.5)


def test_laboratory_range_file(tmp_path: Path) -> None:
    text = data_path("reference_ranges.toml").read_text(encoding="utf-8")
    assert "high = 4.5" in text
    custom = tmp_path / "lab.toml"
    custom.write_text(text.replace("high = 4.5", "high = 3.9"), encoding="utf-8")
    ranges = load_reference_ranges(custom)
    res = run(seed_with(), ranges=ranges)
    assert res.labs["phosphate"].status == "high"
    assert res.subtype == "metastatic"


def test_reference_range_file_errors_name_the_path() -> None:
    raw = read_toml(data_path("reference_ranges.toml"))
    bad = copy.deepcopy(raw)
    bad["analytes"]["calcium"]["unit"] = "mmol/L"
    bad["analytes"]["pth"]["sources"] = ["NOPE"]
    del bad["analytes"]["egfr"]
    with pytest.raises(InvalidInput) as err:
        parse_reference_ranges(bad, "bad.toml")
    paths = {p.path for p in err.value.problems}
    assert {"analytes.calcium.unit", "analytes.pth.sources", "analytes.egfr"} <= paths
    bad2 = copy.deepcopy(raw)
    bad2["ca_x_p"]["target"]["comparison"] = ">"
    with pytest.raises(InvalidInput, match="target"):
        parse_reference_ranges(bad2, "bad2.toml")


def test_sex_specific_creatinine() -> None:
    def creat_status(sex: str) -> str | None:
        labs = {
            "creatinine": {"value": 1.0, "unit": "mg/dL"},
            "calcium": {"value": 9.4, "unit": "mg/dL"},
        }
        doc = exam_dict(left=leg(), labs=labs, patient={"id": "S", "sex": sex, "age_years": 50})
        return run(parse_exam_from(doc)).labs["creatinine"].status

    assert creat_status("female") == "high"
    assert creat_status("male") == "normal"
    assert creat_status("unknown") == "normal"


def test_vitamin_d_bands_beside_status() -> None:
    for value, status, band in (
        (15, "low", "deficiency"),
        (25, "normal", "insufficiency"),
        (35, "normal", "sufficiency"),
    ):
        labs = {"vitamin_d_25oh": {"value": value, "unit": "ng/mL"}}
        lab = run(make_exam(left=leg(), labs=labs)).labs["vitamin_d_25oh"]
        assert (lab.status, lab.band) == (status, band)
        assert lab.band_evidence is not None and lab.band_evidence.level == "U"


@pytest.mark.parametrize(
    ("value", "band", "threshold", "comparison"),
    [
        (15, "deficiency", 20.0, "<"),
        (20, "insufficiency", 30.0, "<"),
        (29.9, "insufficiency", 30.0, "<"),
        (30, "sufficiency", 30.0, ">="),  # issue 18 defect 3: the band a number decided
        (35, "sufficiency", 30.0, ">="),
    ],
)
def test_v18_d3_vitamin_d_band_evidence_has_threshold_and_comparison(
    value: float, band: str, threshold: float, comparison: str
) -> None:
    labs = {"vitamin_d_25oh": {"value": value, "unit": "ng/mL"}}
    lab = run(make_exam(left=leg(), labs=labs)).labs["vitamin_d_25oh"]
    ev = lab.band_evidence
    assert lab.band == band and ev is not None
    assert (ev.threshold, ev.comparison, ev.measured, ev.unit) == (
        threshold,
        comparison,
        value,
        "ng/mL",
    )
    assert band in (ev.note or "")


def test_ca_x_p_target_boundary() -> None:
    at = ca_x_p_product(Calcium(value=10.0, unit="mg/dL"), Phosphate(value=5.5, unit="mg/dL"))
    assert (at.value, at.status, at.boundary) == (55.0, "above-target", True)
    assert at.evidence.comparison == ">="
    below = ca_x_p_product(Calcium(value=9.98, unit="mg/dL"), Phosphate(value=5.5, unit="mg/dL"))
    assert (below.value, below.status) == (54.9, "below-target")
    high = ca_x_p_product(Calcium(value=10.0, unit="mg/dL"), Phosphate(value=7.3, unit="mg/dL"))
    assert high.status == "high-risk" and high.evidence.source == "BLOCK98"


def test_renal_status_from_egfr_and_non_uraemic_note() -> None:
    labs = {**NORMAL_LABS, "egfr": {"value": 10, "unit": "mL/min/1.73m2"}}
    history = {**NO_HISTORY, "retiform_purpura_or_necrosis": True}
    res = run(make_exam(left=leg(), labs=labs, history=history))
    assert res.renal.end_stage is True and res.subtype == "calciphylaxis"
    labs_ok = {**NORMAL_LABS, "egfr": {"value": 80, "unit": "mL/min/1.73m2"}}
    res2 = run(make_exam(left=leg(), labs=labs_ok, history=history))
    assert res2.renal.end_stage is False and res2.subtype != "calciphylaxis"
    assert any(f.id == "calcinosis.non-uraemic-calciphylaxis" for f in res2.findings())


def test_end_stage_renal_disease_is_a_metabolic_cause() -> None:
    labs = {**NORMAL_LABS, "dialysis": True}
    res = run(make_exam(left=leg(signs=["ulcer-active"]), labs=labs, history=NO_HISTORY))
    assert res.subtype == "metastatic"


def test_ckd_with_raised_pth_is_metabolic_but_raised_pth_alone_is_not() -> None:
    ckd = {
        **NORMAL_LABS,
        "pth": {"value": 120, "unit": "pg/mL"},
        "egfr": {"value": 40, "unit": "mL/min/1.73m2"},
    }
    res = run(make_exam(left=leg(signs=["ulcer-active"]), labs=ckd, history=NO_HISTORY))
    assert res.subtype == "metastatic"
    pth_only = {**NORMAL_LABS, "pth": {"value": 120, "unit": "pg/mL"}}
    res2 = run(make_exam(left=leg(signs=["ulcer-active"]), labs=pth_only, history=NO_HISTORY))
    assert res2.subtype == "dystrophic"
    assert "not by itself" in res2.step("metastatic").conclusion  # type: ignore[union-attr]


def test_every_evidence_source_is_registered(seed001: ExamDocument) -> None:
    res = run(seed001)
    evs = [res.evidence, res.confirmation.evidence, res.renal.evidence]
    evs += [s.evidence for s in res.reasoning] + [lab.evidence for lab in res.labs.values()]
    evs += [f.evidence for f in res.findings()]
    for ev in evs:
        assert all(s in CITATIONS for s in ev.sources)


# ---------------------------------------------------------------------------------------
# Imaging patterns


@pytest.mark.parametrize("pattern", ["trabecular", "reticular"])
def test_advanced_pattern(pattern: str) -> None:
    res = interpret_imaging(
        "right",
        LegImaging(calcification=pattern),  # type: ignore[arg-type]
        ("C4b", "C5"),
    )
    assert res is not None and res.advanced_pattern is True and res.classifiable_pattern
    adv = next(f for f in res.findings if "advanced-pattern" in f.id)
    assert adv.evidence.source == "TOK09" and adv.evidence.level == "V"
    assert "longer disease duration" in adv.text and "severity" in adv.text
    assert any("context.tokoro-2009" in f.id for f in res.findings)


def test_punctate_is_not_advanced() -> None:
    res = interpret_imaging("left", LegImaging(calcification="punctate"), ("C4a",))
    assert res is not None and res.advanced_pattern is False and res.classifiable_pattern


def test_calcification_in_c1_c3_leg_is_flagged() -> None:
    res = interpret_imaging("left", LegImaging(calcification="punctate"), ("C2", "C3"))
    assert res is not None and res.unusual_for_c_class == ("calcification",)
    flag = next(f for f in res.findings if "unusual-for-c-class" in f.id)
    assert flag.evidence.source == "US500" and "C1-C3" in flag.text
    no_ceap = interpret_imaging("left", LegImaging(calcification="punctate"), ())
    assert no_ceap is not None and no_ceap.unusual_for_c_class == ()


def test_differential_patterns() -> None:
    sheet = interpret_imaging("left", LegImaging(calcification="sheet"), ("C4a",))
    assert sheet is not None and sheet.calcification_kind == "differential"
    assert any("dermatomyositis" in f.text and f.evidence.source == "LRAD" for f in sheet.findings)
    assert sheet.advanced_pattern is None and sheet.unusual_for_c_class == ()
    for pattern in ("cloud", "rim"):
        res = interpret_imaging("left", LegImaging(calcification=pattern), ("C4a",))
        assert res is not None
        assert any("myositis ossificans" in f.text for f in res.findings)


def test_phlebolith_without_varicose_veins_is_flagged() -> None:
    res = interpret_imaging("left", LegImaging(calcification="phlebolith"), ("C3",))
    assert res is not None and res.unusual_for_c_class == ("calcification",)


def test_periostitis_without_cvi_and_other_reaction() -> None:
    res = interpret_imaging("left", LegImaging(periosteal_reaction="undulating"), ("C1",))
    assert res is not None and res.unusual_for_c_class == ("periosteal_reaction",)
    other = interpret_imaging("left", LegImaging(periosteal_reaction="other"), ("C4a",))
    assert other is not None and not other.stasis_periostitis_suggested
    assert any("not suggested" in f.text for f in other.findings)


def test_nothing_to_interpret() -> None:
    assert interpret_imaging("left", LegImaging(), ("C2",)) is None
    assert (
        interpret_imaging(
            "left", LegImaging(calcification="none", periosteal_reaction="none"), ("C2",)
        )
        is None
    )


def test_imaging_pattern_file_is_validated() -> None:
    raw = read_toml(data_path("imaging_patterns.toml"))
    missing = copy.deepcopy(raw)
    del missing["calcification"]["rim"]
    with pytest.raises(InvalidInput) as err:
        parse_imaging_patterns(missing, "bad.toml")
    assert [p.path for p in err.value.problems] == ["calcification.rim"]
    pct = copy.deepcopy(raw)
    pct["cohorts"][0]["observations"][0]["reported_percent"] = 60.0
    with pytest.raises(InvalidInput, match="13/20 = 65%"):
        parse_imaging_patterns(pct, "bad.toml")
    bad2 = copy.deepcopy(raw)
    bad2["cohorts"][1]["c_class_legs"]["C1"] = 44
    with pytest.raises(InvalidInput, match="361"):
        parse_imaging_patterns(bad2, "bad2.toml")


# ---------------------------------------------------------------------------------------
# Properties

_CA_MG = st.floats(min_value=2.0, max_value=25.0, allow_nan=False)
_PO4_MG = st.floats(min_value=0.3, max_value=25.0, allow_nan=False)
_STATUS_RANK = {"below-target": 0, "above-target": 1, "high-risk": 2}


@given(a=_CA_MG, b=_CA_MG, p=_PO4_MG, si=st.booleans())
def test_ca_x_p_monotonic_in_calcium(a: float, b: float, p: float, si: bool) -> None:
    lo, hi = sorted((a, b))

    def calc(v: float) -> Calcium:
        return Calcium(value=v * 0.2495, unit="mmol/L") if si else Calcium(value=v, unit="mg/dL")

    phos = Phosphate(value=p, unit="mg/dL")
    r_lo, r_hi = ca_x_p_product(calc(lo), phos), ca_x_p_product(calc(hi), phos)
    assert r_lo.value <= r_hi.value
    assert _STATUS_RANK[r_lo.status] <= _STATUS_RANK[r_hi.status]


@given(c=_CA_MG, a=_PO4_MG, b=_PO4_MG, si=st.booleans())
def test_ca_x_p_monotonic_in_phosphate(c: float, a: float, b: float, si: bool) -> None:
    lo, hi = sorted((a, b))

    def phos(v: float) -> Phosphate:
        return (
            Phosphate(value=v * 0.3229, unit="mmol/L") if si else Phosphate(value=v, unit="mg/dL")
        )

    ca = Calcium(value=c, unit="mg/dL")
    r_lo, r_hi = ca_x_p_product(ca, phos(lo)), ca_x_p_product(ca, phos(hi))
    assert r_lo.value <= r_hi.value
    assert _STATUS_RANK[r_lo.status] <= _STATUS_RANK[r_hi.status]


_maybe_bool = st.sampled_from([None, True, False])
_SIGNS = [
    "varicose",
    "edema",
    "pigmentation",
    "lipodermatosclerosis",
    "ulcer-healed",
    "ulcer-active",
]


@st.composite
def _exams(draw: st.DrawFn) -> ExamDocument:
    labs: dict[str, Any] = {}
    if draw(st.booleans()):
        labs["calcium"] = {"value": draw(st.floats(6.0, 14.0)), "unit": "mg/dL"}
    if draw(st.booleans()):
        labs["phosphate"] = {"value": draw(st.floats(1.0, 9.0)), "unit": "mg/dL"}
    if draw(st.booleans()):
        labs["pth"] = {"value": draw(st.floats(5.0, 900.0)), "unit": "pg/mL"}
    if draw(st.booleans()):
        labs["egfr"] = {"value": draw(st.floats(5.0, 120.0)), "unit": "mL/min/1.73m2"}
    if draw(st.booleans()):
        labs["dialysis"] = draw(st.booleans())
    history = {k: v for k in NO_HISTORY if (v := draw(_maybe_bool)) is not None}
    calc = draw(
        st.sampled_from([None, "none", "punctate", "reticular", "amorphous", "sheet", "phlebolith"])
    )
    top: dict[str, Any] = {}
    if labs:
        top["labs"] = labs
    if history:
        top["history"] = history
    if calc is not None:
        top["imaging"] = {"left": {"calcification": calc}}
    signs = draw(st.lists(st.sampled_from(_SIGNS), unique=True, max_size=3))
    return make_exam(left=leg(signs=signs), **top)


@settings(max_examples=150, deadline=None)
@given(exam=_exams())
def test_subtype_is_always_one_of_six(exam: ExamDocument) -> None:
    res = assess_calcinosis(exam, classes_of(exam))
    if res is None:
        return
    assert res.subtype in SUBTYPES
    assert (res.subtype == "undetermined") == bool(res.missing)
    assert res.provisional_subtype is None or res.provisional_subtype in SUBTYPES
    assert res.confirmation.text == CONFIRMATION
    assert res.reasoning[0].id == "calcification"
    decided = [s for s in res.reasoning[1:] if s.answer == "yes"]
    assert len(decided) <= 1


def test_v18_a2_subtype_without_calcification_says_nothing_calcified_was_seen() -> None:
    # Issue 18: a subtype suggested from labs alone must not read as a finding.
    labs = {
        "calcium": {"value": 9.6, "unit": "mg/dL"},
        "phosphate": {"value": 3.5, "unit": "mg/dL"},
    }
    no_imaging = run(make_exam(left=leg(), labs=labs))
    text = next(f.text for f in no_imaging.findings() if f.id == "calcinosis.subtype")
    assert "Nothing calcified was seen (no imaging of calcification is recorded)" in text
    assert "Nothing calcified" in (no_imaging.evidence.note or "") or "imaging" in (
        no_imaging.evidence.note or ""
    )
    none_seen = run(make_exam(left=leg(), labs=labs, imaging={"left": {"calcification": "none"}}))
    text = next(f.text for f in none_seen.findings() if f.id == "calcinosis.subtype")
    assert "imaging records no soft-tissue calcification" in text
    seen = run(make_exam(left=leg(), labs=labs, imaging={"left": {"calcification": "reticular"}}))
    text = next(f.text for f in seen.findings() if f.id == "calcinosis.subtype")
    assert "Nothing calcified" not in text
