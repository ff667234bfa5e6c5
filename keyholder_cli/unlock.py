"""Unlocking the vault's keys for one command, in memory.

The current epoch opens with a quorum of SLIP-39 shares (`--share-file`,
repeatable, or hidden prompts) or, for a vault made by `keyholder init`, with
its passphrase. The derived public key must be the vault's current bundle's.
Older epochs then open through the chain of epoch wraps (`previous.json`).
Every successful unlock is recorded, signed, in the audit log before the
keys are used. A failed attempt (a wrong passphrase, wrong or mismatched
shares) is recorded as an unsigned `unlock_failed` entry — no key is
available to sign it — and changes nothing else.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault import UnlockedKey, VaultError, load_bundle
from vault.custody import epoch_key, open_keyfile, unwrap_master
from vault.shares import InvalidShare, MismatchedShares, NotEnoughShares, combine_shares, describe_share

from . import audit
from .custody import read_passphrase
from .errors import KeyholderError
from .prompter import Prompter
from .shareio import prompt_shares, read_custody, read_json, read_share_file
from .station import Station

__all__ = ["PREVIOUS_NAME", "Unlocked", "open_current", "unlock_vault"]

PREVIOUS_NAME = "previous.json"


@dataclass(frozen=True)
class Unlocked:
    """The vault's keys by kid, the current one, and (for rotation) the
    current epoch's master secret."""

    keys: dict[str, UnlockedKey]
    current: UnlockedKey
    master: bytes = field(repr=False)
    details: dict[str, Any]


def _from_shares(
    kid: str, custody: dict[str, Any], share_files: tuple[Path, ...], ui: Prompter
) -> tuple[bytes, dict[str, Any]]:
    identifier = custody.get("slip39_identifier")
    threshold = int(custody.get("threshold", 0))
    if share_files:
        labels = [f"file {p.name}" for p in share_files]
        texts = [read_share_file(p) for p in share_files]
    else:
        texts = prompt_shares(threshold, identifier, ui)
        labels = [f"typed at prompt {i + 1}" for i in range(len(texts))]
    try:
        for i, text in enumerate(texts):
            info = describe_share(text, i)
            if info.identifier != identifier:
                raise KeyholderError(
                    f"share {labels[i]} comes from another ceremony (SLIP-39 identifier {info.identifier});"
                    f" this vault's key {kid} was split with identifier {identifier}"
                )
        recovered = combine_shares(texts)
    except InvalidShare as exc:
        raise KeyholderError(f"share {labels[exc.position]} {exc.reason}; nothing was done") from None
    except NotEnoughShares as exc:
        raise KeyholderError(
            f"{exc.have} share{'s' if exc.have != 1 else ''} given, but key {kid[:8]} needs {exc.need}"
            f" (threshold {exc.need} of {custody.get('officers')}); nothing was done"
        ) from None
    except MismatchedShares as exc:
        where = f" (share {labels[exc.position]})" if exc.position is not None else ""
        raise KeyholderError(f"the shares do not belong together{where}: {exc}; nothing was done") from None
    details = {"custody": "shares", "shares": list(recovered.numbers), "slip39_identifier": identifier}
    return recovered.master_secret, details


def _from_passphrase(
    vault: Station, kid: str, passphrase_file: Path | None, ui: Prompter
) -> tuple[bytes, dict[str, Any]]:
    path = vault.epoch_dir(kid) / "keyfile.json"
    if not path.exists():
        raise KeyholderError(f"epoch {kid} has neither a custody descriptor nor a key file")
    keyfile = read_json(path)
    master, _key = open_keyfile(keyfile, read_passphrase(passphrase_file, confirm=False, ui=ui))
    return master, {"custody": "passphrase"}


def open_current(
    vault: Station, ui: Prompter, *, share_files: tuple[Path, ...] = (), passphrase_file: Path | None = None
) -> tuple[bytes, UnlockedKey, dict[str, Any]]:
    """Recover the current epoch's master secret; check it against the bundle."""
    bundle = load_bundle(read_json(vault.require().bundle_path), require_signature=True)
    custody = read_custody(vault, bundle.kid)
    if share_files and passphrase_file:
        raise KeyholderError("give either --share-file or --passphrase-file, not both")
    if custody is not None:
        if passphrase_file is not None:
            raise KeyholderError(f"key {bundle.kid[:8]} is held as SLIP-39 shares; unlock it with --share-file")
        master, details = _from_shares(bundle.kid, custody, share_files, ui)
    else:
        if share_files:
            raise KeyholderError(f"key {bundle.kid[:8]} is held in a passphrase key file; use --passphrase-file")
        master, details = _from_passphrase(vault, bundle.kid, passphrase_file, ui)
    key = epoch_key(master, bundle.kid)
    if key is None or key.public_key != bundle.public_key or key.signing_key != bundle.signing_key:
        raise KeyholderError(f"the secret recovered is not that of this vault's key {bundle.kid}; nothing was done")
    return master, key, details


def _older_epochs(vault: Station, master: bytes, key: UnlockedKey) -> dict[str, UnlockedKey]:
    """Every epoch's key from the current one back, and each epoch's companion."""
    bundles = vault.bundles()
    keys = {key.kid: key}

    def add_companion(master: bytes, key: UnlockedKey) -> None:
        companion = vault.companion_key(master, key)
        if companion is not None:
            keys[companion.kid] = companion

    add_companion(master, key)
    while (path := vault.epoch_dir(key.kid) / PREVIOUS_NAME).exists():
        master, key = unwrap_master(read_json(path), master)
        bundle = bundles.get(key.kid)
        if bundle is None or bundle.public_key != key.public_key or key.kid in keys:
            raise KeyholderError(f"the epoch chain at {path} does not lead to a known, earlier key epoch")
        keys[key.kid] = key
        add_companion(master, key)
    return keys


def _log_failure(vault: Station, state: audit.AuditResult, command: str, exc: Exception) -> None:
    """Record a failed unlock, unsigned; a log that cannot take it (a full
    disk) must not hide the reason the unlock failed."""
    details = {"command": command, "reason": str(exc)}
    with suppress(KeyholderError, VaultError, OSError):
        audit.append(vault, state, "unlock_failed", details)


def unlock_vault(
    vault: Station,
    command: str,
    ui: Prompter,
    state: audit.AuditResult,
    *,
    share_files: tuple[Path, ...] = (),
    passphrase_file: Path | None = None,
) -> Unlocked:
    """Unlock every epoch for `command` and log the unlock (signed, fsynced).

    `state` is the log the command verified at its start (`audit.resume`),
    so a tampered log is refused before anyone is asked for a share."""
    try:
        master, key, details = open_current(vault, ui, share_files=share_files, passphrase_file=passphrase_file)
    except (KeyholderError, VaultError) as exc:
        _log_failure(vault, state, command, exc)
        raise
    keys = _older_epochs(vault, master, key)
    # The epochs by their own kids (each with its directory); their companions' keys come with them.
    epochs = sorted(kid for kid in keys if vault.epoch_dir(kid).is_dir())
    details = {**details, "command": command, "kid": key.kid, "epochs": epochs}
    audit.append(vault, state, "unlock", details, key)
    return Unlocked(keys, key, master, details)
