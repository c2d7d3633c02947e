"""`ask`: numbered citations, engine-routed value questions, honest declines, audience
wording and readability of patient answers."""

from __future__ import annotations

import re
from functools import cache

import pytest
import textstat

from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.knowledge.answer import Answer, ask
from venalab.knowledge.entries import KnowledgeBase, load_knowledge_base
from venalab.knowledge.evaluation import simulate_review
from venalab.knowledge.measurement import parse_measurement
from venalab.knowledge.retrieval import build_index
from venalab.report.patient import READABILITY_MAX_GRADE


@cache
def reviewed_kb() -> KnowledgeBase:
    """Every entry approved IN MEMORY by a test reviewer, through the workflow functions.

    The shipped entries are not approved (no clinician has reviewed them); this review step
    exists only inside the tests.
    """
    return simulate_review(load_knowledge_base(), reviewer="test reviewer (not a clinician)")


def _numbers(text: str) -> list[int]:
    return [int(n) for group in re.findall(r"\[(\d+(?:, \d+)*)\]", text) for n in group.split(", ")]


def _check_citations(a: Answer) -> None:
    # in reading order: urgent advice, short answer, key points, details, guidelines,
    # research, when to get help
    cited = [n for u in a.urgent for i in u.items for n in _numbers(i)]
    cited += _numbers(a.short_answer + " ".join(a.key_points))
    cited += [n for d in a.details for i in d.items for n in _numbers(i)]
    cited += _numbers(" ".join(a.from_guidelines + a.from_research + a.get_help))
    listed = [r.number for r in a.references]
    assert listed == list(range(1, len(listed) + 1))  # 1..n, in order
    assert set(cited) == set(listed)  # every number used has a reference and vice versa
    assert len({r.id for r in a.references}) == len(listed)  # one number per source
    # numbered in order of first appearance
    first_seen = list(dict.fromkeys(cited))
    assert first_seen == sorted(first_seen)
    assert "[@" not in a.to_text()


SEED_TOPIC_QUESTIONS = [
    ("What is the meaning of venous reflux in the lower extremities?", "venous-reflux-clinician"),
    ("What is isolated calf muscle vein thrombosis?", "calf-muscle-vein-thrombosis-clinician"),
    ("Should calf DVT be treated?", "distal-dvt-clinician"),
    ("What are the subtypes of calcinosis cutis?", "calcinosis-cutis-clinician"),
    ("What imaging findings are seen in chronic venous insufficiency?", "cvi-clinician"),
]


@pytest.mark.parametrize(("question", "entry_id"), SEED_TOPIC_QUESTIONS)
def test_seed_topic_questions_get_cited_clinician_answers(question: str, entry_id: str) -> None:
    a = ask(question, "clinician")  # shipped (submitted) entries: clinicians see them, labelled
    assert a.kind == "knowledge"
    assert a.entry is not None and a.entry.id == entry_id
    assert a.review_status == "submitted" and "not yet approved" in a.status_note
    assert a.references and a.key_points and a.from_guidelines and a.from_research
    assert a.follow_up
    _check_citations(a)


def test_citation_numbering_is_stable_and_shared() -> None:
    q = "What are the duplex criteria for venous reflux?"
    a = ask(q, "clinician")
    _check_citations(a)  # one numbering for the whole answer, in order of first citation
    # stable: the same question numbers the same sources the same way
    numbering = [(r.id, r.number) for r in a.references]
    assert [(r.id, r.number) for r in ask(q, "clinician").references] == numbering
    assert {"SVS22", "LAB03"} <= {i for i, _ in numbering}
    ref = next(r for r in a.references if r.id == "LAB03")
    assert ref.pmid == "14560232" and "Labropoulos N" in ref.text


def test_gsv_600_ms_is_answered_by_the_engine_with_its_evidence() -> None:
    q = "Is 600 ms of reflux in the great saphenous vein abnormal?"
    a = ask(q, "clinician")
    assert a.kind == "measurement" and a.measurement is not None
    (v,) = a.measurement.verdicts
    assert (v.vein, v.measured_ms, v.verdict, v.abnormal) == ("GSVa", 600, "reflux", True)
    assert (v.evidence.rule, v.evidence.threshold, v.evidence.comparison, v.evidence.source) == (
        "reflux.duration",
        500,
        ">",
        "SVS22",
    )
    # the same verdict the engine gives for the exam document the answer carries
    engine = assess(parse_exam_obj(a.measurement.exam))
    assert engine.legs.left is not None
    assert engine.legs.left.segments[0].evidence == v.evidence
    assert "reflux.duration" in a.key_points[0] and "SVS22" in a.key_points[0]
    _check_citations(a)


def test_400_ms_perforator_shows_the_criteria_disagreement() -> None:
    a = ask("Is a 400 ms perforator pathologic?", "clinician")
    assert a.measurement is not None
    (v,) = a.measurement.verdicts
    assert v.vein == "CPV" and v.verdict == "not pathologic"
    lab = next(o for o in v.other_criteria if o.criteria == "labropoulos-2003")
    assert lab.abnormal is True and lab.threshold_ms == 350
    assert any("labropoulos-2003" in r and "350" in r for r in a.from_research)
    assert any(r.id == "LAB03" for r in a.references)
    _check_citations(a)


@pytest.mark.parametrize(
    ("question", "vein", "verdict"),
    [
        ("femoral vein reflux 800 ms, abnormal?", "FV", "no reflux"),
        ("Popliteal vein reflux of 1.2 s - significant?", "POPV", "reflux"),
        ("Exactly 1000 ms in the common femoral vein: reflux?", "CFV", "boundary"),
        ("Is 600 ms in the posterior tibial vein reflux?", "PTV", "reflux"),
        (
            "Is a 700 ms calf perforator of 4 mm beneath a healed ulcer pathologic?",
            "CPV",
            "pathologic",
        ),
        (
            "Is a 700 ms perforator of 3.2 mm under an open ulcer pathologic?",
            "CPV",
            "not pathologic",
        ),
    ],
)
def test_value_questions_use_the_engine(question: str, vein: str, verdict: str) -> None:
    a = ask(question, "clinician")
    assert a.measurement is not None
    assert [(v.vein, v.verdict) for v in a.measurement.verdicts] == [(vein, verdict)]


def test_a_criteria_set_named_in_the_question_is_used() -> None:
    a = ask("Is a 400 ms perforator pathologic by the Labropoulos criteria?", "clinician")
    assert a.measurement is not None and a.measurement.criteria_id == "labropoulos-2003"


def test_questions_without_a_value_or_a_vein_are_not_routed() -> None:
    assert parse_measurement("Why is the femoral vein cut-off 1000 ms?") is None
    assert parse_measurement("Is 600 ms abnormal?") is None  # no vein: retrieval answers
    assert parse_measurement("What is a perforator vein?") is None


def test_value_question_for_a_patient_is_plain_and_readable() -> None:
    a = ask("My scan says 600 ms in my great saphenous vein. Is that bad?", "patient")
    assert a.kind == "measurement"
    assert "valves leak" in a.short_answer
    assert textstat.flesch_kincaid_grade(_plain(a.prose())) <= READABILITY_MAX_GRADE


OUT_OF_SCOPE = [  # not in the evaluation question set
    ("clinician", "What is the first-line treatment of hypertension in pregnancy?"),
    ("clinician", "Carotid endarterectomy indications in asymptomatic stenosis"),
    ("clinician", "How is gout diagnosed with joint aspiration?"),
    ("clinician", "Management of a ruptured abdominal aortic aneurysm"),
    ("patient", "How do I lower my cholesterol?"),
    ("patient", "Is it safe to fly when I am pregnant?"),
    ("patient", "What helps with a sore throat?"),
    ("patient", "How often should I see the dentist?"),
]


@pytest.mark.parametrize(("audience", "question"), OUT_OF_SCOPE)
def test_out_of_scope_questions_are_declined_honestly(audience: str, question: str) -> None:
    a = ask(question, audience, kb=reviewed_kb())  # type: ignore[arg-type]
    assert a.kind == "declined" and a.declined_reason == "out-of-scope"
    assert a.short_answer.startswith("No reviewed content on this")
    assert a.entry is None and not a.key_points and not a.references
    assert a.closest_topics  # the nearest entries are offered instead


def test_the_decline_comes_from_the_topic_not_from_unseen_words() -> None:
    kb = reviewed_kb()
    # out-of-scope topics are declined even when they share words with the entries
    for q in ("What is the best treatment for migraine?", "apixaban dose in atrial fibrillation"):
        a = ask(q, kb=kb)
        assert a.kind == "declined" and a.retrieval.reason == "out-of-scope topic", q
    # a venous condition keeps a question in scope whatever else it mentions
    a = ask("Do compression stockings help varicose veins in people with heart failure?", kb=kb)
    assert a.kind == "knowledge"
    # another site of venous disease is out of scope even though it names a DVT
    a = ask("Management of upper extremity DVT", kb=kb)
    assert a.kind == "declined"
    # words no entry uses (typos, lay words, rambling) do not cause a decline
    long_q = (
        "So my mum, who is 70 and used to be a hairdresser standing all day for forty years, "
        "has these big bulging vericose veins and her ankles swell by the evening, what can "
        "she actually do about it"
    )
    a = ask(long_q, "patient", kb=kb)
    assert a.kind == "knowledge" and a.entry is not None
    assert a.entry.topic in {"varicose-veins", "cvi", "prevention", "risk-factors"}, a.entry.id
    # with no topic at all there is nothing to answer
    assert ask("what is the weather in naples tomorrow", kb=kb).kind == "declined"


def test_typos_are_repaired_before_matching() -> None:
    a = ask("do i need blood thiners for a clot in my calf", "patient")
    assert a.kind == "knowledge" and a.entry is not None and a.entry.topic == "distal-dvt"
    a = ask("refulx cutof popliteal vien", "clinician")
    assert a.kind == "knowledge" and "1000" in a.to_text()


def test_empty_question() -> None:
    a = ask("   ", "patient")
    assert a.kind == "declined" and a.declined_reason == "empty-question"


def test_under_the_strict_policy_a_patient_gets_nothing_until_a_clinician_approves() -> None:
    a = ask("What is a venous leg ulcer?", "patient", policy="approved-only")
    assert a.kind == "declined" and a.declined_reason == "not-yet-reviewed"
    assert a.closest_topics == ()  # unapproved titles are not shown either
    assert a.review_banner is None


def test_by_default_unreviewed_entries_are_answered_with_a_banner_and_status() -> None:
    a = ask("What is a venous leg ulcer?", "patient")  # shipped entries: none approved
    assert a.kind == "knowledge" and a.review_status == "submitted"
    assert a.review_banner is not None and "not yet reviewed by a clinician" in a.review_banner
    assert "submitted" in a.review_banner
    assert a.get_help  # every patient answer says when to get help
    text = a.to_text()
    assert text.index("not yet reviewed") < text.index(a.short_answer[:30])
    approved = ask("What is a venous leg ulcer?", "patient", kb=reviewed_kb())
    assert approved.review_banner is None and approved.review_status == "approved"


def test_the_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENALAB_PATIENT_REVIEW_POLICY", "approved-only")
    assert ask("What is a venous leg ulcer?", "patient").declined_reason == "not-yet-reviewed"
    monkeypatch.setenv("VENALAB_PATIENT_REVIEW_POLICY", "everything")
    with pytest.raises(ValueError, match="VENALAB_PATIENT_REVIEW_POLICY"):
        ask("What is a venous leg ulcer?", "patient")


@pytest.mark.parametrize(
    ("question", "rule", "expected"),
    [
        ("my leg vein burst and is bleeding everywhere", "bleeding-vein", "press"),
        ("varicose vein on my ankle started bleeding in the bath", "bleeding-vein", "999"),
        ("I had a DVT and now I have chest pain", "possible-pe", "999"),
        ("suddenly so breathless, my calf was swollen last week", "possible-pe", "lungs"),
        ("my calf is hot, red and swollen", "possible-dvt", "same day"),
    ],
)
def test_urgent_questions_get_emergency_advice_first(
    question: str, rule: str, expected: str
) -> None:
    a = ask(question, "patient")
    assert a.urgent and expected in " ".join(a.urgent[0].items)
    assert a.to_text().startswith(a.urgent[0].heading.upper())
    assert a.kind in ("knowledge", "urgent") and a.references
    _check_citations(a)


def test_non_urgent_questions_carry_no_emergency_block() -> None:
    for q in ("What are varicose veins?", "My leg aches after standing all day"):
        assert ask(q, "patient").urgent == ()


def test_multi_part_questions_are_answered_from_the_sections_of_each_part() -> None:
    a = ask(
        "What defines a pathological perforator, and how long should a calf DVT be anticoagulated?",
        "clinician",
    )
    text = a.to_text()
    assert "3.5 mm" in text and "3 months" in text
    _check_citations(a)


@pytest.mark.parametrize(
    ("question", "audience", "expected"),
    [
        ("what does my villalta score of 11 mean", "patient", "moderate"),
        ("Villalta 16 category?", "clinician", "severe"),
        ("villalta 6 what does it mean for me", "patient", "mild"),
        ("is a VCSS of 9 severe?", "clinician", "meets the threshold"),
        ("my vein severity score is 5", "patient", "below 8"),
    ],
)
def test_score_values_are_read_against_the_engine_score_data(
    question: str, audience: str, expected: str
) -> None:
    a = ask(question, audience)  # type: ignore[arg-type]
    assert a.details and a.details[0].heading in ("Your score", "Score interpretation")
    assert expected in a.details[0].items[0]
    _check_citations(a)


def _plain(text: str) -> str:
    return re.sub(r"\s*\[\d+(?:, \d+)*\]", "", text)


PATIENT_QUESTIONS = [
    "What is venous insufficiency?",
    "What are varicose veins?",
    "What does reflux mean on my vein ultrasound report?",
    "My report says C4a. What does that mean?",
    "What is a DVT?",
    "I have a clot in my calf. Do I need blood thinners?",
    "What is phlebitis?",
    "What is post-thrombotic syndrome?",
    "How can I get the sore on my ankle to heal?",
    "The skin on my lower leg has become hard and brown. Why?",
    "My x-ray showed calcium deposits in the skin of my leg. Is that serious?",
    "How do compression stockings work?",
    "What is vein ablation?",
    "What can I do to keep my leg veins healthy?",
    "My x-ray says the lining of my shin bone is thick from vein disease.",
]


@pytest.mark.parametrize("question", PATIENT_QUESTIONS)
def test_patient_answers_are_readable_and_cited(question: str) -> None:
    a = ask(question, "patient", kb=reviewed_kb())
    assert a.kind == "knowledge" and a.review_status == "approved"
    assert a.entry is not None and a.entry.audience == "patient"
    grade = textstat.flesch_kincaid_grade(_plain(a.prose()))
    assert grade <= READABILITY_MAX_GRADE, (question, grade)
    assert "not replace your own doctor" in a.disclaimer
    _check_citations(a)


def test_clinicians_see_every_status_labelled() -> None:
    kb = load_knowledge_base()
    a = ask("What is lipodermatosclerosis?", "clinician", kb=kb)
    assert a.review_status == "submitted"
    assert a.entry is not None and a.entry.status_label.startswith("submitted")
    assert "healthcare professionals" in a.disclaimer


def test_follow_up_questions_are_answerable() -> None:
    """Every suggested follow-up is answered, and a linked entry is among the top 3 hits."""
    kb = reviewed_kb()
    for audience in ("clinician", "patient"):
        index = build_index(kb.for_audience(audience))  # type: ignore[arg-type]
        for e in kb.for_audience(audience):  # type: ignore[arg-type]
            for f in e.meta.follow_up:
                a = ask(f.question, audience, kb=kb)  # type: ignore[arg-type]
                assert a.kind != "declined", (e.id, f.question)
                if f.entry is not None:
                    top3 = [h.entry_id for h in index.search(f.question, top=3).hits]
                    assert f.entry in top3, (e.id, f.question, top3)


def test_answer_serialises_for_the_web_page() -> None:
    a = ask("How is superficial vein thrombosis treated?", "clinician")
    data = a.model_dump(mode="json")
    for key in (
        "short_answer",
        "key_points",
        "from_guidelines",
        "from_research",
        "references",
        "review_status",
        "disclaimer",
        "follow_up",
        "entry",
    ):
        assert key in data
    assert Answer.model_validate(data) == a
