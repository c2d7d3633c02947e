"""Bounded load test of the web application on loopback (issue 6).

Starts `venalab serve` on a free loopback port (SQLite in a temporary directory by default, or
the database given with --database-url), creates one sonographer with a bearer token and one
exam per client directly in the store, then runs N concurrent HTTP clients (httpx, asyncio)
for T seconds per phase:

- assess: POST /api/assess with an exam document (stateless interpretation);
- save:   POST /api/exams/{id}/versions, each client on its own exam, tracking
          expected_version from its previous response (so a 409 would be a real conflict,
          not an intended one).

Reports per endpoint: requests, errors (by status or exception), throughput (requests/s) and
latency percentiles (p50/p95/p99/max, milliseconds). Stops by itself after the phases; the
server is stopped too. Client and server share the machine: on 2 cores, the figures are a
lower bound of what the server does alone.

    .venv/bin/python benchmarks/bench_web_load.py [--clients 50] [--duration 30]
        [--phases assess,save] [--database-url URL] [--json results.json]

With --database-url the database must be reachable and migrated or empty (the server migrates
it); the benchmark adds users `bench-<run>-<n>` and exams for patients `BENCH-<run>-<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from venalab.exam import parse_exam_obj
from venalab.store import exams, make_engine, session_factory, upgrade, users

EXAMPLE = Path(__file__).resolve().parents[1] / "src/venalab/data/examples"
VENALAB = Path(sys.executable).parent / "venalab"


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, started: float, outcome: str | None) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if outcome is not None:
            self.errors[outcome] += 1

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        n = len(lat)

        def pct(p: float) -> float:
            return round(lat[max(0, math.ceil(p / 100 * n) - 1)], 1) if n else float("nan")

        return {
            "requests": n,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "throughput_rps": round(n / seconds, 1) if seconds else 0.0,
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1], 1) if n else float("nan"),
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(cwd: Path, url: str, port: int, log: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(VENALAB), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-examples"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []

    def drain() -> None:
        assert proc.stdout is not None
        with open(log or os.devnull, "w") as sink:
            for line in proc.stdout:
                if len(output) < 200:  # the start-up lines, for error messages
                    output.append(line)
                sink.write(line)
                sink.flush()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("venalab serve exited:\n" + "".join(output))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("venalab serve did not answer /healthz:\n" + "".join(output))


def seed(url: str, clients: int, run: str) -> tuple[list[str], list[int], dict[str, Any]]:
    """One sonographer + token and one exam (version 1) per client; returns tokens, exam ids
    and the document the clients send."""
    document: dict[str, Any] = json.loads((EXAMPLE / "seed-001-calcinosis.json").read_text())
    engine = make_engine(url)
    upgrade(engine)
    tokens: list[str] = []
    exam_ids: list[int] = []
    with session_factory(engine)() as s, s.begin():
        for i in range(clients):
            user, _ = users.create_user(
                s, f"bench-{run}-{i}", "sonographer", None, f"bench-password-{run}-{i}"
            )
            tokens.append(users.create_token(s, user, "load test"))
            doc = {**document, "patient": {**document["patient"], "id": f"BENCH-{run}-{i}"}}
            exam_ids.append(exams.create_exam(s, parse_exam_obj(doc), user).exam_id)
    engine.dispose()
    return tokens, exam_ids, document


def _outcome(response: httpx.Response, ok: int) -> str | None:
    return None if response.status_code == ok else f"HTTP {response.status_code}"


async def client_loop(
    base: str,
    token: str,
    exam_id: int,
    document: dict[str, Any],
    phase: str,
    deadline: float,
    stats: dict[str, Stats],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    expected = 1
    doc = json.loads(json.dumps(document))
    n = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        if phase == "save":  # this client's exam may have versions from an earlier phase
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    r = await client.get(f"/api/exams/{exam_id}")
                except httpx.HTTPError as e:
                    stats["GET /api/exams/{id} (setup)"].add(started, type(e).__name__)
                    continue
                stats["GET /api/exams/{id} (setup)"].add(started, _outcome(r, 200))
                if r.status_code == 200:
                    doc, expected = r.json()["document"], r.json()["current_version"]
                    break
        while time.monotonic() < deadline:
            n += 1
            started = time.perf_counter()
            try:
                if phase == "assess":
                    r = await client.post("/api/assess", json=doc)
                    stats["POST /api/assess"].add(started, _outcome(r, 200))
                else:
                    # a different value each time: every version is a real change
                    doc["legs"]["left"]["segments"][3]["reflux_ms"] = 600 + n % 1000
                    r = await client.post(
                        f"/api/exams/{exam_id}/versions",
                        json={"document": doc, "expected_version": expected},
                    )
                    stats["POST /api/exams/{id}/versions"].add(started, _outcome(r, 201))
                    if r.status_code == 201:
                        expected = r.json()["version"]["version"]
                    elif r.status_code == 409:  # not expected: nobody else writes this exam
                        r = await client.get(f"/api/exams/{exam_id}")
                        if r.status_code == 200:
                            expected = r.json()["current_version"]
            except httpx.HTTPError as e:
                key = "POST /api/assess" if phase == "assess" else "POST /api/exams/{id}/versions"
                stats[key].add(started, type(e).__name__)


async def run_phase(
    base: str,
    tokens: list[str],
    exam_ids: list[int],
    document: dict[str, Any],
    phase: str,
    seconds: float,
) -> dict[str, Any]:
    stats: dict[str, Stats] = {
        "POST /api/assess": Stats(),
        "POST /api/exams/{id}/versions": Stats(),
        "GET /api/exams/{id} (setup)": Stats(),  # once per client, before its saves
    }
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(
            client_loop(base, token, exam_id, document, phase, deadline, stats)
            for token, exam_id in zip(tokens, exam_ids, strict=True)
        )
    )
    elapsed = time.monotonic() - started  # includes the requests in flight at the deadline
    keys = ["POST /api/assess"] if phase == "assess" else list(stats)[1:]
    return {**{k: stats[k].summary(elapsed) for k in keys}, "elapsed_s": round(elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per phase (default 30)")
    ap.add_argument("--phases", default="assess,save", help="comma list of assess, save")
    ap.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: temp SQLite)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--server-log", type=Path, default=None, help="write the server output here")
    args = ap.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if not phases or any(p not in ("assess", "save") for p in phases):
        ap.error("--phases takes assess and/or save")

    with tempfile.TemporaryDirectory(prefix="venalab-load-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'var' / 'venalab.db'}"
        run = secrets.token_hex(3)
        tokens, exam_ids, document = seed(url, args.clients, run)
        port = free_port()
        server = start_server(Path(tmp), url, port, args.server_log)
        base = f"http://127.0.0.1:{port}"
        backend = url.split(":", 1)[0].split("+")[0]
        print(
            f"venalab load test: {args.clients} clients x {args.duration:g} s per phase, "
            f"database {backend}, server pid {server.pid}, {os.cpu_count()} CPUs shared with "
            "the clients"
        )
        results: dict[str, Any] = {
            "clients": args.clients,
            "duration_s": args.duration,
            "database": backend,
            "phases": {},
        }
        try:
            # warm-up: imports, caches, connection pool
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[0]}"}) as c:
                for _ in range(5):
                    c.post("/api/assess", json=document).raise_for_status()
            for phase in phases:
                out = asyncio.run(run_phase(base, tokens, exam_ids, document, phase, args.duration))
                results["phases"][phase] = out
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()

    header = f"{'endpoint':34} {'requests':>8} {'errors':>6} {'req/s':>7} "
    header += f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    for out in results["phases"].values():
        for key, s in out.items():
            if key == "elapsed_s":
                continue
            print(
                f"{key:34} {s['requests']:8d} {s['errors']:6d} {s['throughput_rps']:7.1f} "
                f"{s['p50_ms']:8.1f} {s['p95_ms']:8.1f} {s['p99_ms']:8.1f} {s['max_ms']:8.1f}"
            )
            if s["error_kinds"]:
                print(f"  errors: {s['error_kinds']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
