"""Wrong states that used to pass in silence (issue 14, findings 8 and 9):
envelopes for a key the vault does not hold, a receipt without a log proof,
a binary passphrase file, failed unlocks missing from the audit log, a
re-import that changed nothing recorded as an import, and "1 envelopes"."""

from __future__ import annotations

import json
import sqlite3

from support import VALID_RECORD, one_line_error, public_key, run, submission, write_batch_file

import vault


def rows(vault_dir, table: str) -> list:
    conn = sqlite3.connect(vault_dir / "envelopes.sqlite")
    try:
        return conn.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
    finally:
        conn.close()


def kinds(vault_dir) -> list[str]:
    return [json.loads(line)["kind"] for line in (vault_dir / "audit.log").read_text().splitlines()]


def test_envelopes_for_a_key_the_vault_does_not_hold_are_refused_at_import(vault_dir, tmp_path):
    other = vault.derive_keys(bytes(32))
    envs = [vault.seal(submission(), public_key(vault_dir)).canonical()]
    envs += [vault.seal(submission(), other.public_key).canonical() for _ in range(2)]
    write_batch_file(tmp_path / "b", envs)
    log_before = (vault_dir / "audit.log").read_bytes()
    line = one_line_error(run("keyholder", "import", "--vault", vault_dir, tmp_path / "b"))
    assert line.startswith(
        f"keyholder: error: b: 2 envelopes (the first at seq 2) are sealed to key {other.kid}, which this vault"
        " does not hold"
    )
    assert line.endswith("nothing from it was kept (docs/operations.md: --accept-unknown-keys)")
    assert rows(vault_dir, "envelopes") == [] and rows(vault_dir, "imports") == []
    assert (vault_dir / "audit.log").read_bytes() == log_before
    # The officer, having looked into it, keeps them (later batches need them): loudly.
    proc = run("keyholder", "import", "--vault", vault_dir, "--accept-unknown-keys", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    assert f"WARNING: b: 2 envelopes sealed to key {other.kid}, which this vault does not hold" in proc.stderr
    [entry] = [json.loads(x) for x in (vault_dir / "audit.log").read_text().splitlines() if '"import"' in x]
    assert entry["details"]["unknown_keys"] == {other.kid: 2}
    # Publish says so, loudly, with the count.
    proc = run(
        "keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 envelopes, 1 opened, 2 failed to open" in proc.stdout
    assert "WARNING: 2 envelopes did not open with this vault's keys" in proc.stderr


def test_a_re_import_that_changes_nothing_records_nothing(vault_dir, tmp_path):
    write_batch_file(tmp_path / "b", [vault.seal(submission(), public_key(vault_dir)).canonical()])
    proc = run("keyholder", "import", "--vault", vault_dir, tmp_path / "b")
    assert "imported 1 new envelope (seq 1..1); vault now holds 1" in proc.stdout
    again = run("keyholder", "import", "--vault", vault_dir, tmp_path / "b")
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert len(rows(vault_dir, "imports")) == 1
    assert kinds(vault_dir).count("import") == 1


def test_a_receipt_without_a_log_proof_is_not_a_success(vault_dir, tmp_path):
    env = vault.seal(submission(), public_key(vault_dir))
    write_batch_file(tmp_path / "b", [env.canonical()])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    bare = {"format": "dvr-receipt/1", "seq": 1, "envelope_sha256": env.sha256}
    (tmp_path / "r.json").write_text(json.dumps(bare))
    proc = run("keyholder", "audit", "receipt", "--vault", vault_dir, tmp_path / "r.json")
    assert proc.returncode == 3
    assert proc.stdout.startswith("Unverified: the receipt has no log proof")
    assert "is among the envelopes imported" in proc.stdout


def test_a_binary_passphrase_file_is_one_line(vault_dir, tmp_path):
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00binary")
    line = one_line_error(
        run(
            "keyholder", "publish", "--vault", vault_dir, "--passphrase-file", tmp_path / "bin", "--out", tmp_path / "O"
        )
    )
    assert line == "keyholder: error: the passphrase file bin is not UTF-8 text"
    line = one_line_error(run("keyholder", "init", "--vault", tmp_path / "V2", "--passphrase-file", tmp_path / "bin"))
    assert line == "keyholder: error: the passphrase file bin is not UTF-8 text"


def test_failed_unlocks_are_in_the_audit_log_and_verify(vault_dir, tmp_path):
    (tmp_path / "wrong").write_text("incorrect\n")
    publish = ("keyholder", "publish", "--vault", vault_dir, "--out", tmp_path / "O", "--passphrase-file")
    assert "wrong passphrase" in one_line_error(run(*publish, tmp_path / "wrong"))
    assert kinds(vault_dir) == ["init", "unlock_failed"]
    proc = run("keyholder", "audit", "verify", "--vault", vault_dir)
    assert proc.returncode == 0, proc.stderr
    assert "unlock_failed UNSIGNED" in proc.stdout and "unlock for publish failed: wrong passphrase" in proc.stdout
    assert "audit log: 2 entries" in proc.stdout and "1 signature valid" in proc.stdout
    # The next unlock signs over it.
    write_batch_file(tmp_path / "b", [vault.seal(submission(VALID_RECORD), public_key(vault_dir)).canonical()])
    assert run("keyholder", "import", "--vault", vault_dir, tmp_path / "b").returncode == 0
    assert run(*publish, tmp_path / "pp").returncode == 0
    assert kinds(vault_dir)[:5] == ["init", "unlock_failed", "log_key_pin", "import", "unlock"]
    assert run("keyholder", "audit", "verify", "--vault", vault_dir, "--strict").returncode == 0
