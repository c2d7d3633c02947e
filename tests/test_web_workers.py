"""`venalab serve --workers 2` (issue 14): bootstrap runs once, before the workers; both
workers sign and read sessions with the same key; SQLite writers of both processes queue on
one lock (concurrent creates: no 5xx)."""

from __future__ import annotations

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from helpers import EXAMPLES
from venalab.store import make_engine, session_factory, users
from web_server import start_server


def _worker_pids(server_pid: int) -> list[int]:
    """Child processes started by multiprocessing (uvicorn's workers), not its helpers."""
    out = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return [p for p in pids if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _fresh_connection(base: str) -> httpx.Client:
    # No keep-alive: every request opens a connection, which either worker may accept.
    return httpx.Client(base_url=base, limits=httpx.Limits(max_keepalive_connections=0))


def test_two_workers_share_bootstrap_secret_and_sqlite_writes(tmp_path: Path) -> None:
    # No heavy-job processes: not what this tests, and they double the start-up work.
    server = start_server(
        tmp_path, env={"VENALAB_CPU_PROCESSES": "0"}, args=("--workers", "2", "--no-examples")
    )
    try:
        out = server.output()
        assert out.count("one-time password") == 1, out
        assert "Workers: 2" in out
        assert len(_worker_pids(server.proc.pid)) == 2
        assert (tmp_path / "var" / "secret_key").is_file()

        # A session from one login is accepted on fresh connections, whichever worker answers.
        with _fresh_connection(server.base) as c:
            page = c.get("/login")
            csrf = page.text.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
            r = c.post(
                "/login",
                data={"username": "admin", "password": server.admin_password(), "login_csrf": csrf},
            )
            assert r.status_code == 303, r.text[:300]
            for _ in range(30):
                assert c.get("/account/password").status_code == 200

        # Writers of both processes: 20 creates at once, none fails.
        engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'venalab.db'}")
        with session_factory(engine, write=True)() as s, s.begin():
            user, _ = users.create_user(s, "sono", "sonographer", None, "sono-correct-horse-1")
            token = users.create_token(s, user, "workers test")
        engine.dispose()
        doc: dict[str, Any] = json.loads((EXAMPLES / "seed-001-calcinosis.json").read_text())
        barrier = threading.Barrier(20)

        def create(i: int) -> int:
            with _fresh_connection(server.base) as c:
                body = {**doc, "patient": {**doc["patient"], "id": f"W-{i % 4}"}}
                barrier.wait()
                r = c.post("/api/exams", json=body, headers={"Authorization": f"Bearer {token}"})
                return r.status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(create, range(20)))
        assert statuses == [201] * 20, statuses
    finally:
        server.stop()
    # stopping the supervisor stops its workers
    assert server.proc.poll() is not None
