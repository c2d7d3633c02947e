"""`venalab hl7 ...`: HL7 v2 orders in (MLLP or files) and ORU^R01 results out.

    venalab hl7 listen [--host H] [--port N]      orders over MLLP (Ctrl+C stops)
    venalab hl7 import-orders FILE...             orders from files (one message per file)
    venalab hl7 results [--once] [--send-to H:P]  write (and send) the results of signed exams

Settings: VENALAB_HL7_* (web/settings.py). Exit status of import-orders: 0 all accepted,
2 when any message was answered AE/AR (each ACK printed).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from venalab.cli._errors import fail_invalid
from venalab.errors import InvalidInput

hl7_app = typer.Typer(help="HL7 v2: orders in, results (ORU^R01) out.", no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)


@hl7_app.callback()
def _hl7_group() -> None:
    """HL7 v2: orders in, results (ORU^R01) out."""


def _setup() -> tuple[Any, Any, Any]:
    from venalab.store import make_engine, session_factory, upgrade
    from venalab.web.settings import Settings

    try:
        settings = Settings.from_env()
    except InvalidInput as e:
        fail_invalid("settings", e)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return settings, engine, session_factory(engine)


@hl7_app.command("listen")
def listen_cmd(
    host: Annotated[str | None, typer.Option(help="Interface (default VENALAB_HL7_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="TCP port (default VENALAB_HL7_PORT).")
    ] = None,
) -> None:
    """Receive orders (ORM^O01, OMG^O19) over MLLP into the worklist (Ctrl+C stops)."""
    from venalab.interop.hl7_service import serve_orders

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings, engine, factory = _setup()
    server = serve_orders(
        host or settings.hl7_host,
        settings.hl7_port if port is None else port,
        factory,
        settings.hl7_facility,
    )
    bound = server.server_address[1]
    out.print(f"HL7 order listener (MLLP) on {host or settings.hl7_host}:{bound}; Ctrl+C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()


@hl7_app.command("import-orders")
def import_orders_cmd(
    files: Annotated[list[Path], typer.Argument(help="Files with one HL7 v2 order message each.")],
) -> None:
    """Read order messages from files (as if received over MLLP); print each ACK."""
    from venalab.interop.hl7 import ack_code
    from venalab.interop.hl7_service import handle_order_text
    from venalab.interop.mllp import decode

    settings, engine, factory = _setup()
    bad = 0
    for path in files:
        try:
            text = decode(path.read_bytes())
        except OSError as err:
            out.print(f"{path}: cannot read: {err}")
            bad += 1
            continue
        answer = handle_order_text(
            text.strip("\x0b\x1c\r\n") + "\r", factory, settings.hl7_facility
        )
        code = ack_code(answer)
        bad += code != "AA"
        out.print(f"{path}: {code}")
        out.print(answer.replace("\r", "\n").rstrip(), markup=False)
    engine.dispose()
    if bad:
        raise typer.Exit(2)


@hl7_app.command("results")
def results_cmd(
    once: Annotated[
        bool, typer.Option(help="One round, then exit (else every few seconds).")
    ] = False,
    send_to: Annotated[
        str | None,
        typer.Option(help="host:port to send to over MLLP (default VENALAB_HL7_RESULTS_TO)."),
    ] = None,
    outbox: Annotated[
        Path | None, typer.Option(help="Folder (default VENALAB_HL7_OUTBOX).")
    ] = None,
) -> None:
    """Write an ORU^R01 for each signed exam into the outbox and send the unsent ones."""
    from venalab.interop.hl7_service import (
        ResultsConfig,
        produce_results,
        results_worker,
        send_results,
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings, engine, factory = _setup()
    target = settings.hl7_results_to
    if send_to:
        host, _, port = send_to.rpartition(":")
        if not host or not port.isdigit():
            out.print("--send-to must be host:port")
            raise typer.Exit(2)
        target = (host, int(port))
    config = ResultsConfig(outbox or settings.outbox, settings.hl7_facility, target)
    if once:
        written = produce_results(factory, config)
        sent = send_results(factory, config)
        out.print(f"{len(written)} result(s) written to {config.outbox}; {sent} sent")
        engine.dispose()
        return
    stop = threading.Event()
    results_worker(factory, config, stop)
    out.print(
        f"results to {config.outbox}"
        + (f" and {target[0]}:{target[1]}" if target else "")
        + "; Ctrl+C stops"
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stop.set()
    engine.dispose()
