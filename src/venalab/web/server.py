"""`venalab serve`: bootstrap once, then uvicorn with N worker processes.

Order matters with several workers: the parent migrates the database, makes sure an admin
can log in, loads the examples and creates the session secret (var/secret_key) before any
worker starts, so workers neither race on migrations nor sign cookies with different keys.
Each worker then builds its app with `worker_app()` (no migration) from the same
environment (DATABASE_URL, VENALAB_*).

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

from fastapi import FastAPI

from venalab.store.db import database_url
from venalab.web.app import bootstrap, create_app
from venalab.web.offload import PROCESSES, tune_interpreter
from venalab.web.security import load_secret_key
from venalab.web.settings import Settings


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
    echo: Callable[[str], None] = print,
) -> None:
    """Bootstrap, print where the app is, run uvicorn until interrupted."""
    import uvicorn

    url = database_url()
    for line in bootstrap(url, load_examples=load_examples):
        echo(line)
    settings = Settings.from_env()
    load_secret_key(settings.secret_key, settings.var_dir)  # created once, here
    n = workers or default_workers()
    shown = url if url.startswith("sqlite") else url.split("@")[-1]
    echo(f"Database: {shown}")
    echo(f"Workers: {n}")
    echo(
        f"venalab is at http://{host}:{port}/  (API docs: http://{host}:{port}/docs; Ctrl+C stops)"
    )
    # loop/http "auto": uvloop and httptools (installed with venalab) where available.
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=n,
        log_level="warning",
        access_log=False,
    )
