"""The two envelope stores side by side for the tests: each backend makes a
store (with or without a log), and knows how to do to its database what
the tests need — hold the commit turn as another process would, stall
commits as a stuck disk would, refuse inserts, read the rows back.

A test runs on SQLite through the `backend` fixture (conftest.py); marked
`@both_stores`, it runs once on each store, PostgreSQL in a new schema of
the session's server (pg_support.PgCluster.new_schema)."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intake.store import EnvelopeStore
from intake.tlog import TransparencyLog, ensure_log_key

STORES = ("sqlite", "postgresql")
both_stores = pytest.mark.parametrize("backend", STORES, indirect=True)


class SQLiteBackend:
    """The store in `data_dir`/intake.sqlite (made if missing), as an intake
    with that data directory keeps it."""

    name = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.db = data_dir / "intake.sqlite"
        self.url: str | None = None
        self.store_args: tuple[str, ...] = ()  # what the intake commands are given to use it
        self.env: dict[str, str] = {}  # what gunicorn is given (intake.wsgi)

    def store(self, *, log: TransparencyLog | None = None, wait_seconds: float = 30.0) -> EnvelopeStore:
        from intake.store import SQLiteStore

        return SQLiteStore(self.db, log=log, wait_seconds=wait_seconds)

    def log(self, data_dir: Path) -> TransparencyLog:
        from intake.store import SQLiteLogStorage

        signer, _ = ensure_log_key(data_dir)
        return TransparencyLog(SQLiteLogStorage(self.db), signer)

    @contextlib.contextmanager
    def hold_turn(self) -> Iterator[None]:
        with open(self.db.with_name(self.db.name + ".commit-lock"), "a+b") as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            yield
            fcntl.flock(other, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def stall_commits(self) -> Iterator[None]:
        blocker = sqlite3.connect(self.db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

    def refuse_inserts(self, message: str) -> None:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON envelopes BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
            conn.commit()

    def allow_inserts(self) -> None:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            conn.execute("DROP TRIGGER refuse")
            conn.commit()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in conn.execute(sql)]

    def columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self.query(f"PRAGMA table_info({table})")}

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """One statement, committed (as another process's write would be)."""
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            conn.execute(sql, params)
            conn.commit()


class PostgresBackend:
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.store_args = ("--store", url)
        self.env = {"DVR_INTAKE_STORE": url}

    def store(self, *, log: TransparencyLog | None = None, wait_seconds: float = 30.0) -> EnvelopeStore:
        from intake.store.postgres import PostgresStore

        return PostgresStore(self.url, log=log, wait_seconds=wait_seconds)

    def log(self, data_dir: Path) -> TransparencyLog:
        from intake.store.postgres import PostgresLogStorage

        signer, _ = ensure_log_key(data_dir)
        return TransparencyLog(PostgresLogStorage(self.url), signer)

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    @contextlib.contextmanager
    def hold_turn(self) -> Iterator[None]:
        from intake.store.postgres import COMMIT_LOCK

        with self._connect() as conn:
            conn.execute(f"SELECT pg_advisory_lock({COMMIT_LOCK})")
            yield
            conn.execute(f"SELECT pg_advisory_unlock({COMMIT_LOCK})")

    @contextlib.contextmanager
    def stall_commits(self) -> Iterator[None]:
        # The committer gets its turn, then waits on the table as on a stuck disk.
        with self._connect() as conn:
            conn.execute("BEGIN")
            conn.execute("LOCK TABLE envelopes IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")

    def refuse_inserts(self, message: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                f" $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
            )
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON envelopes FOR EACH ROW EXECUTE FUNCTION refuse()")

    def allow_inserts(self) -> None:
        with self._connect() as conn:
            conn.execute("DROP TRIGGER refuse ON envelopes")
            conn.execute("DROP FUNCTION refuse()")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in conn.execute(sql.encode())]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """One statement, committed; `?` placeholders, as for SQLite."""
        with self._connect() as conn:
            conn.execute(sql.replace("?", "%s").encode(), params)

    def columns(self, table: str) -> set[str]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s",
                (table,),
            )
            return {str(row[0]) for row in rows}
