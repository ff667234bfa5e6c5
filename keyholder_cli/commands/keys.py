"""`keyholder ceremony` and `keyholder rotate`, and the unlock options every
key-needing command takes."""

from __future__ import annotations

from pathlib import Path

import click

from vault.shares import InvalidShare, describe_share

from .. import audit
from ..ceremony import check_quorum, officer_list, run_ceremony
from ..errors import KeyholderError
from ..rotate import rotate_to_passphrase, rotate_to_shares, rotation_attempt
from ..shareio import read_custody, read_share_file
from ..station import NEW_KEY_VERSION, Station
from ..unlock import unlock_vault
from .console import ClickPrompter

__all__ = ["ceremony", "check_share", "echo_carry", "key_version_option", "rotate", "share_file_option"]

_vault_option = click.option(
    "--vault", "vault_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Vault directory."
)
share_file_option = click.option(
    "--share-file",
    "share_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding one officer's share (repeat for each). Without it, the shares are asked for, hidden.",
)
_passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Unlock a vault made by `keyholder init`: read the passphrase from FILE.",
)
_count = click.IntRange(2, 16)
_shares_out_option = click.option(
    "--shares-out",
    type=click.Path(file_okay=False, path_type=Path),
    help="DRILLS AND TESTS ONLY: write one share file per officer into DIR instead of showing them.",
)
_officer_name_option = click.option(
    "--officer-name", "officer_names", multiple=True, help="An officer's name or role, in share order (repeat)."
)


key_version_option = click.option(
    "--key-version",
    type=click.Choice(["1", "2"]),
    default=str(NEW_KEY_VERSION),
    show_default=True,
    help="The new key: 2 is X-Wing (post-quantum hybrid), with an X25519 companion for older browsers; 1 is X25519.",
)


def _refuse_shares_in_vault(shares_out: Path | None, vault_dir: Path) -> None:
    if shares_out is not None and shares_out.resolve().is_relative_to(vault_dir.resolve()):
        raise KeyholderError("--shares-out must not be inside the vault: shares never live beside the vault")


@click.command("ceremony")
@_vault_option
@click.option("--officers", required=True, type=_count, help="N: how many officers receive a share.")
@click.option("--threshold", required=True, type=_count, help="M: how many shares unlock the key.")
@_shares_out_option
@_officer_name_option
@key_version_option
def ceremony(
    vault_dir: Path,
    officers: int,
    threshold: int,
    shares_out: Path | None,
    officer_names: tuple[str, ...],
    key_version: str,
) -> None:
    """Make a new vault whose key only M of N officers together can unlock."""
    _refuse_shares_in_vault(shares_out, vault_dir)
    vault = Station(vault_dir)
    names = officer_list(officer_names, officers)
    epoch = run_ceremony(vault, names, threshold, shares_out, ClickPrompter(), int(key_version))
    click.echo(
        f"vault created in {vault_dir}; key {epoch.key.kid}; {threshold} of {officers} shares"
        f" (SLIP-39 identifier {epoch.split.identifier}); two quorums recombined and a canary envelope opened"
    )
    echo_carry(vault)


def echo_carry(vault: Station, rotation: Path | None = None) -> None:
    """Tell the operator what to install on the intake: the bundle, its companion, the rotation."""
    with_rotation = f" --rotation {rotation}" if rotation is not None else ""
    click.echo(
        f"carry {vault.bundle_path}{' and ' + str(rotation) if rotation else ''} to the intake server:"
        f" intake keys add --data DIR {vault.bundle_path}{with_rotation}"
    )
    if vault.companion_path.exists():
        click.echo(
            f"and its X25519 companion for browsers without X-Wing: intake keys add --data DIR {vault.companion_path}"
        )


@click.command("rotate")
@_vault_option
@share_file_option
@_passphrase_option
@click.option("--officers", type=_count, help="New epoch held as shares: N officers (with --threshold).")
@click.option("--threshold", type=_count, help="New epoch held as shares: M of them unlock it.")
@_shares_out_option
@_officer_name_option
@click.option(
    "--new-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="New epoch held in a passphrase key file: read the new passphrase from FILE.",
)
@key_version_option
def rotate(
    vault_dir: Path,
    share_files: tuple[Path, ...],
    passphrase_file: Path | None,
    officers: int | None,
    threshold: int | None,
    shares_out: Path | None,
    officer_names: tuple[str, ...],
    new_passphrase_file: Path | None,
    key_version: str,
) -> None:
    """Start a new key epoch; older epochs stay readable with the new key's quorum."""
    vault = Station(vault_dir).require()
    _refuse_shares_in_vault(shares_out, vault_dir)
    if (officers is None) != (threshold is None):
        raise KeyholderError("give --officers and --threshold together")
    if officers is not None and new_passphrase_file is not None:
        raise KeyholderError("give either --officers/--threshold or --new-passphrase-file, not both")
    names = officer_list(officer_names, officers) if officers is not None else []
    if officers is not None and threshold is not None:
        check_quorum(officers, threshold)
    state = audit.resume(vault)
    if state.finished_rotation is not None:  # that rotation is what this one was meant to do
        click.echo(f"{audit.finished_rotation_message(vault, state.finished_rotation)}; no new rotation started")
        return
    ui = ClickPrompter()
    unlocked = unlock_vault(vault, "rotate", ui, state, share_files=share_files, passphrase_file=passphrase_file)
    with rotation_attempt(vault, unlocked.current, state):
        if officers is not None and threshold is not None:
            rotated = rotate_to_shares(vault, state, unlocked, names, threshold, shares_out, ui, int(key_version))
        else:
            rotated = rotate_to_passphrase(vault, state, unlocked, new_passphrase_file, ui, int(key_version))
    click.echo(f"key rotated: {rotated.previous_kid} -> {rotated.bundle.kid} (now current; older epochs still open)")
    echo_carry(vault, rotated.statement_path)


@click.command("check-share")
@_vault_option
@click.option(
    "--share-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The share to check (without it, the share is asked for, hidden).",
)
def check_share(vault_dir: Path, share_file: Path | None) -> None:
    """Check one officer's share without unlocking anything: its words, its
    checksum, and which of this vault's ceremonies it belongs to."""
    vault = Station(vault_dir).require()
    text = read_share_file(share_file) if share_file else click.prompt("Share", hide_input=True, err=True)
    try:
        info = describe_share(text)
    except InvalidShare as exc:
        raise KeyholderError(f"the share {exc.reason}") from None
    current = vault.current_bundle().kid
    for kid in sorted(vault.bundles()):
        custody = read_custody(vault, kid)
        if custody is None or custody.get("slip39_identifier") != info.identifier:
            continue
        if custody.get("threshold") != info.threshold:
            split = f"{custody.get('threshold')}-of-{custody.get('officers')}"
            raise KeyholderError(f"the share claims threshold {info.threshold}, but key {kid} was split {split}")
        names = custody.get("officer_names") or []
        holder = names[info.number - 1] if info.number <= len(names) else "?"
        state = "the current key" if kid == current else "an earlier key epoch (destroy it once the rotation is done)"
        click.echo(
            f"share {info.number} of {custody.get('officers')} ({holder}) of key {kid}, {state}: its words and checksum"
            " are right. Only a quorum unlock proves the key itself."
        )
        return
    raise KeyholderError(f"the share is from another ceremony (SLIP-39 identifier {info.identifier}) than this vault")
