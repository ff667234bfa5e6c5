"""Forked workers: every way out of the block leaves no worker behind and no hang."""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from vault.workers import forked_workers


def _pid(_: int) -> int:
    return os.getpid()


def _mark(path: str) -> None:
    time.sleep(0.05)
    Path(path).touch()


def _die(_: int) -> None:
    os._exit(3)  # as a worker killed by the OOM killer would


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_an_error_in_the_block_leaves_no_worker_running():
    with pytest.raises(RuntimeError, match="the caller failed"), forked_workers(2) as pool:
        pids = set(pool.map(_pid, range(8)))
        raise RuntimeError("the caller failed")
    assert pids and os.getpid() not in pids
    assert all(_gone(pid) for pid in pids)


def test_work_not_started_is_cancelled_when_the_block_fails(tmp_path):
    marks = [str(tmp_path / f"{i}.done") for i in range(40)]
    with pytest.raises(RuntimeError), forked_workers(1) as pool:
        futures = [pool.submit(_mark, m) for m in marks]
        futures[0].result()
        raise RuntimeError("stop")
    done = sum(Path(m).exists() for m in marks)
    # The first task, and the few already handed to the worker's queue; not all forty.
    assert 1 <= done <= 4, done


def test_a_worker_that_dies_is_reported_not_waited_for():
    with pytest.raises(BrokenProcessPool), forked_workers(2) as pool:
        list(pool.map(_die, range(4)))
