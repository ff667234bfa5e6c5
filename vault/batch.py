"""Batch files, `dvr-batch/1`: how envelopes travel from the intake to the
offline workstation. JSON lines: a header, one line per envelope in seq order,
and a trailer with the SHA-256 of every byte before it (docs/formats.md)."""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

import orjson

from .canonical import canonical_json, strict_json
from .envelope import Envelope, parse_envelope
from .errors import InvalidBatch, MalformedEnvelope
from .merkle import leaf_hash
from .workers import forked_workers

__all__ = ["BATCH_FORMAT", "BatchHeader", "BatchReader", "BatchRow", "SealedRow", "read_batch", "write_batch"]

BATCH_FORMAT = "dvr-batch/1"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEADER_MEMBERS = {"format", "first_seq", "last_seq", "count", "exported_on"}
# Import checks batches of this many rows or more in worker processes, reading
# the file this many bytes at a time (1 MiB: about 700 rows; 4 MiB was no
# faster and doubled the peak memory of the rows in flight).
_PARALLEL_FROM = 4000
_BLOCK = 1 << 20


@dataclass(frozen=True)
class BatchHeader:
    first_seq: int
    last_seq: int
    count: int
    exported_on: str
    extra: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "format": BATCH_FORMAT,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "count": self.count,
            "exported_on": self.exported_on,
        }


@dataclass(frozen=True)
class BatchRow:
    seq: int
    received_on: str
    envelope: Envelope


def write_batch(out: IO[bytes], header: BatchHeader, rows: Iterable[tuple[int, str, bytes]]) -> str:
    """Write a batch to `out`; rows are (seq, received_on, canonical envelope
    bytes). Returns the hex SHA-256 recorded in the trailer."""
    digest = hashlib.sha256()

    def emit(line: bytes) -> None:
        digest.update(line)
        out.write(line)

    emit(canonical_json(header.to_json()) + b"\n")
    for seq, received_on, envelope in rows:
        emit(
            b'{"envelope":'
            + envelope
            + b',"received_on":"'
            + received_on.encode("ascii")
            + b'","seq":'
            + str(seq).encode("ascii")
            + b"}\n"
        )
    sha = digest.hexdigest()
    out.write(canonical_json({"end": BATCH_FORMAT, "sha256": sha}) + b"\n")
    return sha


def _parse_header(line: bytes) -> BatchHeader:
    try:
        obj = strict_json(line)
    except ValueError:  # not JSON, nested too deep, or with a duplicate member
        raise InvalidBatch("the batch does not start with a header line") from None
    if not isinstance(obj, dict) or obj.get("format") != BATCH_FORMAT:
        raise InvalidBatch(f"not a batch file of format {BATCH_FORMAT}")
    if not set(obj) >= _HEADER_MEMBERS:
        raise InvalidBatch("the batch header is incomplete")
    first, last, count = obj["first_seq"], obj["last_seq"], obj["count"]
    if not all(type(v) is int for v in (first, last, count)) or first < 1 or count != last - first + 1 or count < 0:
        raise InvalidBatch("the batch header's seq range and count disagree")
    if not isinstance(obj["exported_on"], str) or not _DATE.fullmatch(obj["exported_on"]):
        raise InvalidBatch("the batch header's exported_on is not a date")
    extra = {k: v for k, v in obj.items() if k not in _HEADER_MEMBERS}
    return BatchHeader(first, last, count, obj["exported_on"], extra)


class BatchReader:
    """Reads a batch incrementally.

    The header is checked at once. `rows()` checks each row as it goes (seq
    continuity, envelope structure) and, after the last row, the trailer's
    hash; it raises InvalidBatch on the first fault. A caller must keep
    nothing from a batch whose rows raised: stage rows and commit only once
    the iterator is exhausted. `sha256` is set once the trailer checked out.
    """

    def __init__(self, src: IO[bytes]) -> None:
        self._src = src
        self._digest = hashlib.sha256()
        first_line = src.readline()
        self._digest.update(first_line)
        self.header = _parse_header(first_line)
        self.sha256: str | None = None

    def rows(self) -> Iterator[BatchRow]:
        first = self.header.first_seq
        for start, lines in self._row_blocks(_BLOCK):
            for i, line in enumerate(_split(lines)):
                yield _check_row(line, start + i, first)

    def sealed_rows(
        self, processes: int | None = None, *, block: int = _BLOCK, parallel_from: int = _PARALLEL_FROM
    ) -> Iterator[SealedRow]:
        """The rows as `rows()` checks them, reduced to what a vault stores,
        with the envelope's SHA-256 and log leaf hash computed.

        Batches of `parallel_from` rows or more are checked in worker
        processes. This process reads and hashes the file `block` bytes at a
        time and hands each run of whole lines to a worker, which splits and
        checks them. Faults are still raised in file order, the first one
        first, as `rows()` raises them.
        """
        workers = processes or os.cpu_count() or 1
        if workers < 2 or self.header.count < parallel_from:
            for row in self.rows():
                yield _sealed(row)
            return
        first = self.header.first_seq
        with forked_workers(workers) as pool:
            pending: deque[Future[list[tuple[Any, ...]]]] = deque()
            blocks = self._row_blocks(block)
            while True:
                try:
                    start, lines = next(blocks)
                except StopIteration:
                    break
                except InvalidBatch:  # a fault of the file: one in an earlier row comes first
                    while pending:
                        pending.popleft().result()
                    raise
                pending.append(pool.submit(_seal_block, lines, start, first))
                while len(pending) > 2 * workers:
                    yield from map(SealedRow._make, pending.popleft().result())
            while pending:
                yield from map(SealedRow._make, pending.popleft().result())

    def _row_blocks(self, size: int) -> Iterator[tuple[int, bytes]]:
        """Runs of whole row lines, read `size` bytes at a time and hashed
        into the digest, each with the seq its first row should have. After
        the last, the checks of the row count and the trailer. The first
        line that starts like a trailer is the trailer."""
        src, digest, header = self._src, self._digest, self.header
        n = 0
        buf = bytearray()  # read, not yet handed on: part of one line at most, between reads
        after = b""
        while True:
            data = src.read(size)
            if not data:
                # The end of the file: buf holds at most one line, without its newline.
                if not buf:
                    raise InvalidBatch("the batch is truncated: its trailer is missing")
                if not buf.startswith(b'{"end":'):
                    raise InvalidBatch("the batch is truncated mid-line")
                trailer = bytes(buf)
                break
            searched = len(buf)
            buf += data
            cut = buf.rfind(b"\n", searched) + 1
            if cut == 0:
                continue
            lines = bytes(buf[:cut])
            del buf[:cut]
            # Where the trailer line starts in `lines`; their length if it is not there.
            at = 0 if lines.startswith(b'{"end":') else (lines.find(b'\n{"end":') + 1 or len(lines))
            if at:
                rows = lines[:at]
                digest.update(rows)
                yield header.first_seq + n, rows
                n += rows.count(b"\n")
            if at < len(lines):
                end = lines.index(b"\n", at) + 1
                trailer, after = lines[at:end], lines[end:] + bytes(buf)
                break
        self._check_trailer(n, trailer, after)

    def _check_trailer(self, rows: int, line: bytes, after: bytes) -> None:
        """After `rows` rows, the trailer `line`, then `after` and whatever
        is left unread: the row count, the hash, and nothing more."""
        header, digest = self.header, self._digest
        if rows != header.count:
            raise InvalidBatch(
                f"the batch is truncated: its header promises seq {header.first_seq}..{header.last_seq}"
                f" but it ends after seq {header.first_seq + rows - 1}"
            )
        try:
            trailer = strict_json(line)
        except ValueError:  # not JSON, nested too deep, or with a duplicate member
            raise InvalidBatch("the batch trailer is damaged") from None
        if not isinstance(trailer, dict) or trailer.get("sha256") != digest.hexdigest():
            raise InvalidBatch("the batch's integrity hash does not match its contents: it was altered or damaged")
        # The hash does not cover the trailer: its every member is checked here.
        if trailer != {"end": BATCH_FORMAT, "sha256": digest.hexdigest()}:
            raise InvalidBatch("the batch trailer is damaged")
        if after or self._src.read(1):
            raise InvalidBatch("the batch has data after its trailer")
        self.sha256 = digest.hexdigest()


class SealedRow(NamedTuple):
    """A checked row as a vault keeps it: still sealed."""

    seq: int
    received_on: str
    kid: str
    ct: bytes
    sha256: str  # envelope_sha256 (FORMATS §2)
    leaf: bytes  # its leaf hash in the intake's log


def _check_row(line: bytes, expected: int, first_seq: int) -> BatchRow:
    try:
        obj = orjson.loads(line)  # strict RFC 8259, and 2-3x faster on long rows
        seq, received_on, env = obj["seq"], obj["received_on"], obj["envelope"]
    except (ValueError, KeyError, TypeError):
        raise InvalidBatch(f"line {expected - first_seq + 2} of the batch is not a batch row") from None
    if type(seq) is not int or seq != expected:
        raise InvalidBatch(f"the batch skips or reorders envelopes: expected seq {expected}, found {seq}")
    if not isinstance(received_on, str) or not _DATE.fullmatch(received_on):
        raise InvalidBatch(f"envelope seq {seq} has no valid received_on date")
    try:
        envelope = parse_envelope(env)
    except MalformedEnvelope as exc:
        raise InvalidBatch(f"envelope seq {seq} is malformed: {exc}") from None
    return BatchRow(seq, received_on, envelope)


def _sealed(row: BatchRow) -> SealedRow:
    env = row.envelope
    return SealedRow(row.seq, row.received_on, env.kid, env.ct, env.sha256, leaf_hash(env.canonical()))


def _split(lines: bytes) -> list[bytes]:
    """A run of whole lines, each without its newline."""
    split = lines.split(b"\n")
    split.pop()  # the empty piece after the last newline
    return split


def _seal_block(lines: bytes, expected: int, first_seq: int) -> list[tuple[Any, ...]]:
    """Worker: check a run of whole row lines, the first of which has seq
    `expected`. Plain tuples: they cross the pipe faster than named ones."""
    return [tuple(_sealed(_check_row(line, expected + i, first_seq))) for i, line in enumerate(_split(lines))]


def read_batch(src: IO[bytes]) -> BatchReader:
    return BatchReader(src)
