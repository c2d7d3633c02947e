"""HL7 v2 services: orders in (MLLP listener and files) and results out (ORU^R01 worker).

Orders: each message is parsed (hl7.parse_order) and stored as a scheduled exam
(store/interop.receive_order) in its own transaction; the answer is an ACK: AA stored,
AE the sender should correct and resend, AR not processable. Nothing a sender writes can
stop the listener.

Results: `produce_results` finds signed exam versions without an ORU, writes one file per
version to the outbox folder (atomically) and records it; `send_results` sends the unsent
ones to the configured host over MLLP and marks each sent only on an AA/CA acknowledgement,
so a host that is down loses nothing: the message waits in the outbox and is retried.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from venalab.engine import assess
from venalab.exam import parse_exam_obj
from venalab.interop import hl7, mllp
from venalab.store import interop as store_interop
from venalab.store.db import transaction
from venalab.store.errors import StoreError
from venalab.store.models import ExamVersion, User

log = logging.getLogger("venalab.hl7")


def handle_order_text(text: str, factory: sessionmaker[Session], facility: str = "VENALAB") -> str:
    """Process one order message; return the ACK (never raises for bad input)."""
    try:
        parsed = hl7.parse_order(text)
    except hl7.OrderError as err:
        log.warning("order refused (%s): %s", err.code, err)
        return hl7.ack(text, err.code, str(err), facility=facility, location=err.location)
    try:
        with transaction(factory) as s:
            row = store_interop.receive_order(
                s, parsed.order, source=f"hl7:{parsed.sending}", message_id=parsed.control_id
            )
            accession, status = row.accession, row.status
    except StoreError as err:
        return hl7.ack(text, "AE", str(err), facility=facility, location="ORC-1")
    log.info("order %s stored (%s)", accession, status)
    return hl7.ack(text, "AA", f"order {accession} {status}", facility=facility)


def reject(message: str, code: str = "AR", original: str = "") -> str:
    return hl7.ack(original, code, message)


def serve_orders(
    host: str, port: int, factory: sessionmaker[Session], facility: str = "VENALAB"
) -> mllp.MllpServer:
    return mllp.serve((host, port), lambda text: handle_order_text(text, factory, facility), reject)


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ResultsConfig:
    outbox: Path
    facility: str = "VENALAB"
    send_to: tuple[str, int] | None = None
    pdf: bool = True


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".oru-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _oru_for(s: Session, v: ExamVersion, config: ResultsConfig) -> tuple[str, str]:
    from venalab.report.render import render_report
    from venalab.store import exams
    from venalab.web.reports import signoff_of

    doc = parse_exam_obj(v.document)
    result = assess(doc)
    signer = s.get(User, v.signed_by) if v.signed_by else None
    order = store_interop.order_for_exam(s, v.exam_id)
    control = f"VL{v.exam_id}V{v.version}"
    ctx = hl7.OruContext(
        control_id=control,
        exam_id=v.exam_id,
        version=v.version,
        signed_by=v.signer_name or ((signer.display_name or signer.username) if signer else ""),
        signed_at=v.signed_at or dt.datetime.now(dt.UTC),
        facility=config.facility,
        accession=order.accession if order else None,
        placer_order=order.placer_order if order else None,
        procedure=order.procedure if order else None,
        referring_physician=order.referring_physician if order else None,
        patient_name=order.patient_name if order else None,
        corrected=exams.is_amended(s, v.exam_id, up_to=v.version),
    )
    pdf = None
    if config.pdf:
        pdf = render_report(doc, result, "clinician", "pdf", signoff=signoff_of(s, v))
    return control, hl7.build_oru(doc, result, ctx, pdf)


def produce_results(factory: sessionmaker[Session], config: ResultsConfig) -> list[Path]:
    """Write an ORU for every signed version that has none yet; returns the files written."""
    written: list[Path] = []
    with transaction(factory) as s:
        pending = [(v.exam_id, v.version) for v in store_interop.signed_without_result(s)]
    for exam_id, version in pending:
        with transaction(factory) as s:
            from venalab.store import exams

            v = exams.get_version(s, exam_id, version)
            control, text = _oru_for(s, v, config)
            name = f"{control}.hl7"
            _write_atomic(config.outbox / name, text)
            store_interop.queue_result(s, exam_id, version, control, name)
            order = store_interop.order_for_exam(s, exam_id)
            if order is not None and order.status == "in-progress":
                order.status = "completed"
        written.append(config.outbox / name)
        log.info("result %s written to %s", control, config.outbox / name)
    return written


def send_results(factory: sessionmaker[Session], config: ResultsConfig) -> int:
    """Send the unsent results to `config.send_to`; returns how many were acknowledged."""
    if config.send_to is None:
        return 0
    host, port = config.send_to
    with transaction(factory) as s:
        rows = [(r.id, r.file_name) for r in store_interop.unsent_results(s)]
    done = 0
    for row_id, name in rows:
        try:
            text = (config.outbox / name).read_text(encoding="utf-8")
            answer = mllp.send(host, port, text)
            code = hl7.ack_code(answer)
            ok = code in ("AA", "CA")
            error = None if ok else f"acknowledgement {code or '(none)'}: {answer[:200]}"
        except OSError as err:
            ok, error = False, f"{type(err).__name__}: {err}"
        with transaction(factory) as s:
            store_interop.result_attempt(s, row_id, ok=ok, error=error, peer=f"{host}:{port}")
        if not ok:
            log.warning(
                "result %s not delivered to %s:%d (%s); kept for retry", name, host, port, error
            )
            break  # keep the order of results; try again later
        done += 1
    return done


def results_worker(
    factory: sessionmaker[Session],
    config: ResultsConfig,
    stop: threading.Event,
    interval: float = 3.0,
) -> threading.Thread:
    """Produce and send results every `interval` seconds until `stop` is set."""

    def loop() -> None:
        while not stop.is_set():
            try:
                produce_results(factory, config)
                send_results(factory, config)
            except Exception:  # keep running: the next round retries
                log.exception("results worker round failed")
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="hl7-results", daemon=True)
    thread.start()
    return thread
