"""Group commit, shared by the stores: request threads queue their envelope
and wait; one committer thread takes every pending envelope, has the store
commit them in one transaction, then releases each request with its Stored
or the error that left it unstored. A watchdog answers with an error any
request kept waiting too long (a stalled disk or database, another process
holding the commit turn).

A store implements `_take_turn_and_commit`: wait for its turn among the
processes sharing the database, then `_take_group` (so the group holds
everything that arrived during the wait) and commit it.
"""

from __future__ import annotations

import collections
import hashlib
import sys
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from vault import Envelope

from .base import CommitUnconfirmed, EnvelopeStore, Log, NotEncrypted, StorageUnavailable, Stored

__all__ = ["MAX_GROUP", "WAIT_SECONDS", "GroupCommitStore", "GroupStats", "Outcome", "Pending", "offloader"]

_T = TypeVar("_T")

MAX_GROUP = 1024
WAIT_SECONDS = 30.0


def _call(fn: Callable[..., _T], *args: Any) -> _T:
    return fn(*args)


def offloader() -> Callable[..., Any]:
    """How a committer runs a call that blocks in the kernel (a file lock,
    an fsync): directly in its own thread, or, under gevent (the production
    worker, intake/gunicorn_conf.py), in the hub's pool of native threads,
    so the event loop serving every other request never stalls on the disk."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent  # noqa: PLC0415 - only ever imported by gevent's worker

        pool = gevent.get_hub().threadpool
        return lambda fn, *args: pool.apply(fn, args)
    return _call


class Pending:
    """One submission waiting for its group commit. `done` is set once the
    committer (or, after too long a wait, the watchdog) has set `result` or
    `error`. Hashed here, in the request thread, so the committer's critical
    section (which holds the cross-process commit turn) stays short."""

    __slots__ = ("canonical", "done", "envelope", "error", "leaf", "result", "sha256", "since")

    def __init__(self, envelope: Envelope, log: Log | None) -> None:
        self.since = time.monotonic()
        self.envelope = envelope
        self.canonical = envelope.canonical()
        self.sha256 = hashlib.sha256(self.canonical).hexdigest()
        self.leaf = log.leaf(self.canonical) if log is not None else b""
        self.done = threading.Event()
        self.result: Stored | None = None
        self.error: BaseException | None = None


Outcome = dict[str, Stored] | Exception  # each envelope's Stored by sha256, or why none was stored


@dataclass(frozen=True)
class GroupStats:
    """What this process's committer has committed so far: how many groups,
    how many submissions in them (repeats included), the largest group, and
    how long it held the commit turn for them (from taking the group, just
    after the turn was granted, to the commit's answer). Counts only,
    nothing about any submission (bench/bench_pg.py reports them)."""

    groups: int = 0
    submissions: int = 0
    largest: int = 0
    turn_seconds: float = 0.0


class GroupCommitStore(EnvelopeStore):
    """The queue, the committer thread and the watchdog of a group-committing
    store. Subclasses call `_start_committer` at the end of their __init__
    and `_stop_committer` first in `close`."""

    log: Log | None

    def _start_committer(self, wait_seconds: float, offload: Callable[[], Callable[..., Any]] = offloader) -> None:
        # Submissions waiting for a group: appended by request threads (or
        # greenlets), taken by the committer; deque appends and pops are atomic.
        self._pending: collections.deque[Pending] = collections.deque()
        self._wakeup = threading.Event()
        self._closing = False
        self._inflight: list[Pending] = []  # the group being committed
        self._wait_seconds = wait_seconds
        self._offload = offload
        self._stop_watch = threading.Event()
        self._stats = GroupStats()
        self._turn_since = 0.0  # when the group being committed was taken
        self._thread = threading.Thread(target=self._commit_loop, name="dvr-group-commit", daemon=True)
        self._thread.start()
        self._watchdog = threading.Thread(target=self._watch, name="dvr-commit-watchdog", daemon=True)
        self._watchdog.start()

    def group_stats(self) -> GroupStats:
        """The groups committed so far (a failed group is not counted)."""
        return self._stats

    def append(self, envelope: Envelope) -> Stored:
        if not isinstance(envelope, Envelope):
            raise NotEncrypted("the store accepts only parsed envelopes")
        pending = Pending(envelope, self.log)
        self._pending.append(pending)
        self._wakeup.set()
        # No timeout of its own (a timed wait costs a timer per request under
        # gevent): the committer or the watchdog sets it.
        pending.done.wait()
        if isinstance(pending.error, StorageUnavailable):
            raise pending.error
        if pending.error is not None:
            raise StorageUnavailable(str(pending.error)) from pending.error
        assert pending.result is not None  # noqa: S101 - set before done is
        return pending.result

    def _commit_loop(self) -> None:
        offload = self._offload()
        while True:
            self._wakeup.wait()
            self._wakeup.clear()  # before taking the group: a later append wakes the next round
            if not self._pending:
                if self._closing:
                    return
                continue
            group, outcome = offload(self._take_turn_and_commit)
            held = time.monotonic() - self._turn_since
            self._inflight = []
            if not isinstance(outcome, Exception) and group:
                done = self._stats  # replaced whole, so a reader never sees half an update
                self._stats = replace(
                    done,
                    groups=done.groups + 1,
                    submissions=done.submissions + len(group),
                    largest=max(done.largest, len(group)),
                    turn_seconds=done.turn_seconds + held,
                )
            # Release the requests only now, with the turn free for the others.
            for item in group:
                if isinstance(outcome, Exception):
                    item.error = outcome
                else:
                    item.result = outcome[item.sha256]
                item.done.set()

    def _take_group(self) -> list[Pending]:
        """Take up to MAX_GROUP pending submissions, oldest first, as the group
        being committed."""
        group: list[Pending] = []
        while self._pending and len(group) < MAX_GROUP:
            try:
                group.append(self._pending.popleft())
            except IndexError:  # the watchdog withdrew the last one
                break
        self._inflight = group
        self._turn_since = time.monotonic()
        return group

    @abstractmethod
    def _take_turn_and_commit(self) -> tuple[list[Pending], Outcome]:
        """Wait for the turn, `_take_group`, commit it; return the group and
        its outcome. Runs where it may block (see `offloader`)."""

    def _watch(self) -> None:
        """Once a second, answer every submission that has waited longer than
        the limit with an error. One still queued is withdrawn first, so it
        is never stored ("nothing was kept" stays true); one whose group is
        being committed may yet be stored, and is told so."""
        while not self._stop_watch.wait(1.0):
            limit = time.monotonic() - self._wait_seconds
            late: list[tuple[Pending, StorageUnavailable]] = []
            while self._pending and self._pending[0].since < limit:
                try:
                    item = self._pending.popleft()
                except IndexError:  # the committer took it meanwhile
                    break
                if item.since >= limit:  # the committer took the late one meanwhile: put this one back
                    self._pending.appendleft(item)
                    break
                late.append((item, StorageUnavailable("the store did not commit in time; nothing was kept")))
            late += [
                (item, CommitUnconfirmed("the store did not confirm the commit in time; it may be stored"))
                for item in self._inflight
                if item.since < limit
            ]
            for item, error in late:
                if not item.done.is_set():
                    item.error = error
                    item.done.set()

    def _stop_committer(self) -> None:
        self._closing = True
        self._wakeup.set()
        self._stop_watch.set()
        self._thread.join(timeout=5)
        self._watchdog.join(timeout=5)
