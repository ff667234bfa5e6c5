"""keyholder_cli.unlock: one command's unlock, logged; a failed one logged unsigned and nothing else changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyholder_cli import audit
from keyholder_cli.custody import init_vault
from keyholder_cli.errors import KeyholderError
from keyholder_cli.station import Station
from keyholder_cli.unlock import unlock_vault
from vault import VaultError


class NoPrompts:
    """A Prompter for runs that must never ask anyone anything."""

    def say(self, text: str, *, err: bool = False) -> None:
        pass

    def ask(self, text: str, *, hidden: bool = False, confirm: bool = False, err: bool = False) -> str:
        raise AssertionError(f"asked {text!r}")

    def wait(self, text: str) -> None:
        raise AssertionError(f"waited at {text!r}")

    def yes(self, text: str) -> bool:
        raise AssertionError(f"asked {text!r}")

    def clear(self) -> None:
        pass


@pytest.fixture
def station(tmp_path: Path) -> tuple[Station, Path]:
    (tmp_path / "pp").write_text("correct horse battery\n")
    s = Station(tmp_path / "V")
    init_vault(s, b"correct horse battery")
    return s, tmp_path / "pp"


def kinds(s: Station) -> list[tuple[str, bool]]:
    return [(e["kind"], e["sig"] is not None) for e in map(json.loads, s.audit_path.read_text().splitlines())]


def test_an_unlock_is_logged_signed_and_extends_the_commands_state(station):
    s, pp = station
    state = audit.resume(s)
    unlocked = unlock_vault(s, "publish", NoPrompts(), state, passphrase_file=pp)
    companion = s.companion_key(unlocked.master, unlocked.current)  # the X25519 key of the same epoch
    assert companion is not None and companion.version == 1 and unlocked.current.version == 2
    assert set(unlocked.keys) == {unlocked.current.kid, companion.kid} and unlocked.details["command"] == "publish"
    assert unlocked.details["epochs"] == [unlocked.current.kid]
    assert kinds(s)[-1] == ("unlock", True)
    assert state.log.entries[-1].kind == "unlock"  # the same verified state goes on to the next entry


def test_a_wrong_passphrase_is_logged_unsigned_and_changes_nothing_else(station, tmp_path):
    s, _ = station
    (tmp_path / "wrong").write_text("not it\n")
    before = {p.name: p.read_bytes() for p in s.root.rglob("*") if p.is_file() and p.name != "audit.log"}
    with pytest.raises((KeyholderError, VaultError)):
        unlock_vault(s, "publish", NoPrompts(), audit.resume(s), passphrase_file=tmp_path / "wrong")
    assert kinds(s)[-1] == ("unlock_failed", False)
    assert {p.name: p.read_bytes() for p in s.root.rglob("*") if p.is_file() and p.name != "audit.log"} == before


def test_share_files_for_a_passphrase_vault_are_refused_by_name(station, tmp_path):
    s, pp = station
    (tmp_path / "share.txt").write_text("academic acid acrobat\n")
    with pytest.raises(KeyholderError, match="held in a passphrase key file; use --passphrase-file"):
        unlock_vault(s, "publish", NoPrompts(), audit.resume(s), share_files=(tmp_path / "share.txt",))
    with pytest.raises(KeyholderError, match="not both"):
        unlock_vault(
            s, "publish", NoPrompts(), audit.resume(s), share_files=(tmp_path / "share.txt",), passphrase_file=pp
        )
