"""CPU-bound work off the event loop, in a bounded pool.

The event loop thread only moves bytes; the engine, report rendering (PDF), import parsing
(DICOM SR, FHIR) and JSON parsing of request bodies run here:

- `run_cpu(fn, *args)`: in a worker thread, at most CPU_THREADS at once per process (the other
  calls wait without holding a thread), so a burst of heavy requests cannot take every worker
  thread from the database work of small ones.

Threads, not processes: the measurement of issue 14 (benchmarks/bench_web_load.py, phase
"isolation") showed that small requests keep their latency within a few times their idle
latency while a 10,000-segment assessment runs, once the interpreter hands the GIL over
more often than its default 5 ms (SWITCH_INTERVAL_S, set by `serve`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import weakref
from collections.abc import Callable
from functools import partial
from typing import Final, ParamSpec, TypeVar

import anyio
import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")

CPU_THREADS: Final = max(2, os.cpu_count() or 2)
# The GIL switch interval: a CPU-bound thread hands the interpreter to the event loop thread
# at most this long after it asked (default 5 ms, i.e. up to 5 ms per hand-over for every
# small request while a big one computes).
SWITCH_INTERVAL_S: Final = 0.001

_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
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


def tune_interpreter() -> None:
    """Shorter GIL hand-over for a server process (see SWITCH_INTERVAL_S)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
