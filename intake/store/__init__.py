"""The envelope store: its interface (`intake.store.base`) and two
implementations, SQLite in the data directory (the default) and PostgreSQL
(`intake.store.postgres`, chosen by a postgresql:// URL in the config).
Callers import from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import *  # noqa: F403 - the interface is this package's API
from .base import __all__ as _base_all
from .sqlite import SQLiteLogStorage, SQLiteStore

if TYPE_CHECKING:
    from ..config import IntakeConfig
    from .base import EnvelopeStore, Log, LogStorage

__all__ = [
    *_base_all,
    "SQLiteLogStorage",
    "SQLiteStore",
    "describe_store",
    "open_log_storage",
    "open_store",
    "store_exists",
]


def open_store(config: IntakeConfig, log: Log | None = None) -> EnvelopeStore:
    """The store of the intake in `config`, with `log` in its transactions."""
    if config.store_url is not None:
        from .postgres import PostgresStore  # noqa: PLC0415 - psycopg only when asked for

        return PostgresStore(config.store_url, log=log)
    return SQLiteStore(config.db_path, log=log, max_pages=config.max_pages)


def open_log_storage(config: IntakeConfig) -> LogStorage:
    """The storage the log of the intake in `config` reads and syncs through."""
    if config.store_url is not None:
        from .postgres import PostgresLogStorage  # noqa: PLC0415 - psycopg only when asked for

        return PostgresLogStorage(config.store_url)
    return SQLiteLogStorage(config.db_path)


def store_exists(config: IntakeConfig) -> bool:
    """Whether the intake in `config` has a store to read (a PostgreSQL
    database is asked when it is opened: its tables are made then)."""
    return config.store_url is not None or config.db_path.exists()


def describe_store(config: IntakeConfig) -> str:
    """The store, for messages: never a password."""
    if config.store_url is not None:
        from .postgres import where  # noqa: PLC0415 - psycopg only when asked for

        return f"PostgreSQL {where(config.store_url)}"
    return str(config.db_path)
