"""A server that keeps serving (issue 14), against a real `venalab serve` process.

- 20 clients create exams at the same moment, three rounds: no 5xx, every exam stored once,
  every create audited, on SQLite and on PostgreSQL. On SQLite the writes queue (one writer
  at a time) instead of failing with "database is locked".
- Concurrent saves: each client saves its own exam, and two clients race on one exam: the
  loser gets 409, nobody gets a 5xx.
- A huge valid assessment in flight does not stall a concurrent small request: the small one
  is answered while the huge one is still being computed (off the event loop).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from helpers import EXAMPLES
from pg_fixture import pg_server  # noqa: F401 - fixture
from venalab.exam import parse_exam_obj
from venalab.store import audit, exams, make_engine, session_factory, upgrade, users
from web_server import Server, start_server

CLIENTS = 20
ROUNDS = 3


def _document(patient: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / "seed-001-calcinosis.json").read_text())
    doc["patient"]["id"] = patient
    return doc


@dataclass
class Lab:
    server: Server
    url: str
    tokens: list[str]
    exam_ids: list[int]

    def client(self, i: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.base,
            headers={"Authorization": f"Bearer {self.tokens[i]}"},
            timeout=60,
        )


def _seed(url: str) -> tuple[list[str], list[int]]:
    """One sonographer with a token per client (one password hash: cheap) and one exam per
    client."""
    engine = make_engine(url)
    upgrade(engine)
    tokens, exam_ids = [], []
    with session_factory(engine, write=True)() as s, s.begin():
        user, _ = users.create_user(s, "sono", "sonographer", None, "sono-correct-horse-1")
        for i in range(CLIENTS):
            tokens.append(users.create_token(s, user, f"client {i}"))
            exam_ids.append(exams.create_exam(s, parse_exam_obj(_document(f"C-{i}")), user).exam_id)
    engine.dispose()
    return tokens, exam_ids


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # One server per database for the module: starting one takes seconds.
    tmp = tmp_path_factory.mktemp(f"lab-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'var' / 'venalab.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database("lab")
    tokens, exam_ids = _seed(url)
    # One worker: the isolation test must hit the process that computes the huge request.
    server = start_server(tmp, env={"DATABASE_URL": url}, args=("--no-examples", "--workers", "1"))
    try:
        yield Lab(server, url, tokens, exam_ids)
    finally:
        server.stop()


def _together(calls: list[Any]) -> list[Any]:
    """Run the calls at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        created = len(audit.query(s, action=audit.ACTION_EXAM_CREATE, limit=10_000))
        stored = len(exams.list_exams(s, limit=10_000))
    engine.dispose()
    return created, stored


def test_concurrent_creates_queue_instead_of_failing(lab: Lab) -> None:
    before = _counts(lab.url)
    clients = [lab.client(i) for i in range(CLIENTS)]
    statuses: list[int] = []
    for r in range(ROUNDS):
        calls = [
            (lambda c=c, i=i, r=r: c.post("/api/exams", json=_document(f"R{r}-{i % 5}")))
            for i, c in enumerate(clients)
        ]
        responses = _together(calls)
        statuses += [resp.status_code for resp in responses]
        assert all(resp.status_code == 201 for resp in responses), [
            (resp.status_code, resp.text[:200]) for resp in responses if resp.status_code != 201
        ]
    for c in clients:
        c.close()
    assert statuses.count(201) == CLIENTS * ROUNDS
    created, stored = _counts(lab.url)
    assert (created, stored) == (before[0] + CLIENTS * ROUNDS, before[1] + CLIENTS * ROUNDS)
    engine = make_engine(lab.url)
    with session_factory(engine)() as s:
        patients = [p.local_id for p in exams.list_patients(s, "R")]
    engine.dispose()
    # four clients per patient and round created it "at the same time": one row each
    assert sorted(patients) == sorted(f"R{r}-{k}" for r in range(ROUNDS) for k in range(5))


def test_concurrent_saves_and_one_race(lab: Lab) -> None:
    clients = [lab.client(i) for i in range(CLIENTS)]
    expected = {exam_id: 1 for exam_id in lab.exam_ids}
    for r in range(ROUNDS):
        calls = []
        for i, c in enumerate(clients):
            # clients 0 and 1 race on exam 0; everyone else saves their own exam
            exam_id = lab.exam_ids[0 if i == 1 else i]
            doc = _document(f"C-{0 if i == 1 else i}")
            doc["legs"]["left"]["segments"][3]["reflux_ms"] = 700 + 10 * r + i
            body = {"document": doc, "expected_version": expected[exam_id]}
            calls.append(lambda c=c, e=exam_id, b=body: c.post(f"/api/exams/{e}/versions", json=b))
        responses = _together(calls)
        assert not [x for x in responses if x.status_code >= 500], [
            (x.status_code, x.text[:200]) for x in responses if x.status_code >= 500
        ]
        for i, resp in enumerate(responses[2:], start=2):
            assert resp.status_code == 201, resp.text[:200]
            expected[lab.exam_ids[i]] = resp.json()["current_version"]
        race = sorted(x.status_code for x in responses[:2])
        assert race == [201, 409], race
        winner = next(x for x in responses[:2] if x.status_code == 201)
        expected[lab.exam_ids[0]] = winner.json()["current_version"]
    for c in clients:
        c.close()
    del expected[lab.exam_ids[1]]  # nobody saved exam 1: its client raced on exam 0
    assert all(v == 1 + ROUNDS for v in expected.values()), expected


def _huge_document(segments_per_leg: int) -> dict[str, Any]:
    doc = _document("HUGE-1")
    template = doc["legs"]["left"]["segments"]
    for side in ("left", "right"):
        leg = doc["legs"].setdefault(side, {"segments": []})
        leg["segments"] = [
            {**template[i % len(template)], "label": f"site {i}"} for i in range(segments_per_leg)
        ]
    return doc


def test_huge_assessment_does_not_stall_a_small_request(lab: Lab) -> None:
    # The largest valid exam (1,000 segments per leg), three at once: seconds of work.
    huge = json.dumps(_huge_document(1000)).encode()
    small = _document("SMALL-1")
    done: list[float] = []

    def post_huge(i: int) -> None:
        with lab.client(i) as c:
            r = c.post("/api/assess", content=huge, headers={"Content-Type": "application/json"})
            assert r.status_code == 200, r.text[:300]
            done.append(time.monotonic())

    with lab.client(9) as c:
        assert c.post("/api/assess", json=small).status_code == 200  # warm-up
        workers = [threading.Thread(target=post_huge, args=(i,)) for i in range(3)]
        started = time.monotonic()
        for w in workers:
            w.start()
        time.sleep(0.3)  # the huge requests are being read or computed now
        answered: list[float] = []
        while len(done) < len(workers) and time.monotonic() - started < 120:
            r = c.post("/api/assess", json=small)
            assert r.status_code == 200, r.text
            answered.append(time.monotonic())
        for w in workers:
            w.join(timeout=120)
    assert len(done) == len(workers), "the huge assessments did not finish"
    # Were the huge requests computed on the event loop, small requests would wait for them
    # to finish: long gaps. Off the loop, they keep being answered meanwhile.
    last = max(done)
    huge_s = last - started
    answered = [started + 0.3] + [t for t in answered if t < last]
    longest_gap = max(b - a for a, b in itertools.pairwise(answered))
    assert len(answered) > 5, (len(answered), huge_s)
    assert longest_gap < huge_s / 5, (longest_gap, huge_s)


def test_a_large_invalid_document_is_refused_naming_the_field(lab: Lab) -> None:
    # Large bodies are parsed in a worker process: its error comes back whole.
    doc = _huge_document(600)
    doc["legs"]["right"]["segments"][599]["reflux_ms"] = -5
    with lab.client(2) as c:
        r = c.post("/api/assess", json=doc)
    assert r.status_code == 422, r.text[:300]
    paths = [p["path"] for p in r.json()["error"]["problems"]]
    assert "legs.right.segments[599].reflux_ms" in paths, paths
