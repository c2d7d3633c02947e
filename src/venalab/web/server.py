"""`venalab serve`: bootstrap once, then uvicorn with N worker processes.

Order matters with several workers: the parent checks the settings, migrates the database,
creates the session secret (var/secret_key), makes sure an admin can log in and loads the
examples before any worker starts, so workers neither race on migrations nor sign cookies
with different keys. Each worker then builds its app with `worker_app()` (no migration) from
the same environment (DATABASE_URL, VENALAB_*). The DICOM and HL7 listeners
(`--dicom-port`, `--hl7-port`) run in threads of the parent. With one worker the parent
serves itself.

What lives in one worker process and why that is safe:

| state | where | across workers |
|---|---|---|
| session secret | var/secret_key or VENALAB_SECRET_KEY | one key, created before the workers |
| login throttling | database (login_failures) | shared |
| SQLite writers | SqliteWriteLock: thread lock + flock on `<db>.lock` | queued across processes |
| database slots, CPU threads | per process (bounds) | each worker bounds its own load |
| heavy-job processes | VENALAB_CPU_PROCESSES per worker, started with it | each worker has its own |
| CDS client keys (JWKS) | per process, 5 min | a cache of public keys: any copy is right |
| caches of data files, templates | per process | read-only |
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from venalab.store.db import database_url
from venalab.web.app import bootstrap, create_app
from venalab.web.offload import PROCESSES, tune_interpreter


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn factory); `serve` has bootstrapped already."""
    tune_interpreter()
    app = create_app(migrate=False)
    PROCESSES.start()  # the heavy-job processes load the engine while the server starts
    return app


def serve(
    host: str,
    port: int,
    *,
    workers: int | None = None,
    load_examples: bool = True,
    dicom_port: int | None = None,
    hl7_port: int | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Check the settings and migrate (InvalidInput names a bad setting), bootstrap, start the
    interop listeners asked for (in this process), print where the app is, run uvicorn with
    `workers` processes (default: one per core) until interrupted."""
    import uvicorn

    from venalab.interop.services import start_interop

    url = database_url()
    application = create_app(url)  # settings checked, schema migrated, session key created
    for line in bootstrap(url, load_examples=load_examples):
        echo(line)
    n = workers or default_workers()
    shown = url if url.startswith("sqlite") else url.split("@")[-1]
    echo(f"Database: {shown}")
    echo(f"Workers: {n}")
    services = start_interop(url, dicom_port, hl7_port)
    for line in services.lines:
        echo(line)
    echo(
        f"venalab is at http://{host}:{port}/  (OpenAPI: http://{host}:{port}/openapi.json; "
        "Ctrl+C stops)"
    )
    # loop/http "auto": uvloop and httptools (installed with venalab) where available.
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning"}
    options["access_log"] = False
    # proxy_headers=False: X-Forwarded-* are believed only from VENALAB_TRUSTED_PROXIES
    # (web/proxies.py); uvicorn would otherwise take them from any local peer.
    options["proxy_headers"] = False
    try:
        if n == 1:
            tune_interpreter()
            PROCESSES.start()
            uvicorn.run(application, **options)
        else:
            application.state.venalab.engine.dispose()  # each worker builds its own app
            uvicorn.run(f"{__name__}:worker_app", factory=True, workers=n, **options)
    finally:
        services.stop()
