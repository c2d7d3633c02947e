"""Cohort runs on Dask: the same batch function (`runner.run_partition`) over partitions.

By default a local cluster of worker processes on this machine (2 workers, one thread
each, no dashboard, bound to 127.0.0.1); with `scheduler="tcp://host:8786"` an existing
cluster. Each worker opens its partition of the input itself and writes its partition
files into the output folder, so on a real cluster input and output must be on storage
every worker can read and write (a shared filesystem: NFS, Lustre, CephFS...): only
small descriptions (`Source`, `Partition`, `Settings`) and summaries travel through the
scheduler. Workers need the same venalab version installed (the partition function is
imported on the worker, not pickled by value).

Paths are made absolute on the client (a relative `-o` would otherwise be resolved in each
worker's own working directory). Before the run every worker is asked to read a probe file
the client wrote into the output folder, to write one back and to see the input; each task
checks the probe again (a worker may join later), and after the run the client checks that
every partition's files are there. A worker that does not share the storage fails the run
with `InvalidInput` naming the worker, instead of writing results where nobody looks.

Results are identical to `runner.run_local` (tested): the partition function is the same
and partitions are independent. Code that starts a local cluster must be import-safe
(`if __name__ == "__main__":` in scripts), because worker processes re-import the main
module.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from venalab.cohort.runner import (
    Partition,
    PartitionSummary,
    Settings,
    Source,
    absolute,
    cpu_count,
    finish_output,
    plan,
    prepare_output,
    probe_name,
    run_partition,
    verify_partitions,
)
from venalab.errors import InvalidInput, Problem

SHARED_STORAGE = (
    "input and output must be on storage that the client and every worker mount at the "
    "same path (docs/cohorts.md, distributed runs)"
)


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2) -> Iterator[Any]:
    """A connected dask.distributed Client: to `scheduler`, or to a new local cluster."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as err:
            raise InvalidInput(
                [Problem("scheduler", f"cannot connect to the Dask scheduler {scheduler}: {err}")],
                what="option",
            ) from None
        try:
            yield client
        finally:
            client.close()  # type: ignore[no-untyped-call]
        return
    # Each worker process runs Polars; give each its share of the cores so two workers on
    # two cores do not oversubscribe them.
    threads = max(1, cpu_count() // max(1, n_workers))
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        env={"POLARS_MAX_THREADS": str(threads), "OMP_NUM_THREADS": "1"},
    )
    client = Client(cluster)  # type: ignore[no-untyped-call]
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()


def check_worker(source_path: str, out: str, token: str) -> dict[str, Any]:
    """Run on a worker: can it see the input, read the client's probe and write into OUT?"""
    problems: list[str] = []
    folder = Path(out)
    if not Path(source_path).exists():
        problems.append(f"cannot see the input {source_path}")
    probe = folder / probe_name(token)
    try:
        seen = probe.read_text(encoding="utf-8").strip() == token
    except OSError:
        seen = False
    if not seen:
        problems.append(f"cannot read the probe file {probe} the client wrote into the output")
    written = folder / f"{probe_name(token)}.{uuid.uuid4().hex[:8]}"
    if seen:
        try:
            written.write_text(token, encoding="utf-8")
        except OSError as err:
            problems.append(f"cannot write into {folder}: {err}")
    return {
        "host": socket.gethostname(),
        "cwd": os.getcwd(),
        "problems": problems,
        "written": written.name if seen and not problems else None,
    }


def check_workers(client: Any, source: Source, out: Path, token: str) -> None:
    """Every connected worker must reach the input and the output (raises `InvalidInput`)."""
    results: dict[str, dict[str, Any]] = client.run(
        check_worker, source.path, os.fspath(out), token
    )
    if not results:
        raise InvalidInput([Problem("scheduler", "no workers are connected")], what="option")
    problems: list[Problem] = []
    for address, r in sorted(results.items()):
        where = f"worker {address} (host {r['host']}, working directory {r['cwd']})"
        problems += [Problem("output", f"{where} {p}") for p in r["problems"]]
        written = out / r["written"] if r["written"] else None
        if written is not None:
            if not written.exists():
                problems.append(
                    Problem("output", f"{where} wrote {written}, which the client cannot see")
                )
            written.unlink(missing_ok=True)
    if problems:
        problems.append(Problem("output", SHARED_STORAGE))
        raise InvalidInput(problems, what="output")


def run_dask(
    source: Source,
    out: Path,
    settings: Settings,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    overwrite: bool = False,
    progress: Callable[[PartitionSummary], None] | None = None,
    parts: list[Partition] | None = None,
) -> dict[str, Any]:
    """Every partition as one Dask task; returns the same summary as `run_local`.

    Raises `InvalidInput` when a worker cannot reach the input or the output folder."""
    from dask.distributed import as_completed

    out = absolute(out)
    parts = parts if parts is not None else plan(source, settings.partition_size)
    prepare_output(out, source, settings, parts, overwrite=overwrite)
    summaries: list[PartitionSummary] = []
    run_id = uuid.uuid4().hex[:12]
    probe = out / probe_name(run_id)
    probe.write_text(run_id, encoding="utf-8")
    try:
        with dask_client(scheduler, n_workers) as client:
            check_workers(client, source, out, run_id)
            futures = [
                client.submit(
                    run_partition,
                    source,
                    part,
                    os.fspath(out),
                    settings,
                    probe=run_id,
                    key=f"venalab-{part.name}-{run_id}",
                )
                for part in parts
            ]
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                summary: PartitionSummary = future.result()
                summaries.append(summary)
                if progress:
                    progress(summary)
    finally:
        probe.unlink(missing_ok=True)
    summaries.sort(key=lambda s: s.index)
    verify_partitions(out, parts)
    return finish_output(out, summaries)
