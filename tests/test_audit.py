"""keyholder_cli.audit: verification is read-only; finishing an interrupted rotation is its own step."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_ceremony_cli import keyholder, stopped_rotation

from keyholder_cli import audit
from keyholder_cli.errors import KeyholderError
from keyholder_cli.station import Station


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (the SQLite side files included) and its SHA-256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_verifying_a_vault_with_an_interrupted_rotation_writes_nothing(tmp_path):
    v, new_kid, new_bundle = stopped_rotation(tmp_path)
    Station(v).connect().close()  # a vault database too, as after an import
    before = snapshot(v)
    assert "envelopes.sqlite" in before
    result = audit.verify_vault(Station(v))
    assert snapshot(v) == before
    assert result.pending_rotation is not None and result.pending_rotation.kid == new_kid
    assert result.anchor.kid == new_kid and result.finished_rotation is None
    with pytest.raises(KeyholderError, match="not finished"):
        audit.append(Station(v), result, "import", {"new": 0})
    assert snapshot(v) == before


def test_resume_finishes_the_rotation_once_and_the_state_takes_entries(tmp_path):
    v, new_kid, new_bundle = stopped_rotation(tmp_path)
    state = audit.resume(Station(v))
    assert state.finished_rotation == new_kid and (v / "key-bundle.json").read_bytes() == new_bundle
    assert state.warnings[0].startswith(f"finished the rotation to key {new_kid}")
    entries = len(state.log.entries)
    details = {"batch": "b", "batch_sha256": "0" * 64, "first_seq": 1, "last_seq": 0, "new": 0}
    audit.append(Station(v), state, "import", details)
    assert len(state.log.entries) == entries + 1 and state.log.unsigned_tail[-1].kind == "import"
    assert audit.verify_vault(Station(v)).log.entries == state.log.entries


def test_a_log_that_moved_since_it_was_verified_is_not_appended_to(tmp_path):
    (tmp_path / "pp").write_text("correct horse battery\n")
    v = tmp_path / "V"
    assert keyholder("init", "--vault", v, "--passphrase-file", tmp_path / "pp").exit_code == 0
    stale = audit.verify_vault(Station(v))
    audit.append(Station(v), audit.verify_vault(Station(v)), "note", {"by": "another command"})
    before = (v / "audit.log").read_bytes()
    with pytest.raises(audit.AuditLogError, match="written by another command"):
        audit.append(Station(v), stale, "note", {"by": "this one"})
    assert (v / "audit.log").read_bytes() == before
