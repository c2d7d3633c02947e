"""CPU-bound work off the event loop, bounded: worker threads for small jobs, worker processes
for heavy ones.

The event loop thread only moves bytes; the engine, report rendering, import parsing (DICOM
SR, FHIR) and the JSON parsing of request bodies run here.

- `run_cpu(fn, *args)`: a worker thread, at most CPU_THREADS at once per server process (the
  other calls wait without holding a thread). For small jobs (an exam of a few kilobytes:
  about a millisecond), where a process hop would cost more than the job.
- `run_heavy(fn, *args)`: a worker process (CPU_PROCESSES per server process, started with
  the app), the calls beyond twice that waiting their turn. For what takes long: PDF reports,
  request bodies over HEAVY_BYTES, file imports. `fn`, its arguments, its result and the
  errors it raises cross a process boundary: module-level functions and picklable values.

Why processes for heavy jobs: a thread computing a 2,000-segment assessment holds the GIL
in turns with the event loop thread, and every hop of a small request (parsing, the
database, the answer) waited for it. Measured on 2 shared cores (benchmarks/bench_web_load.py,
phase isolation; README), the median latency of small assessments rose 28-fold with two
large ones in flight on threads, about 5-fold on processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copyreg
import multiprocessing
import os
import sys
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, Final, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from venalab.errors import InvalidInput
from venalab.web.errors import ApiError

P = ParamSpec("P")
R = TypeVar("R")

CPU_THREADS: Final = max(2, os.cpu_count() or 2)
#: Worker processes per server process (VENALAB_CPU_PROCESSES; 0: heavy jobs use threads).
CPU_PROCESSES: Final = 1
#: A request body above this size is parsed and computed in a worker process (a typical exam
#: document is 1-3 KB; 64 KiB is about 500 measurement rows).
HEAVY_BYTES: Final = 64 * 1024
# The GIL switch interval: a CPU-bound thread hands the interpreter to the event loop thread
# at most this long after it asked (default 5 ms per hand-over).
SWITCH_INTERVAL_S: Final = 0.001

_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)
_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(CPU_THREADS)
    return limiter


async def run_cpu(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` in a worker thread of the bounded CPU pool."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=_limiter())


class _Processes:
    """The worker processes of this server process, started on first use (or `start()`)."""

    def __init__(self) -> None:
        self.size = CPU_PROCESSES
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def configure(self, size: int) -> None:
        self.size = max(0, size)

    def pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: a fresh interpreter, never a fork of a process with threads.
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.size, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def start(self) -> None:
        """Start the processes now and load the engine and the report stack in them, so the
        first heavy request does not wait for that."""
        if self.size > 0:
            pool = self.pool()
            for _ in range(self.size):
                pool.submit(_warm)

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


PROCESSES = _Processes()


async def run_heavy(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` in a worker process (in a worker thread when there are none)."""
    if PROCESSES.size == 0:
        return await run_cpu(fn, *args, **kwargs)
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = asyncio.Semaphore(2 * PROCESSES.size)
    async with queue:
        future = PROCESSES.pool().submit(fn, *args, **kwargs)
        return await asyncio.wrap_future(future)


async def run_sized(size: int, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`run_heavy` for inputs over HEAVY_BYTES, else `run_cpu`."""
    if size > HEAVY_BYTES:
        return await run_heavy(fn, *args, **kwargs)
    return await run_cpu(fn, *args, **kwargs)


def _warm() -> None:
    import venalab.engine
    import venalab.report.render  # noqa: F401


def tune_interpreter() -> None:
    """Shorter GIL hand-over for a server process (see SWITCH_INTERVAL_S)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


# The errors a heavy job raises travel back pickled; these keep their fields (the default
# pickling of an exception re-creates it from its message only).
def _invalid_input(problems: Any, what: str) -> InvalidInput:
    return InvalidInput(problems, what)


def _api_error(
    status: int, message: str, problems: Any, headers: dict[str, str] | None
) -> ApiError:
    return ApiError(status, message, problems, headers)


copyreg.pickle(InvalidInput, lambda e: (_invalid_input, (e.problems, e.what)))
copyreg.pickle(ApiError, lambda e: (_api_error, (e.status, e.message, e.problems, e.headers)))
