"""Cohort runs on Dask: the same batch function (`runner.run_partition`) over partitions.

By default a local cluster of worker processes on this machine (2 workers, one thread
each, no dashboard, bound to 127.0.0.1); with `scheduler="tcp://host:8786"` an existing
cluster. Each worker opens its partition of the input itself and writes its partition
files into the output folder, so on a real cluster input and output must be on storage
every worker can read and write (a shared filesystem: NFS, Lustre, CephFS...): only
small descriptions (`Source`, `Partition`, `Settings`) and summaries travel through the
scheduler. Workers need the same venalab version installed (the partition function is
imported on the worker, not pickled by value).

Results are identical to `runner.run_local` (tested): the partition function is the same
and partitions are independent. Code that starts a local cluster must be import-safe
(`if __name__ == "__main__":` in scripts), because worker processes re-import the main
module.
"""

from __future__ import annotations

import os
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
    cpu_count,
    finish_output,
    plan,
    prepare_output,
    run_partition,
)


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2) -> Iterator[Any]:
    """A connected dask.distributed Client: to `scheduler`, or to a new local cluster."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)  # type: ignore[no-untyped-call]
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
    """Every partition as one Dask task; returns the same summary as `run_local`."""
    from dask.distributed import as_completed

    parts = parts if parts is not None else plan(source, settings.partition_size)
    prepare_output(out, source, settings, parts, overwrite=overwrite)
    summaries: list[PartitionSummary] = []
    run_id = uuid.uuid4().hex[:12]
    with dask_client(scheduler, n_workers) as client:
        futures = [
            client.submit(
                run_partition,
                source,
                part,
                os.fspath(out),
                settings,
                key=f"venalab-{part.name}-{run_id}",
            )
            for part in parts
        ]
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            summary: PartitionSummary = future.result()
            summaries.append(summary)
            if progress:
                progress(summary)
    summaries.sort(key=lambda s: s.index)
    return finish_output(out, summaries)
