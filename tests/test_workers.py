"""Forked workers: every way out of the block leaves no worker behind and no hang."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from support import submission, write_batch_file

import vault
import vault.batch
from keyholder_cli.custody import init_vault
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station
from vault._workers import WorkerDied, forked_workers
from vault.batch import BatchReader


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
    # VaultError: the commands print it as one line (friendly_errors).
    with pytest.raises(WorkerDied, match="stopped unexpectedly"), forked_workers(2) as pool:
        list(pool.map(_die, range(4)))


def _die_checking(lines: bytes, expected: int, first_seq: int) -> list:
    os._exit(9)


def test_an_import_whose_worker_dies_keeps_nothing(tmp_path, monkeypatch):
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    pk = vault.load_bundle(json.loads(v.bundle_path.read_text())).public_key
    envs = [vault.seal(submission(), pk).canonical() for _ in range(6)]
    write_batch_file(tmp_path / "b", envs)
    # Every batch checked by two workers, a row at a time; each dies on its first row.
    monkeypatch.setattr(BatchReader.sealed_rows, "__defaults__", (2,))
    monkeypatch.setattr(BatchReader.sealed_rows, "__kwdefaults__", {"block": 1, "parallel_from": 0})
    monkeypatch.setattr(vault.batch, "_seal_block", _die_checking)
    with pytest.raises(WorkerDied, match="stopped unexpectedly"):
        import_batch(v, tmp_path / "b")
    assert v.envelope_count() == 0
    monkeypatch.undo()
    assert import_batch(v, tmp_path / "b").new == 6  # and the same batch imports once the workers live
