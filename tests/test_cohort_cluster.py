"""`cohort assess --scheduler` against a separately started Dask cluster: a `dask scheduler`
process and two `dask worker` processes on loopback, each worker in its own working
directory. A relative `-o` must land in the client's folder, and a worker that cannot reach
the output folder (a third worker whose view of it is an empty tmpfs, as on a node that
does not mount the shared storage) must fail the run loudly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from polars.testing import assert_frame_equal
from typer.testing import CliRunner, Result

from helpers import cohort_settings
from venalab.cli.cohort import cohort_app
from venalab.cohort.runner import (
    Partition,
    Source,
    read_results,
    run_local,
    verify_partitions,
)
from venalab.cohort.synth import write_synthetic
from venalab.errors import InvalidInput

pytestmark = pytest.mark.slow


def _dask() -> list[str]:
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
    )
    return probe.returncode == 0


class Cluster:
    """A scheduler and its workers as child processes, stopped by their ids."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.file = root / "scheduler.json"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self._start(
            [
                *_dask(),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.file),
            ],
            root,
            "scheduler",
        )

    def _start(self, argv: list[str], cwd: Path, name: str) -> None:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.procs.append(
            subprocess.Popen(argv, cwd=cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )
        log.close()

    def worker(self, name: str, hide: Path | None = None) -> Path:
        """Start a worker in its own working directory; `hide`: a folder the worker sees as
        an empty tmpfs (its own mount namespace)."""
        cwd = self.root / name
        cwd.mkdir()
        argv = [
            *_dask(),
            "worker",
            "--scheduler-file",
            str(self.file),
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--no-nanny",  # one process per worker: half the start-up
            "--name",
            name,
        ]
        if hide is not None:
            script = f'mount -t tmpfs none "{hide}" && exec "$@"'
            argv = [
                "unshare",
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                script,
                "sh",
                *argv,
            ]
        self._start(argv, cwd, name)
        return cwd

    def address(self) -> str:
        deadline = time.monotonic() + 60
        while not self.file.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError((self.root / "scheduler.log").read_text(errors="replace"))
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        return str(json.loads(self.file.read_text())["address"])

    def wait_for(self, n: int) -> None:
        from dask.distributed import Client

        with Client(self.address(), timeout=60) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(n, timeout=60)

    def retire(self, name: str) -> None:
        from dask.distributed import Client

        with Client(self.address(), timeout=60) as client:  # type: ignore[no-untyped-call]
            client.retire_workers(names=[name], close_workers=True)
            deadline = time.monotonic() + 60
            while any(w.get("name") == name for w in client.scheduler_info()["workers"].values()):
                assert time.monotonic() < deadline, f"worker {name} did not retire"
                time.sleep(0.1)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    root = tmp_path / "cluster"
    root.mkdir()
    c = Cluster(root)
    try:
        yield c
    finally:
        c.stop()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(cohort_app, name="cohort")
    return app


def _text(r: Result) -> str:
    return " ".join(r.output.split())


def test_scheduler_run_with_relative_output_and_an_unreachable_worker(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_dir = tmp_path / "client"
    hidden = client_dir / "hidden"
    hidden.mkdir(parents=True)
    # all workers start at once (start-up dominates this test); the one that cannot reach
    # the output is used first, then retired
    with_hidden = _unshare_works()
    workers = [cluster.worker("w1"), cluster.worker("w2")]
    if with_hidden:
        cluster.worker("w3", hide=hidden)
    cohort = tmp_path / "cohort"
    write_synthetic(600, 8, cohort, jsonl=False, malformed=3)
    monkeypatch.chdir(client_dir)
    address = cluster.address()
    runner, app = CliRunner(), _app()
    assess = ["cohort", "assess", str(cohort), "--partition-size", "200", "--scheduler", address]

    if with_hidden:
        cluster.wait_for(3)
        r = runner.invoke(app, [*assess, "-o", "hidden/res"])
        text = _text(r)
        assert r.exit_code == 2, r.output
        assert "invalid output" in text and "cannot read the probe file" in text
        assert "working directory " + str(cluster.root / "w3") in text  # the worker is named
        assert str(cluster.root / "w1") not in text  # the workers that share it are not
        assert "mount at the same path" in text
        assert "exams assessed" not in text
        assert not (hidden / "res" / "_done").exists()  # no partition ran
        assert not list((hidden / "res").glob(".probe-*"))
        cluster.retire("w3")

    cluster.wait_for(2)
    r = runner.invoke(app, [*assess, "-o", "runs/res"])
    assert r.exit_code == 0, r.output
    assert "597 of 600 exams assessed" in _text(r)
    out = client_dir / "runs" / "res"
    assert sorted(p.name for p in (out / "legs").iterdir()) == [
        f"part-0000{i}.parquet" for i in range(3)
    ]
    for cwd in workers:
        assert not (cwd / "runs").exists()  # nothing written under a worker's own directory
    assert not list(out.glob(".probe-*"))
    local = tmp_path / "local"
    run_local(Source.open(cohort), local, cohort_settings(size=200))
    for a, b in zip(read_results(local), read_results(out), strict=True):
        assert_frame_equal(a, b)
    if not with_hidden:
        pytest.skip("unshare (user and mount namespaces) is not available for a third worker")


def test_missing_partition_files_fail_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for sub, ext in (("legs", "parquet"), ("segments", "parquet"), ("errors", "parquet")):
        (out / sub).mkdir(parents=True)
        (out / sub / f"part-00000.{ext}").write_bytes(b"x")
    (out / "_done").mkdir()
    parts = [Partition(0, 0, 10), Partition(1, 10, 20)]
    with pytest.raises(InvalidInput) as e:
        verify_partitions(out, parts)
    (problem,) = e.value.problems
    assert (
        "_done/part-00000.json" in problem.message and "legs/part-00001.parquet" in problem.message
    )
    assert "5 file(s) are missing" in problem.message


def test_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    import dask

    from venalab.cohort.distributed import run_dask

    write_synthetic(50, 3, tmp_path / "c", jsonl=False)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(InvalidInput) as e,
    ):
        run_dask(
            Source.open(tmp_path / "c"),
            tmp_path / "out",
            cohort_settings(size=50),
            scheduler="tcp://127.0.0.1:9",
        )
    (problem,) = e.value.problems
    assert problem.path == "scheduler"
    assert "cannot connect to the Dask scheduler tcp://127.0.0.1:9" in problem.message
    assert not list((tmp_path / "out").glob(".probe-*"))  # the probe is removed
