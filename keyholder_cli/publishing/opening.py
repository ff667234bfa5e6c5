"""Opening for `keyholder publish`: every imported envelope, in memory, validated.

Opening and validation run in worker processes (one per core), forked after
the keys are unlocked so the private keys reach them only through memory.
Workers return just the fields de-duplication and the tables need, never a
whole record, and as compact columns (`publication.columns`: integer codes,
names already folded into their keys), never a Python object per record:
ten million records fit in a workstation's memory.

Version 2 submissions also give their control id and its use (a first
registration, a correction, a withdrawal; docs/formats.md section 12).
`open_all` resolves them before de-duplication: of the registrations of one
control id only the latest stands, a withdrawn id's registrations are
dropped, and their seqs (the withdrawal's included) are named for erasure.
A correction or withdrawal whose id no first registration carries (a wrong
code) changes nothing. Erased envelopes (no ciphertext) are skipped.

A household becomes its persons here, in the worker (`publication.kinds.persons`):
they share its seq, so a correction or a withdrawal of the household record
replaces or removes all of them. Households, businesses and associations
also give a row each of their own (`OpenedSet.kinds`), resolved the same way.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from publication.columns import Chunk, ChunkEncoder, Records, RecordsBuilder
from publication.kinds import KindRows, KindsEncoder, persons
from vault import Envelope, InvalidEnvelope, UnlockedKey, open_envelope

from ..validate import CORRECTION, FIRST, ID_BYTES, WITHDRAWAL, InvalidSubmission, compile_validator, parse_any
from ..workers import forked_workers

__all__ = ["Controls", "OpenedSet", "open_all", "resolve_controls"]

CHUNK = 2000

_worker_keys: dict[str, UnlockedKey] = {}
_worker_validator: Callable[[Any], Any] | None = None
_worker_today: date = date.today()
_worker_db: sqlite3.Connection | None = None
_worker_encoder: ChunkEncoder | None = None
_worker_kinds: KindsEncoder | None = None


@dataclass
class OpenedSet:
    """The outcome of opening: the valid records as columns, and the counts for the report."""

    records: Records = field(default_factory=lambda: RecordsBuilder().build())
    kinds: KindRows = field(default_factory=lambda: KindRows.joined([]))  # households, businesses, associations
    envelopes: int = 0
    failed: int = 0
    invalid: int = 0
    erased: int = 0  # envelopes erased before (a withdrawal), skipped
    corrections: int = 0  # corrections applied (of people who did not withdraw)
    withdrawals: int = 0  # people withdrawn
    # of them, those whose registration was an individual or a household (a business or an
    # association is no person): the withdrawals the publication reports
    withdrawn_people: int = 0
    unmatched: int = 0  # corrections and withdrawals whose code matched no registration
    erase_seqs: list[int] = field(default_factory=list)  # envelopes of withdrawn people, to erase


@dataclass(frozen=True)
class Controls:
    """The control ids of the version 2 submissions opened, one row each."""

    seq: np.ndarray  # int64
    ident: np.ndarray  # S16
    use: np.ndarray  # int8: FIRST, CORRECTION or WITHDRAWAL


_Opened = tuple[Chunk, KindRows, int, int, int, int, list[tuple[int, bytes, int]]]


def _init_worker(keys: dict[str, tuple[bytes, bytes, int]], today: date, db_path: str) -> None:
    global _worker_validator, _worker_today, _worker_db, _worker_encoder, _worker_kinds
    _worker_keys.clear()
    for kid, (hpke_raw, signing_seed, version) in keys.items():
        _worker_keys[kid] = UnlockedKey.from_private_bytes(hpke_raw, signing_seed, version)
    _worker_validator = compile_validator()
    _worker_encoder = ChunkEncoder()
    _worker_kinds = KindsEncoder()
    _worker_today = today
    _worker_db = sqlite3.connect(_read_only(Path(db_path)), uri=True)


def _open_chunk(chunk: list[tuple[int, str, bytes]]) -> _Opened:
    assert _worker_validator is not None and _worker_encoder is not None  # noqa: S101 - set by _init_worker
    assert _worker_kinds is not None  # noqa: S101 - set by _init_worker
    out: list[tuple[int, Any]] = []
    kinds: list[tuple[int, dict[str, Any]]] = []
    valid = 0
    controls: list[tuple[int, bytes, int]] = []
    failed = invalid = erased = 0
    for seq, kid, ct in chunk:
        if not ct:  # erased after its registrant withdrew
            erased += 1
            continue
        key = _worker_keys.get(kid)
        if key is None:
            failed += 1
            continue
        try:
            plaintext = open_envelope(Envelope(kid, ct), key)
        except InvalidEnvelope:
            failed += 1
            continue
        try:
            parsed = parse_any(plaintext, _worker_validator, _worker_today)
        except InvalidSubmission:
            invalid += 1
            continue
        if parsed.control is not None:
            controls.append((seq, parsed.control, parsed.use))
        if parsed.record is not None:
            valid += 1
            if "kind" in parsed.record:
                kinds.append((seq, parsed.record))
                out.extend((seq, person) for person in persons(parsed.record))
            else:
                out.append((seq, parsed.record))
    return _worker_encoder.encode(out), _worker_kinds.encode(kinds), valid, failed, invalid, erased, controls


def _read_only(db_path: Path) -> str:
    return db_path.resolve().as_uri() + "?mode=ro"


def _open_range(bounds: tuple[int, int]) -> _Opened:
    """Worker: read one seq range from the vault database and open it."""
    assert _worker_db is not None  # noqa: S101 - set by _init_worker
    rows = _worker_db.execute("SELECT seq, kid, ct FROM envelopes WHERE seq >= ? AND seq < ?", bounds).fetchall()
    return _open_chunk(rows)


def open_all(
    db_path: Path,
    keys: dict[str, UnlockedKey],
    today: date,
    *,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> OpenedSet:
    """Open and validate every envelope in the vault database.

    Each worker reads its own seq ranges from the database (read-only), so
    ciphertexts never pass through the parent; only the compact rows come
    back, as columns. Results arrive in seq order. `meanwhile`, if given, runs in the
    parent once the workers are forked (publish loads its statistics stack
    there, on the time the parent would otherwise spend waiting).
    """
    result = OpenedSet()
    if not db_path.exists():  # nothing imported yet
        return result
    builder = RecordsBuilder()
    with sqlite3.connect(_read_only(db_path), uri=True) as conn:
        low, high = conn.execute("SELECT COALESCE(MIN(seq), 1), COALESCE(MAX(seq), 0) FROM envelopes").fetchone()
    ranges = [(start, min(start + CHUNK, high + 1)) for start in range(int(low), int(high) + 1, CHUNK)]
    key_bytes = {kid: (*key.private_bytes(), key.version) for kid, key in keys.items()}
    workers = max(1, min(processes or os.cpu_count() or 1, len(ranges)))
    with forked_workers(workers, _init_worker, (key_bytes, today, str(db_path))) as pool:
        results = pool.map(_open_range, ranges)  # in order; the workers are forked by the time it returns
        if meanwhile is not None:
            meanwhile()
        controls: list[tuple[int, bytes, int]] = []
        kinds: list[KindRows] = []
        for chunk, kind_rows, valid, failed, invalid, erased, found in results:
            builder.add(chunk)
            if kind_rows.n:
                kinds.append(kind_rows)
            withdrawals = sum(1 for _seq, _ident, use in found if use == WITHDRAWAL)
            n = valid + failed + invalid + withdrawals
            result.envelopes += n
            result.failed += failed
            result.invalid += invalid
            result.erased += erased
            controls.extend(found)
            if progress is not None:
                progress(n + erased)
    records = builder.build()
    result.kinds = KindRows.joined(kinds)
    table = Controls(
        np.array([c[0] for c in controls], dtype=np.int64),
        np.array([c[1] for c in controls], dtype=f"S{ID_BYTES}"),
        np.array([c[2] for c in controls], dtype=np.int8),
    )
    del controls
    resolve_controls(result, records, table)
    return result


def _take(records: Records, rows: np.ndarray) -> Records:
    """The records at `rows`: every per-record column cut, the string tables kept."""
    cut = {
        f.name: getattr(records, f.name)[rows]
        for f in dataclasses.fields(records)
        if isinstance(getattr(records, f.name), np.ndarray) and getattr(records, f.name).dtype != object
    }
    return dataclasses.replace(records, **cut)


def resolve_controls(result: OpenedSet, records: Records, controls: Controls) -> None:
    """Apply corrections and withdrawals: set `result.records` to the records that
    stand, and the counts and seqs to erase (docs/formats.md section 12)."""
    seq, ident, use = controls.seq, controls.ident, controls.use
    known = np.isin(ident, ident[use == FIRST])  # a code works only for its own registration
    result.unmatched = int(np.count_nonzero(~known))
    withdrawn = np.unique(ident[known & (use == WITHDRAWAL)])
    result.withdrawals = len(withdrawn)
    gone = known & np.isin(ident, withdrawn)
    result.withdrawn_people = len(np.unique(ident[gone & np.isin(seq, records.seq)]))
    result.erase_seqs = sorted(int(s) for s in seq[gone])
    standing = known & ~gone & (use != WITHDRAWAL)
    result.corrections = int(np.count_nonzero(standing & (use == CORRECTION)))
    # Of the registrations of one id, the latest stands: sort by (id, seq), keep each id's last.
    order = np.lexsort((seq[standing], ident[standing]))
    ids, seqs = ident[standing][order], seq[standing][order]
    last = np.ones(len(ids), dtype=bool)
    last[:-1] = ids[1:] != ids[:-1]
    dropped = np.concatenate([seqs[~last], seq[gone], seq[~known & (use == CORRECTION)]])
    if len(dropped):
        result.records = _take(records, np.flatnonzero(~np.isin(records.seq, dropped)))
        result.kinds = result.kinds.take(np.flatnonzero(~np.isin(result.kinds.seq, dropped)))
    else:
        result.records = records
