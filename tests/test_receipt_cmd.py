"""`keyholder audit receipt`: one sentence on whether a receipt's envelope is
among those imported, exit 0 only when it is and the receipt verifies."""

from __future__ import annotations

import base64
import json

import pytest
from support import one_line_error, run
from tlog_support import Intake

from keyholder_cli.custody import init_vault
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station
from vault.note import Checkpoint, NoteSigner, sign_checkpoint


@pytest.fixture
def imported(tmp_path):
    """A vault that imported seq 1..4, and receipts for seq 1..5."""
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    intake = Intake(tmp_path / "I", json.loads(v.bundle_path.read_text()))
    receipts = intake.submit(4)
    import_batch(v, intake.export(tmp_path / "b1"))
    receipts += intake.submit(1, "late")
    intake.close()
    return v, receipts


def ask(v: Station, tmp_path, receipt: dict):
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    return run("keyholder", "audit", "receipt", "--vault", v.root, path)


def test_an_imported_envelope_is_confirmed(imported, tmp_path):
    v, receipts = imported
    proc = ask(v, tmp_path, receipts[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Yes: the envelope of this receipt (seq 3,")
    assert "inclusion proof and checkpoint signature verify" in proc.stdout


def test_a_later_envelope_is_not_yet_imported(imported, tmp_path):
    v, receipts = imported
    proc = ask(v, tmp_path, receipts[4])
    assert proc.returncode == 1
    assert proc.stdout.startswith("Not yet:") and "only up to seq 4" in proc.stdout


def test_altered_receipts_are_explained(imported, tmp_path):
    v, receipts = imported
    other_sha = dict(receipts[1], envelope_sha256=receipts[0]["envelope_sha256"])
    proc = ask(v, tmp_path, other_sha)
    assert proc.returncode == 1 and "receipt's envelope hash was altered" in proc.stdout
    bad_proof = dict(receipts[1], inclusion_proof=[base64.b64encode(bytes(32)).decode()] * 2)
    proc = ask(v, tmp_path, bad_proof)
    assert proc.returncode == 1 and "inclusion proof does not verify" in proc.stdout
    thief = NoteSigner.generate("dvr-intake/thief")
    forged = dict(receipts[1], checkpoint=sign_checkpoint(Checkpoint(thief.name, 4, bytes(32)), thief))
    proc = ask(v, tmp_path, forged)
    assert proc.returncode == 1 and "not signed by the intake log key this vault pins" in proc.stdout


def test_malformed_receipts_and_unpinned_vaults_are_one_line_errors(imported, tmp_path):
    v, receipts = imported
    (tmp_path / "junk.json").write_text("{not json")
    line = one_line_error(run("keyholder", "audit", "receipt", "--vault", v.root, tmp_path / "junk.json"))
    assert "not a JSON receipt" in line
    line = one_line_error(ask(v, tmp_path, dict(receipts[0], leaf_index=7)))
    assert "leaf_index" in line
    fresh = Station(tmp_path / "W")
    init_vault(fresh, b"another passphrase")
    line = one_line_error(ask(fresh, tmp_path, receipts[0]))
    assert "pins no intake log key yet" in line
