"""`keyholder audit receipt --vault DIR RECEIPT.json` (keyholder_cli.receipt decides)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..receipt import check_receipt, load_receipt
from ..station import Station

__all__ = ["receipt"]


@click.command("receipt")
@click.option(
    "--vault", "vault_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Vault directory."
)
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def receipt(vault_dir: Path, receipt_file: Path) -> None:
    """Say whether a receipt's envelope is among those imported, and whether the receipt verifies."""
    vault = Station(vault_dir).require()
    parsed = load_receipt(receipt_file)
    conn = vault.connect()
    try:
        verdict = check_receipt(conn, parsed)
    finally:
        conn.close()
    click.echo(verdict.sentence)
    sys.exit(verdict.exit_status)
