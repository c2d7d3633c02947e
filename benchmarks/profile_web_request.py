"""CPU per request of the web app, in process, and where it goes (issue 14).

Builds the app (SQLite in a temporary directory, or --database-url), one sonographer with a
bearer token and one exam, then drives the ASGI app directly (no sockets, no HTTP parsing:
the figures are the app's own cost) with the bodies of benchmarks/bench_web_load.py:

- assess: POST /api/assess with the example exam;
- save:   POST /api/exams/{id}/versions, each a real change;
- amend:  sign, then POST /api/exams/{id}/amend (the signed-exam path);
- create: POST /api/exams.

Prints the process CPU time per request (all threads; the best of 20 batches) of each path. With --profile PATH,
also runs each path under cProfile, with the worker-thread hops made inline so one profile
sees the whole request, and prints the top functions by cumulative time.

    .venv/bin/python benchmarks/profile_web_request.py [-n 300] [--profile assess,save]
        [--database-url URL] [--top 30]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from venalab.store import make_engine, session_factory, users
from venalab.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src/venalab/data/examples/seed-001-calcinosis.json"


class Driver:
    """Calls the ASGI app as a server would, one request at a time."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.headers = [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"host", b"bench"),
        ]

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*self.headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def seed(url: str, tmp: Path) -> tuple[Any, str]:
    app = create_app(url, var_dir=tmp)
    engine = make_engine(url)
    run = secrets.token_hex(3)
    with session_factory(engine, write=True)() as s, s.begin():
        user, _ = users.create_user(s, f"prof-{run}", "admin", None, f"prof-pw-{run}-x")
        token = users.create_token(s, user, "profile")
    engine.dispose()
    return app, token


class Paths:
    """The request of each path, as a coroutine factory (each call a new valid request)."""

    def __init__(self, driver: Driver, document: dict[str, Any]) -> None:
        self.d = driver
        self.document = document
        self.n = 0
        self.exam_id = 0
        self.version = 0

    def doc(self) -> dict[str, Any]:
        self.n += 1
        doc: dict[str, Any] = json.loads(json.dumps(self.document))
        doc["legs"]["left"]["segments"][3]["reflux_ms"] = 600 + self.n % 1000
        return doc

    async def setup(self) -> None:
        status, out = await self.d.request("POST", "/api/exams", json.dumps(self.doc()).encode())
        assert status == 201, out
        self.exam_id = json.loads(out)["exam_id"]
        self.version = 1

    async def assess(self) -> None:
        status, out = await self.d.request("POST", "/api/assess", json.dumps(self.doc()).encode())
        assert status == 200, out

    async def create(self) -> None:
        status, out = await self.d.request("POST", "/api/exams", json.dumps(self.doc()).encode())
        assert status == 201, out

    async def save(self) -> None:
        body = {"expected_version": self.version, "document": self.doc()}
        status, out = await self.d.request(
            "POST", f"/api/exams/{self.exam_id}/versions", json.dumps(body).encode()
        )
        assert status == 201, out
        self.version = json.loads(out)["current_version"]

    async def amend(self) -> None:
        # sign first (not counted separately: the amend's own cost is what is profiled)
        sign = json.dumps({"expected_version": self.version}).encode()
        status, out = await self.d.request("POST", f"/api/exams/{self.exam_id}/sign", sign)
        assert status == 200, out
        body = {"expected_version": self.version, "document": self.doc(), "reason": "re-measured"}
        status, out = await self.d.request(
            "POST", f"/api/exams/{self.exam_id}/amend", json.dumps(body).encode()
        )
        assert status == 201, out
        self.version = json.loads(out)["current_version"]


def inline_hops() -> None:
    """Run the worker-thread hops inline, so cProfile (main thread only) sees everything."""
    import fastapi.dependencies.utils as fdu
    import fastapi.routing as fr
    import starlette.concurrency as sc

    import venalab.web.deps as deps

    async def inline(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    for module in (sc, fdu, fr, deps):
        module.run_in_threadpool = inline  # type: ignore[attr-defined]

    def sized(_size: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return inline(fn, *args, **kwargs)

    for name in ("api_assess", "api_exams"):
        module = __import__(f"venalab.web.routes.{name}", fromlist=["x"])
        for attr, replacement in (("run_cpu", inline), ("run_heavy", inline), ("run_sized", sized)):
            if hasattr(module, attr):
                setattr(module, attr, replacement)


async def measure(paths: Paths, names: list[str], n: int) -> dict[str, float]:
    await paths.setup()
    out = {}
    for name in names:
        fn = getattr(paths, name)
        for _ in range(20):  # warm-up
            await fn()
        # the best of 20 batches: the machine may be shared, and others' load only adds
        cpu, wall = [], []
        size = max(1, n // 20)
        for _ in range(20):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(size):
                await fn()
            cpu.append((time.process_time() - c0) * 1000 / size)
            wall.append((time.perf_counter() - w0) * 1000 / size)
        out[name], out[name + "_wall"] = min(cpu), min(wall)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("-n", type=int, default=300, help="requests per path (default 300)")
    ap.add_argument("--paths", default="assess,save,amend,create")
    ap.add_argument("--profile", default="", help="paths to profile (comma list)")
    ap.add_argument("--top", type=int, default=35)
    ap.add_argument("--sort", default="cumulative")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    document = json.loads(EXAMPLE.read_text())
    with tempfile.TemporaryDirectory(prefix="venalab-prof-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'venalab.db'}"
        app, token = seed(url, Path(tmp))
        paths = Paths(Driver(app, token), document)
        names = [p for p in args.paths.split(",") if p]
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        figures = runner(measure(paths, names, args.n))
        print("CPU ms per request (process time, all threads; wall ms in brackets):")
        for name in names:
            print(f"  {name:8} {figures[name]:6.2f}  ({figures[name + '_wall']:.2f})")
        profiled = [p for p in args.profile.split(",") if p]
        if profiled:
            inline_hops()
            for name in profiled:
                prof = cProfile.Profile()

                async def go(name: str = name, prof: cProfile.Profile = prof) -> None:
                    fn = getattr(paths, name)
                    for _ in range(10):
                        await fn()
                    prof.enable()
                    for _ in range(args.n):
                        await fn()
                    prof.disable()

                runner(go())
                print(f"\n=== {name}: top {args.top} by {args.sort} ===")
                pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
        app.state.venalab.engine.dispose()


if __name__ == "__main__":
    main()
