"""`intake export`: every envelope not yet exported, into one batch file.

Exports are serialised with a lock file; the batch is written to a temp file
beside its destination, fsynced and renamed, and only then recorded as
exported. A crash between the rename and the record means the next export
repeats the same envelopes, which the keyholder's import accepts (it checks
that repeated envelopes are byte-identical).

An export never replaces an existing file: the one it would replace may be
the only copy of envelopes already marked exported. `from_seq` exports a
range again (from that seq to the log's newest checkpoint) for a batch that
was lost or damaged; it records nothing, so the next plain export covers
what it would have covered anyway.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import BatchHeader, write_batch

from .config import IntakeConfig
from .files import atomic_write
from .store import EnvelopeStore, open_store, store_exists, today
from .tlog import load_log_key, open_log

__all__ = ["ExportFailed", "ExportRefused", "ExportResult", "export_batch"]


class ExportFailed(Exception):
    """The batch file could not be written (a full disk, most likely)."""


class ExportRefused(ExportFailed):
    """An export that would overwrite a file, or a range the log does not hold."""


@dataclass(frozen=True)
class ExportResult:
    path: Path | None
    first_seq: int
    last_seq: int
    count: int
    sha256: str | None
    again: bool = False  # a range exported again (from_seq): nothing was recorded


@contextmanager
def _export_lock(config: IntakeConfig) -> Iterator[None]:
    with open(config.data_dir / "export.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_PROGRESS_EVERY = 2000


def _counted(rows: Iterable[Any], total: int, progress: Callable[[int, int], None]) -> Iterator[Any]:
    """`rows`, calling `progress(rows passed so far, total)` now and then."""
    done = 0
    progress(done, total)
    for row in rows:
        yield row
        done += 1
        if done % _PROGRESS_EVERY == 0:
            progress(done, total)
    progress(done, total)


def _refuse_existing(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise ExportRefused(
            f"{out} already exists; refusing to overwrite a batch file (it may be the only copy of envelopes"
            " already exported); give a new file name"
        )


def export_batch(
    config: IntakeConfig,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    from_seq: int | None = None,
) -> ExportResult:
    """Write the envelopes after the last export to `out`, or with
    `from_seq` the envelopes from that seq on, again. `progress`, if given,
    is called with (envelopes written so far, envelopes to write)."""
    if not store_exists(config):
        raise FileNotFoundError(f"no intake store in {config.data_dir}")
    if from_seq is not None and (type(from_seq) is not int or from_seq < 1):
        raise ValueError("from_seq is a seq, 1 or more")
    _refuse_existing(out)
    with _export_lock(config):
        _refuse_existing(out)  # again: another export may have written it meanwhile
        store = open_store(config)
        try:
            # A store shared by several hosts: one export at a time among them too.
            with store.export_turn():
                return _export(config, store, out, progress, from_seq)
        finally:
            store.close()


def _export(
    config: IntakeConfig,
    store: EnvelopeStore,
    out: Path,
    progress: Callable[[int, int], None] | None,
    from_seq: int | None,
) -> ExportResult:
    # The batch ends at the log's newest signed checkpoint, which travels
    # in its header with the log's public key (docs/transparency.md).
    log = open_log(config)
    try:
        last, checkpoint = log.sync()
    finally:
        log.close()
    exported = store.exported_through()
    if from_seq is None:
        first = exported + 1
        if last <= exported:
            return ExportResult(None, exported + 1, exported, 0, None)
    elif from_seq > last:
        raise ExportRefused(
            f"the intake's log holds envelopes up to seq {last} only; there is nothing from seq {from_seq}"
        )
    else:
        first = from_seq
    log_members = {"log_key": log.verifier.encode(), "checkpoint": checkpoint}
    header = BatchHeader(first, last, last - first + 1, today(), log_members)
    rows: Iterable[tuple[int, str, bytes]] = store.rows_between(first, last)
    if progress is not None:
        rows = _counted(rows, header.count, progress)
    try:
        with atomic_write(out) as fp:
            # The log key signs the batch's hash: every date and member is the intake's.
            signer = load_log_key(config.data_dir)
            sha = write_batch(fp, header, rows, signer)
    except OSError as exc:
        raise ExportFailed(f"could not write the batch {out} ({exc.strerror or exc}); nothing was exported") from None
    if from_seq is not None:  # a copy: what the next plain export covers does not change
        return ExportResult(out, header.first_seq, header.last_seq, header.count, sha, again=True)
    store.record_export(header.first_seq, header.last_seq, sha, header.exported_on)
    return ExportResult(out, header.first_seq, header.last_seq, header.count, sha)
