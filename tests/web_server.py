"""A real `venalab serve` process for tests: free loopback port, output captured, /healthz wait.

Used by test_web_browser.py and test_web_interrupted.py. The server runs in `cwd`, so without
DATABASE_URL it uses the SQLite file `cwd/var/venalab.db`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

VENALAB = Path(sys.executable).parent / "venalab"
OTP_LINE = re.compile(r"one-time password: (\S+)")
STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A `venalab serve` subprocess; a thread drains its output (stdout and stderr) into
    `lines`, so that it never blocks on a full pipe and the test can read what it printed."""

    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

    def admin_password(self) -> str:
        match = OTP_LINE.search(self.output())
        assert match, f"no one-time admin password printed:\n{self.output()}"
        return match.group(1)

    def wait_for_output(self, text: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not print {text!r}:\n{self.output()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no rollback, no flush; as if the machine died."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    cwd: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    command: tuple[str, ...] = (str(VENALAB), "serve"),
) -> Server:
    """Start `venalab serve` (or `command`, which takes --host and --port like it) in `cwd` on a
    free loopback port; return once /healthz answers. One worker process unless `args` say
    otherwise (`serve` defaults to one per core: slower to start, and not what most tests
    test).

    DATABASE_URL is taken from `env` only (never inherited), so that a test's server uses the
    database the test chose."""
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(env or {})
    environment["PYTHONUNBUFFERED"] = "1"
    if command[1:] == ("serve",) and "--workers" not in args:
        args = (*args, "--workers", "1")
    environment["COLUMNS"] = "200"  # rich must not wrap the password line
    last = ""
    for _attempt in range(3):  # the free port can be taken between probe and bind
        port = free_port()
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        server = Server(proc, port)

        def drain(server: Server = server) -> None:
            assert server.proc.stdout is not None
            for line in server.proc.stdout:
                server.lines.append(line)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        server.stop()
        last = server.output()
        if "address already in use" not in last.lower():
            break
    raise RuntimeError(f"venalab serve did not start:\n{last}")
