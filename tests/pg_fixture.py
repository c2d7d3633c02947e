"""A private, throwaway PostgreSQL cluster for tests, and a `db_url` fixture over both databases.

Use it from a test module (no conftest needed):

    from pg_fixture import db_url, pg_server, pg_url  # noqa: F401

- `pg_server` (session): initdb into a temporary directory, start on a free loopback port
  with the socket in that directory, stop and delete it when the session ends. One cluster
  per test session however many modules import the fixture.
- `pg_url`: a fresh, empty database in that cluster for each test (SQLAlchemy URL).
- `db_url`: parametrized over "sqlite" (a file in tmp_path) and "postgresql" (pg_url).
Tests that use PostgreSQL carry the `db` marker (the "postgresql" parameter, and conftest.py
marks every test that asks for `pg_url` or `pg_server`): `make test-fast` leaves them out.

PostgreSQL binaries are looked up in $VENALAB_PG_BIN, then Debian's /usr/lib/postgresql/<v>/bin
(15 preferred), then PATH. When they are missing the PostgreSQL tests FAIL (not skip): CI
installs them (scripts/system-deps.sh). Running as root, the server runs as the `postgres`
system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

PREFERRED_MAJOR = "15"


def _find_bin_dir() -> Path | None:
    env = os.environ.get("VENALAB_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        majors = sorted(
            (p for p in debian.iterdir() if (p / "bin" / "initdb").exists()),
            key=lambda p: (p.name != PREFERRED_MAJOR, -int(p.name) if p.name.isdigit() else 0),
        )
        if majors:
            return majors[0] / "bin"
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PgServer:
    bin_dir: Path
    data_dir: Path
    port: int
    as_postgres_user: bool
    users: int = 0
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres_user else []
        return [*prefix, *args]

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}{os.getpid()}_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if not self.data_dir.exists():
            return
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "immediate",
                "-w",
                "stop",
            ),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_server() -> PgServer:
    """initdb + pg_ctl start of a private cluster (about 1-2 s)."""
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL 15 "
            "(Debian: apt-get install postgresql-15, see scripts/system-deps.sh) or set "
            "VENALAB_PG_BIN to the directory holding initdb. The store tests run on both "
            "SQLite and PostgreSQL and are not skipped.",
            pytrace=False,
        )
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    data_dir = Path(tempfile.mkdtemp(prefix="venalab-pg-"))
    if as_root:
        shutil.chown(data_dir, "postgres", "postgres")
    server = PgServer(bin_dir, data_dir, 0, as_root)
    subprocess.run(
        server._cmd(
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ),
        capture_output=True,
        check=True,
    )
    last_error = ""
    for _attempt in range(5):  # the free port can be taken between probe and bind
        server.port = _free_port()
        # Durability settings off: a test cluster is thrown away, and this makes
        # CREATE DATABASE and commits several times faster.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {data_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            # Every test has its own database, and engines a test forgot to dispose of keep
            # their pooled connections until garbage collection.
            "-c max_connections=300"
        )
        started = subprocess.run(
            server._cmd(
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(data_dir / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode == 0:
            return server
        log = data_dir / "server.log"
        last_error = started.stderr + (log.read_text() if log.exists() else "")
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"could not start a private PostgreSQL cluster:\n{last_error}", pytrace=False)


_SERVER: PgServer | None = None


def _stop_at_exit() -> None:
    if _SERVER is not None:
        _SERVER.stop()


atexit.register(_stop_at_exit)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # Each module that imports this fixture gets its own session-scoped definition, so the
    # cluster is a module-level singleton with a user count; the last finalizer stops it.
    global _SERVER
    if _SERVER is None:
        _SERVER = start_server()
    server = _SERVER
    server.users += 1
    yield server
    server.users -= 1
    if server.users == 0:
        server.stop()
        _SERVER = None


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.db)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'venalab.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
