"""`keyholder audit`: check the signed audit log and the publications it records.

    keyholder audit verify --vault DIR [--publication DIR ...]
    keyholder audit verify --log FILE --key-bundle FILE [--head FILE] [--publication DIR ...]

Other subcommands (`audit receipt`) attach to the `audit` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..audit import check_publication, resume, verify_copies
from ..audit_summary import summarise
from ..errors import KeyholderError
from ..station import Station
from .audit_page import page_check
from .receipt import receipt

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Verify the signed audit log, publications and receipts."""


audit.add_command(receipt)
audit.add_command(page_check)


@audit.command("verify")
@click.option("--vault", "vault_dir", type=click.Path(file_okay=False, path_type=Path), help="The vault to check.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path), help="A copy of audit.log.")
@click.option(
    "--key-bundle",
    "bundle_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The ministry's signed key bundle, as the auditor obtained it (with --log).",
)
@click.option(
    "--head",
    "head_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A copy of audit.head, to detect a log cut short (with --log).",
)
@click.option(
    "--publication",
    "publications",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A publication directory to check against the log (repeatable).",
)
@click.option("--strict", is_flag=True, help="Also fail when the last entries are not yet covered by a signature.")
def verify(
    vault_dir: Path | None,
    log_file: Path | None,
    bundle_file: Path | None,
    head_file: Path | None,
    publications: tuple[Path, ...],
    strict: bool,
) -> None:
    """Check the chain, every signature, and each publication's files; print the log."""
    if vault_dir is not None:
        if log_file or bundle_file or head_file:
            raise KeyholderError("give either --vault or --log with --key-bundle, not both")
        result = resume(Station(vault_dir))
    elif log_file is not None and bundle_file is not None:
        result = verify_copies(log_file, bundle_file, head_file)
    else:
        raise KeyholderError("give --vault DIR, or --log FILE with --key-bundle FILE")
    checked = [(pub, check_publication(result.log, pub)) for pub in publications]
    if strict and result.log.unsigned_tail:
        raise KeyholderError(f"audit log entry {result.log.unsigned_tail[0].seq} is not yet covered by a signature")
    log = result.log
    entries = f"{len(log.entries)} entr{'y' if len(log.entries) == 1 else 'ies'}"
    click.echo(f"audit log: {entries}, anchored in key {result.anchor.kid}")
    for line in summarise(log):
        click.echo(line)
    for pub, entry in checked:
        click.echo(f"publication {pub}: every file matches audit entry {entry.seq}; manifest signed by key {entry.kid}")
    for warning in result.warnings:
        click.echo(f"WARNING: {warning}")
    signed = sum(1 for e in log.entries if e.signed)
    click.echo(
        f"OK: chain intact, {signed} signature{'' if signed == 1 else 's'} valid, entries 1..{log.last_signed} covered;"
        f" keys {', '.join(k[:8] for k in log.signing_keys)}; current key {log.current_kid[:8]}"
    )
