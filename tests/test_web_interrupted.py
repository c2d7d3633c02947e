"""An interrupted save leaves the database consistent (issue 6), on SQLite and PostgreSQL.

A real server process (tests/paused_server.py: the app with a test-only override of the
per-request transaction) is started: every unsafe request sleeps inside its transaction,
after its writes, just before the commit. A save of version 2 is sent over HTTP; when the server says it is paused,
it is killed with SIGKILL (no shutdown, no rollback: as if the machine lost power). After a
restart on the same database:

- the client was never told the save succeeded (no response at all),
- the exam is still at version 1 with exactly one version row,
- no audit entry records the lost save,
- a new save of version 2 succeeds.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import EXAMPLES
from paused_server import PAUSE_MARKER
from pg_fixture import db_url, pg_server, pg_url  # noqa: F401 - fixtures
from venalab.exam import parse_exam_obj
from venalab.store import audit, exams, make_engine, session_factory, upgrade, users
from web_server import Server, start_server

PAUSE_S = "60"  # far longer than the test needs: the kill always comes first


def _document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "seed-001-calcinosis.json").read_text())
    return data


def _seed(url: str) -> tuple[str, int]:
    """Schema, a sonographer with a bearer token, and an exam at version 1."""
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s, s.begin():
        user, _ = users.create_user(s, "sono", "sonographer", "Sono", "sono-correct-horse-1")
        token = users.create_token(s, user, "interrupted-save test")
        exam_id = exams.create_exam(s, parse_exam_obj(_document()), user).exam_id
    engine.dispose()
    return token, exam_id


def _state(url: str, exam_id: int) -> tuple[int, list[int], list[str]]:
    """(current_version, version numbers, audit actions) of the exam, read directly."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            exam = exams.get_exam(s, exam_id)
            versions = [v.version for v in exams.list_versions(s, exam_id)]
            actions = [e.action for e in audit.query(s, entity="exam", entity_id=exam_id)]
            return exam.current_version, versions, actions
    finally:
        engine.dispose()


def _server_env(url: str) -> dict[str, str]:
    # SQLite: the server's default file under its cwd; PostgreSQL: DATABASE_URL.
    return {} if url.startswith("sqlite") else {"DATABASE_URL": url}


@pytest.mark.slow
def test_killed_mid_save_loses_only_the_unacknowledged_save(
    db_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = db_url
    if url.startswith("sqlite"):
        # the server's own default database: var/venalab.db under its working directory
        url = f"sqlite:///{tmp_path / 'var' / 'venalab.db'}"
    token, exam_id = _seed(url)
    auth = {"Authorization": f"Bearer {token}"}
    doc = _document()
    doc["legs"]["left"]["segments"][3]["reflux_ms"] = 1700
    save = {"document": doc, "expected_version": 1}

    server: Server = start_server(
        tmp_path,
        env=_server_env(url),
        args=("--pause", PAUSE_S),
        command=(sys.executable, str(Path(__file__).with_name("paused_server.py"))),
    )
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            r = httpx.post(
                f"{server.base}/api/exams/{exam_id}/versions", json=save, headers=auth, timeout=90
            )
            outcome["status"] = r.status_code
        except httpx.TransportError as e:
            outcome["error"] = e

    client = threading.Thread(target=send)
    try:
        client.start()
        server.wait_for_output(PAUSE_MARKER)
        # The save is written inside the open transaction, not committed: kill now.
        server.kill()
        client.join(timeout=30)
    finally:
        server.stop()
    assert not client.is_alive()
    assert "status" not in outcome, f"the client was answered {outcome.get('status')}"
    assert isinstance(outcome.get("error"), httpx.TransportError)

    # After the crash, before any restart: nothing of the save is in the database.
    current, versions, actions = _state(url, exam_id)
    assert (current, versions) == (1, [1])
    assert actions == [audit.ACTION_EXAM_CREATE]

    server = start_server(tmp_path, env=_server_env(url), args=("--no-examples",))
    try:
        r = httpx.get(f"{server.base}/api/exams/{exam_id}", headers=auth)
        assert r.status_code == 200
        assert r.json()["current_version"] == 1
        assert r.json()["document"]["legs"]["left"]["segments"][3]["reflux_ms"] != 1700
        r = httpx.get(f"{server.base}/api/exams/{exam_id}/versions", headers=auth)
        assert [v["version"] for v in r.json()] == [1]
        # the same save again: version 2 is free, it succeeds
        r = httpx.post(f"{server.base}/api/exams/{exam_id}/versions", json=save, headers=auth)
        assert r.status_code == 201, r.text
        assert r.json()["version"]["version"] == 2
    finally:
        server.stop()
    current, versions, actions = _state(url, exam_id)
    assert (current, versions) == (2, [1, 2])
    assert actions.count(audit.ACTION_EXAM_SAVE) == 1
