"""Batch files: round trip, and every kind of damage refused."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vault
from vault import InvalidBatch
from vault.batch import BatchHeader, _check_row, check_trailer, read_batch, write_batch
from vault.canonical import strict_json
from vault.note import NoteSigner

SIGNER = NoteSigner("dvr-intake/test", bytes(32))
LOG = {"log_key": SIGNER.verifier().encode(), "checkpoint": "not checked by the reader"}


def make_batch(key, first=1, n=5) -> bytes:
    rows = [(first + i, "2026-11-26", vault.seal(b"x%d" % i, key.public_key).canonical()) for i in range(n)]
    out = io.BytesIO()
    write_batch(out, BatchHeader(first, first + n - 1, n, "2026-11-26", LOG), rows, SIGNER)
    return out.getvalue()


# Bytes read at a time by the parallel reader: a row per block (1), a few
# rows per block with the trailer inside one, and the whole file at once.
BLOCKS = (1, 1000, 1 << 20)


def _reference(data: bytes):
    """The batch read line by line, as docs/formats.md describes it, apart
    from the reader under test: the rows' seqs and the hash, or the first
    fault. (The header is read by read_batch, which reads just that line.)"""
    src = io.BytesIO(data)
    header = read_batch(src).header
    digest = hashlib.sha256(data[: src.tell()])
    seqs: list[int] = []
    try:
        while not (line := src.readline()).startswith(b'{"end":'):
            if not line:
                raise InvalidBatch("the batch is truncated: its trailer is missing")
            digest.update(line)
            if not line.endswith(b"\n"):
                raise InvalidBatch("the batch is truncated mid-line")
            seqs.append(_check_row(line, header.first_seq + len(seqs), header.first_seq).seq)
        if len(seqs) != header.count:
            raise InvalidBatch(
                f"the batch is truncated: its header promises seq {header.first_seq}..{header.last_seq}"
                f" but it ends after seq {header.first_seq + len(seqs) - 1}"
            )
        try:
            trailer = strict_json(line)
        except ValueError:
            raise InvalidBatch("the batch trailer is damaged") from None
        check_trailer(trailer, digest.hexdigest(), header)
        if src.read(1):
            raise InvalidBatch("the batch has data after its trailer")
    except InvalidBatch as exc:
        return "refused", str(exc)
    return seqs, digest.hexdigest()


def _outcome(data: bytes, block: int | None):
    reader = read_batch(io.BytesIO(data))
    try:
        # Two workers from the first row: the parallel path even for five rows.
        rows = reader.rows() if block is None else reader.sealed_rows(processes=2, block=block, parallel_from=0)
        seqs = [r.seq for r in rows]
    except InvalidBatch as exc:
        return "refused", str(exc)
    return seqs, reader.sha256


def read_all(data: bytes):
    """Read a batch; the reader in one process and the parallel one at every
    block size must reach the end the line-by-line reference reaches (the
    same rows, or the same first fault)."""
    expected = _reference(data)
    assert _outcome(data, None) == expected
    for block in BLOCKS:
        assert _outcome(data, block) == expected, block
    reader = read_batch(io.BytesIO(data))
    return reader, list(reader.rows())


def test_round_trip(ministry_key):
    reader, rows = read_all(make_batch(ministry_key, first=7, n=3))
    assert [r.seq for r in rows] == [7, 8, 9]
    assert reader.sha256 is not None
    assert vault.open_envelope(rows[1].envelope, ministry_key) == b"x1"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_refused(ministry_key, data):
    batch = make_batch(ministry_key, n=3)
    pos = data.draw(st.integers(0, len(batch) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(batch)
    damaged[pos] ^= 1 << bit
    with pytest.raises(InvalidBatch):
        read_all(bytes(damaged))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_truncation_is_refused(ministry_key, data):
    batch = make_batch(ministry_key, n=4)
    cut = data.draw(st.integers(2, len(batch) - 1))  # bytes cut off the end; 1 leaves a trailer without its newline
    with pytest.raises(InvalidBatch):
        read_all(batch[:-cut])


def test_missing_line_is_refused(ministry_key):
    lines = make_batch(ministry_key).splitlines(keepends=True)
    with pytest.raises(InvalidBatch, match="skips or reorders"):
        read_all(b"".join(lines[:2] + lines[3:]))
    with pytest.raises(InvalidBatch, match="truncated"):
        read_all(b"".join(lines[:-2] + lines[-1:]))  # last row dropped


def test_swapped_lines_and_truncation_are_refused(ministry_key):
    lines = make_batch(ministry_key).splitlines(keepends=True)
    with pytest.raises(InvalidBatch, match="reorders"):
        read_all(b"".join([lines[0], lines[2], lines[1], *lines[3:]]))
    with pytest.raises(InvalidBatch, match="trailer is missing"):
        read_all(b"".join(lines[:-1]))
    with pytest.raises(InvalidBatch):
        read_all(b"".join(lines)[:-30])
    with pytest.raises(InvalidBatch, match="after its trailer"):
        read_all(b"".join(lines) + b"\n")


def test_a_row_fault_comes_before_a_later_fault_of_the_file(ministry_key):
    lines = make_batch(ministry_key, n=6).splitlines(keepends=True)
    swapped = [lines[0], lines[2], lines[1], *lines[3:6], lines[6][:40]]  # and cut mid-line in row 6
    with pytest.raises(InvalidBatch, match="skips or reorders"):
        read_all(b"".join(swapped))


def test_sealed_rows_carry_what_the_vault_stores(ministry_key):
    data = make_batch(ministry_key, first=3, n=6)
    rows = list(read_batch(io.BytesIO(data)).rows())
    for parallel in (False, True):
        sealed = list(read_batch(io.BytesIO(data)).sealed_rows(processes=2, parallel_from=0 if parallel else 10))
        assert [s.seq for s in sealed] == [3, 4, 5, 6, 7, 8]
        for s, r in zip(sealed, rows, strict=True):
            assert (s.kid, s.ct, s.received_on) == (r.envelope.kid, r.envelope.ct, r.received_on)
            assert s.sha256 == r.envelope.sha256
            assert s.leaf == vault.transparency.leaf_hash(r.envelope.canonical())


def test_not_a_batch(ministry_key):
    with pytest.raises(InvalidBatch, match="not a batch"):
        read_all(b'{"format": "something-else"}\n')
    with pytest.raises(InvalidBatch, match="header"):
        read_all(b"\x00garbage\n")


@pytest.mark.parametrize(
    "trailer",
    [
        b'{"end":"dvr-batch/3","sha256":"%s","signature":%s}\n',  # a bit of the format name flipped
        b'{"end":"dvr-batch/2","sha256":"%s","signature":%s,"more":1}\n',
        b'{"end":"dvr-batch/2","sha256":"%s","signature":%s,"signature":%s}\n',
        b'{"end":"dvr-batch/2","sha256":"%s"}\n',
        b'{"end":1,"sha256":"%s","signature":%s}\n',
    ],
)
def test_a_trailer_with_the_right_hash_but_anything_else_changed_is_refused(ministry_key, trailer):
    lines = make_batch(ministry_key).splitlines(keepends=True)
    sha = json.loads(lines[-1])["sha256"].encode()
    signature = json.dumps(json.loads(lines[-1])["signature"]).encode()
    with pytest.raises(InvalidBatch, match="trailer is damaged"):
        read_all(b"".join(lines[:-1]) + trailer.replace(b"%s", sha, 1).replace(b"%s", signature))
