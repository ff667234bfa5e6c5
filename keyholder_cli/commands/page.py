"""The registrant page's signed static manifest (docs/key-ceremony.md, section 10).

    keyholder page sign --vault V (--passphrase-file P | --share-file F ...) M --out S
    keyholder audit page BASE_URL --key KEY [--signed-manifest S]

`page sign` signs the manifest text `intake page manifest` wrote, with the
current epoch's signing key, after checking that the page it describes pins
that very key (its `/assets/ministry-key.js` is `vault.pagetrust.pin_asset` of it). The
use of the key is logged (`sign_page`, with the note's SHA-256) before the
signed note is written.

`audit page` is the auditor's check from any machine (it needs `vault` and
the standard library only, never the intake): see `keyholder_cli/page_check.py`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from vault import load_bundle
from vault.pagetrust import PIN_PATH, parse_page_manifest, pin_asset, sign_page_manifest, signing_key_fingerprint
from vault.transparency import InvalidNote

from .. import audit
from ..errors import KeyholderError
from ..files import atomic_write
from ..shareio import read_json
from ..station import Station
from ..unlock import unlock_vault
from .console import ClickPrompter
from .keys import share_file_option

__all__ = ["page"]


@click.group()
def page() -> None:
    """Sign the registrant page's static manifest at release."""


def _read_manifest(path: Path) -> tuple[str, dict[str, str]]:
    try:
        text = path.read_bytes().decode("ascii")
        return text, parse_page_manifest(text)
    except UnicodeDecodeError:
        raise KeyholderError(f"{path} is not a static manifest (not ASCII text); nothing was signed") from None
    except InvalidNote as exc:
        raise KeyholderError(f"{path} is not a static manifest: {exc}; nothing was signed") from None


@page.command("sign")
@click.option(
    "--vault", "vault_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Vault directory."
)
@share_file_option
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Unlock a vault made by `keyholder init`: read the passphrase from FILE.",
)
@click.argument("manifest_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The signed note.")
def sign(
    vault_dir: Path, share_files: tuple[Path, ...], passphrase_file: Path | None, manifest_file: Path, out: Path
) -> None:
    """Sign the manifest of the page (from `intake page manifest`) with the ministry key."""
    vault = Station(vault_dir).require()
    if out.exists():
        raise KeyholderError(f"{out} exists; refusing to overwrite it (nothing was signed)")
    text, files = _read_manifest(manifest_file)
    # Verified first, so that a rotation a stop left half-done is finished (and said) before the
    # page's pin is compared with the current key: the key that will sign is the one checked.
    state = audit.resume(vault)
    if state.finished_rotation is not None:
        click.echo(f"WARNING: {audit.finished_rotation_message(vault, state.finished_rotation)}", err=True)
    bundle = load_bundle(read_json(vault.bundle_path), require_signature=True)
    assert bundle.signing_key is not None  # noqa: S101 - require_signature guarantees it
    expected = hashlib.sha256(pin_asset(bundle.signing_key)).hexdigest()
    if files.get(PIN_PATH) != expected:
        raise KeyholderError(
            f"the page in {manifest_file.name} does not pin this vault's current signing key"
            f" ({signing_key_fingerprint(bundle.signing_key)}): its {PIN_PATH} is not this key's;"
            " restart the intake after installing the current key and make the manifest again. Nothing was signed"
        )
    unlocked = unlock_vault(
        vault, "sign_page", ClickPrompter(), state, share_files=share_files, passphrase_file=passphrase_file
    )
    note = sign_page_manifest(text, unlocked.current)
    details = {
        "manifest_sha256": hashlib.sha256(text.encode("ascii")).hexdigest(),
        "note_sha256": hashlib.sha256(note.encode("utf-8")).hexdigest(),
        "files": len(files),
        "pin": PIN_PATH,
        "pin_sha256": expected,
    }
    # logged before the note is written
    entry = audit.append(vault, state, "sign_page", details, unlocked.current)
    with atomic_write(out) as dest:
        dest.write(note.encode("utf-8"))
    click.echo(
        f"signed {out}: {len(files)} pages and assets, with key {unlocked.current.kid}"
        f" (signing key fingerprint {signing_key_fingerprint(unlocked.current.signing_key)}); audit entry {entry.seq}"
    )
    click.echo(f"carry it to the intake server: intake page install --data DIR {out.name}")
