"""`intake store migrate`: copy an SQLite store (envelopes with their seqs
and days, the exports, the log's nodes and checkpoint) into an empty
PostgreSQL database, once.

The copy is one PostgreSQL transaction, made while the SQLite file is held
in a write transaction, so nothing can be stored in SQLite meanwhile. In
that same SQLite transaction a trigger is added that refuses every new
envelope: an SQLite intake left running by mistake answers 503 ("nothing
was kept") instead of taking registrations that PostgreSQL would never see.
The SQLite transaction commits only after PostgreSQL's has; if the
PostgreSQL commit fails, nothing changed anywhere.

It refuses to run twice: a database that holds envelopes, log nodes or the
record of an earlier migration is refused, and so is an SQLite store that
carries the trigger.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from vault.transparency import NoteSigner

from .base import StoreFailed, today
from .postgres import COMMIT_LOCK, create_schema, one_line, where
from .sqlite import SQLiteLogStorage

__all__ = ["MigrationRefused", "Migrated", "migrate_sqlite_to_postgres"]

_MIGRATED_TRIGGER = "dvr_migrated_to_postgresql"


class MigrationRefused(ValueError):
    """The migration would copy into a database that already has a store, or
    copy a store that was migrated before; nothing was changed."""


@dataclass(frozen=True)
class Migrated:
    envelopes: int
    nodes: int
    checkpoint_size: int
    exports: int


def _sqlite_migrated(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_MIGRATED_TRIGGER,))
    return row.fetchone() is not None


def _refuse_filled(pg: psycopg.Connection[Any], url: str) -> None:
    row = pg.execute(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM envelopes LIMIT 1) e),"
        " (SELECT COUNT(*) FROM (SELECT 1 FROM tlog_nodes LIMIT 1) n),"
        " (SELECT value FROM intake_meta WHERE name = 'migrated_from')"
    ).fetchone()
    assert row is not None  # noqa: S101 - a SELECT of three scalars has one row
    if row[2] is not None:
        raise MigrationRefused(f"PostgreSQL {where(url)} was migrated into before ({row[2]}); it was not changed")
    if row[0] or row[1]:
        raise MigrationRefused(
            f"PostgreSQL {where(url)} already holds an intake store; migrate only into an empty database"
        )


def migrate_sqlite_to_postgres(db_path: Path, url: str, signer: NoteSigner) -> Migrated:
    """Copy the SQLite store at `db_path` into the empty database at `url`.
    `signer` is the intake's log key: the log is synced with it first (so
    every envelope has its leaf and the checkpoint is current), and it is
    recorded as the key of the PostgreSQL log."""
    if not db_path.exists():
        raise FileNotFoundError(f"no intake store at {db_path}")
    from ..tlog import TransparencyLog  # noqa: PLC0415 - tlog imports this package

    try:
        lite = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise StoreFailed(f"{db_path}: {exc}") from exc
    try:
        try:
            if _sqlite_migrated(lite):
                raise MigrationRefused(f"{db_path} was migrated to PostgreSQL before; it refuses new envelopes")
            log = TransparencyLog(SQLiteLogStorage(db_path), signer)
            try:
                log.sync()
            finally:
                log.close()
            lite.execute("BEGIN IMMEDIATE")  # nothing is stored in SQLite until we are done
        except sqlite3.Error as exc:
            raise StoreFailed(f"{db_path}: {exc}") from exc
        try:
            result = _copy(lite, db_path, url, signer)
            lite.execute("COMMIT")  # the trigger, now that PostgreSQL has committed
        except BaseException:
            if lite.in_transaction:
                lite.execute("ROLLBACK")
            raise
        return result
    except sqlite3.Error as exc:
        raise StoreFailed(f"{db_path}: {exc}") from exc
    finally:
        lite.close()


def _copy(lite: sqlite3.Connection, db_path: Path, url: str, signer: NoteSigner) -> Migrated:
    count, last = lite.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM envelopes").fetchone()
    if count != last:
        raise StoreFailed(f"{db_path} has {count} envelopes but its highest seq is {last}: its seqs have gaps")
    checkpoint = lite.execute("SELECT size, note FROM tlog_checkpoint WHERE id = 1").fetchone()
    nodes = lite.execute("SELECT COUNT(*) FROM tlog_nodes").fetchone()[0]
    exports = lite.execute("SELECT COUNT(*) FROM exports").fetchone()[0]
    lite.execute(
        f"CREATE TRIGGER {_MIGRATED_TRIGGER} BEFORE INSERT ON envelopes"
        " BEGIN SELECT RAISE(ABORT, 'this intake store was migrated to PostgreSQL; it takes no new envelopes'); END"
    )
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as pg:
            pg.execute("SET synchronous_commit = on")
            create_schema(pg)
            with pg.transaction():
                pg.execute(f"SELECT pg_advisory_xact_lock({COMMIT_LOCK})")  # noqa: S608 - no intake commits meanwhile
                _refuse_filled(pg, url)
                known_key = pg.execute("SELECT value FROM intake_meta WHERE name = 'log_key'").fetchone()
                verifier = signer.verifier().encode()
                if known_key is not None and known_key[0] != verifier:
                    raise MigrationRefused(
                        f"PostgreSQL {where(url)} has a log signed by another key ({known_key[0]}); it was not changed"
                    )
                with pg.cursor().copy("COPY envelopes (seq, received_on, kid, envelope, sha256) FROM STDIN") as cp:
                    for seq, day, kid, envelope, sha in lite.execute(
                        "SELECT seq, received_on, kid, envelope, sha256 FROM envelopes ORDER BY seq"
                    ):
                        cp.write_row((seq, day, kid, bytes(envelope), sha))
                with pg.cursor().copy("COPY tlog_nodes (pos, hash) FROM STDIN") as cp:
                    for pos, h in lite.execute("SELECT pos, hash FROM tlog_nodes ORDER BY pos"):
                        cp.write_row((pos, bytes(h)))
                with pg.cursor().copy(
                    "COPY exports (batch, first_seq, last_seq, sha256, exported_on) FROM STDIN"
                ) as cp:
                    for row in lite.execute(
                        "SELECT batch, first_seq, last_seq, sha256, exported_on FROM exports ORDER BY batch"
                    ):
                        cp.write_row(row)
                pg.execute(
                    "SELECT setval(pg_get_serial_sequence('exports', 'batch'), COALESCE(MAX(batch), 0) + 1, false)"
                    " FROM exports"
                )
                if checkpoint is not None:
                    pg.execute("INSERT INTO tlog_checkpoint (id, size, note) VALUES (1, %s, %s)", checkpoint)
                pg.execute(
                    "INSERT INTO intake_meta (name, value) VALUES ('log_key', %s) ON CONFLICT (name) DO NOTHING",
                    (verifier,),
                )
                pg.execute(
                    "INSERT INTO intake_meta (name, value) VALUES ('migrated_from', %s)",
                    (f"{db_path}, {count} envelopes, on {today()}",),
                )
                copied = pg.execute(
                    "SELECT (SELECT COUNT(*) FROM envelopes), (SELECT COALESCE(MAX(seq), 0) FROM envelopes),"
                    " (SELECT COUNT(*) FROM tlog_nodes)"
                ).fetchone()
                if copied != (count, last, nodes):
                    raise StoreFailed(f"the copy does not match the SQLite store ({copied}, not {count, last, nodes})")
    except psycopg.Error as exc:
        raise StoreFailed(f"PostgreSQL ({where(url)}): {one_line(exc)}") from exc
    return Migrated(count, nodes, checkpoint[0] if checkpoint else 0, exports)
