"""The `keyholder` command, for the offline workstation: `main`, `init`, `import`, `publish`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

import schemas

from ..audit import finished_rotation_message, resume
from ..custody import init_vault, read_passphrase
from ..importer import batch_size, import_batch, plural, record_import
from ..publishing.pipeline import publish as run_publish
from ..publishing.pipeline import refuse_unusable_target
from ..station import Station
from ..unlock import unlock_vault
from .audit import audit
from .console import ClickPrompter
from .errors import KeyholderGroup
from .keys import ceremony, check_share, echo_carry, key_version_option, rotate, share_file_option
from .page import page

vault_option = click.option(
    "--vault", "vault_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Vault directory."
)
passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the passphrase from FILE.",
)


@click.group(cls=KeyholderGroup)
def main() -> None:
    """Diaspora Registry keyholder (offline workstation)."""


main.add_command(audit)
main.add_command(page)
main.add_command(ceremony)
main.add_command(rotate)
main.add_command(check_share)


@main.command()
@vault_option
@passphrase_option
@key_version_option
def init(vault_dir: Path, passphrase_file: Path | None, key_version: str) -> None:
    """Make a vault: a new key, sealed under a passphrase, and its public bundle."""
    vault = Station(vault_dir)
    passphrase = read_passphrase(passphrase_file, confirm=True, ui=ClickPrompter())
    key = init_vault(vault, passphrase, int(key_version))
    click.echo(f"vault created in {vault_dir}; key {key.kid} (fingerprint {key.kid[:16]})")
    echo_carry(vault)


@main.command("import")
@vault_option
@click.option("--repin", is_flag=True, help="Accept and pin a new intake log key (check it with `intake log key`).")
@click.option(
    "--accept-unknown-keys",
    is_flag=True,
    help="Keep envelopes sealed to a key this vault does not hold (they cannot be opened; see docs/operations.md).",
)
@click.argument("batches", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(vault_dir: Path, repin: bool, accept_unknown_keys: bool, batches: tuple[Path, ...]) -> None:
    """Check batch files and keep their envelopes (still sealed)."""
    vault = Station(vault_dir)
    state = resume(vault)
    _warn_finished_rotation(vault, state.finished_rotation)
    for path in batches:
        with _progress_bar(batch_size(path), f"checking {path.name}") as bar:
            result = import_batch(
                vault, path, repin=repin, accept_unknown_keys=accept_unknown_keys, progress=bar.update, state=state
            )
        for sentence in result.log.sentences() if result.log else ():
            click.echo(f"{path.name}: {sentence}")
        if result.new:
            record_import(vault, state, result)
        if result.new == 0:
            click.echo(f"{path.name}: already imported (seq {result.first_seq}..{result.last_seq}); nothing changed")
        else:
            click.echo(
                f"{path.name}: imported {plural(result.new, 'new envelope')}"
                f" (seq {result.first_seq}..{result.last_seq}); vault now holds {vault.envelope_count()}"
            )
        if result.unknown_keys:
            lost, kids = sum(result.unknown_keys.values()), ", ".join(sorted(result.unknown_keys))
            click.echo(
                f"WARNING: {path.name}: {plural(lost, 'envelope')} sealed to key {kids}, which this vault does not"
                " hold: kept (the log covers them) but they cannot be opened",
                err=True,
            )


def _progress_bar(total: int | None, label: str, unit: str = "env") -> Any:
    """A tqdm bar on stderr, shown only on a terminal."""
    from tqdm import tqdm  # untyped: pyproject.toml ignores its missing stubs

    return tqdm(total=total, desc=label, unit=unit, file=sys.stderr, disable=None, leave=False)


def _warn_finished_rotation(station: Station, kid: str | None) -> None:
    if kid is not None:
        click.echo(f"WARNING: {finished_rotation_message(station, kid)}", err=True)


# Budgets that still make sense for a national publication (docs/disclosure.md,
# section 4): below 0.05 the noise drowns even the national totals, and above
# 20 the promise (a factor of e^20 ≈ 5 × 10^8) is no promise at all.
EPSILON_RANGE = (0.05, 20.0)


def _check_epsilon(value: float | None) -> float | None:
    """Refuse a budget out of range (or inf, or nan) before anyone unlocks
    anything: a useless release still spends the registrants' privacy."""
    low, high = EPSILON_RANGE
    if value is not None and not low <= value <= high:  # also false for nan
        raise click.BadParameter(f"{value:g} is outside {low:g}..{high:g}; see docs/disclosure.md, section 4")
    return value


LANGUAGES = tuple(schemas.load("labels.json")["languages"])  # the form's, each of which can have a report


@main.command()
@vault_option
@share_file_option
@passphrase_option
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Publication directory."
)
@click.option("--min-cell", default=10, show_default=True, type=click.IntRange(min=1), help="Smallest count published.")
@click.option(
    "--epsilon",
    type=float,
    default=None,
    callback=lambda _ctx, _param, value: _check_epsilon(value),
    help=f"Add differential-privacy noise with this total budget, {EPSILON_RANGE[0]} to {EPSILON_RANGE[1]}"
    " (docs/disclosure.md).",
)
@click.option(
    "--report-language",
    "report_languages",
    multiple=True,
    type=click.Choice(LANGUAGES),
    help="Also write report.<lang>.html in this language of the form (repeatable); report.html is"
    " Albanian with English.",
)
def publish(
    vault_dir: Path,
    share_files: tuple[Path, ...],
    passphrase_file: Path | None,
    out_dir: Path,
    min_cell: int,
    epsilon: float | None,
    report_languages: tuple[str, ...],
) -> None:
    """Open, validate, de-duplicate and publish protected aggregates."""
    vault = Station(vault_dir).require()
    refuse_unusable_target(out_dir)
    state = resume(vault)
    _warn_finished_rotation(vault, state.finished_rotation)
    unlocked = unlock_vault(
        vault, "publish", ClickPrompter(), state, share_files=share_files, passphrase_file=passphrase_file
    )
    summary = run_publish(vault, state, unlocked, out_dir, min_cell, epsilon, _progress_bar, report_languages)
    click.echo(
        f"published {plural(summary.registrants, 'registrant')} to {out_dir}: {plural(summary.envelopes, 'envelope')},"
        f" {summary.opened} opened, {summary.failed} failed to open, {summary.invalid} invalid,"
        f" {plural(summary.duplicates, 'duplicate')}, {plural(summary.corrections, 'correction')},"
        f" {plural(summary.withdrawals, 'withdrawal')}, {summary.erased} erased"
    )
    if summary.unmatched:
        click.echo(
            f"note: {summary.unmatched} of the corrections and withdrawals carried a code that matched no"
            " registration and changed nothing",
            err=True,
        )
    if summary.failed:
        click.echo(
            f"WARNING: {plural(summary.failed, 'envelope')} did not open with this vault's keys and"
            f" {'is' if summary.failed == 1 else 'are'} not counted: sealed to another key, or damaged;"
            " `keyholder audit verify` shows the imports that kept them",
            err=True,
        )
