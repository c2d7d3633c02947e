"""Management pathways (clinical.md 4.1-4.4, 6.3, 8, 10): TV15-TV18, TV31-TV34 and CVI steps."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import leg, make_exam
from venalab.anatomy import VEINS
from venalab.citations import CITATIONS
from venalab.criteria import get_criteria
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput
from venalab.evidence import Recommendation
from venalab.exam import ExamDocument, Side
from venalab.rules.ceap import clinical_classes
from venalab.rules.pathways import (
    PathwayParams,
    PathwayResult,
    parse_pathway_data,
    pathway_params,
    thrombosis_pathway,
)
from venalab.rules.pathways.cvi import cvi_recommendations
from venalab.rules.patterns import reflux_patterns
from venalab.rules.reflux import assess_perforator, assess_segment
from venalab.rules.thrombosis import TptPolicy, decide_thrombosis

# TV31: no risk factor for extension, mild symptoms, low bleeding risk.
TV31_HISTORY: dict[str, Any] = {
    "d_dimer_positive": False,
    "inpatient": False,
    "reversible_provoking_factor": True,
    "recent_surgery": True,
    "active_cancer": False,
    "prior_vte": False,
    "severe_symptoms": False,
    "high_bleeding_risk": False,
    "thrombus_near_proximal_veins": False,
}
ACUTE = {"age": "acute", "occlusive": True}


def peroneal(length: float = 3, diameter: float = 5, age: str = "acute") -> dict[str, Any]:
    return {
        "vein": "PRV",
        "compressibility": "none",
        "diameter_mm": diameter,
        "thrombus": {"age": age, "occlusive": True, "length_cm": length},
    }


def run(
    *segments: dict[str, Any],
    history: dict[str, Any] | None = None,
    side: Side = "left",
    tpt: TptPolicy = "distal",
    params: PathwayParams | None = None,
    **top: Any,
) -> PathwayResult:
    if history is not None:
        top["history"] = history
    exam = make_exam(**{side: leg(*segments)}, **top)
    return pathway_of(exam, side, tpt, params)


def pathway_of(
    exam: ExamDocument, side: Side, tpt: TptPolicy = "distal", params: PathwayParams | None = None
) -> PathwayResult:
    the_leg = exam.leg(side)
    assert the_leg is not None
    return thrombosis_pathway(side, decide_thrombosis(the_leg, tpt), exam, params)


def rec(result: PathwayResult | tuple[Recommendation, ...], key: str) -> Recommendation:
    recs = result.recommendations if isinstance(result, PathwayResult) else result
    found = [r for r in recs if r.id.rsplit(".", 1)[0] == key]
    assert found, f"{key} not in {[r.id for r in recs]}"
    return found[0]


def keys(result: PathwayResult | tuple[Recommendation, ...]) -> list[str]:
    recs = result.recommendations if isinstance(result, PathwayResult) else result
    return [r.id.rsplit(".", 1)[0] for r in recs]


def ids(factors: tuple[Any, ...]) -> set[str]:
    return {f.id for f in factors}


# --- isolated distal DVT -----------------------------------------------------------------


def test_tv15_calf_dvt_multiple_veins_anticoagulate_three_months(calf_dvt: ExamDocument) -> None:
    r = pathway_of(calf_dvt, "right")
    assert (r.pathway, r.decision) == ("iddvt", "anticoagulation")
    assert {"extensive-multiple-veins", "extensive-length"} <= ids(r.risk_factors_present)
    multi = next(f for f in r.risk_factors_present if f.id == "extensive-multiple-veins")
    assert multi.evidence.level == "V2" and "primary list was not seen" in (
        multi.evidence.note or ""
    )
    length = next(f for f in r.risk_factors_present if f.id == "extensive-length")
    assert (length.evidence.threshold, length.evidence.measured, length.evidence.comparison) == (
        5.0,
        6.0,
        ">",
    )
    assert "iddvt.serial-imaging" not in keys(r)
    ac = rec(r, "iddvt.anticoagulation")
    assert ac.strength == "weak recommendation, low-certainty evidence"
    assert ac.evidence.source == "STE21" and "more than one vein" in ac.text
    assert "3 months" in rec(r, "iddvt.duration").text
    # wells_dvt.active_cancer = false in the example is reused for the risk factor [D]
    cancer = next(f for f in r.risk_factors_absent if f.id == "active-cancer")
    assert cancer.evidence.level == "D"


def test_tv16_single_short_provoked_vein_needs_the_other_facts() -> None:
    r = run(
        {"vein": "PRV", "thrombus": {"age": "subacute", "length_cm": 3}},
        history={"reversible_provoking_factor": True},
    )
    assert r.pathway == "iddvt"
    assert {
        "extensive-length",
        "extensive-multiple-veins",
        "no-reversible-provoking-factor",
    } <= ids(r.risk_factors_absent)
    assert not r.risk_factors_present
    assert r.decision == "undetermined"
    assert "history.severe_symptoms" in r.missing and "history.d_dimer_positive" in r.missing
    assert "legs.left.segments[0].diameter_mm" in r.missing
    text = rec(r, "iddvt.undetermined").text
    assert "history.d_dimer_positive" in text and "serial imaging is suggested" in text
    assert "thrombus-age-unknown" not in keys(r)  # subacute counts as not chronic, aged


def test_tv17a_soleal_only_icmvt_same_choice_with_trial_evidence() -> None:
    r = run(
        {
            "vein": "SOV",
            "compressibility": "none",
            "thrombus": {**ACUTE, "length_cm": 3},
            "diameter_mm": 4,
        },
        history=TV31_HISTORY,
    )
    assert (r.pathway, r.decision) == ("icmvt", "serial-imaging")
    scope = rec(r, "icmvt.scope")
    assert scope.evidence.level == "D" and scope.evidence.source == "VENALAB"
    trial = rec(r, "icmvt.trial-evidence")
    assert trial.evidence.sources == ("SCH10", "SCH01") and "2/54 vs 2/53" in trial.text


def test_tv17b_extension_into_popliteal_is_proximal_pathway() -> None:
    r = run({"vein": "PTV", "thrombus": ACUTE}, {"vein": "POPV", "thrombus": ACUTE})
    assert (r.pathway, r.decision) == ("proximal-dvt", "anticoagulation")
    main = rec(r, "proximal.anticoagulation")
    assert main.strength == "strong recommendation, moderate-certainty evidence"
    assert "3-month treatment phase" in main.text and "extended-phase" in main.text
    assert not r.risk_factors_present and not r.risk_factors_unknown


def test_tv17c_tibioperoneal_trunk_distal_option_counts_as_near_proximal() -> None:
    r = run(
        {"vein": "TPT", "thrombus": {**ACUTE, "length_cm": 2}, "diameter_mm": 5},
        history=TV31_HISTORY,
    )
    assert r.pathway == "iddvt" and r.decision == "anticoagulation"
    near = next(f for f in r.risk_factors_present if f.id == "near-proximal-veins")
    assert near.evidence.level == "D"
    tpt = rec(r, "iddvt.tibioperoneal-trunk")
    assert "CACTUS" in tpt.evidence.sources and "UTT16" in tpt.evidence.sources


def test_tv17c_tibioperoneal_trunk_proximal_option() -> None:
    r = run({"vein": "TPT", "thrombus": ACUTE}, tpt="proximal")
    assert (r.pathway, r.decision) == ("proximal-dvt", "anticoagulation")
    assert "counted as proximal" in (rec(r, "proximal.anticoagulation").evidence.note or "")


def test_tv17c_tpt_proximity_can_be_configured_off() -> None:
    params = pathway_params({"iddvt": {"tibioperoneal_trunk_near_proximal": False}})
    r = run(
        {"vein": "TPT", "thrombus": {**ACUTE, "length_cm": 2}, "diameter_mm": 5},
        history=TV31_HISTORY,
        params=params,
    )
    assert r.decision == "serial-imaging"


def test_tv31_no_risk_factor_serial_imaging() -> None:
    r = run(peroneal(3, 5), history=TV31_HISTORY)
    assert (r.pathway, r.decision) == ("iddvt", "serial-imaging")
    assert not r.risk_factors_present and not r.risk_factors_unknown
    assert len(r.risk_factors_absent) == 9
    s = rec(r, "iddvt.serial-imaging")
    assert s.strength == "weak recommendation, moderate-certainty evidence"
    assert "once a week" in s.text and "2 weeks" in s.text
    assert s.evidence.source == "STE21" and s.evidence.level == "V2"
    assert "primary list was not seen" in (s.evidence.note or "")
    assert "iddvt.anticoagulation" not in keys(r)
    assert "3 months" in rec(r, "iddvt.patient-preference").text


def test_tv31_boundary_length_exactly_five_is_not_extensive() -> None:
    r = run(peroneal(5.0, 7.0), history=TV31_HISTORY)
    assert r.decision == "serial-imaging"  # AT9: ">5 cm", ">7 mm"
    r = run(peroneal(5.1, 7.0), history=TV31_HISTORY)
    assert r.decision == "anticoagulation"
    r = run(peroneal(5.0, 7.1), history=TV31_HISTORY)
    assert "extensive-diameter" in ids(r.risk_factors_present)


def test_tv32a_rescan_without_extension_no_anticoagulation() -> None:
    r = run(peroneal(), history={**TV31_HISTORY, "serial_imaging_result": "no-extension"})
    assert r.decision == "no-anticoagulation"
    f = rec(r, "iddvt.followup.no-extension")
    assert f.strength == "strong recommendation, moderate-certainty evidence"
    assert "iddvt.serial-imaging" not in keys(r)


def test_tv32b_distal_extension_anticoagulation_suggested() -> None:
    r = run(
        peroneal(),
        {"vein": "PTV", "thrombus": {**ACUTE, "length_cm": 2}},
        history={**TV31_HISTORY, "serial_imaging_result": "distal-extension"},
    )
    assert (r.pathway, r.decision) == ("iddvt", "anticoagulation")
    f = rec(r, "iddvt.followup.distal-extension")
    assert f.strength == "weak recommendation, very low-certainty evidence"
    assert "suggested" in f.text and "3 months" in rec(r, "iddvt.duration").text


def test_tv32c_proximal_extension_anticoagulation_recommended() -> None:
    r = run(
        peroneal(),
        {"vein": "POPV", "thrombus": ACUTE},
        history={**TV31_HISTORY, "serial_imaging_result": "proximal-extension"},
    )
    assert (r.pathway, r.decision) == ("proximal-dvt", "anticoagulation")
    f = rec(r, "iddvt.followup.proximal-extension")
    assert f.strength == "strong recommendation, moderate-certainty evidence"
    assert "same regimen as for proximal DVT" in f.text
    assert "proximal.anticoagulation" in keys(r)


def test_tv32c_flag_without_proximal_segment_still_recommends() -> None:
    r = run(peroneal(), history={**TV31_HISTORY, "serial_imaging_result": "proximal-extension"})
    assert r.decision == "anticoagulation"
    assert "distal thrombus only" in (rec(r, "proximal.anticoagulation").evidence.note or "")


def test_followup_flag_inconsistent_with_proximal_exam() -> None:
    r = run({"vein": "POPV", "thrombus": ACUTE}, history={"serial_imaging_result": "no-extension"})
    assert r.pathway == "proximal-dvt" and "followup.inconsistent" in keys(r)


def test_followup_flag_with_distal_dvt_in_both_legs_is_not_attributed() -> None:
    exam = make_exam(
        left=leg(peroneal()),
        right=leg(peroneal()),
        history={**TV31_HISTORY, "serial_imaging_result": "no-extension"},
    )
    r = pathway_of(exam, "left")
    assert "iddvt.followup.bilateral" in keys(r) and r.decision == "serial-imaging"


@pytest.mark.parametrize("vein", ["SOV", "PTV"])
def test_tv33_anticoagulated_calf_dvt_three_months(vein: str) -> None:
    r = run(
        {"vein": vein, "thrombus": {**ACUTE, "length_cm": 2}}, history={"severe_symptoms": True}
    )
    assert r.decision == "anticoagulation"
    d = rec(r, "iddvt.duration")
    assert "3 months rather than a shorter course" in d.text
    assert d.evidence.sources == ("ESVS21", "STE21")
    assert d.strength is not None and "Class I, Level A" in d.strength
    sev = rec(r, "iddvt.anticoagulation-severe-symptoms")
    assert sev.evidence.level == "V"  # decided by the clinician's flag, not the [V2] list


def test_tv33_duration_is_configurable() -> None:
    params = pathway_params({"iddvt": {"anticoagulation_months": 6}})
    r = run(peroneal(), history={"severe_symptoms": True}, params=params)
    assert "6 months" in rec(r, "iddvt.duration").text


def test_missing_everything_names_each_fact() -> None:
    r = run({"vein": "PTV", "thrombus": {"age": "acute"}})
    assert r.decision == "undetermined" and not r.risk_factors_present
    for path in (
        "history.severe_symptoms",
        "history.d_dimer_positive",
        "history.inpatient",
        "history.active_cancer",
        "history.prior_vte",
        "history.reversible_provoking_factor",
        "history.thrombus_near_proximal_veins",
        "legs.left.segments[0].thrombus.length_cm",
        "legs.left.segments[0].diameter_mm",
    ):
        assert path in r.missing, path


def test_missing_facts_do_not_block_a_present_risk_factor() -> None:
    r = run({"vein": "PTV", "thrombus": {"age": "acute"}}, history={"inpatient": True})
    assert r.decision == "anticoagulation" and r.risk_factors_unknown and not r.missing


def test_high_bleeding_risk_remark() -> None:
    r = run(peroneal(), history={**TV31_HISTORY, "high_bleeding_risk": True})
    assert r.decision == "serial-imaging" and "iddvt.high-bleeding-risk" in keys(r)


def test_context_fallbacks_are_marked_derived() -> None:
    r = run(
        peroneal(),
        history={
            **TV31_HISTORY,
            "active_cancer": None,
            "malignancy": False,
            "reversible_provoking_factor": None,
        },
    )
    absent = {f.id: f for f in r.risk_factors_absent}
    assert absent["active-cancer"].evidence.level == "D"
    assert absent["no-reversible-provoking-factor"].evidence.level == "D"  # recent surgery
    assert r.decision == "serial-imaging"
    r = run(
        peroneal(),
        history={**TV31_HISTORY, "active_cancer": None},
        scores={"wells_dvt": {"active_cancer": True}},
    )
    assert "active-cancer" in ids(r.risk_factors_present)


def test_risk_factor_list_is_configurable() -> None:
    params = pathway_params({"iddvt": {"risk_factors": ["extensive-length"]}})
    r = run(peroneal(3), history={"severe_symptoms": False}, params=params)
    assert ids(r.risk_factors_absent) == {"extensive-length"} and r.decision == "serial-imaging"


def test_unstated_age_is_flagged_first() -> None:
    r = run({"vein": "PTV", "thrombus": {"length_cm": 2}}, history={"severe_symptoms": True})
    assert keys(r)[0] == "thrombus-age-unknown"


def test_chronic_only_has_no_acute_pathway() -> None:
    r = run(peroneal(age="chronic"), {"vein": "GSVb", "thrombus": {"age": "chronic"}})
    assert (r.pathway, r.decision) == ("chronic", "none")
    assert "no acute-thrombosis treatment pathway" in rec(r, "chronic").text
    assert r.evidence.level == "D"


def test_no_thrombus_no_pathway() -> None:
    r = run({"vein": "POPV", "compressibility": "full"})
    assert (r.pathway, r.decision, r.recommendations) == ("none", "none", ())


def test_proximal_provoked_and_unprovoked() -> None:
    r = run({"vein": "FV", "thrombus": ACUTE}, history={"recent_surgery": True})
    assert "proximal.provoked" in keys(r)
    assert rec(r, "proximal.provoked").strength == "Class I, Level A"
    r = run({"vein": "FV", "thrombus": ACUTE}, history={"reversible_provoking_factor": False})
    assert "proximal.extended-phase" in keys(r)


# --- superficial vein thrombosis ---------------------------------------------------------


def svt(
    vein: str = "GSVa", length: float | None = 8, distance: float | None = 10, **history: Any
) -> PathwayResult:
    thrombus: dict[str, Any] = {"age": "acute"}
    if length is not None:
        thrombus["length_cm"] = length
    if distance is not None:
        thrombus["distance_to_junction_cm"] = distance
    return run(
        {"vein": vein, "thrombus": thrombus},
        {"vein": "CFV", "compressibility": "full"},
        history=history or None,
    )


NO_RISK = {
    "active_cancer": False,
    "known_thrombophilia": False,
    "prior_vte": False,
    "prior_svt": False,
    "recent_surgery": False,
    "severe_symptoms": False,
}


def test_tv18a_long_svt_away_from_junction_fondaparinux_45_days() -> None:
    r = svt("GSVa", 8, 10)
    assert (r.pathway, r.decision) == ("svt", "fondaparinux")
    assert r.svt is not None and r.svt.junction == "SFJ" and not r.boundary
    f = rec(r, "svt.fondaparinux")
    assert "fondaparinux 2.5 mg" in f.text and "45 days" in f.text
    assert f.evidence.source == "ESVS21" and "CAL10" in f.evidence.sources
    assert (f.evidence.threshold, f.evidence.comparison, f.evidence.measured) == (5.0, ">=", 8.0)
    assert f.strength is not None and "Class I, Level B" in f.strength
    alt = rec(r, "svt.alternatives").text
    assert "rivaroxaban 10 mg" in alt and "intermediate dose of LMWH" in alt
    assert "svt.extended-course" in keys(r) and "svt.ablation-later" in keys(r)
    assert {"gsv-involvement", "above-knee", "extensive"} <= ids(r.risk_factors_present)


def test_tv18b_near_junction_therapeutic_anticoagulation() -> None:
    r = svt("GSVa", None, 2)
    assert r.decision == "therapeutic-anticoagulation"
    t = rec(r, "svt.therapeutic")
    assert t.strength == "Class I, Level C" and "3 months" in t.text
    assert (t.evidence.threshold, t.evidence.measured, t.evidence.comparison) == (3.0, 2.0, "<")
    params = pathway_params({"svt": {"junction_anticoagulation_months": 6}})
    r = run(
        {"vein": "GSVa", "thrombus": {"age": "acute", "distance_to_junction_cm": 2}}, params=params
    )
    assert "6 months" in rec(r, "svt.therapeutic").text


def test_tv18c_short_svt_without_risk_no_anticoagulation_rescan() -> None:
    r = svt("NSV", 4, 30, **NO_RISK)
    assert r.decision == "no-anticoagulation"
    n = rec(r, "svt.no-anticoagulation")
    assert "repeat the ultrasound in 7-10 days" in n.text and n.evidence.level == "V2"
    assert n.evidence.source == "TUR21"
    assert "svt.favouring-factors" not in keys(r)


def test_tv18c_short_gsv_svt_mentions_chest_favouring_factors() -> None:
    r = svt("GSVb", 4, 30, **NO_RISK)
    assert r.decision == "no-anticoagulation"
    assert "great saphenous vein involved" in rec(r, "svt.favouring-factors").text


def test_short_svt_with_cancer_is_not_the_no_anticoagulation_row() -> None:
    r = svt("NSV", 4, 30, **{**NO_RISK, "active_cancer": True})
    assert r.decision == "anticoagulation-to-consider"
    assert "active cancer" in rec(r, "svt.short-with-risk").text


def test_short_svt_with_unknown_risk_features_names_them() -> None:
    r = svt("NSV", 4, 30)
    assert r.decision == "undetermined"
    assert set(r.missing) == {"history.active_cancer", "history.known_thrombophilia"}


@pytest.mark.parametrize(
    ("distance", "decision", "boundary"),
    [
        (2.0, "therapeutic-anticoagulation", False),
        (3.0, "fondaparinux", True),
        (3.5, "fondaparinux", False),
    ],
)
def test_tv34_junction_distance(distance: float, decision: str, boundary: bool) -> None:
    r = svt("GSVa", 8, distance)
    assert r.decision == decision and r.boundary is boundary
    assert r.svt is not None and r.svt.boundary is boundary
    assert ("svt.junction-boundary" in keys(r)) is boundary


def test_tv34b_boundary_follows_configured_comparison() -> None:
    r = svt("GSVa", 8, 3.0)
    b = rec(r, "svt.junction-boundary")
    assert "not counted as near" in b.text and b.evidence.comparison == "<"
    params = pathway_params({"svt": {"junction_comparison": "<="}})
    r = run(
        {
            "vein": "GSVa",
            "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 3.0},
        },
        params=params,
    )
    assert r.decision == "therapeutic-anticoagulation" and r.boundary
    assert "counted as near the junction" in rec(r, "svt.junction-boundary").text


def test_svt_missing_distance_or_length() -> None:
    r = svt("GSVa", 8, None)
    assert r.decision == "undetermined"
    assert r.missing == ("legs.left.segments[0].thrombus.distance_to_junction_cm",)
    r = svt("GSVa", None, 10)
    assert r.decision == "undetermined"
    assert r.missing == ("legs.left.segments[0].thrombus.length_cm",)
    assert "legs.left.segments[0].thrombus.length_cm" in rec(r, "svt.undetermined").text


def test_svt_in_the_junction_itself_reaches_it() -> None:
    r = svt("SFJ", 6, None)
    assert r.decision == "therapeutic-anticoagulation"


def test_svt_whole_leg_ultrasound_statement() -> None:
    w = rec(svt(), "svt.whole-leg-ultrasound")
    assert w.evidence.source == "ESVS21" and "exclude deep vein thrombosis" in w.text
    assert "CFV" in w.text
    r = run(
        {
            "vein": "GSVa",
            "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 10},
        }
    )
    assert "No deep-vein findings" in rec(r, "svt.whole-leg-ultrasound").text


def test_section8_no_length_threshold_attributed_to_chest_2021() -> None:
    for r in (svt("GSVa", 8, 10), svt("NSV", 4, 30, **NO_RISK), svt("GSVa", 8, 3.0)):
        for x in r.recommendations:
            if x.evidence.threshold is not None:
                assert x.evidence.source != "STE21", x.id


def test_svt_with_anticoagulated_dvt_is_folded_in(calf_dvt: ExamDocument) -> None:
    doc = calf_dvt.model_dump(mode="json", exclude_none=True)
    doc["legs"]["right"]["segments"].append(
        {
            "vein": "GSVa",
            "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 10},
        }
    )
    exam = make_exam(right=doc["legs"]["right"], scores=doc["scores"])
    r = pathway_of(exam, "right")
    assert r.pathway == "iddvt" and r.decision == "anticoagulation"
    assert r.svt is not None and r.svt.decision == "fondaparinux"
    assert "svt.with-dvt" in keys(r) and "svt.fondaparinux" not in keys(r)


def test_svt_with_dvt_on_surveillance_keeps_svt_regimen() -> None:
    r = run(
        peroneal(),
        {
            "vein": "GSVa",
            "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 10},
        },
        history=TV31_HISTORY,
    )
    assert r.decision == "serial-imaging" and "svt.fondaparinux" in keys(r)


def test_acute_svt_over_chronic_deep_change() -> None:
    r = run(
        peroneal(age="chronic"),
        {
            "vein": "GSVa",
            "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 10},
        },
    )
    assert r.pathway == "svt" and "chronic" in keys(r)


def test_perforator_thrombus_is_not_svt() -> None:
    r = run({"vein": "CPV", "thrombus": {"age": "acute", "length_cm": 2}})
    assert (r.pathway, r.decision) == ("none", "none")
    assert "perforator" in (r.evidence.note or "")
    r = run(
        {"vein": "CPV", "thrombus": {"age": "acute"}},
        {
            "vein": "GSVb",
            "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 20},
        },
    )
    assert r.pathway == "svt" and r.svt is not None and r.svt.veins == ("GSVb",)
    assert r.decision == "fondaparinux"


def test_history_extension_fields_are_validated() -> None:
    with pytest.raises(InvalidInput) as err:
        make_exam(history={"serial_imaging_result": "extended"})
    assert err.value.problems[0].path == "history.serial_imaging_result"
    with pytest.raises(InvalidInput) as err:
        make_exam(history={"d_dimer_positive": "yes"})
    assert err.value.problems[0].path == "history.d_dimer_positive"


# --- data file and parameters ------------------------------------------------------------


def _raw() -> dict[str, Any]:
    return read_toml(data_path("pathways.toml"))


def test_pathway_params_reject_bad_values_with_path() -> None:
    with pytest.raises(InvalidInput) as err:
        pathway_params({"svt": {"junction_comparison": "=<"}})
    assert err.value.problems[0].path == "svt.junction_comparison"
    with pytest.raises(InvalidInput, match="unknown section"):
        pathway_params({"dvt": {}})
    with pytest.raises(InvalidInput):
        pathway_params({"iddvt": {"risk_factors": ["reduced-mobility"]}})


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (
            lambda r: r["recommendations"].pop("svt.fondaparinux"),
            "recommendations.svt.fondaparinux",
            "missing",
        ),
        (
            lambda r: r["recommendations"]["svt.alternatives"].update(sources=["CHEST99"]),
            "recommendations.svt.alternatives.sources",
            "unknown citation",
        ),
        (
            lambda r: r["recommendations"]["svt.alternatives"].update(text="{dose} daily"),
            "recommendations.svt.alternatives.text",
            "unknown placeholder",
        ),
        (lambda r: r["factors"]["iddvt"].pop("inpatient"), "factors.iddvt.inpatient", "missing"),
        (lambda r: r["params"]["svt"].update(junction_cm="3"), "params.svt.junction_cm", "number"),
    ],
)
def test_data_file_errors_name_the_path(mutate: Any, path: str, fragment: str) -> None:
    raw = _raw()
    mutate(raw)
    with pytest.raises(InvalidInput) as err:
        parse_pathway_data(raw)
    assert any(p.path == path and fragment in p.message for p in err.value.problems), (
        err.value.problems
    )


# --- CVI treatment ladder ----------------------------------------------------------------


def cvi(
    *segments: dict[str, Any],
    signs: list[str],
    symptomatic: bool | None = True,
    criteria: str | None = None,
) -> tuple[Recommendation, ...]:
    body = leg(*segments, signs=signs)
    if symptomatic is not None:
        body["clinical"]["symptomatic"] = symptomatic
    exam = make_exam(left=body)
    the_leg = exam.legs.left
    assert the_leg is not None
    cs = get_criteria(criteria)
    classes = clinical_classes(the_leg.clinical)
    segs = tuple(assess_segment(s, VEINS[s.vein], cs) for s in the_leg.segments)
    perfs = tuple(
        assess_perforator(s, cs, classes) for s in the_leg.segments if VEINS[s.vein].is_perforator
    )
    patterns = reflux_patterns(
        ((r, s.position_cm) for r, s in zip(segs, the_leg.segments, strict=True)), cs
    )
    return cvi_recommendations("left", classes, the_leg.clinical.symptomatic, segs, perfs, patterns)


GSV_AXIAL = (
    {"vein": "SFJ", "reflux_ms": 900},
    {"vein": "GSVa", "reflux_ms": 1200},
    {"vein": "GSVb", "site": "proximal", "reflux_ms": 800},
)


def test_cvi_symptomatic_gsv_reflux_ablation_not_compression() -> None:
    r = cvi(*GSV_AXIAL, signs=["varicose"])
    a = rec(r, "cvi.ablation.gsv")
    assert a.evidence.source == "ESVS22" and "SVS11" in a.evidence.sources
    assert a.strength is not None and "Class I, Level A" in a.strength and "1B" in a.strength
    assert "No minimum vein diameter" in (a.evidence.note or "")
    assert rec(r, "cvi.compression.not-primary").strength == "SVS/AVF Grade 1B"
    assert "cvi.compression.varicose" not in keys(r)
    assert rec(r, "cvi.compression.after-ablation").strength == "Class IIa, Level A"


def test_cvi_symptomatic_varicose_without_saphenous_reflux_compression_2c() -> None:
    r = cvi({"vein": "GSVa", "reflux_ms": 200}, signs=["varicose"])
    assert keys(r) == ["cvi.compression.varicose"]
    assert rec(r, "cvi.compression.varicose").strength == "SVS/AVF Grade 2C"


def test_cvi_asymptomatic_reflux_gets_no_ablation() -> None:
    assert cvi(*GSV_AXIAL, signs=["varicose"], symptomatic=False) == ()


def test_cvi_symptom_status_missing_is_said() -> None:
    r = cvi(*GSV_AXIAL, signs=["varicose"], symptomatic=None)
    assert keys(r) == ["cvi.needs-symptom-status"]
    assert "legs.left.clinical.symptomatic" in r[0].text


def test_cvi_active_ulcer_compression_and_recurrence() -> None:
    r = cvi(*GSV_AXIAL, signs=["varicose", "pigmentation", "ulcer-active"])
    assert rec(r, "cvi.compression.ulcer").strength == "SVS/AVF Grade 1B"
    assert "cvi.compression.not-primary" not in keys(r)
    assert rec(r, "cvi.ulcer-recurrence").strength == "SVS/AVF Grade 1A"
    c4 = rec(r, "cvi.intervention.c4-c6")
    assert c4.evidence.level == "V2" and not c4.evidence.unverified
    assert "C4a" in c4.text and "C6" in c4.text


def test_tv10a_pathologic_perforator_in_c6_is_flagged_unverified() -> None:
    r = cvi(
        {"vein": "CPV", "reflux_ms": 700, "diameter_mm": 4.0, "beneath_ulcer": True},
        signs=["ulcer-active"],
    )
    p = rec(r, "cvi.perforator.pathologic")
    assert p.evidence.unverified and p.evidence.level == "U"


def test_cvi_c2_perforator_no_routine_treatment() -> None:
    r = cvi(
        {"vein": "CPV", "reflux_ms": 600, "diameter_mm": 3.6}, signs=["varicose"], symptomatic=False
    )
    p = rec(r, "cvi.perforator.c2-no-routine")
    assert p.evidence.unverified and "cvi.perforator.pathologic" not in keys(r)


def test_cvi_ssv_and_aasv_ablation() -> None:
    r = cvi(
        {"vein": "SPJ", "reflux_ms": 900},
        {"vein": "SSV", "site": "proximal", "reflux_ms": 800},
        {"vein": "SSV", "site": "distal", "reflux_ms": 650},
        signs=["varicose"],
    )
    assert rec(r, "cvi.ablation.ssv").strength == "Class I, Level A"
    r = cvi(
        {"vein": "AASV", "reflux_ms": 900, "position_cm": 2},
        {"vein": "AASV", "reflux_ms": 900, "position_cm": 9},
        signs=["varicose"],
    )
    a = rec(r, "cvi.ablation.aasv")
    assert a.evidence.level == "V2" and "axial" in a.text


def test_cvi_large_gsv_rec_53() -> None:
    r = cvi(
        {"vein": "SFJ", "reflux_ms": 900},
        {"vein": "GSVa", "reflux_ms": 1200, "diameter_mm": 13},
        {"vein": "GSVb", "site": "proximal", "reflux_ms": 800},
        signs=["varicose"],
    )
    big = rec(r, "cvi.ablation.gsv-large")
    assert (big.evidence.threshold, big.evidence.measured, big.evidence.comparison) == (
        12.0,
        13.0,
        ">",
    )
    small = cvi(*GSV_AXIAL, signs=["varicose"])
    assert "cvi.ablation.gsv-large" not in keys(small)


# --- invariants --------------------------------------------------------------------------

RANK = {"serial-imaging": 0, "no-anticoagulation": 0, "undetermined": 1, "anticoagulation": 2}
flag = st.sampled_from([None, True, False])
HISTORY_FLAGS = [
    "d_dimer_positive",
    "inpatient",
    "reversible_provoking_factor",
    "active_cancer",
    "prior_vte",
    "severe_symptoms",
    "thrombus_near_proximal_veins",
    "high_bleeding_risk",
]
# (field, value) that makes a risk factor present, or a segment change that does.
ADD_RISK = [
    ("d_dimer_positive", True),
    ("inpatient", True),
    ("reversible_provoking_factor", False),
    ("active_cancer", True),
    ("prior_vte", True),
    ("severe_symptoms", True),
    ("thrombus_near_proximal_veins", True),
    ("length", 10.0),
    ("diameter", 10.0),
    ("vein", "PTV"),
]


@st.composite
def distal_case(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    history = {k: v for k in HISTORY_FLAGS if (v := draw(flag)) is not None}
    seg: dict[str, Any] = {
        "vein": draw(st.sampled_from(["PRV", "ATV", "SOV", "GAV"])),
        "thrombus": {"age": "acute"},
    }
    if draw(st.booleans()):
        seg["thrombus"]["length_cm"] = draw(st.floats(0.5, 12, allow_nan=False))
    if draw(st.booleans()):
        seg["diameter_mm"] = draw(st.floats(1, 12, allow_nan=False))
    return history, seg


@settings(max_examples=150, deadline=None)
@given(distal_case(), st.sampled_from(ADD_RISK))
def test_adding_a_risk_factor_never_moves_towards_serial_imaging(
    case: tuple[dict[str, Any], dict[str, Any]],
    change: tuple[str, Any],
) -> None:
    history, seg = case
    before = run(seg, history=history or None)
    field, value = change
    history2, seg2 = dict(history), {**seg, "thrombus": dict(seg["thrombus"])}
    extra: list[dict[str, Any]] = []
    if field == "length":
        seg2["thrombus"]["length_cm"] = value
    elif field == "diameter":
        seg2["diameter_mm"] = value
    elif field == "vein":
        extra.append({"vein": value, "thrombus": {"age": "acute"}})
    else:
        history2[field] = value
    after = run(seg2, *extra, history=history2 or None)
    assert RANK[after.decision] >= RANK[before.decision]
    if before.decision == "anticoagulation":
        assert after.decision == "anticoagulation"
    assert after.decision != "serial-imaging" or not after.risk_factors_present


svt_case = st.fixed_dictionaries(
    {
        "vein": st.sampled_from(["GSVa", "GSVb", "SSV", "AASV", "NSV", "SFJ"]),
        "thrombus": st.fixed_dictionaries(
            {"age": st.just("acute")},
            optional={
                "length_cm": st.floats(0.5, 40, allow_nan=False),
                "distance_to_junction_cm": st.sampled_from([0.0, 1.0, 2.9, 3.0, 3.1, 5.0, 20.0]),
            },
        ),
    }
)
SVT_RANK = {
    "no-anticoagulation": 0,
    "undetermined": 0,
    "anticoagulation-to-consider": 0,
    "fondaparinux": 1,
    "therapeutic-anticoagulation": 2,
}


@settings(max_examples=150, deadline=None)
@given(
    svt_case,
    st.dictionaries(st.sampled_from(list(NO_RISK)), st.booleans()),
    st.sampled_from(["<", "<="]),
)
def test_svt_results_are_cited_and_closer_is_never_milder(
    seg: dict[str, Any],
    history: dict[str, Any],
    comparison: str,
) -> None:
    params = pathway_params({"svt": {"junction_comparison": comparison}})
    r = run(seg, history=history or None, params=params)
    assert r.pathway == "svt"
    for x in r.recommendations:
        assert x.evidence.source in CITATIONS and "{" not in x.text
        assert x.evidence.unverified == (x.evidence.level == "U")
    dist = seg["thrombus"].get("distance_to_junction_cm")
    if dist is not None and "length_cm" in seg["thrombus"]:
        closer = {**seg, "thrombus": {**seg["thrombus"], "distance_to_junction_cm": dist / 2}}
        after = run(closer, history=history or None, params=params)
        assert SVT_RANK[after.decision] >= SVT_RANK[r.decision]


def test_every_recommendation_text_is_filled(calf_dvt: ExamDocument) -> None:
    results = [
        pathway_of(calf_dvt, "right"),
        run(peroneal(), history=TV31_HISTORY),
        svt("GSVa", 8, 3.0),
        svt("NSV", 4, 30, **NO_RISK),
        svt("GSVa", None, None),
    ]
    for r in results:
        for x in r.recommendations:
            assert not re.search(r"\{[a-z_]+", x.text), x.text
            assert x.leg == r.side and x.id.endswith(f".{r.side}")
