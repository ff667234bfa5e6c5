"""Few statements for many rows.

The group committer holds the cross-process commit lock while it writes,
and the sqlite3 module releases the GIL around every step of a statement;
under load each release can make the committer wait for a request thread
to give the GIL back, and the other process waits with it. So a group
writes its rows with one multi-row statement per table instead of one per
row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["MAX_ROWS", "STATEMENT_CACHE", "chunks", "insert_rows", "select_in"]

MAX_ROWS = 128  # rows per statement: at most 640 parameters, under any SQLite's limit
# Prepared statements a committer connection keeps: one INSERT text per row
# count for each of two tables, and a few IN lists.
STATEMENT_CACHE = 2 * MAX_ROWS + 64


def chunks(count: int) -> Iterator[tuple[int, int]]:
    """Split `count` rows into (start, size) chunks of at most MAX_ROWS."""
    for start in range(0, count, MAX_ROWS):
        yield start, min(MAX_ROWS, count - start)


def insert_rows(conn: sqlite3.Connection, insert: str, width: int, rows: Sequence[Sequence[object]]) -> None:
    """Run `insert` (e.g. "INSERT INTO t (a, b) VALUES") for `rows` of
    `width` values each, up to MAX_ROWS rows per statement."""
    values = "(" + ", ".join("?" * width) + ")"
    for start, size in chunks(len(rows)):
        params = [v for row in rows[start : start + size] for v in row]
        conn.execute(f"{insert} {', '.join([values] * size)}", params)


def select_in(conn: sqlite3.Connection, select: str, keys: Sequence[object]) -> Iterator[Any]:
    """The rows of `select` (ending in "IN") for `keys`, up to MAX_ROWS keys a
    statement. Each list is padded to a power of two with repeats of its last
    key, which IN ignores, so only a few statement texts exist."""
    for start, size in chunks(len(keys)):
        part = list(keys[start : start + size])
        padded = 1 << (size - 1).bit_length()
        part += part[-1:] * (padded - size)
        yield from conn.execute(f"{select} ({', '.join('?' * padded)})", part)
