"""`keyholder audit page`: the auditor's check of the live page (keyholder_cli.page_check)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vault.pagetrust import signing_key_fingerprint

from ..errors import KeyholderError
from ..page_check import SIGNED_MANIFEST, check_page, read_signing_key

__all__ = ["page_check"]


@click.command("page")
@click.argument("base_url")
@click.option("--key", "key_text", required=True, help="The ministry's key bundle file, or its signing key (b64u).")
@click.option(
    "--signed-manifest",
    "note_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"A copy of the signed manifest (default: fetch {SIGNED_MANIFEST}).",
)
@click.option("--fingerprint", help="The fingerprint the ministry publishes; refuse a key with another.")
def page_check(base_url: str, key_text: str, note_file: Path | None, fingerprint: str | None) -> None:
    """Check the live registrant page, byte for byte, against the manifest the ministry signed."""
    key = read_signing_key(key_text)
    shown = signing_key_fingerprint(key)
    if fingerprint is not None and fingerprint.replace(" ", "").lower() != shown.replace(" ", ""):
        raise KeyholderError(f"the key's fingerprint is {shown}, not the {fingerprint} you expected")
    click.echo(f"ministry signing key fingerprint: {shown} (compare it with the one the ministry publishes)")
    note = note_file.read_text(encoding="utf-8") if note_file else None
    listed, problems = check_page(base_url, key, note)
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"FAILED: {len(problems)} differences from the signed manifest", err=True)
        sys.exit(1)
    click.echo(f"OK: {len(listed)} pages and assets at {base_url} match the manifest signed by {shown}")
