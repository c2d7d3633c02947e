"""DICOM receiver (issue 20): real DCMTK storescu/echoscu processes send to the pynetdicom
listener on a free loopback port; received SRs land in the Incoming list, nothing else."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy.orm import Session, sessionmaker

from venalab.interop import dicom_listener as dl
from venalab.interop.sr_import import import_sr, import_sr_bytes
from venalab.store import interop as si
from venalab.store import make_engine, session_factory, upgrade
from venalab.store.db import transaction
from venalab.store.interop import OrderIn

DATA = Path(__file__).parent / "data" / "sr"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: install Debian dcmtk (scripts/system-deps.sh)"
    return path


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def listener(factory: sessionmaker[Session]) -> Iterator[tuple[int, list[str]]]:
    events: list[str] = []
    config = dl.ListenerConfig(ae_title="VENALAB", port=0, allowed_aes=("STORESCU", "ECHOSCU"))
    server = dl.start(config, factory, on_event=events.append)
    yield server.server_address[1], events
    server.shutdown()


def _sr(tmp_path: Path, name: str = "vendor_a_seed001") -> Path:
    out = tmp_path / f"{name}.dcm"
    subprocess.run(
        [_tool("xml2dsr"), "+Vs", str(DATA / f"{name}.xml"), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def _storescu(port: int, path: Path, aet: str = "STORESCU") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _tool("storescu"),
            "-v",
            "-aet",
            aet,
            "-aec",
            "VENALAB",
            "127.0.0.1",
            str(port),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _image(tmp_path: Path) -> Path:
    """A small ultrasound image object: not a structured report."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality = "JVB-2022-001", "US"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = b"\x00\x01\x02\x03"
    path = tmp_path / "us.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _pending(factory: sessionmaker[Session]) -> list[tuple[str | None, int | None, bytes]]:
    with transaction(factory) as s:
        return [(i.patient_local_id, i.order_id, i.data) for i in si.list_incoming(s)]


def test_sr_is_stored_as_incoming_and_matched_to_its_order(
    tmp_path: Path, factory: sessionmaker[Session], listener: tuple[int, list[str]]
) -> None:
    port, events = listener
    with transaction(factory) as s:
        order = si.receive_order(
            s, OrderIn("ACC-1", "JVB-2022-001"), source="test", message_id="M1"
        )
        order_id = order.id
    sr = _sr(tmp_path)
    run = _storescu(port, sr)
    assert run.returncode == 0, run.stderr
    assert events == ["C-STORE from STORESCU: status 0x0000"]
    ((patient, matched, data),) = _pending(factory)
    assert (patient, matched) == ("JVB-2022-001", order_id)
    # The stored object reads as the same report as the file sent.
    assert import_sr_bytes(data).document == import_sr(sr).document
    # Nothing became an exam.
    with transaction(factory) as s:
        from venalab.store import exams

        assert exams.list_exams(s) == []


def test_non_sr_is_refused_damaged_sr_fails_and_the_listener_goes_on(
    tmp_path: Path, factory: sessionmaker[Session], listener: tuple[int, list[str]]
) -> None:
    port, events = listener
    image = _image(tmp_path)
    run = _storescu(port, image)
    assert "0122" in run.stderr or "Refused" in run.stderr, run.stderr
    # A damaged report: DCMTK can read and send it, but its content tree is gone.
    damaged = tmp_path / "damaged.dcm"
    shutil.copy(_sr(tmp_path), damaged)
    subprocess.run([_tool("dcmodify"), "-nb", "-ea", "(0040,a730)", str(damaged)], check=True)
    run = _storescu(port, damaged)
    assert "Error: CannotUnderstand" in run.stderr, run.stderr
    # Still serving: the next good report is stored.
    assert _storescu(port, _sr(tmp_path)).returncode == 0
    assert events == [
        "C-STORE from STORESCU: status 0x0122",
        "C-STORE from STORESCU: status 0xC210",
        "C-STORE from STORESCU: status 0x0000",
    ]
    assert len(_pending(factory)) == 1


def test_unknown_calling_ae_is_rejected_and_echo_works(
    tmp_path: Path, factory: sessionmaker[Session], listener: tuple[int, list[str]]
) -> None:
    port, events = listener
    run = _storescu(port, _sr(tmp_path), aet="INTRUDER")
    assert run.returncode != 0 and "Calling AE Title Not Recognized" in run.stderr
    assert events == [] and _pending(factory) == []
    echo = subprocess.run(
        [_tool("echoscu"), "-aet", "ECHOSCU", "-aec", "VENALAB", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert echo.returncode == 0, echo.stderr


def test_truncated_bytes_are_answered_with_a_failure(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """A report cut short in transit (storescu refuses to send a truncated file itself)."""
    data = _sr(tmp_path).read_bytes()
    status = dl.handle_store(
        data[: len(data) // 2], "1.2.840.10008.5.1.4.1.1.88.33", "STORESCU", factory
    )
    assert status == dl.STATUS_CANNOT_UNDERSTAND
    assert _pending(factory) == []
    assert dl.handle_store(data, "1.2.840.10008.5.1.4.1.1.88.33", "STORESCU", factory) == 0
