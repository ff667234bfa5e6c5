"""`intake store`: move an intake's envelopes, exports and log from its
SQLite file into PostgreSQL (docs/operations.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .config import STORE_ENV, IntakeConfig
from .store import StoreError
from .tlog import LogNotReady, load_log_key

__all__ = ["store", "store_option"]

store_option = click.option(
    "--store",
    "store_url",
    envvar=STORE_ENV,
    default=None,
    metavar="URL",
    help=f"A postgresql:// URL: the store shared by every intake process (also ${STORE_ENV});"
    " default: SQLite in the data directory.",
)


def _fail(message: str) -> None:
    click.echo(f"intake: error: {message}", err=True)
    sys.exit(1)


@click.group()
def store() -> None:
    """The envelope store: SQLite in the data directory, or PostgreSQL."""


@store.command("migrate")
@click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Intake data directory."
)
@click.option("--to", "url", required=True, metavar="URL", help="The empty PostgreSQL database (postgresql://...).")
def migrate(data_dir: Path, url: str) -> None:
    """Copy DATA's SQLite store into an empty PostgreSQL database, once.

    Stop the intake first. Seqs, days, exports, the log's tree and its
    checkpoint are copied as they are; the SQLite store then refuses new
    envelopes, and the database refuses a second migration."""
    try:
        config = IntakeConfig(data_dir=data_dir, store_url=url)
    except ValueError as exc:
        _fail(str(exc))
        return
    from .store.migrate import MigrationRefused, migrate_sqlite_to_postgres
    from .store.postgres import where

    try:
        signer = load_log_key(data_dir)
        done = migrate_sqlite_to_postgres(config.db_path, url, signer)
    except (LogNotReady, MigrationRefused, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    except StoreError as exc:
        _fail(f"the intake store: {exc}; nothing was migrated")
        return
    plural = "" if done.envelopes == 1 else "s"
    click.echo(
        f"migrated {done.envelopes} envelope{plural} (seq 1..{done.envelopes}), {done.nodes} log nodes,"
        f" the checkpoint of size {done.checkpoint_size} and {done.exports} recorded exports"
        f" from {config.db_path} to PostgreSQL {where(url)}"
    )
    click.echo(f"the SQLite store now refuses new envelopes; start the intakes with --store or {STORE_ENV}")
