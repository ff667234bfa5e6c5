"""Batch files, `dvr-batch/2`: how envelopes travel from the intake to the
offline workstation. JSON lines: a header, one line per envelope in seq order,
and a trailer with the SHA-256 of every byte before it and that hash signed
by the intake's log key (docs/formats.md).

Every byte of the header and the rows is covered by the trailer's hash, and
the hash by the signature, under the log key the header names (which the
keyholder pins): whoever lacks that key cannot change a date, a seq or a
member and recompute the trailer. Each row must be exactly the bytes the
writer makes of its three members, so a row with a duplicate or an extra
member, or any other spelling, is refused."""

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

from ._workers import forked_workers
from .canonical import canonical_json, strict_json
from .envelope import Envelope, parse_envelope
from .errors import InvalidBatch, InvalidSignature, MalformedEnvelope
from .merkle import leaf_hash
from .note import InvalidNote, NoteSigner, NoteVerifier, open_note, sign_note

__all__ = ["BATCH_FORMAT", "BatchHeader", "BatchReader", "BatchRow", "SealedRow", "read_batch", "write_batch"]

BATCH_FORMAT = "dvr-batch/2"
_OLD_FORMATS = {"dvr-batch/1"}  # their dates and header were covered by no signature
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOG_MEMBERS = {"log_key", "checkpoint"}
_HEADER_MEMBERS = {"format", "first_seq", "last_seq", "count", "exported_on", *_LOG_MEMBERS}
_TRAILER_MEMBERS = {"end", "sha256", "signature"}
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
    extra: dict[str, Any]  # the intake's log: "log_key" and "checkpoint" (docs/transparency.md)

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


def signed_text(sha256: str) -> str:
    """The text of the signed note in a batch's trailer: the format and the
    hash, one line each. (A checkpoint has three lines or more, so neither
    note passes for the other.)"""
    return f"{BATCH_FORMAT}\n{sha256}\n"


def write_batch(out: IO[bytes], header: BatchHeader, rows: Iterable[tuple[int, str, bytes]], signer: NoteSigner) -> str:
    """Write a batch to `out`; rows are (seq, received_on, canonical envelope
    bytes). `signer` is the intake's log key, whose verifier key the header
    names. Returns the hex SHA-256 recorded in the trailer."""
    if set(header.extra) != _LOG_MEMBERS or header.extra["log_key"] != signer.verifier().encode():
        raise ValueError("a batch header carries the log key that signs the batch, and its checkpoint")
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
    trailer = {"end": BATCH_FORMAT, "sha256": sha, "signature": sign_note(signed_text(sha), signer)}
    out.write(canonical_json(trailer) + b"\n")
    return sha


def _parse_header(line: bytes) -> BatchHeader:
    try:
        obj = strict_json(line)
    except ValueError:  # not JSON, nested too deep, or with a duplicate member
        raise InvalidBatch("the batch does not start with a header line") from None
    if isinstance(obj, dict) and isinstance(obj.get("format"), str) and obj["format"] in _OLD_FORMATS:
        raise InvalidBatch(
            f"a batch of the old format {obj['format']}, whose dates no signature covers, is no longer imported;"
            f" export its seq range again with a current intake (intake export --from-seq {obj.get('first_seq')})"
        )
    if not isinstance(obj, dict) or obj.get("format") != BATCH_FORMAT:
        raise InvalidBatch(f"not a batch file of format {BATCH_FORMAT}")
    if not set(obj) >= _HEADER_MEMBERS:
        raise InvalidBatch("the batch header is incomplete")
    if set(obj) != _HEADER_MEMBERS:
        raise InvalidBatch(f"the batch header has unknown members: {', '.join(sorted(set(obj) - _HEADER_MEMBERS))}")
    first, last, count = obj["first_seq"], obj["last_seq"], obj["count"]
    if not all(type(v) is int for v in (first, last, count)) or first < 1 or count != last - first + 1 or count < 0:
        raise InvalidBatch("the batch header's seq range and count disagree")
    if not isinstance(obj["exported_on"], str) or not _DATE.fullmatch(obj["exported_on"]):
        raise InvalidBatch("the batch header's exported_on is not a date")
    if not all(isinstance(obj[k], str) for k in _LOG_MEMBERS):
        raise InvalidBatch("the batch header's log_key and checkpoint are not text")
    return BatchHeader(first, last, count, obj["exported_on"], {k: obj[k] for k in _LOG_MEMBERS})


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
        check_trailer(trailer, digest.hexdigest(), header)
        if after or self._src.read(1):
            raise InvalidBatch("the batch has data after its trailer")
        self.sha256 = digest.hexdigest()


def check_trailer(trailer: Any, sha256: str, header: BatchHeader) -> None:
    """The parsed trailer of a batch whose header and rows hash to `sha256`:
    that hash, signed by the log key the header names, and nothing else."""
    if not isinstance(trailer, dict) or trailer.get("sha256") != sha256:
        raise InvalidBatch("the batch's integrity hash does not match its contents: it was altered or damaged")
    # The hash does not cover the trailer: its every member is checked here.
    if set(trailer) != _TRAILER_MEMBERS or trailer["end"] != BATCH_FORMAT or not isinstance(trailer["signature"], str):
        raise InvalidBatch("the batch trailer is damaged")
    try:
        verifier = NoteVerifier.parse(header.extra["log_key"])
    except InvalidNote as exc:
        raise InvalidBatch(f"the batch's intake log key is malformed ({exc})") from None
    try:
        text = open_note(trailer["signature"], verifier)
    except (InvalidNote, InvalidSignature):
        text = None
    if text != signed_text(sha256):
        raise InvalidBatch(
            "the batch is not signed by the intake log key its header names: its header or rows were altered"
        )


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
        obj = orjson.loads(line)  # strict RFC 8259, and faster (docs/performance.md)
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
    # Exactly the bytes write_batch makes of these three members: no other
    # member, no duplicate, no other spelling of a value (a cheap check: the
    # canonical envelope is already at hand, and received_on is ASCII).
    exact = b'{"envelope":%b,"received_on":"%b","seq":%d}' % (envelope.canonical(), received_on.encode(), seq)
    if line != exact and line != exact + b"\n":
        raise InvalidBatch(
            f"envelope seq {seq}: its row is not in a batch row's exact form (a member repeated or added?)"
        )
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
