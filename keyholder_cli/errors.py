"""The keyholder's error tree: every expected failure is a KeyholderError
(or the vault's VaultError, or publication's PublicationError), with a
message meant for the data officer and never any secret material.
`keyholder_cli.commands.errors` turns them into one line and an exit status."""

from __future__ import annotations


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
