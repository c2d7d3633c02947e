"""The lab's whole interop flow against one real `venalab serve --dicom-port 0 --hl7-port 0`
process (what `make run` starts), driven the way the peers and a user do it:

order (HL7 v2 over MLLP) -> scanner (DCMTK storescu sends the SR) -> Incoming -> worksheet
in Chromium (the missing age is asked for and typed) -> save -> sign -> ORU^R01 in the
outbox, validated with hl7apy and carrying the order's accession.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from test_web_browser import CHROMIUM, CHROMIUM_ARGS, first_login
from venalab.interop import hl7, mllp
from web_server import Server, start_server

DATA = Path(__file__).parent / "data" / "sr"
ORDER = "\r".join(
    [
        "MSH|^~\\&|EHR|HOSP|VENALAB|LAB|20261203101500||ORM^O01|FLOW1|P|2.5",
        "PID|1||JVB-2022-001^^^HOSP^MR||Example^Jan|||M",  # no birth date
        "ORC|NW|PO-77|ACC-7777||SC",
        "OBR|1|PO-77|ACC-7777|93970^Duplex scan lower extremity veins^C4",
    ]
)
expect.set_options(timeout=20_000)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, args=("--dicom-port", "0", "--hl7-port", "0"))
    yield srv
    srv.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install chromium", pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _port(server: Server, label: str) -> int:
    server.wait_for_output(label)
    match = re.search(re.escape(label) + r".*?127\.0\.0\.1:(\d+)", server.output())
    assert match, server.output()
    return int(match.group(1))


def test_order_scanner_worksheet_signed_report_oru(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    dicom_port = _port(server, "DICOM SR receiver")
    hl7_port = _port(server, "HL7 v2 order listener")
    # 1. The order arrives.
    assert hl7.ack_code(mllp.send("127.0.0.1", hl7_port, ORDER)) == "AA"
    # 2. The scanner sends its report (no Patient's Age in it).
    sr = tmp_path / "report.dcm"
    xml2dsr = shutil.which("xml2dsr")
    assert xml2dsr, "DCMTK is missing"
    subprocess.run([xml2dsr, "+Vs", str(DATA / "vendor_a_seed001.xml"), str(sr)], check=True)
    sent = subprocess.run(
        ["storescu", "-aet", "STORESCU", "-aec", "VENALAB", "127.0.0.1", str(dicom_port), str(sr)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    # 3. A user reviews it in the worksheet.
    page = browser.new_page()
    base = server.base
    first_login(page, base, "admin", server.admin_password(), "admin-new-password-1", "admin")
    page.goto(f"{base}/")
    expect(page.locator("#scheduled")).to_contain_text("ACC-7777")
    page.goto(f"{base}/incoming")
    expect(page.locator("#incoming")).to_contain_text("ACC-7777")
    page.click("#incoming a.button")
    expect(page.locator("#import-missing")).to_contain_text("patient.age_years")
    page.fill('input[data-path="patient.age_years"]', "70")
    page.click("#save-button")
    expect(page).to_have_url(re.compile(rf"{re.escape(base)}/exams/\d+$"))
    exam_url = page.url
    page.goto(f"{base}/incoming")
    expect(page.locator("#incoming")).to_contain_text("Nothing waiting")
    # 4. The physician (here the admin) signs.
    page.goto(exam_url)
    page.click("#sign-button")
    expect(page.locator("#exam-status")).to_contain_text("SIGNED")
    # 5. The ORU^R01 is written to the outbox.
    outbox = tmp_path / "var" / "hl7" / "outbox"
    deadline = time.monotonic() + 60
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = sorted(outbox.glob("*.hl7"))
        time.sleep(0.5)
    assert len(files) == 1, server.output()
    text = files[0].read_bytes().decode("utf-8")
    hl7.validate(text)
    assert "|ACC-7777|" in text and "ORU^R01" in text
