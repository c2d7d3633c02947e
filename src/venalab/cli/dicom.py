"""`venalab dicom listen`: the DICOM receiver for structured reports (dicom_listener).

    venalab dicom listen [--host H] [--port N] [--ae-title T] [--allow AE ...]

Defaults come from the settings (VENALAB_DICOM_*, web/settings.py). The database is the
web application's (DATABASE_URL, else var/venalab.db); received reports appear in the web
app's Incoming list. Ctrl+C stops it.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer
from rich.console import Console

from venalab.cli._errors import fail_invalid
from venalab.errors import InvalidInput

dicom_app = typer.Typer(
    help="DICOM network services (receive structured reports).", no_args_is_help=True
)
out = Console(soft_wrap=True)


@dicom_app.callback()
def _dicom_group() -> None:
    """DICOM network services (receive structured reports)."""


def listener_config(
    host: str | None = None,
    port: int | None = None,
    ae_title: str | None = None,
    allow: list[str] | None = None,
) -> tuple[object, object]:
    """(ListenerConfig, Settings) from the settings with the command-line overrides."""
    from venalab.interop.dicom_listener import ListenerConfig
    from venalab.web.settings import Settings

    try:
        settings = Settings.from_env()
    except InvalidInput as e:
        fail_invalid("settings", e)
    config = ListenerConfig(
        ae_title=ae_title or settings.dicom_ae_title,
        host=host or settings.dicom_host,
        port=settings.dicom_port if port is None else port,
        allowed_aes=tuple(allow) if allow else settings.dicom_allowed_aes,
    )
    return config, settings


@dicom_app.command("listen")
def listen_cmd(
    host: Annotated[
        str | None, typer.Option(help="Interface (default VENALAB_DICOM_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="TCP port (default VENALAB_DICOM_PORT).")
    ] = None,
    ae_title: Annotated[
        str | None, typer.Option(help="Our AE title (default VENALAB_DICOM_AE_TITLE).")
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            help="Calling AE title allowed to send (repeat; default VENALAB_DICOM_ALLOWED_AES)."
        ),
    ] = None,
) -> None:
    """Receive DICOM SRs from scanners into the Incoming list (Ctrl+C stops)."""
    from venalab.interop.dicom_listener import ListenerConfig, start
    from venalab.store import make_engine, session_factory, upgrade

    config, settings = listener_config(host, port, ae_title, allow)
    assert isinstance(config, ListenerConfig)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = make_engine(getattr(settings, "database_url"))  # noqa: B009
    upgrade(engine)
    server = start(config, session_factory(engine))
    bound = server.server_address[1]
    out.print(
        f"DICOM receiver {config.ae_title} listening on {config.host}:{bound} "
        f"(calling AEs allowed: {', '.join(config.allowed_aes) or 'none'}); Ctrl+C stops",
        highlight=False,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        engine.dispose()
        out.print("DICOM receiver stopped")
