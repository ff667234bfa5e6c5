"""Correction and withdrawal without an account (issue 18), on the keyholder's
side: version 2 submissions carry a control id (a first registration) or the
key it is the hash of (a correction, a withdrawal); `keyholder publish` keeps
the latest registration per id, drops and erases a withdrawn registrant, and
ignores a correction or withdrawal whose key matches no registration."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from support import VALID_RECORD, public_key, run, write_batch_file
from test_keyholder_cli import FAMILY, GIVEN

import vault
from keyholder_cli.validate import (
    CORRECTION,
    FIRST,
    WITHDRAWAL,
    InvalidSubmission,
    compile_validator,
    parse_any,
)


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def key_of(i: int) -> bytes:
    return hashlib.sha256(b"registrant key %d" % i).digest()


def control_id(i: int) -> str:
    return b64u(hashlib.sha256(key_of(i)).digest())


def record(i: int, **extra: Any) -> dict[str, Any]:
    born = f"19{50 + 3 * i:02d}-{1 + i % 12:02d}-{10 + i:02d}"
    return {**VALID_RECORD, "given_name": GIVEN[i], "family_name": FAMILY[i], "birth_date": born, **extra}


def v2(rec: dict[str, Any]) -> bytes:
    return json.dumps({"schema": "dvr-registration/2", "lang": "en", "record": rec}, ensure_ascii=False).encode()


def first(i: int, **extra: Any) -> bytes:
    return v2({**record(i, **extra), "registrant": {"id": control_id(i)}})


def correction(i: int, key: bytes, **extra: Any) -> bytes:
    return v2({**record(i, **extra), "registrant": {"key": b64u(key)}})


def withdrawal(key: bytes) -> bytes:
    return v2({"kind": "withdrawal", "registrant": {"key": b64u(key)}})


VALIDATE = compile_validator()
TODAY = date(2026, 12, 7)


def test_parse_any_tells_the_three_uses_apart_and_reads_version_1() -> None:
    one = parse_any(first(0), VALIDATE, TODAY)
    fix = parse_any(correction(0, key_of(0), residence_country="FR"), VALIDATE, TODAY)
    out = parse_any(withdrawal(key_of(0)), VALIDATE, TODAY)
    assert (one.use, fix.use, out.use) == (FIRST, CORRECTION, WITHDRAWAL)
    assert one.control == fix.control == out.control  # the key hashes to the first registration's id
    assert one.record is not None and "registrant" not in one.record
    assert fix.record is not None and fix.record["residence_country"] == "FR"
    assert out.record is None
    old = parse_any(
        json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": VALID_RECORD}).encode(), VALIDATE, TODAY
    )
    assert old.control is None and old.record == VALID_RECORD


@pytest.mark.parametrize(
    "bad",
    [
        {**VALID_RECORD, "registrant": {"id": "short"}},
        {**VALID_RECORD, "registrant": {"id": control_id(0), "key": b64u(key_of(0))}},
        {**VALID_RECORD, "registrant": {"other": control_id(0)}},
        {**VALID_RECORD, "registrant": {"id": control_id(0)[:-1] + "+"}},
        {**VALID_RECORD, "registrant": {"id": control_id(0)}, "extra": 1},
        {"kind": "withdrawal", "registrant": {"id": control_id(0)}},  # a withdrawal must prove the key
        {"kind": "withdrawal", "registrant": {"key": b64u(key_of(0))}, "given_name": "A"},
        VALID_RECORD,  # version 2 without the control member
    ],
)
def test_malformed_version_2_submissions_are_invalid(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidSubmission):
        parse_any(v2(bad), VALIDATE, TODAY)


def publish(vault_dir: Path, tmp_path: Path, out: str) -> tuple[Any, dict[str, Any]]:
    proc = run(
        "keyholder",
        "publish",
        "--vault",
        vault_dir,
        "--passphrase-file",
        tmp_path / "pp",
        "--out",
        tmp_path / out,
        "--min-cell",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((tmp_path / out / "aggregates.json").read_text())


def residence(aggregates: dict[str, Any]) -> dict[str, int]:
    table = next(t for t in aggregates["tables"] if t["name"] == "residence_country")
    return {c["residence_country"]: c["count"] for c in table["cells"] if c["count"]}


def audit_entries(vault_dir: Path, kind: str) -> list[dict[str, Any]]:
    lines = (vault_dir / "audit.log").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_correct_then_withdraw_moves_the_counts_and_erases_the_envelopes(vault_dir: Path, tmp_path: Path) -> None:
    pk = public_key(vault_dir)
    people = [first(i) for i in range(12)]
    people[11] = json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": record(11)}).encode()  # v1
    envs = [vault.seal(p, pk).canonical() for p in people]
    envs.append(vault.seal(correction(0, key_of(0), residence_country="FR"), pk).canonical())  # seq 13
    envs.append(vault.seal(correction(2, key_of(99), residence_country="FR"), pk).canonical())  # wrong code
    envs.append(vault.seal(withdrawal(key_of(98)), pk).canonical())  # wrong code: changes nothing
    envs.append(vault.seal(withdrawal(key_of(1)), pk).canonical())  # seq 16: person 1 withdraws
    write_batch_file(tmp_path / "b", envs)
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    proc, aggregates = publish(vault_dir, tmp_path, "O")
    assert aggregates["registrants"] == 11  # 12 people, one withdrew; the correction counts once
    assert residence(aggregates) == {"DE": 10, "FR": 1}
    assert "1 correction, 1 withdrawal, 2 erased" in proc.stdout
    assert "2 of the corrections and withdrawals carried a code that matched no registration" in proc.stderr

    # Person 1's registration (seq 2) and withdrawal (seq 16) are gone from the vault's files.
    erased = audit_entries(vault_dir, "erase")
    assert [e["details"] for e in erased] == [{"count": 2, "seqs": [2, 16]}]
    assert erased[0]["sig"] is not None
    stored = b"".join(p.read_bytes() for p in vault_dir.glob("envelopes.sqlite*"))
    for seq in (2, 16):
        ct = json.loads(envs[seq - 1])["ct"]
        assert base64.urlsafe_b64decode(ct + "=" * (-len(ct) % 4)) not in stored
    conn = sqlite3.connect(vault_dir / "envelopes.sqlite")
    try:
        kept = dict(conn.execute("SELECT seq, length(ct) FROM envelopes"))
    finally:
        conn.close()
    assert kept[2] == kept[16] == 0 and kept[1] > 0 and len(kept) == 16

    # The log still verifies, the batch re-imports unchanged, every receipt's leaf is held.
    assert run("keyholder", "audit", "verify", "--vault", vault_dir).returncode == 0
    again = run("keyholder", "import", "--vault", vault_dir, tmp_path / "b")
    assert again.returncode == 0 and "nothing changed" in again.stdout

    # A later publication: the same counts, nothing more to erase.
    proc, later = publish(vault_dir, tmp_path, "O2")
    assert later["registrants"] == 11 and residence(later) == {"DE": 10, "FR": 1}
    assert "0 withdrawals, 2 erased" in proc.stdout
    assert len(audit_entries(vault_dir, "erase")) == 1
