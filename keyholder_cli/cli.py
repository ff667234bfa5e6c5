"""The `keyholder` command, for the offline workstation."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from .custody import init_vault, read_passphrase, unlock_with_passphrase
from .errors import friendly_errors
from .importer import import_batch
from .publication import PublishSummary, build_aggregates, render_files, write_publication
from .publish import open_all
from .vaultdir import Vault

vault_option = click.option(
    "--vault", "vault_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Vault directory."
)
passphrase_option = click.option(
    "--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the passphrase from FILE."
)


@click.group()
def main() -> None:
    """Diaspora Registry keyholder (offline workstation)."""


@main.command()
@vault_option
@passphrase_option
@friendly_errors
def init(vault_dir: Path, passphrase_file: Path | None) -> None:
    """Make a vault: a new key, sealed under a passphrase, and its public bundle."""
    vault = Vault(vault_dir)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    key = init_vault(vault, passphrase)
    click.echo(f"vault created in {vault_dir}; key {key.kid} (fingerprint {key.kid[:16]})")
    click.echo(f"carry {vault.bundle_path} to the intake server: intake keys add --data DIR {vault.bundle_path}")


@main.command("import")
@vault_option
@click.argument("batches", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly_errors
def import_(vault_dir: Path, batches: tuple[Path, ...]) -> None:
    """Check batch files and keep their envelopes (still sealed)."""
    vault = Vault(vault_dir)
    for path in batches:
        result = import_batch(vault, path)
        if result.new == 0:
            click.echo(f"{path.name}: already imported (seq {result.first_seq}..{result.last_seq}); nothing changed")
        else:
            click.echo(
                f"{path.name}: imported {result.new} new envelopes (seq {result.first_seq}..{result.last_seq});"
                f" vault now holds {vault.envelope_count()}"
            )


def _progress_bar(total: int, label: str):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="env", file=sys.stderr, disable=None, leave=False)


@main.command()
@vault_option
@passphrase_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Publication directory.")
@click.option("--min-cell", default=10, show_default=True, type=click.IntRange(min=1), help="Smallest count published.")
@friendly_errors
def publish(vault_dir: Path, passphrase_file: Path | None, out_dir: Path, min_cell: int) -> None:
    """Open, validate, de-duplicate and publish protected aggregates."""
    vault = Vault(vault_dir).require()
    keys = unlock_with_passphrase(vault, read_passphrase(passphrase_file, confirm=False))
    today = date.today()
    conn = vault.connect()
    try:
        total = int(conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])
        with _progress_bar(total, "opening") as bar:
            opened = open_all(conn, keys, today, progress=bar.update)
    finally:
        conn.close()
    aggregates, duplicates = build_aggregates(opened, today, min_cell)
    hashes = write_publication(out_dir, render_files(aggregates))
    summary = PublishSummary(
        envelopes=opened.envelopes,
        opened=opened.envelopes - opened.failed,
        failed=opened.failed,
        invalid=opened.invalid,
        duplicates=duplicates,
        registrants=aggregates["registrants"],
        files=hashes,
    )
    click.echo(
        f"published {summary.registrants} registrants to {out_dir}: {summary.envelopes} envelopes,"
        f" {summary.opened} opened, {summary.failed} failed to open, {summary.invalid} invalid,"
        f" {summary.duplicates} duplicates"
    )
