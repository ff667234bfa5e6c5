"""The keyholder's error tree, and the one place that turns errors into a
one-line message and an exit status (no tracebacks for expected failures,
never any secret material in a message)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from publication import PublicationError
from vault import VaultError

F = TypeVar("F", bound=Callable[..., Any])


class KeyholderError(Exception):
    """An expected failure with a message meant for the data officer."""


class VaultNotFound(KeyholderError):
    pass


class ImportRefused(KeyholderError):
    pass


def disk_hint(exc: BaseException) -> str:
    """A hint for SQLite's I/O errors: a full disk comes back as one when a
    write fails outright (SQLITE_FULL already says "database or disk is full")."""
    return " (is the disk full?)" if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_IOERR") else ""


def friendly_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (KeyholderError, VaultError, PublicationError) as exc:
            click.echo(f"keyholder: error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"keyholder: error: {exc.strerror or exc}{where}", err=True)
            sys.exit(1)
        except sqlite3.Error as exc:  # a full disk, or a vault database another program damaged
            click.echo(f"keyholder: error: the vault's database: {exc}{disk_hint(exc)}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
