"""Issue 17: the clinician report puts the conclusion first (per-leg impression in
priority order, then the recommendations by side), then the measurements and the map; a
typical bilateral exam fits two A4 pages, tables keep their headers across pages, and no
page is near-empty."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import EXAMPLES, leg, make_exam
from venalab.engine import assess
from venalab.exam import ExamDocument, load_exam
from venalab.report.render import render_report

pytestmark = pytest.mark.slow

BILATERAL = Path(__file__).parent / "data" / "bilateral-insufficiency.json"
RUNNING = ("Vascular Laboratory ·", "DRAFT - not signed", "Page ")


def _pages(exam: ExamDocument, tmp_path: Path) -> list[str]:
    path = tmp_path / "r.pdf"
    path.write_bytes(render_report(exam, assess(exam), "clinician", "pdf"))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [p for p in text.split("\f") if p.strip()]


def _body_lines(page: str) -> list[str]:
    """A page's lines without the running header and footer."""
    return [ln for ln in page.splitlines() if ln.strip() and not ln.startswith(RUNNING)]


@pytest.fixture(scope="module")
def bilateral(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return _pages(load_exam(BILATERAL), tmp_path_factory.mktemp("bilateral"))


def test_bilateral_exam_fits_two_pages_with_the_conclusion_first(bilateral: list[str]) -> None:
    assert len(bilateral) == 2
    first = bilateral[0]
    order = [first.find(s) for s in ("Impression", "Recommendations", "Measurements")]
    assert -1 not in order and order == sorted(order)
    assert "Venous map" not in first and "Venous map" in bilateral[1]
    # per leg, right first; the leg's key finding (axial reflux) leads its column
    assert first.find("Right leg") < first.find("Left leg")
    impression = first[order[0] : order[1]]
    right_column = [ln[: len(ln) // 2] for ln in impression.splitlines()]
    assert next(ln for ln in right_column if "•" in ln).strip().startswith("• Great saphenous")
    # recommendations under their side
    recs = first[order[1] : order[2]]
    assert "Right leg" in recs and "Left leg" in recs and "Both legs" in recs


@pytest.mark.parametrize("name", ["seed-001-calcinosis.json", "calf-dvt.json"])
def test_no_near_empty_page(name: str, tmp_path: Path) -> None:
    pages = _pages(load_exam(EXAMPLES / name), tmp_path)
    assert len(pages) <= 3
    for page in pages:
        assert len(_body_lines(page)) >= 8, page


def test_long_measurement_table_repeats_its_header(tmp_path: Path) -> None:
    veins = ["CFV", "FV", "POPV", "GSVa", "GSVb", "SSV", "AASV", "PTV", "PRV", "GAV", "SOV"]
    segments = [
        {"vein": v, "site": site, "reflux_ms": 100 + i, "label": f"entry {n}"}
        for n in range(4)
        for i, v in enumerate(veins)
        for site in ("proximal", "distal")
    ]
    exam = make_exam(left=leg(*segments), right=leg(*segments))
    pages = _pages(exam, tmp_path)
    with_rows = [p for p in pages if "entry 0" in p or "entry 3" in p]
    assert len(with_rows) >= 2  # the table does span pages
    for page in with_rows:
        body = _body_lines(page)
        head = next(i for i, ln in enumerate(body) if "entry" in ln)
        assert any("Finding" in ln and "Ø mm" in ln for ln in body[:head]), page[:400]


def test_signed_bilateral_report_with_conclusion_and_letterhead_fits_two_pages(
    tmp_path: Path,
) -> None:
    import datetime as dt
    import io

    from PIL import Image

    from venalab.conclusion import with_conclusion
    from venalab.report.lab import LabInfo, validate_logo
    from venalab.report.view import SignOff

    logo = io.BytesIO()
    Image.new("RGB", (240, 120), (30, 80, 160)).save(logo, format="PNG")
    lab = LabInfo(
        name="Riverside Vein Center",
        address="12 River Road\nSpringfield",
        accreditation="IAC Vascular Testing accredited",
        logo_png=validate_logo(logo.getvalue()),
    )
    exam = load_exam(BILATERAL)
    doc = with_conclusion(
        exam,
        assess(exam),
        "Right: GSV axial reflux with a pathologic calf perforator; C4a.\nLeft: SSV reflux; C2.",
        "Findings discussed with the referring physician.",
    )
    signoff = SignOff(
        status="signed",
        signer="Jane Doe, MD, RPVI",
        signed_at=dt.datetime(2025, 3, 18, 14, 5, tzinfo=dt.UTC),
    )
    path = tmp_path / "signed.pdf"
    path.write_bytes(render_report(doc, assess(doc), "clinician", "pdf", signoff=signoff, lab=lab))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    assert len(pages) == 2
    first = pages[0]
    assert first.find("Conclusion") < first.find("Impression proposed by venalab")
    assert "Interpreting physician: Jane Doe, MD, RPVI" in first
