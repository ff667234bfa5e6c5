"""`keyholder import`: check a batch and keep its envelopes, still sealed.

A batch is staged in one SQLite transaction and committed only when every
row and the trailer's hash have checked out, so a refused batch leaves the
vault exactly as it was. Envelopes already imported must reappear
byte-identical; new ones must continue the seq without a gap. The batch's
signed checkpoint of the intake's log is checked against every envelope
the vault holds (transparency.py, docs/transparency.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from vault import InvalidBatch, read_batch
from vault.audit import AuditEntry

from . import audit
from .errors import ImportRefused, disk_hint
from .station import Station
from .transparency import LogCheck, LogOutcome, record_pin

__all__ = ["ImportResult", "batch_size", "import_batch", "plural", "record_import"]


@dataclass(frozen=True)
class ImportResult:
    path: Path
    batch_sha256: str
    first_seq: int
    last_seq: int
    new: int
    repeated: int
    log: LogOutcome | None = None
    unknown_keys: dict[str, int] | None = None  # new envelopes by kid, for kids the vault does not hold


_FLUSH = 2000


def _flush(
    conn: sqlite3.Connection,
    log: LogCheck,
    pending: list[tuple[int, str, str, bytes, str]],
    leaves: list[tuple[int, bytes]],
) -> None:
    """Insert staged rows (inside the import's transaction) and clear the lists."""
    conn.executemany("INSERT INTO envelopes (seq, received_on, kid, ct, sha256) VALUES (?, ?, ?, ?, ?)", pending)
    log.add_leaves(conn, leaves)
    pending.clear()
    leaves.clear()


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo the import's transaction, if SQLite has not already: it rolls
    back by itself after some errors, a full disk among them."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def batch_size(path: Path) -> int | None:
    """The number of rows a batch's header promises, for a progress bar;
    None if the header cannot be read (import_batch then says why)."""
    try:
        with open(path, "rb") as src:
            return read_batch(src).header.count
    except (OSError, InvalidBatch):
        return None


def plural(n: int, word: str) -> str:
    """`1 envelope`, `2 envelopes`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _unknown_keys_refusal(source: str, unknown: dict[str, int], first: int) -> ImportRefused:
    total = sum(unknown.values())
    kids = ", ".join(sorted(unknown))
    return ImportRefused(
        f"{source}: {plural(total, 'envelope')} (the first at seq {first}) {'is' if total == 1 else 'are'} sealed to"
        f" key {kids}, which this vault does not hold, so nothing here can open {'it' if total == 1 else 'them'}:"
        " the intake served a key that is not the ministry's, or this batch is another vault's; nothing from it was"
        " kept (docs/operations.md: --accept-unknown-keys)"
    )


def import_batch(
    vault: Station,
    path: Path,
    *,
    repin: bool = False,
    accept_unknown_keys: bool = False,
    progress: Callable[[int], None] | None = None,
    state: audit.AuditResult | None = None,
) -> ImportResult:
    """Check the batch at `path` and keep its new envelopes. `progress`, if
    given, is called with the number of rows checked since its last call.

    New envelopes sealed to a key the vault does not hold (no epoch's
    bundle has their kid) refuse the batch, unless `accept_unknown_keys`:
    then they are kept (the log's root covers them, so later batches need
    them) and counted in the result. A new pin of the intake's log key is
    logged before the import commits, extending `state` (the command's
    verified log; without it, the log is verified when a pin needs it)."""
    vault.require()
    kids = set(vault.bundles())
    conn = vault.connect()
    try:
        with open(path, "rb") as src:
            try:
                reader = read_batch(src)
            except InvalidBatch as exc:
                raise ImportRefused(f"{path.name}: {exc}") from None
            header = reader.header
            last = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0])
            if header.first_seq > last + 1:
                raise ImportRefused(
                    f"{path.name}: starts at seq {header.first_seq}"
                    f" but the vault holds envelopes only up to seq {last};"
                    f" import the batch with seq {last + 1}.. first"
                )
            log = LogCheck.start(conn, header, source=path.name, repin=repin)  # docs/transparency.md
            conn.execute("BEGIN IMMEDIATE")
            new = repeated = 0
            unknown: dict[str, int] = {}
            first_unknown = 0
            try:
                pending: list[tuple[int, str, str, bytes, str]] = []
                leaves: list[tuple[int, bytes]] = []
                checked = 0
                for row in reader.sealed_rows():
                    checked += 1
                    if progress is not None and checked % _FLUSH == 0:
                        progress(_FLUSH)
                    if row.seq <= last:
                        held = conn.execute("SELECT sha256 FROM envelopes WHERE seq = ?", (row.seq,)).fetchone()
                        if held is None or held[0] != row.sha256:
                            raise ImportRefused(
                                f"{path.name}: envelope seq {row.seq} differs from the one imported before;"
                                " the batch was altered or the intake forked"
                            )
                        repeated += 1
                        continue
                    if row.kid not in kids:
                        unknown[row.kid] = unknown.get(row.kid, 0) + 1
                        first_unknown = first_unknown or row.seq
                    pending.append((row.seq, row.received_on, row.kid, row.ct, row.sha256))
                    leaves.append((row.seq, row.leaf))
                    if len(pending) >= _FLUSH:
                        _flush(conn, log, pending, leaves)
                    new += 1
                _flush(conn, log, pending, leaves)
                if progress is not None:
                    progress(checked % _FLUSH)
                batch_sha = str(reader.sha256)
                if unknown and not accept_unknown_keys:
                    raise _unknown_keys_refusal(path.name, unknown, first_unknown)
                outcome = log.finish(conn)
                if new:  # a batch that adds nothing leaves no trace in the history
                    conn.execute(
                        "INSERT INTO imports (batch_sha256, first_seq, last_seq, new_envelopes, imported_on)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (batch_sha, header.first_seq, header.last_seq, new, date.today().isoformat()),
                    )
                record_pin(vault, state, outcome, batch_sha)
                conn.execute("COMMIT")
            except InvalidBatch as exc:
                _rollback(conn)
                raise ImportRefused(f"{path.name}: {exc}; nothing from it was kept") from None
            except sqlite3.OperationalError as exc:  # a full disk, most likely
                _rollback(conn)
                reason = f"{exc}{disk_hint(exc)}"
                raise ImportRefused(
                    f"{path.name}: the vault could not store the batch ({reason}); nothing from it was kept"
                ) from None
            except BaseException:
                _rollback(conn)
                raise
    finally:
        conn.close()
    return ImportResult(path, batch_sha, header.first_seq, header.last_seq, new, repeated, outcome, unknown or None)


def record_import(vault: Station, state: audit.AuditResult, result: ImportResult) -> AuditEntry:
    """Log a batch import. The import holds no key, so the entry is chained
    but unsigned until the next signed entry covers it (docs/key-ceremony.md)."""
    details: dict[str, Any] = {
        "batch": result.path.name,
        "batch_sha256": result.batch_sha256,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
        "new": result.new,
        "repeated": result.repeated,
    }
    if result.unknown_keys:  # kept with --accept-unknown-keys: they cannot be opened
        details["unknown_keys"] = result.unknown_keys
    return audit.append(vault, state, "import", details)
