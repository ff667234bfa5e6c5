"""`intake page`: the static manifest the ministry signs at release, and
installing the signed copy the intake then serves (docs/operations.md).

    intake page manifest --data D --out M    the note text to sign: every page and asset served, with its SHA-256
    intake page install --data D S           check the signed note and serve it at /.well-known/dvr-static-manifest.sig

Both build the pages exactly as the server does (the same blueprint, the
same pin asset from D/keys.json), without opening the store or the log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask

from vault import InvalidSignature, VaultError
from vault.pagetrust import open_page_manifest, page_manifest_text, signing_key_fingerprint
from vault.transparency import InvalidNote

from .config import IntakeConfig
from .files import atomic_write
from .keyring import load_keyring

__all__ = ["page", "served_files"]

F = TypeVar("F", bound=Callable[..., Any])
_data_option = click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Intake data directory."
)


def _one_line_errors(func: F) -> F:
    """Expected failures: one line `intake: error: ...` and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (VaultError, OSError, ValueError) as exc:
            click.echo(f"intake: error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]  # wraps keeps func's signature; mypy cannot see it


def served_files(config: IntakeConfig) -> dict[str, str]:
    """Every page and asset this intake serves, path -> hex SHA-256, as its
    `/.well-known/dvr-static-manifest.json` lists them."""
    from . import pages

    app = Flask("intake", static_folder=None)
    pages.init_app(app, config)
    app.register_blueprint(pages.make_blueprint(config))
    listed = app.test_client().get(pages.MANIFEST_PATH).get_json()
    return {**listed["assets"], **listed["pages"]}


def _require_data(data_dir: Path) -> IntakeConfig:
    config = IntakeConfig(data_dir=data_dir)
    if not config.keys_path.exists():
        raise ValueError(f"{config.keys_path} does not exist: install the ministry's key first (intake keys add)")
    return config


@click.group()
def page() -> None:
    """The signed static manifest of the registrant's page."""


@page.command("manifest")
@_data_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The note text to sign.")
@_one_line_errors
def manifest(data_dir: Path, out: Path) -> None:
    """Write the manifest text for the ministry to sign (keyholder page sign)."""
    config = _require_data(data_dir)
    pinned = load_keyring(config.keys_path).pinned_signing_key()
    if pinned is None:
        raise ValueError(f"{config.keys_path} holds no signed ministry key: the page would pin nothing")
    text = page_manifest_text(served_files(config))
    with atomic_write(out) as dest:
        dest.write(text.encode("ascii"))
    count = text.count("\n") - 1
    click.echo(f"wrote {out}: {count} pages and assets; the page pins signing key {signing_key_fingerprint(pinned)}")
    click.echo(f"carry it to the workstation: keyholder page sign --vault V {out.name} --out SIGNED")


@page.command("install")
@_data_option
@click.argument("signed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_one_line_errors
def install(data_dir: Path, signed_file: Path) -> None:
    """Check a signed manifest (the pinned key's signature; exactly what is served) and serve it."""
    from .pages import SIGNED_MANIFEST_NAME, SIGNED_MANIFEST_PATH

    config = _require_data(data_dir)
    pinned = load_keyring(config.keys_path).pinned_signing_key()
    if pinned is None:
        raise ValueError(f"{config.keys_path} holds no signed ministry key to check the manifest with")
    try:
        note = signed_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{signed_file} is not a signed manifest (not UTF-8 text)") from None
    try:
        listed = open_page_manifest(note, pinned)
    except InvalidSignature:
        raise ValueError(
            f"{signed_file} is not signed by the ministry key this intake pins"
            f" ({signing_key_fingerprint(pinned)}); nothing was installed"
        ) from None
    except InvalidNote as exc:
        raise ValueError(f"{signed_file} is not a signed static manifest: {exc}; nothing was installed") from None
    served = served_files(config)
    for path in sorted(set(listed) | set(served)):
        if path not in served:
            raise ValueError(f"the signed manifest lists {path}, which this intake does not serve; nothing installed")
        if path not in listed:
            raise ValueError(f"this intake serves {path}, which the signed manifest does not list; nothing installed")
        if listed[path] != served[path]:
            raise ValueError(f"{path} served here differs from the signed manifest; nothing was installed")
    with atomic_write(config.data_dir / SIGNED_MANIFEST_NAME) as dest:
        dest.write(note.encode("utf-8"))
    click.echo(f"installed: {len(listed)} pages and assets match the signed manifest; served at {SIGNED_MANIFEST_PATH}")
