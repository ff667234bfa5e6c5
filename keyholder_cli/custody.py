"""Making a vault and unlocking its keys (passphrase custody).

The passphrase protects an epoch's master secret; both the HPKE key and the
signing key derive from it. Argon2id costs come from `kdf_cost()`: the
production profile, or the minimum when DVR_INSECURE_FAST_KDF=1 (tests and
drills only; the costs are recorded in the key file either way).
"""

from __future__ import annotations

import os
from pathlib import Path

from vault import UnlockedKey, derive_keys, new_master_secret
from vault.custody import Argon2Cost, open_keyfile, seal_keyfile

from . import audit
from .errors import KeyholderError
from .prompter import Prompter
from .shareio import read_json
from .station import NEW_KEY_VERSION, Station, epoch_bundles, write_json

__all__ = ["init_vault", "kdf_cost", "read_passphrase", "unlock_with_passphrase"]


def kdf_cost() -> Argon2Cost:
    if os.environ.get("DVR_INSECURE_FAST_KDF") == "1":
        return Argon2Cost.insecure_for_tests()
    return Argon2Cost.production()


def read_passphrase(passphrase_file: Path | None, *, confirm: bool, ui: Prompter) -> bytes:
    """From a file (its first line) or a hidden prompt."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise KeyholderError(f"the passphrase file {passphrase_file.name} is not UTF-8 text") from None
        passphrase = text[0] if text else ""
    else:
        passphrase = ui.ask("Passphrase", hidden=True, confirm=confirm, err=True)
    if not passphrase:
        raise KeyholderError("the passphrase is empty")
    return passphrase.encode("utf-8")


def save_epoch(vault: Station, master: bytes, key: UnlockedKey, custody: dict[str, object], custody_name: str) -> None:
    """Write an epoch's public bundles and custody file, and make it current."""
    epoch = vault.epoch_dir(key.kid)
    epoch.mkdir(parents=True, exist_ok=True)
    write_json(epoch / custody_name, custody, mode=0o600)
    bundles = epoch_bundles(master, key)
    for name, bundle in bundles.items():
        write_json(epoch / name, bundle.to_json())
    vault.make_current(bundles["bundle.json"])


def init_vault(vault: Station, passphrase: bytes, version: int = NEW_KEY_VERSION) -> UnlockedKey:
    """Make a new vault with one key epoch (of key `version`) under passphrase custody."""
    if vault.exists():
        raise KeyholderError(f"{vault.root} already holds a vault; refusing to overwrite it")
    master = new_master_secret()
    key = derive_keys(master, version)
    keyfile = seal_keyfile(master, passphrase, kdf_cost(), kid=key.kid)
    with vault.making(key.kid):
        audit.start_log(vault, "init", key, {"custody": "passphrase"})  # the signed first entry (issue 4)
        save_epoch(vault, master, key, keyfile, "keyfile.json")
    return key


def unlock_with_passphrase(vault: Station, passphrase: bytes) -> dict[str, UnlockedKey]:
    """Open every passphrase-held epoch of the vault; return keys by kid."""
    bundles = vault.require().bundles()
    keys: dict[str, UnlockedKey] = {}
    for kid, bundle in bundles.items():
        path = vault.epoch_dir(kid) / "keyfile.json"
        if not path.exists():
            continue
        master, key = open_keyfile(read_json(path), passphrase)
        if key.public_key != bundle.public_key:
            raise KeyholderError(f"the key file of epoch {kid} does not match its bundle")
        keys[kid] = key
        companion = vault.companion_key(master, key)
        if companion is not None:
            keys[companion.kid] = companion
    if not keys:
        raise KeyholderError("this vault has no passphrase key file; unlock it with --share-file")
    return keys
