"""Worker processes that always shut down cleanly.

`multiprocessing.Pool` leaves a `with` block through `terminate()`, which
can deadlock: its task-feeding thread may wait forever for a queue lock
that a worker held when it was killed (CPython gh-78178, gh-96995, both
open). We met it as a hang of about one in 3,000 refused batches in a
stress run, and as a CI run that never ended. The executor in
`concurrent.futures` shuts down by sending each worker a sentinel and
joining it instead, and notices a worker that died rather than waiting for
it forever.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from .errors import VaultError

__all__ = ["WorkerDied", "forked_workers"]


class WorkerDied(VaultError):
    """A worker process ended in the middle of its work (killed, or out of memory)."""

    def __init__(self) -> None:
        super().__init__("a worker process stopped unexpectedly (killed, or out of memory?); nothing was written")


@contextmanager
def forked_workers(
    processes: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """An executor of `processes` forked workers. Leaving the block, by
    return or by exception, cancels the work not yet started, lets the
    running work finish, and joins every worker: none outlives the block.
    A worker that dies ends the block with WorkerDied."""
    executor = ProcessPoolExecutor(
        processes, mp_context=mp.get_context("fork"), initializer=initializer, initargs=initargs
    )
    try:
        yield executor
    except BrokenProcessPool:
        raise WorkerDied() from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
