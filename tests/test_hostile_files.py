"""Every file the keyholder reads, made hostile (JSON nested 1,000 deep,
duplicate members): one clear line, exit 1, and nothing changed (issue 14,
finding 3)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import one_line_error, run
from tlog_support import Intake

from keyholder_cli.custody import init_vault
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station
from vault.canonical import MAX_DEPTH, strict_json

DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


@pytest.fixture
def imported(tmp_path):
    """A vault that imported one batch of 3, the batch, and a receipt."""
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    (tmp_path / "pp").write_text("correct horse battery\n")
    intake = Intake(tmp_path / "I", json.loads(v.bundle_path.read_text()))
    receipts = intake.submit(3)
    batch = intake.export(tmp_path / "b1")
    import_batch(v, batch)
    intake.close()
    return v, batch, receipts


def snapshot(v: Station) -> dict[str, object]:
    """Every file of the vault, and the database's rows (its file's bytes may
    change when a command merely opens it)."""
    files: dict[str, object] = {
        str(p.relative_to(v.root)): p.read_bytes()
        for p in sorted(v.root.rglob("*"))
        if p.is_file() and not p.name.startswith("envelopes.sqlite")
    }
    files.update(envelopes=[], imports=[])
    if v.db_path.exists():
        conn = sqlite3.connect(v.db_path)
        try:
            for table in ("envelopes", "imports"):
                files[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
        finally:
            conn.close()
    return files


def count(v: Station) -> int:
    return v.envelope_count()


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("where", ["header", "header member", "trailer"])
def test_a_deep_batch_header_or_trailer_is_one_line(tmp_path, deep, where):
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    intake = Intake(tmp_path / "I", json.loads(v.bundle_path.read_text()))
    intake.submit(2)
    lines = intake.export(tmp_path / "b").read_bytes().splitlines(keepends=True)
    intake.close()
    if where == "header":
        lines[0] = deep + b"\n"
    elif where == "header member":
        lines[0] = lines[0][:-2] + b',"x":' + deep + b"}\n"
    else:
        lines[-1] = b'{"end":' + deep + b"}\n"
    (tmp_path / "bad").write_bytes(b"".join(lines))
    before = snapshot(v)
    line = one_line_error(run("keyholder", "import", "--vault", v.root, tmp_path / "bad"))
    assert line.startswith("keyholder: error: bad: ")
    assert line.endswith(
        "the batch trailer is damaged; nothing from it was kept"
        if where == "trailer"
        else "the batch does not start with a header line"
    )
    assert snapshot(v) == before and count(v) == 0


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_a_deep_audit_log_line_is_one_line(imported, deep):
    v, _batch, _ = imported
    with open(v.audit_path, "ab") as out:
        out.write(deep + b"\n")
    before = snapshot(v)
    line = one_line_error(run("keyholder", "audit", "verify", "--vault", v.root))
    assert "audit log entry" in line and "is not JSON" in line
    # A command that appends to the log refuses too, and changes nothing.
    one_line_error(
        run(
            "keyholder",
            "publish",
            "--vault",
            v.root,
            "--passphrase-file",
            v.root.parent / "pp",
            "--out",
            v.root.parent / "O",
        )
    )
    assert snapshot(v) == before


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_a_deep_audit_head_is_one_line(imported, tmp_path, deep):
    v, _batch, _ = imported
    v.audit_head_path.write_bytes(deep)
    before = snapshot(v)
    line = one_line_error(run("keyholder", "audit", "verify", "--vault", v.root))
    assert "head file is not a dvr-audit-head/1 object" in line
    # The auditor's form, with copies of the files.
    line = one_line_error(
        run(
            "keyholder",
            "audit",
            "verify",
            "--log",
            v.audit_path,
            "--key-bundle",
            v.bundle_path,
            "--head",
            v.audit_head_path,
        )
    )
    assert "head file is not a dvr-audit-head/1 object" in line
    assert snapshot(v) == before


@pytest.mark.parametrize("deep", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_a_deep_receipt_is_one_line(imported, tmp_path, deep):
    v, _batch, receipts = imported
    hostile = json.dumps(receipts[0])[:-1].encode() + b', "x": ' + deep + b"}"
    for name, data in (("deep.json", deep), ("member.json", hostile)):
        (tmp_path / name).write_bytes(data)
        before = snapshot(v)
        line = one_line_error(run("keyholder", "audit", "receipt", "--vault", v.root, tmp_path / name))
        assert line == f"keyholder: error: {name} is not a JSON receipt (nested deeper than 32 levels)"
        assert snapshot(v) == before


def test_a_receipt_with_a_duplicate_member_is_refused(imported, tmp_path):
    v, _batch, receipts = imported
    text = json.dumps(receipts[0])
    (tmp_path / "dup.json").write_text(text[:-1] + f', "seq": {receipts[1]["seq"]}}}')
    line = one_line_error(run("keyholder", "audit", "receipt", "--vault", v.root, tmp_path / "dup.json"))
    assert "duplicate member" in line


@pytest.mark.parametrize("name", ["key-bundle.json", "keyfile.json"])
def test_a_deep_vault_file_is_one_line(imported, tmp_path, name):
    v, _batch, _ = imported
    path = v.bundle_path if name == "key-bundle.json" else next(v.root.glob("epochs/*/keyfile.json"))
    path.write_bytes(DEEP_OBJECT)
    before = snapshot(v)
    if name == "key-bundle.json":
        proc = run("keyholder", "audit", "verify", "--vault", v.root)
    else:
        proc = run(
            "keyholder", "publish", "--vault", v.root, "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
        )
    line = one_line_error(proc)
    assert "is not a readable JSON file (nested deeper than 32 levels)" in line
    after = snapshot(v)
    if name == "keyfile.json":  # the failed unlock is logged (unsigned), and nothing else changes
        logged = after.pop("audit.log")
        assert isinstance(logged, bytes) and logged.startswith(before.pop("audit.log"))  # type: ignore[arg-type]
        assert json.loads(logged.splitlines()[-1])["kind"] == "unlock_failed"
    assert after == before
    assert not (tmp_path / "O").exists()


@given(
    st.recursive(
        st.none() | st.integers(-5, 5) | st.text(max_size=3),
        lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=2), c, max_size=2),
        max_leaves=60,
    )
)
def test_strict_json_parses_what_json_does_and_bounds_depth(value):
    text = json.dumps(value)
    depth = text.count("[") + text.count("{")  # an upper bound; exact below
    try:
        parsed = strict_json(text.encode())
    except ValueError as exc:
        assert "nested deeper" in str(exc) and depth > MAX_DEPTH
    else:
        assert parsed == value


@pytest.mark.parametrize(
    "text",
    [b'{"a":1,"a":1}', b'[{"b":[{"c":1,"c":2}]}]', b"NaN", b"[1,]", b"\xff", b"1 2", b"[" * 33 + b"]" * 33],
)
def test_strict_json_refuses(text):
    with pytest.raises(ValueError):
        strict_json(text)
