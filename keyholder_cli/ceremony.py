"""The key ceremony: a new master secret split into officers' shares.

The master secret is drawn from the OS CSPRNG, the epoch's keys derive from
it, and it is split with SLIP-39 into N shares with threshold M. Each
officer sees their share alone (the screen is cleared between officers) and
types it back; with `--shares-out` (drills, tests) the shares go to files
instead. Before anything is written to the vault the shares are proved: two
quorums (the first M and the last M shares) are recombined, the keys derived
again, and a canary envelope sealed to the new public key is opened with
them. The master secret is never written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault import InvalidEnvelope, KeyBundle, UnlockedKey, derive_keys, new_master_secret, open_envelope, seal
from vault.shares import MAX_SHARES, ShareError, SplitSecret, combine_shares, normalise_share, split_secret

from . import audit
from .errors import KeyholderError
from .prompter import Prompter
from .shareio import read_share_file, write_custody, write_share_files
from .station import NEW_KEY_VERSION, Station, epoch_bundles, write_json

__all__ = ["NewEpoch", "check_quorum", "make_epoch", "officer_list", "run_ceremony", "write_epoch_files"]

SHARES_OUT_WARNING = (
    "WARNING: --shares-out writes EVERY share to disk in {dir}.\n"
    "WARNING: whoever copies {m} of these files holds the ministry's private key and can read every registration.\n"
    "WARNING: use it only for drills and tests; for a real key run the ceremony without --shares-out."
)

_STOPPED = "the ceremony was stopped before anything of the new key was written"


@dataclass(frozen=True)
class NewEpoch:
    key: UnlockedKey
    master: bytes = field(repr=False)
    split: SplitSecret = field(repr=False)
    officers: list[str]
    bundle: KeyBundle

    def custody_details(self) -> dict[str, Any]:
        """What the audit log records about the epoch's custody (no share content)."""
        return {
            "custody": "shares",
            "officers": len(self.split.shares),
            "threshold": self.split.threshold,
            "slip39_identifier": self.split.identifier,
            "officer_names": self.officers,
        }


def check_quorum(officers: int, threshold: int) -> None:
    if not 2 <= threshold <= officers <= MAX_SHARES:
        raise KeyholderError(f"need 2 <= --threshold <= --officers <= {MAX_SHARES}; got {threshold} of {officers}")


def officer_list(names: tuple[str, ...], count: int) -> list[str]:
    """The officers' names or roles as typed, or `officer i` for each."""
    if not names:
        return [f"officer {i + 1}" for i in range(count)]
    if len(names) != count:
        raise KeyholderError(f"{len(names)} --officer-name given for {count} officers; give one per officer or none")
    cleaned = [" ".join(n.split()) for n in names]
    if any(not n for n in cleaned) or len(set(cleaned)) != len(cleaned):
        raise KeyholderError("officer names must be non-empty and distinct")
    return cleaned


def prove_shares(shares: list[str], threshold: int, key: UnlockedKey) -> None:
    """Recombine the first and the last quorum; open a canary envelope with each."""
    canary = seal(f'{{"canary": "dvr key ceremony {key.kid}"}}'.encode(), key.public_key)
    for quorum in (shares[:threshold], shares[-threshold:]):
        try:
            again = derive_keys(combine_shares(quorum).master_secret, key.version)
            open_envelope(canary, again)
        except (ShareError, InvalidEnvelope):
            raise KeyholderError(f"the shares do not give the key back; {_STOPPED}") from None
        if again.public_key != key.public_key or again.signing_key != key.signing_key:
            raise KeyholderError(f"the shares give another key back; {_STOPPED}")


def _show(ui: Prompter, number: int, count: int, officer: str, share: str, kid: str) -> None:
    ui.clear()
    ui.say(f"Share {number} of {count} for {officer} (key {kid[:16]})\n")
    words = share.split()
    for row in range(0, len(words), 4):
        ui.say("    ".join(f"{j + 1:>2}. {w:<9}" for j, w in enumerate(words[row : row + 4], start=row)))
    ui.say("")
    ui.wait("Write the words down in order, check them, then press Enter")
    ui.clear()


def _hand_out(ui: Prompter, number: int, count: int, officer: str, share: str, kid: str) -> str:
    """Show one officer their share and have them type it back."""
    ui.clear()
    ui.say(f"Officer {number} of {count}: {officer}")
    ui.wait("Only this officer may look at the screen now. Press Enter to show it")
    _show(ui, number, count, officer, share, kid)
    words = share.split()
    for _attempt in range(3):
        typed = normalise_share(ui.ask(f"{officer}, type your share back (hidden)", hidden=True)).split()
        if typed == words:
            ui.clear()
            return share
        wrong = [str(k + 1) for k in range(max(len(words), len(typed))) if words[k : k + 1] != typed[k : k + 1]]
        ui.say(f"That does not match: word {', '.join(wrong[:6])} {'differs' if len(wrong) == 1 else 'differ'}.")
        if ui.yes("Show the share again?"):
            _show(ui, number, count, officer, share, kid)
    ui.clear()
    raise KeyholderError(f"{officer} could not confirm share {number}; {_STOPPED}")


def make_epoch(
    officers: list[str], threshold: int, shares_out: Path | None, ui: Prompter, version: int = NEW_KEY_VERSION
) -> NewEpoch:
    """Draw a master secret, split it, hand the shares out, and prove them."""
    master = new_master_secret()
    key = derive_keys(master, version)
    split = split_secret(master, threshold, len(officers))
    prove_shares(list(split.shares), threshold, key)
    if shares_out is not None:
        ui.say(SHARES_OUT_WARNING.format(dir=shares_out, m=threshold), err=True)
        confirmed = [read_share_file(path) for path in write_share_files(shares_out, split, officers, key.kid)]
    else:
        confirmed = [
            _hand_out(ui, i + 1, len(officers), name, share, key.kid)
            for i, (name, share) in enumerate(zip(officers, split.shares, strict=True))
        ]
    prove_shares(confirmed, threshold, key)
    return NewEpoch(key, master, split, officers, key.bundle())


def write_epoch_files(vault: Station, epoch: NewEpoch, extra: dict[str, dict[str, Any]] | None = None) -> None:
    """The epoch's directory: bundle, custody descriptor, and `extra` files by name."""
    write_custody(vault, epoch.key.kid, epoch.split, epoch.officers)
    for name, obj in (extra or {}).items():
        write_json(vault.epoch_dir(epoch.key.kid) / name, obj)
    for name, bundle in epoch_bundles(epoch.master, epoch.key).items():
        write_json(vault.epoch_dir(epoch.key.kid) / name, bundle.to_json())


def run_ceremony(
    vault: Station,
    officers: list[str],
    threshold: int,
    shares_out: Path | None,
    ui: Prompter,
    version: int = NEW_KEY_VERSION,
) -> NewEpoch:
    """Make a new vault whose key (of key `version`) is held by the officers' shares."""
    if vault.root.exists() and any(vault.root.iterdir()):
        raise KeyholderError(f"{vault.root} exists and is not empty; a ceremony makes a new vault")
    check_quorum(len(officers), threshold)
    epoch = make_epoch(officers, threshold, shares_out, ui, version)
    with vault.making(epoch.key.kid):
        audit.start_log(vault, "ceremony", epoch.key, epoch.custody_details())
        write_epoch_files(vault, epoch)
        vault.make_current(epoch.bundle)
    return epoch
