"""`keyholder import` checks every batch against the intake's signed log:
dropped, altered, reordered or forked envelopes are refused even when the
batch's trailer hash was recomputed, and so is a batch signed by another
log key unless the officer re-pins. A refused batch keeps nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from support import one_line_error, run, submission
from tlog_support import Intake

import vault
from intake.tlog import load_log_key
from keyholder_cli.custody import init_vault
from keyholder_cli.errors import ImportRefused
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station
from vault.batch import BATCH_FORMAT, signed_text
from vault.canonical import canonical_json
from vault.note import Checkpoint, NoteSigner, sign_checkpoint, sign_note


@pytest.fixture
def setup(tmp_path):
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    intake = Intake(tmp_path / "I", json.loads(v.bundle_path.read_text()))
    yield v, intake
    intake.close()


def held(v: Station) -> int:
    return v.envelope_count()


def rewrite(src: Path, dst: Path, edit, signer: Intake | NoteSigner) -> Path:
    """Apply `edit(header, rows)` to a batch, recompute its trailer hash and
    sign it with `signer` (an intake: its own log key). So these tests play
    the intake's operator, who holds the log key and can sign any batch: what
    refuses them is the log's checkpoint, not the batch's signature (an
    attacker without the key: tests/test_batch_coverage.py)."""
    if isinstance(signer, Intake):
        signer = load_log_key(signer.config.data_dir)
    lines = src.read_bytes().splitlines()
    header, rows = json.loads(lines[0]), [json.loads(line) for line in lines[1:-1]]
    header, rows = edit(header, rows)
    body = canonical_json(header) + b"\n" + b"".join(canonical_json(r) + b"\n" for r in rows)
    sha = hashlib.sha256(body).hexdigest()
    trailer = {"end": BATCH_FORMAT, "sha256": sha, "signature": sign_note(signed_text(sha), signer)}
    dst.write_bytes(body + canonical_json(trailer) + b"\n")
    return dst


def refused(v: Station, path: Path, *, repin: bool = False) -> str:
    before = held(v)
    with pytest.raises(ImportRefused) as exc:
        import_batch(v, path, repin=repin)
    assert held(v) == before  # nothing from a refused batch is kept
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_first_import_pins_the_log_key_and_prints_it(setup, tmp_path):
    v, intake = setup
    intake.submit(3)
    batch = intake.export(tmp_path / "b1")
    proc = run("keyholder", "import", "--vault", v.root, batch)
    assert proc.returncode == 0, proc.stderr
    server_key = run("intake", "log", "key", "--data", intake.config.data_dir).stdout.strip()
    assert f"pinned the intake's log key {server_key}" in proc.stdout
    assert "log checkpoint at size 3 verified" in proc.stdout
    entries = [json.loads(line) for line in v.audit_path.read_text().splitlines()]
    [pin] = [e for e in entries if e["kind"] == "log_key_pin"]
    assert pin["details"]["verifier_key"] == server_key and pin["details"]["replaces"] is None


def test_successive_batches_are_checked_against_the_whole_log(setup, tmp_path):
    v, intake = setup
    intake.submit(3)
    import_batch(v, intake.export(tmp_path / "b1"))
    intake.submit(4, "second")
    result = import_batch(v, intake.export(tmp_path / "b2"))
    assert result.new == 4 and result.log is not None
    assert result.log.size == 7 and result.log.previous_size == 3 and not result.log.pinned_now
    assert held(v) == 7
    steps: list[int] = []
    again = import_batch(v, tmp_path / "b1", progress=steps.append)  # an old batch: still verified, nothing new
    assert again.new == 0 and again.log is not None and again.log.size == 3
    assert sum(steps) == 3  # the progress bar counts the rows it checked, new or not


def test_a_removed_envelope_is_refused(setup, tmp_path):
    v, intake = setup
    receipts = intake.submit(5)
    batch = intake.export(tmp_path / "b")

    def drop_last(h, rows):
        return {**h, "last_seq": 4, "count": 4}, rows[:-1]

    message = refused(v, rewrite(batch, tmp_path / "short", drop_last, intake))
    assert "checkpoint covers 5 envelopes but the batch ends at seq 4" in message

    # Drop seq 3, renumber, and borrow the genuine size-4 checkpoint of a receipt:
    # only the recomputed root can tell.
    def drop_middle(h, rows):
        kept = rows[:2] + rows[3:]
        for i, r in enumerate(kept):
            r["seq"] = i + 1
        return {**h, "last_seq": 4, "count": 4, "checkpoint": receipts[3]["checkpoint"]}, kept

    message = refused(v, rewrite(batch, tmp_path / "renumbered", drop_middle, intake))
    assert "do not hash to the batch's signed checkpoint" in message
    assert held(v) == 0


def test_an_altered_or_reordered_envelope_is_refused(setup, tmp_path):
    v, intake = setup
    intake.submit(3)
    import_batch(v, intake.export(tmp_path / "b1"))
    intake.submit(3, "more")
    batch = intake.export(tmp_path / "b2")
    other = vault.seal(submission() + b" forged", intake.public_key).to_json()

    def replace(h, rows):
        rows[1]["envelope"] = other
        return h, rows

    def swap(h, rows):
        rows[0]["envelope"], rows[2]["envelope"] = rows[2]["envelope"], rows[0]["envelope"]
        return h, rows

    for name, edit in (("altered", replace), ("reordered", swap)):
        message = refused(v, rewrite(batch, tmp_path / name, edit, intake))
        assert "do not hash to the batch's signed checkpoint (size 6)" in message
    assert held(v) == 3
    import_batch(v, batch)  # the genuine batch still goes in
    assert held(v) == 6


def test_a_forked_log_is_refused(setup, tmp_path):
    v, intake = setup
    intake.submit(2)
    import_batch(v, intake.export(tmp_path / "b1"))
    intake.close()
    # The intake's operator copies the data (key included) and runs two histories.
    fork = Intake.__new__(Intake)
    shutil.copytree(intake.config.data_dir, tmp_path / "F")
    fork.__init__(tmp_path / "F", json.loads(v.bundle_path.read_text()))
    intake.__init__(intake.config.data_dir, json.loads(v.bundle_path.read_text()))
    intake.submit(1, "honest")
    import_batch(v, intake.export(tmp_path / "b2"))
    fork.submit(1, "rewritten")
    fork.export(tmp_path / "f2")  # seq 3 differs; the fork exports it where no one looks
    fork.submit(1, "next")
    forked = fork.export(tmp_path / "f3")  # seq 4 alone: nothing to compare row by row
    fork.close()
    message = refused(v, forked)
    assert "or the intake's log forked" in message
    assert held(v) == 3


def test_a_batch_signed_by_another_key_needs_an_explicit_repin(setup, tmp_path):
    v, intake = setup
    intake.submit(2)
    import_batch(v, intake.export(tmp_path / "b1"))
    old_key = run("intake", "log", "key", "--data", intake.config.data_dir).stdout.strip()
    # An attacker re-signs a batch with their own key: refused.
    thief = NoteSigner.generate("dvr-intake/thief")

    def resign(h, rows):
        cp = vault.transparency.open_checkpoint(h["checkpoint"], vault.transparency.NoteVerifier.parse(h["log_key"]))
        forged = sign_checkpoint(Checkpoint(thief.name, cp.size, cp.root_hash), thief)
        return {**h, "log_key": thief.verifier().encode(), "checkpoint": forged}, rows

    message = refused(v, rewrite(tmp_path / "b1", tmp_path / "stolen", resign, thief))
    assert "this vault pins " + old_key in message and "--repin" in message
    # The intake's log key is really replaced: refused until the officer re-pins.
    intake.close()
    (intake.config.data_dir / "log-key").unlink()
    assert run("intake", "log", "init", "--data", intake.config.data_dir).returncode == 0
    intake.__init__(intake.config.data_dir, json.loads(v.bundle_path.read_text()))
    new_key = run("intake", "log", "key", "--data", intake.config.data_dir).stdout.strip()
    intake.submit(1, "after")
    batch = intake.export(tmp_path / "b2")
    line = one_line_error(run("keyholder", "import", "--vault", v.root, batch))
    assert new_key in line and "--repin" in line and held(v) == 2
    proc = run("keyholder", "import", "--vault", v.root, "--repin", batch)
    assert proc.returncode == 0, proc.stderr
    assert f"re-pinned the intake's log key: {new_key} replaces {old_key}" in proc.stdout
    assert held(v) == 3
    entries = [json.loads(line) for line in v.audit_path.read_text().splitlines()]
    assert [e["details"]["replaces"] for e in entries if e["kind"] == "log_key_pin"] == [None, old_key]


def test_a_batch_without_a_valid_checkpoint_is_refused(setup, tmp_path):
    v, intake = setup
    intake.submit(2)
    batch = intake.export(tmp_path / "b")

    def strip(h, rows):
        return {k: x for k, x in h.items() if k not in ("checkpoint", "log_key")}, rows

    assert "the batch header is incomplete" in refused(v, rewrite(batch, tmp_path / "bare", strip, intake))

    def bump_root(h, rows):
        lines = h["checkpoint"].split("\n")
        lines[2] = vault.canonical.b64u_encode(bytes(32)).replace("-", "+").replace("_", "/") + "="
        return {**h, "checkpoint": "\n".join(lines)}, rows

    assert "not validly signed" in refused(v, rewrite(batch, tmp_path / "rooted", bump_root, intake))

    def bad_key(h, rows):
        return {**h, "log_key": "not a key"}, rows

    assert "log key is malformed" in refused(v, rewrite(batch, tmp_path / "badkey", bad_key, intake))


def test_the_vault_keeps_one_leaf_per_envelope(setup, tmp_path):
    v, intake = setup
    intake.submit(4)
    import_batch(v, intake.export(tmp_path / "b"))
    conn = sqlite3.connect(v.db_path)
    leaves = [bytes(r[0]) for r in conn.execute("SELECT leaf FROM tlog_leaves ORDER BY seq")]
    cts = conn.execute("SELECT kid, ct FROM envelopes ORDER BY seq").fetchall()
    conn.close()
    assert leaves == [vault.transparency.leaf_hash(vault.Envelope(k, bytes(c)).canonical()) for k, c in cts]
