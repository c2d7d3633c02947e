"""Issue 17: the physician's conclusion (edited from the engine's proposal, carried by the
signed document into the report, FHIR and SR) and the lab's identity on the report."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from helpers import EXAMPLES
from venalab.conclusion import is_stale, with_conclusion
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import load_exam
from venalab.impression import proposal_text
from venalab.interop.fhir_export import export_bundle
from venalab.interop.sr_export import build_sr
from venalab.report.lab import LabInfo, load_lab_file, validate_logo
from venalab.report.render import render_clinician_html
from venalab.report.view import SignOff
from venalab.web.settings import Settings

EDITED = "Right calf DVT (posterior tibial and peroneal veins).\nNo proximal DVT."


def test_conclusion_keeps_the_proposal_and_flows_to_fhir_sr_and_report() -> None:
    exam = load_exam(EXAMPLES / "calf-dvt.json")
    result = assess(exam)
    doc = with_conclusion(exam, result, EDITED + "\r\n", "Clinical correlation advised.")
    assert doc.conclusion is not None
    assert doc.conclusion.text == EDITED and doc.conclusion.proposal == proposal_text(result)
    assert not is_stale(doc, result)
    # FHIR DiagnosticReport.conclusion and the SR conclusion are the physician's text
    report = next(
        e["resource"]
        for e in export_bundle(doc, result)["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert report["conclusion"] == EDITED + "\n\nClinical correlation advised."
    texts = [str(el.value) for el in build_sr(doc, result).iterall() if el.keyword == "TextValue"]
    assert any(EDITED in t for t in texts)
    # the report prints it, with the proposal beside it
    html = render_clinician_html(doc, result, SignOff(status="signed", signer="Jane Doe, MD, RPVI"))
    assert "physician-conclusion" in html and "No proximal DVT." in html
    assert "Impression proposed by venalab from the measurements" in html
    assert "Jane Doe, MD, RPVI" in html
    # an empty text goes back to the proposal; hostile text is refused with its field path
    assert with_conclusion(doc, result, "  ").conclusion is None
    with pytest.raises(InvalidInput) as err:
        with_conclusion(exam, result, "ok\x00")
    assert err.value.problems[0].path == "conclusion.text"
    with pytest.raises(InvalidInput):
        with_conclusion(exam, result, "x" * 8001)


def test_conclusion_written_from_another_proposal_is_flagged() -> None:
    exam = load_exam(EXAMPLES / "calf-dvt.json")
    result = assess(exam)
    doc = with_conclusion(exam, result, EDITED)
    seed = load_exam(EXAMPLES / "seed-001-calcinosis.json")
    assert is_stale(doc, assess(seed))


def _png(size: tuple[int, int] = (40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 80, 160)).save(out, format="PNG")
    return out.getvalue()


def test_lab_file_sets_the_letterhead(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(_png())
    (tmp_path / "lab.toml").write_text(
        'name = "Riverside Vein Center"\n'
        'address = """12 River Road\nSpringfield"""\n'
        'accreditation = "IAC Vascular Testing accredited"\n'
        'report_title = "Venous Duplex Report"\n'
        'logo = "logo.png"\n'
    )
    lab = load_lab_file(tmp_path / "lab.toml")
    assert lab.address_lines == ["12 River Road", "Springfield"]
    exam = load_exam(EXAMPLES / "calf-dvt.json")
    html = render_clinician_html(exam, assess(exam), lab=lab)
    for text in ("Riverside Vein Center", "Springfield", "IAC Vascular Testing accredited"):
        assert text in html
    assert "<h1>Venous Duplex Report</h1>" in html and 'src="data:image/png;base64,' in html
    settings = Settings.from_env({"VENALAB_LAB_FILE": str(tmp_path / "lab.toml")})
    assert settings.lab_file == tmp_path / "lab.toml"


def test_lab_file_and_logo_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    # other libraries switch Pillow to accept truncated images process-wide: still refused
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 20)).save(jpeg, format="JPEG")
    (tmp_path / "bad.toml").write_text('name = "A\\u0007lab"\nunknown = 1\n')
    with pytest.raises(InvalidInput) as err:
        load_lab_file(tmp_path / "bad.toml")
    assert {p.path for p in err.value.problems} >= {"name", "unknown"}
    for bad in (
        b"",
        b"<svg onload=alert(1)>",
        _png()[:60],
        _png()[:-5],
        jpeg.getvalue()[:-10],
        b"\x89PNG\r\n\x1a\n" + b"0" * 100,
    ):
        with pytest.raises(InvalidInput):
            validate_logo(bad)
    with pytest.raises(InvalidInput, match="pixels"):
        validate_logo(_png((4001, 2)))
    small = validate_logo(_png((1200, 300)))
    assert Image.open(io.BytesIO(small)).size == (600, 150)  # re-encoded, bounded
    assert LabInfo().logo_src is None


def test_sr_conclusion_round_trip_is_plain_text(tmp_path: Path) -> None:
    exam = load_exam(EXAMPLES / "calf-dvt.json")
    result = assess(exam)
    doc = with_conclusion(exam, result, EDITED)
    path = tmp_path / "sr.dcm"
    build_sr(doc, result).save_as(path, enforce_file_format=True)
    back = pydicom.dcmread(path)
    assert any(el.keyword == "TextValue" and EDITED in str(el.value) for el in back.iterall())
