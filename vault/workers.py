"""Worker processes that always shut down cleanly.

`multiprocessing.Pool` leaves a `with` block through `terminate()`, which
can deadlock: its task-feeding thread may wait forever for a queue lock
that a worker held when it was killed (CPython gh-78178, gh-96995, both
open). We met it as a hang of about one in 2,400 refused batches. The
executor in `concurrent.futures` shuts down by sending each worker a
sentinel and joining it instead, and reports a worker that died as
`BrokenProcessPool` rather than waiting for it.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

__all__ = ["forked_workers"]


@contextmanager
def forked_workers(
    processes: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """An executor of `processes` forked workers. Leaving the block, by
    return or by exception, cancels the work not yet started, lets the
    running work finish, and joins every worker: none outlives the block."""
    executor = ProcessPoolExecutor(
        processes, mp_context=mp.get_context("fork"), initializer=initializer, initargs=initargs
    )
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
