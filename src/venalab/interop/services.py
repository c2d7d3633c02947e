"""The interop services that run beside the web app (`venalab serve --dicom-port N
--hl7-port M`): the DICOM SR receiver, the HL7 order listener and the results worker, in
background threads of the same process, stopped together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from venalab.store import make_engine, session_factory


@dataclass
class Services:
    lines: list[str] = field(default_factory=list)
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # stopping the rest matters more
                logging.getLogger("venalab").exception("stopping a service failed")
        self.stoppers.clear()


def start_interop(url: str, dicom_port: int | None, hl7_port: int | None) -> Services:
    """Start the services asked for (None: not started); their settings: web/settings.py."""
    from venalab.web.settings import Settings

    services = Services()
    if dicom_port is None and hl7_port is None:
        return services
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.from_env()
    engine = make_engine(url)
    factory = session_factory(engine)
    services.stoppers.append(engine.dispose)
    if dicom_port is not None:
        from venalab.interop.dicom_listener import ListenerConfig, start

        config = ListenerConfig(
            settings.dicom_ae_title, settings.dicom_host, dicom_port, settings.dicom_allowed_aes
        )
        server = start(config, factory)
        services.stoppers.append(server.shutdown)
        services.lines.append(
            f"DICOM SR receiver: AE title {config.ae_title} on {config.host}:"
            f"{server.server_address[1]} (calling AEs allowed: "
            f"{', '.join(config.allowed_aes) or 'none'})"
        )
    if hl7_port is not None:
        from venalab.interop.hl7_service import ResultsConfig, results_worker, serve_orders

        mllp = serve_orders(settings.hl7_host, hl7_port, factory, settings.hl7_facility)
        services.stoppers.append(mllp.server_close)
        services.stoppers.append(mllp.shutdown)
        stop = threading.Event()
        target = settings.hl7_results_to
        results_worker(factory, ResultsConfig(settings.outbox, settings.hl7_facility, target), stop)
        services.stoppers.append(stop.set)
        services.lines.append(
            f"HL7 v2 order listener (MLLP) on {settings.hl7_host}:{mllp.server_address[1]}; "
            f"results of signed exams to {settings.outbox}"
            + (f" and {target[0]}:{target[1]}" if target else "")
        )
    return services
