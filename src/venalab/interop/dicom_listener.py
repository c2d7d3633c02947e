"""DICOM receiver: scanners send structured reports straight in (C-STORE SCP, pynetdicom).

    venalab dicom listen [--port N] [--ae-title T] [--allow AE ...]

- Association: the called AE title must be ours and the calling AE title must be on the
  allow list (`VENALAB_DICOM_ALLOWED_AES`); others are rejected at association time.
- Every storage SOP class is negotiated so that a scanner sending an image gets a clear
  C-STORE answer: Comprehensive / Enhanced / Comprehensive 3D / Extensible SR are accepted
  (0x0000); any other SOP class is refused with 0x0122 "SOP class not supported".
- A received SR is checked whole (declared lengths against the bytes: sr_import's
  integrity check) and parsed; a damaged one is answered 0xC210 "cannot understand",
  logged, and the listener goes on serving. Nothing is imported here: the SR is stored as
  a pending item of the Incoming list (store/interop), matched to the patient and to a
  scheduled order where possible; a user opens it in the worksheet and saves it.
- Verification (C-ECHO) is answered, so `echoscu` can test the connection.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from sqlalchemy.orm import Session, sessionmaker

from venalab.errors import InvalidInput
from venalab.interop.sr_import import SR_SOP_CLASSES, read_dataset
from venalab.store import interop as store_interop
from venalab.store.db import transaction

log = logging.getLogger("venalab.dicom")

STATUS_SUCCESS = 0x0000
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
STATUS_CANNOT_UNDERSTAND = 0xC210
STATUS_OUT_OF_RESOURCES = 0xA700
MAX_SR_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ListenerConfig:
    """Where and for whom the receiver listens (from Settings; see web/settings.py)."""

    ae_title: str = "VENALAB"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_aes: tuple[str, ...] = ("STORESCU",)


def _date(raw: object) -> dt.date | None:
    try:
        return dt.datetime.strptime(str(raw or "").strip(), "%Y%m%d").date()
    except ValueError:
        return None


def handle_store(
    data: bytes, sop_class: str, calling_ae: str, factory: sessionmaker[Session]
) -> int:
    """The C-STORE status for one received object (stored as pending when it is an SR)."""
    if sop_class not in SR_SOP_CLASSES:
        log.warning("refused SOP class %s from %s: not a structured report", sop_class, calling_ae)
        return STATUS_SOP_CLASS_NOT_SUPPORTED
    if len(data) > MAX_SR_BYTES:
        log.warning(
            "refused an SR of %d bytes from %s (limit %d)", len(data), calling_ae, MAX_SR_BYTES
        )
        return STATUS_OUT_OF_RESOURCES
    try:
        ds: Dataset = read_dataset(data, f"SR from {calling_ae}")
    except InvalidInput as err:
        log.error("damaged SR from %s refused: %s", calling_ae, err.problems[0].message)
        return STATUS_CANNOT_UNDERSTAND
    if str(ds.get("ValueType") or "") != "CONTAINER" or not ds.get("ContentSequence"):
        log.error("SR from %s refused: it has no report content (content tree)", calling_ae)
        return STATUS_CANNOT_UNDERSTAND
    try:
        with transaction(factory) as s:
            item = store_interop.receive_sr(
                s,
                data,
                calling_ae=calling_ae,
                sop_instance_uid=str(ds.get("SOPInstanceUID") or ""),
                patient_local_id=str(ds.get("PatientID") or "").strip() or None,
                accession=str(ds.get("AccessionNumber") or "").strip() or None,
                study_date=_date(ds.get("StudyDate")),
            )
            item_id = item.id
    except Exception:  # the scanner must get an answer; the reason goes to the log
        log.exception("could not store an SR from %s", calling_ae)
        return STATUS_OUT_OF_RESOURCES
    log.info(
        "stored SR %s from %s as incoming item %d", ds.get("SOPInstanceUID"), calling_ae, item_id
    )
    return STATUS_SUCCESS


def make_ae(config: ListenerConfig) -> AE:
    ae = AE(ae_title=config.ae_title)
    ae.require_called_aet = True
    ae.require_calling_aet = list(config.allowed_aes)
    ae.maximum_pdu_size = 0
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            ae.add_supported_context(context.abstract_syntax, context.transfer_syntax)
    for uid in SR_SOP_CLASSES:  # all transfer syntaxes pynetdicom knows for SR classes
        ae.add_supported_context(uid)
    ae.add_supported_context(Verification)
    return ae


def start(
    config: ListenerConfig,
    factory: sessionmaker[Session],
    on_event: Callable[[str], None] | None = None,
) -> Any:
    """Start the receiver in background threads; returns the server (`.shutdown()`)."""

    def _store(event: Any) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            data = event.encoded_dataset(include_meta=True)
        except Exception as err:  # undecodable by pynetdicom itself
            log.error("undecodable object from %s: %s", calling, err)
            return STATUS_CANNOT_UNDERSTAND
        status = handle_store(data, str(event.request.AffectedSOPClassUID), calling, factory)
        if on_event is not None:
            on_event(f"C-STORE from {calling}: status 0x{status:04X}")
        return status

    def _rejected(event: Any) -> None:
        log.warning("association rejected: %s", event.assoc.requestor.ae_title)

    handlers: Sequence[tuple[Any, Any]] = [
        (evt.EVT_C_STORE, _store),
        (evt.EVT_REJECTED, _rejected),
    ]
    ae = make_ae(config)
    return ae.start_server((config.host, config.port), block=False, evt_handlers=list(handlers))
