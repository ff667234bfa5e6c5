"""The one place where an expected failure becomes one line and an exit status.

Every command runs inside `KeyholderGroup.invoke`: a KeyholderError, the
vault's VaultError, publication's PublicationError, an OSError (a missing
file, a full disk) or a damaged SQLite database becomes a `Failure`, which
is click's own ClickException: `keyholder: error: ...` on stderr, exit 1, no
traceback. Usage errors stay click's (exit 2); `audit receipt` exits 3 for an
unverified receipt by itself.
"""

from __future__ import annotations

import sqlite3
from typing import IO, Any

import click

from publication import PublicationError
from vault import VaultError

from ..errors import KeyholderError, disk_hint

__all__ = ["Failure", "KeyholderGroup", "message"]


class Failure(click.ClickException):
    """An expected failure, shown as `keyholder: error: ...` with exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"keyholder: error: {self.format_message()}", err=True, file=file)


def message(exc: BaseException) -> str | None:
    """The one line for an expected failure, or None for anything else (a bug: its traceback is shown)."""
    if isinstance(exc, KeyholderError | VaultError | PublicationError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, sqlite3.Error):  # a full disk, or a vault database another program damaged
        return f"the vault's database: {exc}{disk_hint(exc)}"
    return None


class KeyholderGroup(click.Group):
    """A click group whose commands' expected failures are mapped by `message`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyholderError, VaultError, PublicationError, OSError, sqlite3.Error) as exc:
            text = message(exc)
            assert text is not None  # noqa: S101 - every class caught has a message
            raise Failure(text) from None
