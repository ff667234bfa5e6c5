"""`intake log`: the transparency log's key and checkpoint, for the operator."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .config import IntakeConfig
from .store import StoreError, open_log_storage, store_exists
from .store_cmd import store_option
from .tlog import LogNotReady, TransparencyLog, ensure_log_key, load_log_key

__all__ = ["log"]

_data_option = click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Intake data directory."
)


def _fail(message: str) -> None:
    click.echo(f"intake: error: {message}", err=True)
    sys.exit(1)


@click.group()
def log() -> None:
    """The transparency log: its signing key and its checkpoints."""


@log.command("init")
@_data_option
@click.option("--origin", help="The log's name (origin line and key name); default dvr-intake/<random>.")
def init(data_dir: Path, origin: str | None) -> None:
    """Make the log's Ed25519 key (DATA/log-key, mode 0600) if there is none."""
    try:
        signer, made = ensure_log_key(data_dir, origin)
    except (LogNotReady, ValueError, OSError) as exc:
        _fail(str(exc))
        return
    state = "made" if made else "already exists"
    click.echo(f"log key {state}: {signer.verifier().encode()}")
    click.echo("give this verifier key to the data officers: `keyholder import` shows the same line when it pins it")


@log.command("key")
@_data_option
def key(data_dir: Path) -> None:
    """Print the log's public key as a signed-note verifier key."""
    try:
        click.echo(load_log_key(data_dir).verifier().encode())
    except LogNotReady as exc:
        _fail(str(exc))


@log.command("checkpoint")
@_data_option
@store_option
def checkpoint(data_dir: Path, store_url: str | None) -> None:
    """Print the newest signed checkpoint (signing one if the store grew)."""
    try:
        config = IntakeConfig(data_dir=data_dir, store_url=store_url)
    except ValueError as exc:
        _fail(str(exc))
        return
    if not store_exists(config):
        _fail(f"no intake store in {data_dir}")
    try:
        _size, note = TransparencyLog(open_log_storage(config), load_log_key(data_dir)).sync()
    except LogNotReady as exc:
        _fail(str(exc))
        return
    except StoreError as exc:  # a damaged store or log, or a full disk
        _fail(f"the intake store: {exc}")
        return
    click.echo(note, nl=False)
