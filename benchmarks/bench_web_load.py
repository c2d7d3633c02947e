"""Load test of `venalab serve` on loopback (issues 6 and 14).

Starts `venalab serve --workers N` on a free loopback port (SQLite in a temporary directory by
default, a private PostgreSQL cluster with --postgres, or --database-url), creates one
sonographer with one bearer token and one exam per client directly in the store, then
measures with wrk (a compiled load generator, Debian package `wrk`, so that the generator is
not the bottleneck; each figure is the median of --repeat runs):

- assess: POST /api/assess with an exam document, C concurrent connections;
- save:   POST /api/exams/{id}/versions, one wrk thread and connection per client, each on its
          own exam, tracking `expected_version` from its previous answer (a 409 would be a real
          conflict, not an intended one), at each of --save-clients;
- isolation: the median latency of small assessments (one client, one at a time) alone, then
          while large valid assessments (1,000 segments per leg, the input limit) are in
          flight on two other connections; prints the ratio.

Reports per phase: requests, errors (non-2xx and socket errors), requests/s, latency
percentiles (ms), the server's CPU time per request (all its processes: what bounds its
capacity whatever else runs) and the machine's load average. Client and server share it.

    .venv/bin/python benchmarks/bench_web_load.py [--clients 50] [--save-clients 20,50]
        [--duration 15] [--repeat 3] [--workers N] [--phases assess,save,isolation]
        [--postgres | --database-url URL] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from venalab.exam import parse_exam_obj
from venalab.store import exams, make_engine, session_factory, upgrade, users

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src/venalab/data/examples/seed-001-calcinosis.json"
VENALAB = Path(sys.executable).parent / "venalab"
LARGE_SEGMENTS_PER_LEG = 1000

# wrk scripts. `done` prints one JSON line the benchmark reads.
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "non2xx": %d, "socket_errors": %d, "seconds": %.3f, '
    .. '"p50": %.2f, "p95": %.2f, "p99": %.2f, "max": %.2f}\\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""
ASSESS_LUA = (
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
local f = assert(io.open(os.getenv("BENCH_BODY"), "r")); wrk.body = f:read("*a"); f:close()
"""
    + DONE
)
# One wrk thread per client and connection: a thread's Lua state is that client's, so it
# knows its exam and the version it last saved.
SAVE_LUA = (
    """
local threads, counter = {}, 0
setup = function(thread)
  counter = counter + 1
  thread:set("client", counter)
  table.insert(threads, thread)
end
local exam_id, expected, n, template
init = function(args)
  local ids = {}
  for id in string.gmatch(os.getenv("BENCH_EXAMS"), "%d+") do table.insert(ids, id) end
  exam_id = ids[client]
  local versions = {}
  for v in string.gmatch(os.getenv("BENCH_VERSIONS"), "%d+") do table.insert(versions, v) end
  expected = tonumber(versions[client])
  n = 0
  local f = assert(io.open(os.getenv("BENCH_BODY"), "r")); template = f:read("*a"); f:close()
end
request = function()
  n = n + 1
  -- a different value each time: every version is a real change
  local doc = string.gsub(template, '"reflux_ms": 1300', '"reflux_ms": ' .. (600 + n % 1000), 1)
  local body = '{"expected_version": ' .. expected .. ', "document": ' .. doc .. '}'
  return wrk.format("POST", "/api/exams/" .. exam_id .. "/versions", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
  }, body)
end
response = function(status, headers, body)
  -- 201: the new version; 409 (not expected: nobody else writes this exam): the current one
  local v = string.match(body, '"current_version":%s*(%d+)') or string.match(body, "is at version (%d+)")
  if v then expected = tonumber(v) end
end
"""
    + DONE
)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants still alive."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return total


@contextmanager
def server(cwd: Path, url: str, workers: int | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    args = [str(VENALAB), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-examples"]
    if workers:
        args += ["--workers", str(workers)]
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    log = (cwd / "server.log").open("w")
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit("venalab serve exited:\n" + (cwd / "server.log").read_text())
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("venalab serve did not answer /healthz")
            time.sleep(0.3)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def seed(url: str, clients: int, document: dict[str, Any]) -> tuple[str, list[int]]:
    """One sonographer with one token, and one exam (version 1) per client."""
    run = secrets.token_hex(3)
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine, write=True)() as s, s.begin():
        user, _ = users.create_user(s, f"bench-{run}", "sonographer", None, f"bench-pw-{run}-x")
        token = users.create_token(s, user, "load test")
        ids = []
        for i in range(clients):
            doc = {**document, "patient": {**document["patient"], "id": f"BENCH-{run}-{i}"}}
            ids.append(exams.create_exam(s, parse_exam_obj(doc), user).exam_id)
    engine.dispose()
    return token, ids


def current_versions(url: str, ids: list[int]) -> list[int]:
    """Where each exam is now (a repeat continues from the versions the last run saved)."""
    engine = make_engine(url)
    with session_factory(engine)() as s:
        found = [exams.get_exam(s, i).current_version for i in ids]
    engine.dispose()
    return found


def wrk(
    srv: tuple[str, int],
    path: str,
    script: str,
    threads: int,
    conns: int,
    seconds: float,
    env: dict[str, str],
) -> dict[str, Any]:
    base, pid = srv
    cpu0 = tree_cpu_s(pid)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "30s",
             "-s", fh.name, base + path],
            env={**os.environ, **env}, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(fh.name)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["errors"] = result.pop("non2xx") + result.pop("socket_errors")
    result["rps"] = round(result["requests"] / result["seconds"], 1)
    # the server's CPU per request: what its capacity is, whatever else the machine runs
    result["cpu_ms"] = round((tree_cpu_s(pid) - cpu0) * 1000 / max(1, result["requests"]), 2)
    result["load"] = round(os.getloadavg()[0], 2)
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median p95, plus every run's p95 and errors (for the spread)."""
    ordered = sorted(runs, key=lambda r: r["p95"])
    mid = dict(ordered[len(ordered) // 2])
    mid["p95_runs"] = [r["p95"] for r in runs]
    mid["errors_runs"] = [r["errors"] for r in runs]
    return mid


def large_document(document: dict[str, Any]) -> bytes:
    doc = json.loads(json.dumps(document))
    template = doc["legs"]["left"]["segments"]
    for side in ("left", "right"):
        leg = doc["legs"].setdefault(side, {"segments": []})
        leg["segments"] = [
            {**template[i % len(template)], "label": f"site {i}"}
            for i in range(LARGE_SEGMENTS_PER_LEG)
        ]
    return json.dumps(doc).encode()


def isolation(base: str, token: str, document: dict[str, Any], seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    small = json.dumps(document).encode()
    large = large_document(document)

    def small_latencies(client: httpx.Client, until: float) -> list[float]:
        out = []
        while time.monotonic() < until:
            t0 = time.perf_counter()
            client.post("/api/assess", content=small, headers=headers).raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
        return out

    with httpx.Client(base_url=base, timeout=120) as client:
        small_latencies(client, time.monotonic() + 1)  # warm-up
        alone = small_latencies(client, time.monotonic() + seconds)
        stop = threading.Event()
        large_ms: list[float] = []

        def post_large() -> None:
            with httpx.Client(base_url=base, timeout=120) as c:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    c.post("/api/assess", content=large, headers=headers).raise_for_status()
                    large_ms.append((time.perf_counter() - t0) * 1000)

        background = [threading.Thread(target=post_large) for _ in range(2)]
        for t in background:
            t.start()
        time.sleep(1.0)  # the large ones are in flight
        loaded = small_latencies(client, time.monotonic() + seconds)
        stop.set()
        for t in background:
            t.join()
    p50_alone, p50_loaded = statistics.median(alone), statistics.median(loaded)
    return {
        "small_p50_alone_ms": round(p50_alone, 1),
        "small_p50_with_large_ms": round(p50_loaded, 1),
        "ratio": round(p50_loaded / p50_alone, 2),
        "small_requests": len(loaded),
        "large_requests": len(large_ms),
        "large_p50_ms": round(statistics.median(large_ms), 1) if large_ms else None,
        "large_body_kb": len(large) // 1024,
        "load": round(os.getloadavg()[0], 2),
    }


@contextmanager
def postgres() -> Iterator[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_fixture import start_server  # the private throwaway cluster of the tests

    pg = start_server()
    try:
        yield pg.create_database("bench")
    finally:
        pg.stop()


def run(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text())
    most = max([args.clients, *args.save_clients])
    token, ids = seed(url, most, document)
    body = tmp / "body.json"
    body.write_text(json.dumps(document, indent=1))  # `"reflux_ms": 1300` for the saves
    env = {"BENCH_TOKEN": token, "BENCH_BODY": str(body), "BENCH_EXAMS": ",".join(map(str, ids))}
    results: dict[str, Any] = {
        "database": url.split(":", 1)[0].split("+")[0],
        "workers": args.workers or os.cpu_count(),
        "cpus": os.cpu_count(),
        "duration_s": args.duration,
        "repeat": args.repeat,
    }
    with server(tmp, url, args.workers) as srv:
        base = srv[0]
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300
        ) as c:
            # warm-up: imports, caches, connection pools of each worker, and its heavy-job
            # processes (they load the engine at start: not the load test's CPU)
            for _ in range(20):
                c.post("/api/assess", json=document).raise_for_status()
            large = large_document(document)
            for _ in range(4):
                c.post("/api/assess", content=large).raise_for_status()
        if "assess" in args.phases:
            c = args.clients
            results["assess"] = median_run(
                [
                    wrk(srv, "/api/assess", ASSESS_LUA, 2, c, args.duration, env)
                    for _ in range(args.repeat)
                ]
            )
            results["assess"]["clients"] = c
        if "save" in args.phases:
            results["save"] = []
            for c in args.save_clients:
                runs = []
                for _ in range(args.repeat):
                    # saves in flight when wrk stopped still commit: let them, then read
                    time.sleep(3)
                    versions = ",".join(map(str, current_versions(url, ids)))
                    # one wrk thread (one Lua state) per client and connection
                    runs.append(
                        wrk(
                            srv,
                            "/api/exams",
                            SAVE_LUA,
                            c,
                            c,
                            args.duration,
                            {**env, "BENCH_VERSIONS": versions},
                        )
                    )
                results["save"].append({**median_run(runs), "clients": c})
        if "isolation" in args.phases:
            results["isolation"] = isolation(base, token, document, args.duration)
    return results


def print_results(r: dict[str, Any]) -> None:
    print(
        f"\ndatabase {r['database']}, {r['workers']} workers, {r['cpus']} CPUs shared with wrk; "
        f"{r['duration_s']:g} s per run, median of {r['repeat']} runs (by p95)"
    )
    print(
        f"{'phase':22} {'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50':>7} "
        f"{'p95':>7} {'p99':>7} {'max':>7} {'CPU ms':>6} {'load':>5}  p95 of each run"
    )
    rows = ([("assess", r["assess"])] if "assess" in r else []) + [
        ("save", s) for s in r.get("save", [])
    ]
    for name, s in rows:
        print(
            f"{name:22} {s['clients']:7d} {s['requests']:8d} {s['errors']:6d} {s['rps']:7.1f} "
            f"{s['p50']:7.1f} {s['p95']:7.1f} {s['p99']:7.1f} {s['max']:7.1f} {s['cpu_ms']:6.2f} "
            f"{s['load']:5.1f}  "
            f"{s['p95_runs']} (errors {s['errors_runs']})"
        )
    if "isolation" in r:
        i = r["isolation"]
        print(
            f"isolation: small assess p50 {i['small_p50_alone_ms']} ms alone, "
            f"{i['small_p50_with_large_ms']} ms with two large ones in flight "
            f"({i['large_body_kb']} KB, {2 * LARGE_SEGMENTS_PER_LEG} segments, p50 "
            f"{i['large_p50_ms']} ms): ratio {i['ratio']} (load {i['load']})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50, help="assess connections (default 50)")
    ap.add_argument(
        "--save-clients", default="20,50", help="comma list of save client counts (default 20,50)"
    )
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per run (default 15)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (default 3)")
    ap.add_argument("--workers", type=int, default=None, help="server workers (default: cores)")
    ap.add_argument("--phases", default="assess,save,isolation")
    db = ap.add_mutually_exclusive_group()
    db.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster")
    db.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: temp SQLite)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    args.save_clients = [int(c) for c in args.save_clients.split(",") if c.strip()]
    if not args.phases <= {"assess", "save", "isolation"}:
        ap.error("--phases takes assess, save and isolation")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (scripts/system-deps.sh)")

    with tempfile.TemporaryDirectory(prefix="venalab-load-") as tmp:
        if args.postgres:
            with postgres() as url:
                results = run(args, url, Path(tmp))
        else:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'var' / 'venalab.db'}"
            results = run(args, url, Path(tmp))
    print_results(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
