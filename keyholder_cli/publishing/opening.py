"""Opening for `keyholder publish`: every imported envelope, in memory, validated.

Opening and validation run in worker processes (one per core), forked after
the keys are unlocked so the private keys reach them only through memory.
Workers return just the fields de-duplication and the tables need, never a
whole record, and as compact columns (`publication.columns`: integer codes,
names already folded into their keys), never a Python object per record:
ten million records fit in a workstation's memory.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from publication.columns import Chunk, ChunkEncoder, Records, RecordsBuilder
from vault import Envelope, InvalidEnvelope, UnlockedKey, open_envelope

from ..validate import InvalidSubmission, compile_validator, parse_submission
from ..workers import forked_workers

__all__ = ["OpenedSet", "open_all"]

CHUNK = 2000

_worker_keys: dict[str, UnlockedKey] = {}
_worker_validator: Callable[[Any], Any] | None = None
_worker_today: date = date.today()
_worker_db: sqlite3.Connection | None = None
_worker_encoder: ChunkEncoder | None = None


@dataclass
class OpenedSet:
    """The outcome of opening: the valid records as columns, and the counts for the report."""

    records: Records = field(default_factory=lambda: RecordsBuilder().build())
    envelopes: int = 0
    failed: int = 0
    invalid: int = 0


def _init_worker(keys: dict[str, tuple[bytes, bytes, int]], today: date, db_path: str) -> None:
    global _worker_validator, _worker_today, _worker_db, _worker_encoder
    _worker_keys.clear()
    for kid, (hpke_raw, signing_seed, version) in keys.items():
        _worker_keys[kid] = UnlockedKey.from_private_bytes(hpke_raw, signing_seed, version)
    _worker_validator = compile_validator()
    _worker_encoder = ChunkEncoder()
    _worker_today = today
    _worker_db = sqlite3.connect(_read_only(Path(db_path)), uri=True)


def _open_chunk(chunk: list[tuple[int, str, bytes]]) -> tuple[Chunk, int, int]:
    assert _worker_validator is not None and _worker_encoder is not None  # noqa: S101 - set by _init_worker
    out: list[tuple[int, dict[str, Any]]] = []
    failed = invalid = 0
    for seq, kid, ct in chunk:
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
            record = parse_submission(plaintext, _worker_validator, _worker_today)
        except InvalidSubmission:
            invalid += 1
            continue
        out.append((seq, record))
    return _worker_encoder.encode(out), failed, invalid


def _read_only(db_path: Path) -> str:
    return db_path.resolve().as_uri() + "?mode=ro"


def _open_range(bounds: tuple[int, int]) -> tuple[Chunk, int, int]:
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
        for chunk, failed, invalid in results:
            builder.add(chunk)
            n = len(chunk.seq) + failed + invalid
            result.envelopes += n
            result.failed += failed
            result.invalid += invalid
            if progress is not None:
                progress(n)
    result.records = builder.build()
    return result
