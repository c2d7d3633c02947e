"""Reports: clinician HTML/PDF with the venous map, and the patient letter (issue 5)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import EXAMPLES, leg, make_exam
from venalab.cli import app
from venalab.engine import assess
from venalab.exam import ExamDocument, load_exam
from venalab.report.patient import READABILITY_MAX_GRADE, patient_letter
from venalab.report.render import render_clinician_html, render_patient_html, render_report
from venalab.report.view import SignOff

EXAMPLE_NAMES = ["seed-001-calcinosis.json", "calf-dvt.json"]


def _pdf_text(pdf: bytes, tmp_path: Path, name: str = "r") -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _pages(text: str) -> list[str]:
    return [p for p in text.split("\f") if p.strip()]


@pytest.fixture(scope="module")
def example_pdfs() -> dict[str, tuple[ExamDocument, bytes]]:
    out = {}
    for name in EXAMPLE_NAMES:
        exam = load_exam(EXAMPLES / name)
        out[name] = (exam, render_report(exam, assess(exam), "clinician", "pdf"))
    return out


def test_seed001_clinician_pdf_holds_values_and_verdicts(example_pdfs: Any, tmp_path: Path) -> None:
    _, pdf = example_pdfs["seed-001-calcinosis.json"]
    text = _pdf_text(pdf, tmp_path)
    for expected in (
        "JVB-2022-001",
        "GSVa",
        "1500",
        "1300",
        "REFLUX",
        "> 500",
        "GSV axial",
        "C6r,S Ep As Pr",
        "39.2",
        "dystrophic",
        "svs-avf-avls-2022",
        "Report status: DRAFT",
        "References",
    ):
        assert expected in text, expected
    assert "does not replace" in " ".join(text.split())  # wherever the line wraps
    # every page carries the running header and a page number
    pages = _pages(text)
    assert len(pages) >= 2
    for i, page in enumerate(pages, 1):
        assert "Patient JVB-2022-001" in page
        assert f"Page {i} of {len(pages)}" in page


def test_calf_dvt_clinician_pdf(example_pdfs: Any, tmp_path: Path) -> None:
    _, pdf = example_pdfs["calf-dvt.json"]
    text = _pdf_text(pdf, tmp_path)
    # a table cell may wrap its text: read it in reading order (no -layout), spaces normalised
    path = tmp_path / "plain.pdf"
    path.write_bytes(pdf)
    plain = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    text += " " + " ".join(plain.stdout.split())
    for expected in (
        "DVT-0007",
        "PRV",
        "PTV",
        "acute",
        "isolated distal deep vein thrombosis",
        "3: likely / high",
        "Management: anticoagulation (isolated distal DVT pathway)",
        "3 months",
    ):
        assert expected in text, expected
    # the pathway is named in words, never by its rule id (the report was right, the old
    # expectation "iddvt: anticoagulation" asked for an internal identifier)
    assert "iddvt" not in text


def test_clinician_html_has_map_citations_and_status() -> None:
    exam = load_exam(EXAMPLES / "seed-001-calcinosis.json")
    html = render_clinician_html(exam, assess(exam), SignOff(status="signed", signer="Dr A. Vein"))
    assert html.count("<svg") == 1 and 'data-vein="GSVa"' in html
    assert re.search(r'data-vein="GSVa"[^>]*data-status="reflux"', html) or re.search(
        r'data-status="reflux"[^>]*data-vein="GSVa"', html
    )
    assert "SIGNED" in html and "Dr A. Vein" in html
    refs = re.findall(r'<li value="(\d+)">', html)
    assert refs == [str(i) for i in range(1, len(refs) + 1)]  # numbered in order of first use
    cited = {
        int(n) for group in re.findall(r"<sup>\[([\d,]+)\]</sup>", html) for n in group.split(",")
    }
    assert cited == set(range(1, len(refs) + 1))  # every reference is cited, every citation listed


def test_missing_data_is_reported_not_fatal() -> None:
    exam = make_exam(left=leg(), right=leg({"vein": "GSVa", "diameter_mm": 5.0}))
    exam = exam.model_copy(update={"exam": exam.exam.model_copy(update={"position": None})})
    html = render_clinician_html(exam, assess(exam))
    assert "Missing or incomplete data" in html
    assert "Left leg: no vein segment was recorded." in html
    assert "no measurement recorded for GSVa" in html
    assert "position during the study is not recorded" in html
    letter = render_patient_html(exam, assess(exam))
    assert "not checked or not written down" in letter


READABILITY_CASES: list[dict[str, Any]] = [
    {
        "left": leg(
            {"vein": "GSVa", "reflux_ms": 900},
            {"vein": "SSV", "reflux_ms": 700},
            signs=["varicose"],
            symptomatic=True,
        )
    },
    {"left": leg({"vein": "POPV", "thrombus": {"age": "acute", "occlusive": True}})},
    {"right": leg({"vein": "SOV", "thrombus": {"age": "acute", "length_cm": 2}})},
    {
        "left": leg(
            {
                "vein": "GSVa",
                "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 2},
            }
        )
    },
    {
        "left": leg(
            {"vein": "CPV", "reflux_ms": 800, "diameter_mm": 4.2, "beneath_ulcer": True},
            {"vein": "GSVa", "reflux_ms": 500},
            signs=["ulcer-active"],
        )
    },
    {
        "left": leg({"vein": "GSVa", "reflux_ms": 100}),
        "right": leg({"vein": "FV", "reflux_ms": 2000}),
    },
    {"left": leg({"vein": "POPV", "compressibility": "none"})},
    {"left": leg({"vein": "FV", "thrombus": {"age": "chronic"}, "obstruction": True})},
]


@pytest.mark.parametrize("case", range(len(READABILITY_CASES)))
def test_patient_letter_readability_cases(case: int) -> None:
    exam = make_exam(**READABILITY_CASES[case])
    letter = patient_letter(exam, assess(exam))
    assert letter.flesch_kincaid_grade <= READABILITY_MAX_GRADE, letter.text
    assert "does not replace your doctor" in letter.text
    urgent = next(s for s in letter.sections if s.key == "urgent")
    assert urgent.paragraphs  # "when to get help" is always there, its lines follow the findings


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_patient_letter_readability_examples(name: str) -> None:
    exam = load_exam(EXAMPLES / name)
    letter = patient_letter(exam, assess(exam))
    assert letter.flesch_kincaid_grade <= READABILITY_MAX_GRADE
    headings = [s.heading for s in letter.sections]
    assert headings == [
        "What we checked",
        "What we found",
        "What this means",
        "What usually comes next",
        "When to get help",
        "Please note",
    ]


def test_patient_letter_content_follows_the_result() -> None:
    dvt = load_exam(EXAMPLES / "calf-dvt.json")
    text = patient_letter(dvt, assess(dvt)).text
    assert "blood clot in a deep vein of your right calf" in text
    assert "blood thinner" in text
    seed = load_exam(EXAMPLES / "seed-001-calcinosis.json")
    text = patient_letter(seed, assess(seed)).text
    assert "long vein on the inside of your leg" in text
    assert "calcium spots" in text
    # no thrombus in this exam: the letter's findings never mention a clot
    found = next(s for s in patient_letter(seed, assess(seed)).sections if s.key == "found")
    assert "reflux" in " ".join(found.paragraphs) and "clot" not in " ".join(found.paragraphs)


def test_patient_pdf_renders(tmp_path: Path) -> None:
    exam = load_exam(EXAMPLES / "calf-dvt.json")
    text = _pdf_text(render_report(exam, assess(exam), "patient", "pdf"), tmp_path)
    assert "Your vein scan results" in text and "When to get help" in text


def test_cli_report_writes_pdf_and_html(tmp_path: Path) -> None:
    runner = CliRunner()
    pdf = tmp_path / "r.pdf"
    res = runner.invoke(
        app, ["report", str(EXAMPLES / "calf-dvt.json"), "-f", "pdf", "-o", str(pdf)]
    )
    assert res.exit_code == 0, res.output
    assert pdf.read_bytes().startswith(b"%PDF")
    html = tmp_path / "p.html"
    res = runner.invoke(
        app,
        [
            "report",
            str(EXAMPLES / "seed-001-calcinosis.json"),
            "--audience",
            "patient",
            "-o",
            str(html),
        ],
    )
    assert res.exit_code == 0 and "Your vein scan results" in html.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "venous-exam/1"}')
    res = runner.invoke(app, ["report", str(bad), "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and not (tmp_path / "x.html").exists()


# --- issue 18: comparison, treated segments, critical results -------------------------------

ABLATED = {
    "vein": "GSVa",
    "compressibility": "none",
    "treatment": {"method": "thermal-ablation", "date": "2025-03-05", "status": "occluded"},
}


def _followup_pair() -> tuple[ExamDocument, ExamDocument]:
    prior = make_exam(
        left=leg({"vein": "GSVa", "reflux_ms": 1200}),
        right=leg(
            {"vein": "POPV", "compressibility": "full"},
            {"vein": "PRV", "thrombus": {"age": "acute", "length_cm": 3}},
        ),
        exam={"date": "2025-03-03", "purpose": "thrombosis"},
    )
    now = make_exam(
        left=leg(
            ABLATED,
            {"vein": "SFJ", "thrombus": {"age": "acute"}},
            {"vein": "CFV", "thrombus": {"age": "acute", "occlusive": False, "lumen_percent": 70}},
        ),
        right=leg(
            {"vein": "POPV", "thrombus": {"age": "acute"}},
            {"vein": "PRV", "thrombus": {"age": "acute", "length_cm": 3}},
        ),
        exam={"date": "2025-03-10", "purpose": "follow-up"},
    )
    return prior, now


def test_clinician_report_shows_critical_treatment_and_comparison(tmp_path: Path) -> None:
    from venalab.report.view import Communication

    prior, now = _followup_pair()
    result = assess(now, prior=prior)
    html = render_clinician_html(now, result)
    assert 'class="critical-banner"' in html and "Communication not yet documented" in html
    assert "EHIT III" in html and "Treated segments" in html and "thermal ablation" in html
    assert "Comparison with the exam of 2025-03-03" in html
    assert "extended into the popliteal vein or above" in html and "proximal-extension" in html
    assert 'data-status="treated-occluded"' in html  # the map draws the treated vein
    import datetime as dt

    record = Communication(
        recipient="Dr Ward",
        method="telephone",
        communicated_at=dt.datetime(2025, 3, 10, 9, 30),
        read_back=True,
        documented_by="sono",
    )
    signed = SignOff(status="signed", signer="doc", communications=(record,))
    pdf = render_report(now, result, "clinician", "pdf", signoff=signed)
    text = _pdf_text(pdf, tmp_path)
    assert "Critical results" in text and "Communicated to Dr Ward by telephone" in text
    assert "read-back confirmed" in text


def test_patient_letter_shows_the_comparison_plainly() -> None:
    prior, now = _followup_pair()
    letter = patient_letter(now, assess(now, prior=prior))
    compared = next(s for s in letter.sections if s.key == "compared")
    text = " ".join(compared.paragraphs)
    assert "03 March 2025" in text and "reaches the knee or above" in text
    assert "treated in your left leg is closed" in letter.text
    assert "grown into a deep vein" in letter.text
    assert letter.flesch_kincaid_grade <= READABILITY_MAX_GRADE, letter.text
    same = patient_letter(prior, assess(prior, prior=None))
    assert all(s.key != "compared" for s in same.sections)
