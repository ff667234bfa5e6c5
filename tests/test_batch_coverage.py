"""Every member of a batch's header and rows is covered by the intake's log
key (dvr-batch/2): changed by anyone without that key, with the trailer's
hash recomputed, the batch is refused and nothing of it is kept (issue 14,
finding 6). Rows, header and trailer with a duplicate or extra member are
refused, and so is the old format, whose dates nothing covered."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import one_line_error, run
from tlog_support import Intake

from keyholder_cli.custody import init_vault
from keyholder_cli.errors import ImportRefused
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station
from vault.batch import signed_text
from vault.canonical import canonical_json
from vault.note import NoteSigner, sign_note


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A vault that imported seq 1..2 (so it pins the intake's log key), the
    batch of seq 1..2 and the next batch, seq 3..5."""
    tmp = tmp_path_factory.mktemp("coverage")
    v = Station(tmp / "V")
    init_vault(v, b"correct horse battery")
    intake = Intake(tmp / "I", json.loads(v.bundle_path.read_text()))
    intake.submit(2)
    first = intake.export(tmp / "b1")
    import_batch(v, first)
    intake.submit(3, "more")
    second = intake.export(tmp / "b2")
    intake.close()
    return v, first, second, tmp


def state(v: Station) -> dict[str, object]:
    conn = sqlite3.connect(v.db_path)
    try:
        tables = ("envelopes", "imports", "tlog_leaves", "tlog_pins", "tlog_checkpoints")
        out: dict[str, object] = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}  # noqa: S608
    finally:
        conn.close()
    out["audit"] = v.audit_path.read_bytes()
    return out


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def assemble(lines: list[bytes], *, signer: NoteSigner | None = None, keep: bytes | None = None) -> bytes:
    """Header and row `lines` with a trailer whose hash is recomputed, as
    anyone with the file can: signed by `signer` (someone else's key), or
    carrying the signature of trailer line `keep` (the genuine one)."""
    body = b"".join(line + b"\n" for line in lines)
    sha = hashlib.sha256(body).hexdigest()
    signature = sign_note(signed_text(sha), signer) if signer else json.loads(keep or b"{}")["signature"]
    return body + canonical_json({"end": "dvr-batch/2", "sha256": sha, "signature": signature}) + b"\n"


def refuse(v: Station, data: bytes, path: Path) -> str:
    path.write_bytes(data)
    before = state(v)
    with pytest.raises(ImportRefused) as exc:
        import_batch(v, path)
    assert state(v) == before
    return str(exc.value)


def test_dates_changed_and_the_trailer_recomputed_are_refused(world):
    v, _first, second, tmp = world
    lines = lines_of(second)
    header = json.loads(lines[0])
    header["exported_on"] = "2020-01-01"
    rows = [json.loads(line) for line in lines[1:-1]]
    for row in rows:
        row["received_on"] = "2020-01-01"
    edited = [canonical_json(header), *(canonical_json(r) for r in rows)]
    (tmp / "redated").write_bytes(assemble(edited, keep=lines[-1]))
    before = state(v)
    line = one_line_error(run("keyholder", "import", "--vault", v.root, tmp / "redated"))
    assert line == (
        "keyholder: error: redated: the batch is not signed by the intake log key its header names: its header or"
        " rows were altered; nothing from it was kept"
    )
    assert state(v) == before
    # The same edit signed by another key, named in the header: the vault pins the intake's.
    thief = NoteSigner.generate("dvr-intake/thief")
    header["log_key"] = thief.verifier().encode()
    edited[0] = canonical_json(header)
    assert "--repin" in refuse(v, assemble(edited, signer=thief), tmp / "stolen")


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line[:-1] + b',"extra":1}',
        lambda line: line[:-1] + b',"seq":' + json.dumps(json.loads(line)["seq"]).encode() + b"}",
        lambda line: line[:-1] + b',"received_on":"' + json.loads(line)["received_on"].encode() + b'"}',
        lambda line: line.replace(b'{"envelope":', b'{ "envelope":', 1),
        lambda line: line.replace(b'"kid":', b'"kid":"x","kid":', 1),
    ],
    ids=["extra", "duplicate seq", "duplicate date", "whitespace", "duplicate in envelope"],
)
def test_a_row_with_a_duplicate_or_extra_member_is_refused(world, edit):
    v, _first, second, tmp = world
    lines = lines_of(second)
    lines[2] = edit(lines[2])
    # Even with the intake's own signature over the edited bytes, the row's form is refused.
    message = refuse(v, assemble(lines[:-1], keep=lines[-1]), tmp / "row")
    assert "seq 4" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda line: line[:-1] + b',"extra":1}', "unknown members: extra"),
        (lambda line: line[:-1] + b',"count":3}', "does not start with a header line"),
        (lambda line: line.replace(b'"exported_on":', b'"exported_on":"2020-01-01","exported_on":', 1), "header line"),
    ],
    ids=["extra", "duplicate count", "duplicate date"],
)
def test_a_header_with_a_duplicate_or_extra_member_is_refused(world, edit, expected):
    v, _first, second, tmp = world
    lines = lines_of(second)
    lines[0] = edit(lines[0])
    assert expected in refuse(v, assemble(lines[:-1], keep=lines[-1]), tmp / "header")


def test_an_old_format_batch_is_refused_with_what_to_do(world):
    v, _first, second, tmp = world
    lines = lines_of(second)
    header = json.loads(lines[0])
    header["format"] = "dvr-batch/1"
    body = canonical_json(header) + b"\n" + b"".join(line + b"\n" for line in lines[1:-1])
    trailer = canonical_json({"end": "dvr-batch/1", "sha256": hashlib.sha256(body).hexdigest()})
    message = refuse(v, body + trailer + b"\n", tmp / "old")
    assert "old format dvr-batch/1" in message and "intake export --from-seq 3" in message


# A changed value: any JSON scalar or a small container.
VALUES = st.one_of(
    st.integers(-3, 10**6),
    st.text(max_size=20),
    st.sampled_from(["2026-11-27", "2020-01-01", "dvr-batch/1", "dvr-envelope/1", ""]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_any_member_is_refused_and_nothing_is_kept(world, data):
    v, first, second, tmp = world
    lines = lines_of(data.draw(st.sampled_from([first, second]), label="batch"))
    at = data.draw(st.integers(0, len(lines) - 2), label="line")  # the header or a row
    obj = json.loads(lines[at])
    paths = [(k,) for k in obj] + [("envelope", k) for k in obj.get("envelope", {})]
    path = data.draw(st.sampled_from(paths), label="member")
    target = obj if len(path) == 1 else obj["envelope"]
    old = target[path[-1]]
    new = data.draw(VALUES.filter(lambda x: x != old or type(x) is not type(old)), label="value")
    target[path[-1]] = new
    lines[at] = canonical_json(obj)
    how = data.draw(st.sampled_from(["genuine signature", "another key", "another key, named"]), label="trailer")
    if how == "genuine signature":
        batch = assemble(lines[:-1], keep=lines[-1])
    else:
        thief = NoteSigner.generate("dvr-intake/thief")
        if how == "another key, named" and at != 0:
            header = json.loads(lines[0])
            header["log_key"] = thief.verifier().encode()
            lines[0] = canonical_json(header)
        batch = assemble(lines[:-1], signer=thief)
    refuse(v, batch, tmp / "tampered")


def test_the_genuine_batches_still_import(world):
    v, first, second, _tmp = world
    import_batch(v, first)
    assert import_batch(v, second).new == 3
    assert v.envelope_count() == 5
