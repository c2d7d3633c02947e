"""Knowledge entries: the shipped set is valid, covers the required topics, and every way an
entry can be wrong is an error that names the file and the field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import textstat

from venalab.citations import CITATIONS, parse_register
from venalab.errors import InvalidInput
from venalab.knowledge.entries import (
    ENTRIES_DIR,
    load_directory,
    load_knowledge_base,
    parse_entry,
    read_entry,
    render_entry,
)
from venalab.knowledge.model import CITE_MARK, REQUIRED_SECTIONS
from venalab.knowledge.text import load_concepts, parse_concepts, plain
from venalab.knowledge.workflow import apply_step
from venalab.report.patient import READABILITY_MAX_GRADE

GOOD = (ENTRIES_DIR / "perforator-veins-clinician.md").read_text(encoding="utf-8")


def _problems(text: str, name: str = "x-clinician.md") -> list[str]:
    with pytest.raises(InvalidInput) as exc:
        parse_entry(text.replace("id: perforator-veins-clinician", "id: x-clinician"), name)
    return [str(p) for p in exc.value.problems]


def test_shipped_entries_load_and_are_honestly_unapproved() -> None:
    kb = load_knowledge_base()
    assert len(kb.entries) >= 30
    # No clinician has reviewed them: nothing ships approved.
    assert {e.status for e in kb.entries} <= {"draft", "submitted"}
    for e in kb.entries:
        assert e.meta.review.reviewer is None
        assert "AI" in e.meta.review.history[0].by


REQUIRED_TOPICS = {
    "clinician": {
        "cvi",
        "varicose-veins",
        "venous-reflux",
        "perforator-veins",
        "ceap",
        "vcss",
        "dvt",
        "distal-dvt",
        "calf-muscle-vein-thrombosis",
        "superficial-vein-thrombosis",
        "post-thrombotic-syndrome",
        "venous-ulcer",
        "lipodermatosclerosis",
        "calcinosis-cutis",
        "stasis-periostitis",
        "compression-therapy",
        "ablation-sclerotherapy",
        "prevention",
    },
    "patient": {
        "cvi",
        "varicose-veins",
        "venous-reflux",
        "dvt",
        "distal-dvt",
        "superficial-vein-thrombosis",
        "post-thrombotic-syndrome",
        "venous-ulcer",
        "lipodermatosclerosis",
        "calcinosis-cutis",
        "compression-therapy",
        "ablation-sclerotherapy",
        "prevention",
    },
}


@pytest.mark.parametrize("audience", ["clinician", "patient"])
def test_coverage_of_required_topics(audience: str) -> None:
    kb = load_knowledge_base()
    topics = {e.meta.topic for e in kb.for_audience(audience)}  # type: ignore[arg-type]
    assert REQUIRED_TOPICS[audience] <= topics


def test_reflux_entry_states_all_three_cutoffs_and_the_disagreement() -> None:
    e = load_knowledge_base().get("venous-reflux-clinician")
    text = e.body + " ".join(e.meta.key_points)
    for value in ("350 ms", "500 ms", "1000 ms"):
        assert value in text
    assert "disagree" in text


def test_calcinosis_entry_names_the_five_types() -> None:
    body = load_knowledge_base().get("calcinosis-cutis-clinician").body.lower()
    for kind in ("dystrophic", "metastatic", "idiopathic", "iatrogenic", "calciphylaxis"):
        assert kind in body


def test_every_entry_has_the_required_sections_and_resolvable_citations() -> None:
    bib = CITATIONS
    for e in load_knowledge_base().entries:
        headings = {s.heading for s in e.sections}
        assert set(REQUIRED_SECTIONS) <= headings, e.id
        used = {m.group(1) for m in CITE_MARK.finditer(e.body + " ".join(e.meta.key_points))}
        assert used == set(e.meta.citations), e.id
        assert used <= set(bib)


def test_register_records_have_identifiers() -> None:
    assert {"LAB03", "SVS11", "SVS22", "STE21", "ESVS21", "CEAP20", "TOK09", "REI11a"} <= set(
        CITATIONS
    )
    for rid, rec in CITATIONS.items():
        assert rec.doi or rec.pmid or rec.nct or rec.url or rec.no_identifier, rid
        assert rec.text.endswith(".") and rec.title.rstrip(".") in rec.text, rid


def test_register_rejects_a_record_without_identifier() -> None:
    raw = {
        "schema": "venalab-citations/2",
        "X1": {
            "kind": "article",
            "authors": ["A B"],
            "title": "T t t",
            "journal": "J Test",
            "year": 2000,
            "status": "V",
        },
    }
    with pytest.raises(InvalidInput) as exc:
        parse_register(raw, "citations.toml")
    assert exc.value.problems[0].path == "citations.toml:X1"
    assert "doi, pmid" in exc.value.problems[0].message


def test_register_rejects_an_identifier_tag_without_the_identifier_and_unknown_fields() -> None:
    raw = {
        "schema": "venalab-citations/2",
        "X1": {
            "kind": "web",
            "title": "Page",
            "url": "https://x.org",
            "status": "V",
            "pmid_status": "U",
        },
        "X2": {
            "kind": "web",
            "title": "Page",
            "url": "https://x.org",
            "status": "V",
            "text": "old style",
        },
    }
    with pytest.raises(InvalidInput) as exc:
        parse_register(raw, "citations.toml")
    paths = {p.path: p.message for p in exc.value.problems}
    assert "pmid_status" in paths["citations.toml:X1"]
    assert "not a register field" in paths["citations.toml:X2.text"]


def test_unknown_citation_id_names_file_and_field() -> None:
    text = GOOD.replace(
        "citations: [SVS11, SVS22, LAB03, LAB99]", "citations: [SVS11, SVS22, LAB03, LAB99, NOPE01]"
    )
    text = text.replace("[@LAB99]", "[@LAB99][@NOPE01]", 1)
    problems = _problems(text)
    assert any(p.startswith("x-clinician.md:citations[4]") and "NOPE01" in p for p in problems)


def test_cited_but_not_listed_and_listed_but_not_cited() -> None:
    problems = _problems(GOOD.replace("[@LAB99]", "[@TOK09]"))
    assert any("x-clinician.md:" in p and "[@TOK09]" in p and "not listed" in p for p in problems)
    assert any(
        "x-clinician.md:citations" in p and "'LAB99' is listed but never cited" in p
        for p in problems
    )


def test_missing_required_section() -> None:
    problems = _problems(GOOD.replace("## From the research", "## Research notes"))
    assert any(
        p.startswith("x-clinician.md:sections.From the research")
        and "missing required section" in p
        for p in problems
    )


def test_bad_status_and_bad_audience() -> None:
    problems = _problems(GOOD.replace("audience: clinician", "audience: nurse"))
    assert any(
        p.startswith("x-clinician.md:audience") and "'clinician' or 'patient'" in p
        for p in problems
    )
    problems = _problems(
        GOOD.replace("  status: submitted\n  version: 2", "  status: published\n  version: 2")
    )
    assert any(p.startswith("x-clinician.md:review.status") and "approved" in p for p in problems)


def test_review_record_must_agree_with_its_history() -> None:
    problems = _problems(
        GOOD.replace("  status: submitted\n  version: 2", "  status: approved\n  version: 2")
    )
    assert any(
        p.startswith("x-clinician.md:review.status") and "last history event" in p for p in problems
    )


def test_file_name_must_match_id_and_header_is_required() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_entry(GOOD, "other-name.md")
    assert str(exc.value.problems[0]).startswith("other-name.md:id")
    with pytest.raises(InvalidInput) as exc:
        parse_entry("## Summary\ntext\n", "bare.md")
    assert "metadata header" in str(exc.value)


def test_directory_reports_every_bad_file_at_once(tmp_path: Path) -> None:
    for name in ("cvi-clinician.md", "cvi-patient.md"):
        shutil.copy(ENTRIES_DIR / name, tmp_path / name)
    bad = (tmp_path / "cvi-patient.md").read_text().replace("audience: patient", "audience: public")
    (tmp_path / "cvi-patient.md").write_text(bad)
    with pytest.raises(InvalidInput) as exc:
        load_directory(tmp_path)
    paths = [p.path for p in exc.value.problems]
    assert "cvi-patient.md:audience" in paths
    # cross-references to entries not in the directory are named too
    assert any(p.startswith("cvi-clinician.md:related") for p in paths)


def test_edit_after_approval_is_caught(tmp_path: Path) -> None:
    entry = read_entry(ENTRIES_DIR / "cvi-patient.md")
    entry = apply_step(entry, "start-review", by="Dr Reviewer")
    entry = apply_step(entry, "approve", by="Dr Reviewer")
    path = tmp_path / "cvi-patient.md"
    path.write_text(render_entry(entry.meta, entry.body))
    assert read_entry(path).status == "approved"
    path.write_text(
        render_entry(entry.meta, entry.body.replace("Veins carry blood", "Veins move blood"))
    )
    with pytest.raises(InvalidInput) as exc:
        read_entry(path)
    assert "content_sha256" in exc.value.problems[0].path
    assert "changed after approval" in exc.value.problems[0].message


def test_render_and_parse_round_trip() -> None:
    for e in load_knowledge_base().entries:
        again = parse_entry(render_entry(e.meta, e.body), e.source)
        assert again.meta == e.meta
        assert again.body == e.body


def test_patient_entries_are_readable() -> None:
    """Flesch-Kincaid grade <= 8 (textstat 0.7.8), citation marks removed."""
    for e in load_knowledge_base().for_audience("patient"):
        text = plain(" ".join(e.meta.key_points) + "\n" + e.body)
        grade = textstat.flesch_kincaid_grade(text)
        assert grade <= READABILITY_MAX_GRADE, (e.id, grade)


def test_entries_are_not_copied_from_the_seed_documents() -> None:
    """No 12-word run of any seed document appears in an entry (our own words only)."""
    seeds_dir = Path(__file__).resolve().parents[2] / "shared" / "seeds"
    if not seeds_dir.is_dir():
        pytest.skip("shared/seeds not present")

    def grams(text: str, n: int = 12) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    seed = set().union(*(grams(p.read_text(errors="ignore")) for p in seeds_dir.glob("*.txt")))
    for e in load_knowledge_base().entries:
        overlap = grams(e.body + " ".join(e.meta.key_points)) & seed
        assert not overlap, (e.id, sorted(overlap)[:1])


def test_synonym_table_expands_abbreviations_and_rejects_empty_terms() -> None:
    table = load_concepts()
    for abbr in (
        "GSV",
        "SSV",
        "DVT",
        "IDDVT",
        "ICMVT",
        "SVT",
        "PTS",
        "CVI",
        "CEAP",
        "VCSS",
        "LDS",
        "EVLA",
        "RFA",
        "UGFS",
    ):
        assert any(abbr in c.terms for c in table.concepts), abbr
    with pytest.raises(InvalidInput) as exc:
        parse_concepts(
            {"schema": "venalab-synonyms/1", "concepts": {"x": {"terms": ["the"]}}}, "s.toml"
        )
    assert exc.value.problems[0].path == "s.toml:concepts.x.terms[0]"
