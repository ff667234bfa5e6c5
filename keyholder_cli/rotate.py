"""`keyholder rotate`: a new key epoch that succeeds the current one.

The current epoch is unlocked (logged). A new master secret is drawn and
held by new shares (a ceremony for the new epoch) or by a new passphrase key
file. The new bundle is signed by its own key (FORMATS.md section 1) and the
old signing key signs a rotation statement for it (`rotation.json`, and a
copy in `V/key-rotation.json` for the intake), so that both keys have signed
the hand-over. The previous epoch's master secret is wrapped under the new
one (`previous.json`), so a quorum of the new epoch opens every older
epoch's envelopes too. The `rotation` entry, signed by the new key and
carrying the statement, is logged before the new bundle becomes current.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import KeyBundle, UnlockedKey, derive_keys, new_master_secret
from vault.custody import rotation_statement, seal_keyfile, wrap_master

from . import audit
from .ceremony import check_quorum, make_epoch, write_epoch_files
from .custody import kdf_cost, read_passphrase
from .prompter import Prompter
from .station import NEW_KEY_VERSION, ROTATION_NAME, Station, epoch_bundles, write_json
from .unlock import PREVIOUS_NAME, Unlocked

__all__ = ["ROTATION_NAME", "Rotated", "rotate_to_passphrase", "rotate_to_shares", "rotation_attempt"]


@dataclass(frozen=True)
class Rotated:
    previous_kid: str
    bundle: KeyBundle
    statement_path: Path


@contextmanager
def rotation_attempt(vault: Station, current: UnlockedKey, state: audit.AuditResult) -> Iterator[None]:
    """Around everything `rotate` does after its unlock. If it stops before
    its `rotation` entry is logged (a refusal, an officer who cannot confirm,
    a full disk, Ctrl-C), the new epoch's directory is removed (its
    `previous.json` would let the new shares open the current epoch) and a
    signed `rotation_failed` entry explains the unlock. Once the entry is
    logged, the next command finishes the rotation (`audit.resume`)."""
    epochs = vault.root / "epochs"
    before = set(epochs.iterdir())
    try:
        yield
    except BaseException as exc:
        with suppress(Exception):  # the first error is the one to report
            if state.log.current_kid == current.kid:  # not logged
                for made in set(epochs.iterdir()) - before:
                    shutil.rmtree(made)
                audit.append(vault, state, "rotation_failed", {"error": type(exc).__name__}, current)
        raise


def _finish(
    vault: Station,
    state: audit.AuditResult,
    unlocked: Unlocked,
    key: UnlockedKey,
    bundle: KeyBundle,
    statement: dict[str, Any],
    custody: dict[str, Any],
) -> Rotated:
    """Log the rotation (signed by the new key), then make the new bundle current."""
    audit.append(vault, state, "rotation", {**custody, "statement": statement}, key)
    statement_path = vault.rotation_path
    write_json(statement_path, statement)
    vault.make_current(bundle)
    return Rotated(unlocked.current.kid, bundle, statement_path)


def rotate_to_shares(
    vault: Station,
    state: audit.AuditResult,
    unlocked: Unlocked,
    officers: list[str],
    threshold: int,
    shares_out: Path | None,
    ui: Prompter,
    version: int = NEW_KEY_VERSION,
) -> Rotated:
    check_quorum(len(officers), threshold)
    epoch = make_epoch(officers, threshold, shares_out, ui, version)
    statement = rotation_statement(unlocked.current, epoch.bundle)
    previous = _wrap(epoch.master, epoch.key, unlocked)
    write_epoch_files(vault, epoch, {PREVIOUS_NAME: previous, ROTATION_NAME: statement})
    return _finish(vault, state, unlocked, epoch.key, epoch.bundle, statement, epoch.custody_details())


def _wrap(master: bytes, key: UnlockedKey, unlocked: Unlocked) -> dict[str, Any]:
    """The current epoch's master secret wrapped under the new epoch's (`previous.json`)."""
    return wrap_master(master, unlocked.master, wrapping_kid=key.kid, wrapped_kid=unlocked.current.kid)


def rotate_to_passphrase(
    vault: Station,
    state: audit.AuditResult,
    unlocked: Unlocked,
    new_passphrase_file: Path | None,
    ui: Prompter,
    version: int = NEW_KEY_VERSION,
) -> Rotated:
    passphrase = read_passphrase(new_passphrase_file, confirm=True, ui=ui)
    master = new_master_secret()
    key = derive_keys(master, version)
    bundles = epoch_bundles(master, key)
    bundle = bundles["bundle.json"]
    statement = rotation_statement(unlocked.current, bundle)
    epoch = vault.epoch_dir(key.kid)
    epoch.mkdir(parents=True, exist_ok=True)
    write_json(epoch / "keyfile.json", seal_keyfile(master, passphrase, kdf_cost(), kid=key.kid), mode=0o600)
    write_json(epoch / PREVIOUS_NAME, _wrap(master, key, unlocked))
    write_json(epoch / ROTATION_NAME, statement)
    for name, obj in bundles.items():
        write_json(epoch / name, obj.to_json())
    return _finish(vault, state, unlocked, key, bundle, statement, {"custody": "passphrase"})
