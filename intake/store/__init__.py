"""The envelope store: its interface (`intake.store.base`) and the one
implementation today (`intake.store.sqlite`); issue 16 adds PostgreSQL and a
choice in the config. Callers import from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import *  # noqa: F403 - the interface is this package's API
from .base import __all__ as _base_all
from .sqlite import SQLiteLogStorage, SQLiteStore

if TYPE_CHECKING:
    from ..config import IntakeConfig
    from .base import EnvelopeStore, Log, LogStorage

__all__ = [*_base_all, "SQLiteLogStorage", "SQLiteStore", "open_log_storage", "open_store"]


def open_store(config: IntakeConfig, log: Log | None = None) -> EnvelopeStore:
    """The store of the intake in `config`, with `log` in its transactions."""
    return SQLiteStore(config.db_path, log=log, max_pages=config.max_pages)


def open_log_storage(config: IntakeConfig) -> LogStorage:
    """The storage the log of the intake in `config` reads and syncs through."""
    return SQLiteLogStorage(config.db_path)

