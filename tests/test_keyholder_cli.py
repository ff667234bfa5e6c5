"""The keyholder command through its console script: init, import, publish,
and every refusal as one clear line with nothing kept or half-written."""

from __future__ import annotations

import json
import sqlite3

import pytest
from support import VALID_RECORD, full_disk_for, one_line_error, public_key, run, submission, write_batch_file

import vault
from keyholder_cli.workers import WorkerDied

GIVEN = [
    "Arbër",
    "Drita",
    "Ilir",
    "Valbona",
    "Besnik",
    "Mimoza",
    "Agron",
    "Lirie",
    "Fatmir",
    "Teuta",
    "Blerim",
    "Vjosa",
]
FAMILY = [
    "Krasniqi",
    "Gashi",
    "Berisha",
    "Morina",
    "Hoxha",
    "Shala",
    "Bytyqi",
    "Kelmendi",
    "Rexhepi",
    "Dervishi",
    "Zeka",
    "Hyseni",
]


def person(i: int, **extra) -> bytes:
    """Twelve clearly different people (no typo of one another)."""
    born = f"19{50 + 3 * i:02d}-{1 + i % 12:02d}-{10 + i:02d}"
    return submission({**VALID_RECORD, "given_name": GIVEN[i], "family_name": FAMILY[i], "birth_date": born, **extra})


def held(vault_dir) -> int:
    conn = sqlite3.connect(vault_dir / "envelopes.sqlite")
    try:
        return conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0]
    finally:
        conn.close()


def test_init_makes_a_signed_bundle_and_refuses_to_overwrite(vault_dir, tmp_path):
    bundle = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text()), require_signature=True)
    assert (vault_dir / "epochs" / bundle.kid / "keyfile.json").stat().st_mode & 0o077 == 0
    line = one_line_error(run("keyholder", "init", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp"))
    assert "already holds a vault" in line


def test_import_is_idempotent_and_refuses_gaps(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    envs = [vault.seal(person(i), pk).canonical() for i in range(6)]
    write_batch_file(tmp_path / "b1", envs[:3], first=1)
    write_batch_file(tmp_path / "b3", envs[4:], first=5)
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b1").returncode == 0
    again = run("keyholder", "import", "--vault", vault_dir, tmp_path / "b1")
    assert again.returncode == 0 and "nothing changed" in again.stdout
    line = one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / "b3"))
    assert "starts at seq 5" in line and "up to seq 3" in line
    assert held(vault_dir) == 3


def test_altered_or_truncated_batch_keeps_nothing(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "b", [vault.seal(person(i), pk).canonical() for i in range(4)])
    data = (tmp_path / "b").read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    (tmp_path / "flip").write_bytes(bytes(flipped))
    lines = data.splitlines(keepends=True)
    (tmp_path / "cut").write_bytes(b"".join(lines[:3]))
    (tmp_path / "missing").write_bytes(b"".join([lines[0], lines[1], lines[3], lines[4], lines[5]]))
    for name in ("flip", "cut", "missing"):
        one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / name))
        assert held(vault_dir) == 0, name


def test_a_large_batch_is_checked_in_parallel_and_refused_whole(vault_dir, tmp_path):
    # 4,500 rows: enough for import to check the rows in worker processes.
    pk = public_key(vault_dir)
    envs = [vault.seal(person(i % 12), pk).canonical() for i in range(4500)]
    write_batch_file(tmp_path / "b", envs)
    lines = (tmp_path / "b").read_bytes().splitlines(keepends=True)
    bad_ct = lines[3000].replace(b'"ct":"', b'"ct":"+', 1)  # not base64url, in the last chunk
    (tmp_path / "bad").write_bytes(b"".join([*lines[:3000], bad_ct, *lines[3001:]]))
    (tmp_path / "gap").write_bytes(b"".join([*lines[:2500], *lines[2501:]]))
    line = one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / "bad"))
    assert "seq 3000 is malformed" in line
    line = one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / "gap"))
    assert "expected seq 2500, found 2501" in line
    assert held(vault_dir) == 0
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    assert held(vault_dir) == 4500
    again = run("keyholder", "import", "--vault", vault_dir, tmp_path / "b")
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_replay_with_different_bytes_is_refused(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "b1", [vault.seal(person(i), pk).canonical() for i in range(2)])
    write_batch_file(tmp_path / "forged", [vault.seal(person(i), pk).canonical() for i in range(3)])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b1").returncode == 0
    line = one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / "forged"))
    assert "seq 1 differs" in line
    assert held(vault_dir) == 2


def test_publish_counts_bad_envelopes_without_aborting(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    other = vault.derive_keys(b"\x03" * 32)
    envs = [vault.seal(person(i), pk).canonical() for i in range(12)]
    envs += [vault.seal(person(i), pk).canonical() for i in range(2)]  # the same two people again
    envs.append(vault.seal(person(3), other.public_key).canonical())  # sealed to another key
    envs.append(vault.seal(b"not json at all", pk).canonical())
    envs.append(vault.seal(submission({**VALID_RECORD, "sex": "unknown"}), pk).canonical())
    envs.append(vault.seal(submission({**VALID_RECORD, "birth_date": "2999-01-01"}), pk).canonical())
    write_batch_file(tmp_path / "b", envs)
    # The one sealed to another key is refused at import unless the officer accepts it (issue 14).
    assert "which this vault does not hold" in one_line_error(
        run("keyholder", "import", "--vault", vault_dir, tmp_path / "b")
    )
    assert run("keyholder", "import", "--vault", vault_dir, "--accept-unknown-keys", tmp_path / "b").returncode == 0
    proc = run(
        "keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
    )
    assert proc.returncode == 0, proc.stderr
    assert "18 envelopes, 17 opened, 1 failed to open, 3 invalid, 2 duplicates" in proc.stdout
    assert "WARNING: 1 envelope did not open with this vault's keys and is not counted" in proc.stderr
    aggregates = json.loads((tmp_path / "O" / "aggregates.json").read_text())
    assert aggregates["registrants"] == 12
    # Twelve people in several age bands cannot be broken down safely by age: that table is withheld.
    assert "too small" in aggregates["disclosure"]["withheld"]
    assert "age_band" in aggregates["disclosure"]["withheld_tables"]
    assert "age_band" not in {table["name"] for table in aggregates["tables"]}


def test_wrong_passphrase_writes_nothing(vault_dir, tmp_path):
    (tmp_path / "wrong").write_text("incorrect\n")
    line = one_line_error(
        run(
            "keyholder",
            "publish",
            "--vault",
            vault_dir,
            "--passphrase-file",
            tmp_path / "wrong",
            "--out",
            tmp_path / "O",
        )
    )
    assert "wrong passphrase" in line
    assert not (tmp_path / "O").exists()


def test_publish_refuses_a_non_empty_output_directory(vault_dir, tmp_path):
    (tmp_path / "O").mkdir()
    (tmp_path / "O" / "keep.txt").write_text("mine")
    line = one_line_error(
        run("keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O")
    )
    assert "not empty" in line
    assert sorted(p.name for p in (tmp_path / "O").iterdir()) == ["keep.txt"]


def test_commands_on_a_missing_vault_say_so(tmp_path):
    line = one_line_error(run("keyholder", "import", "--vault", tmp_path / "none", __file__))
    assert "is not a vault" in line


def audit_kinds(vault_dir) -> list[str]:
    """The kinds of the vault's audit-log entries, after `keyholder audit verify` accepts the log."""
    proc = run("keyholder", "audit", "verify", "--vault", vault_dir)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line)["kind"] for line in (vault_dir / "audit.log").read_text().splitlines()]


def test_a_full_disk_during_import_keeps_nothing_and_the_batch_imports_later(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "b", [vault.seal(person(i % 12), pk).canonical() for i in range(600)])
    before = audit_kinds(vault_dir)
    # No file can grow past 1 MiB: room for the vault's tables, not for 600 envelopes (X-Wing: 2,160 bytes each).
    line = one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / "b", disk_full_at=1 << 20))
    assert "could not store the batch" in line
    assert "is the disk full?" in line or "database or disk is full" in line  # SQLite's I/O error, or SQLITE_FULL
    assert line.endswith("nothing from it was kept")
    assert held(vault_dir) == 0
    # The pin is logged before the import commits (docs/transparency.md); the
    # log still verifies, and shows a pin with no import after it.
    assert audit_kinds(vault_dir) == [*before, "log_key_pin"]
    proc = run("keyholder", "import", "--vault", vault_dir, tmp_path / "b")  # space again
    assert proc.returncode == 0, proc.stderr
    assert held(vault_dir) == 600
    assert audit_kinds(vault_dir) == [*before, "log_key_pin", "log_key_pin", "import"]


def test_a_full_disk_during_publish_publishes_nothing_and_the_log_says_so(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "b", [vault.seal(person(i), pk).canonical() for i in range(12)])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    publish = ("keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out")
    # Room for the audit log's entries, not for the publication's largest files.
    line = one_line_error(run(*publish, tmp_path / "O", disk_full_at=40 * 1024))
    assert "could not write the publication" in line and "nothing was published" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["V", "b", "pp"]  # no directory, no staging left
    assert audit_kinds(vault_dir)[-3:] == ["unlock", "publish", "publish_failed"]
    assert json.loads((vault_dir / "audit.log").read_text().splitlines()[-1])["details"]["logged"] is True
    proc = run(*publish, tmp_path / "O")  # space again, the same target
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "O" / "aggregates.json").read_text())["registrants"] == 12
    assert audit_kinds(vault_dir)[-2:] == ["unlock", "publish"]


@pytest.mark.parametrize("fails_at", ["audit.head", "keyfile.json", "key-bundle.json"])
def test_init_stopped_by_a_full_disk_keeps_nothing_and_can_be_run_again(tmp_path, monkeypatch, fails_at):
    from keyholder_cli.custody import init_vault
    from keyholder_cli.errors import KeyholderError
    from keyholder_cli.station import Station

    full_disk_for(monkeypatch, lambda dest: dest.name == fails_at)
    with pytest.raises(KeyholderError, match=r"\(No space left on device\); nothing of it was kept"):
        init_vault(Station(tmp_path / "V"), b"correct horse battery")
    monkeypatch.undo()
    assert [p for p in (tmp_path / "V").rglob("*") if p.is_file()] == []
    (tmp_path / "pp").write_text("correct horse battery\n")
    proc = run("keyholder", "init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp")
    assert proc.returncode == 0, proc.stderr


def test_a_damaged_vault_database_is_one_clear_line_for_every_command(vault_dir, tmp_path):
    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "b", [vault.seal(person(i), pk).canonical() for i in range(12)])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    with open(vault_dir / "envelopes.sqlite", "r+b") as db:
        db.write(b"not a database, any more")  # over SQLite's header
    commands = [
        ("import", "--vault", vault_dir, tmp_path / "b"),
        ("publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"),
        ("audit", "verify", "--vault", vault_dir),
    ]
    for args in commands:
        line = one_line_error(run("keyholder", *args))
        assert line == "keyholder: error: the vault's database: file is not a database", args
    assert not (tmp_path / "O").exists()


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), WorkerDied()], ids=["ctrl-c", "worker-killed"])
def test_a_publish_that_stops_after_its_unlock_says_so_in_the_log(vault_dir, tmp_path, monkeypatch, stop):
    from click.testing import CliRunner

    import keyholder_cli.publishing.pipeline
    from keyholder_cli.commands import main

    pk = public_key(vault_dir)
    write_batch_file(tmp_path / "b", [vault.seal(person(i), pk).canonical() for i in range(12)])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0

    def stopped(*_args, **_kwargs):
        raise stop

    monkeypatch.setattr(keyholder_cli.publishing.pipeline, "open_all", stopped)
    monkeypatch.setenv("DVR_INSECURE_FAST_KDF", "1")
    args = [
        "publish",
        "--vault",
        str(vault_dir),
        "--passphrase-file",
        str(tmp_path / "pp"),
        "--out",
        str(tmp_path / "O"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and not (tmp_path / "O").exists()
    assert audit_kinds(vault_dir)[-2:] == ["unlock", "publish_failed"]
    last = json.loads((vault_dir / "audit.log").read_text().splitlines()[-1])
    assert last["details"] == {"out": str(tmp_path / "O"), "error": type(stop).__name__, "logged": False}
    summary = run("keyholder", "audit", "verify", "--vault", vault_dir).stdout
    assert f"publication to {tmp_path / 'O'} stopped before it was logged: {type(stop).__name__}" in summary


@pytest.mark.parametrize("epsilon", ["nan", "inf", "0.001", "0", "-1", "25"])
def test_a_privacy_budget_out_of_range_is_refused_before_any_unlock(vault_dir, tmp_path, epsilon):
    before = audit_kinds(vault_dir)
    proc = run(
        "keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O",
        "--epsilon", epsilon,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("is outside 0.05..20; see docs/disclosure.md, section 4")
    assert audit_kinds(vault_dir) == before and not (tmp_path / "O").exists()
