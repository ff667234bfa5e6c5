"""Failover of the intake's PostgreSQL: a primary and a synchronous
streaming standby, two production intakes (gunicorn, two workers each)
under load, kill -9 of the whole primary (postmaster and backends, as a
crash of its host), promotion of the standby, and the load going on.

The intakes are given one URL naming both servers with
target_session_attrs=read-write (tests/pg_support.py `failover_url`), so
nobody restarts them: each committer's next group connects to whichever
server accepts writes. What the registrants must see: every 201 they got
is in the promoted database at its seq with its bytes, the seqs have no
gap, the log goes on from the last checkpoint before the crash, and while
no server accepts writes every submission is answered 503 with a JSON
error, never a receipt, and no intake writes a traceback.

And the store's side of it: a commit whose wait for the standby is
cancelled gets no receipt, and neither does the registrant's resend until
the standby has the envelope."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tlog_verifier as tv
from pg_support import PORT, SUPERUSER, PgCluster, database_of, failover_url, start_sync_standby
from prod_server import ProdServer, request
from psycopg_pool import PoolTimeout
from store_backends import PostgresBackend
from support import submission
from test_postgres_intake import check_one_log, intake_dirs
from test_store import _append_in_background

import vault
from intake.store import CommitUnconfirmed
from intake.store.postgres import PostgresStore, _pool, where


@pytest.fixture
def pg_pair() -> Iterator[tuple[PgCluster, PgCluster]]:
    """A primary of its own (it is killed) and its synchronous standby."""
    primary = PgCluster("primary").start()
    try:
        standby = start_sync_standby(primary)
        try:
            yield primary, standby
        finally:
            standby.remove()
    finally:
        primary.remove()


class Registrants:
    """Client threads, each sending envelopes one after another to one
    intake, as the page does: a 201's receipt is kept with the time it came;
    any other answer (or a dropped connection) is kept too, and the same
    envelope is sent again a moment later until it gets its receipt, as the
    503's message tells the registrant to. Told to stop, each thread still
    sees its current envelope through."""

    RETRY_SECONDS = 0.05
    GIVE_UP_SECONDS = 30.0

    def __init__(self, ports: list[int], public_key: bytes, clients: int = 8) -> None:
        self.ports, self.public_key = ports, public_key
        self.cursor = 0
        self.receipts: list[tuple[dict, bytes, int, float]] = []  # receipt, envelope, port, when
        self.answers: list[tuple[int, str, bytes, float]] = []  # status, content type, body, when
        self.dropped: list[str] = []
        self.unfinished = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def _next(self) -> vault.Envelope | None:
        """A new registration's envelope, sealed here (in the client's
        thread), or None once told to stop."""
        with self.lock:
            if self.stop.is_set():
                return None
            self.cursor += 1
            n = self.cursor
        return vault.seal(submission() + f" {n}".encode(), self.public_key)

    def _send(self, port: int, env: vault.Envelope) -> None:
        body = env.canonical()
        deadline = time.monotonic() + self.GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            try:
                conn.request("POST", "/api/v1/submissions", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                answer = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.dropped.append(repr(exc))
                time.sleep(self.RETRY_SECONDS)
                continue
            finally:
                conn.close()
            now = time.monotonic()
            with self.lock:
                if resp.status == 201:
                    self.receipts.append((json.loads(answer), body, port, now))
                    return
                self.answers.append((resp.status, resp.getheader("Content-Type", ""), answer, now))
            time.sleep(self.RETRY_SECONDS)
        with self.lock:
            self.unfinished += 1

    def _run(self, i: int) -> None:
        port = self.ports[i % len(self.ports)]
        while (env := self._next()) is not None:
            self._send(port, env)

    def count(self) -> int:
        with self.lock:
            return len(self.receipts)

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.GIVE_UP_SECONDS + 15)


def start_intakes(dirs: list[Path], logs: list[Path], env: dict[str, str]) -> list[ProdServer]:
    """One production intake per data directory, started side by side."""
    with ThreadPoolExecutor(len(dirs)) as pool:
        futures = [pool.submit(ProdServer, d, log, env=env) for d, log in zip(dirs, logs, strict=True)]
    failed = [f.exception() for f in futures if f.exception() is not None]
    for f in futures:
        if f.exception() is None and failed:
            f.result().stop()
    if failed:
        raise failed[0]
    return [f.result() for f in futures]


def checkpoint(port: int, key: tv.Key) -> tv.Head:
    status, note = request("127.0.0.1", port, "GET", "/api/v1/log/checkpoint")
    assert status == 200, note
    return tv.open_checkpoint(note, key)


@pytest.mark.slow
def test_kill_9_of_the_primary_under_load_then_promotion_loses_no_receipted_envelope(
    tmp_path: Path, ministry_key: vault.UnlockedKey, pg_pair: tuple[PgCluster, PgCluster]
) -> None:
    primary, standby = pg_pair
    dbname = database_of(primary.new_database())
    url = failover_url(dbname, primary, standby)
    dirs = intake_dirs(tmp_path, ministry_key, 2)
    logs = [tmp_path / f"gunicorn-{i}.log" for i in range(2)]
    servers = start_intakes(dirs, logs, {"DVR_INTAKE_STORE": url})
    ports = [s.port for s in servers]
    _, vkey = request("127.0.0.1", ports[0], "GET", "/api/v1/log/key")
    key = tv.parse_key(vkey)
    try:
        load = Registrants(ports, ministry_key.public_key, clients=16)
        load.wait_for(120, timeout=20)
        before = checkpoint(ports[1], key)  # the newest tree head a monitor saw before the crash
        assert before.size >= 120
        killed = time.monotonic()
        primary.kill9()  # the postmaster and every backend: in-flight groups die in their transaction or COMMIT
        time.sleep(1.0)  # the operator's (or Patroni's) decision time: no server accepts writes
        standby.promote()
        promoted = time.monotonic()
        at_promotion = load.count()
        load.wait_for(at_promotion + 150, timeout=40)
        load.finish()
        after = checkpoint(ports[0], key)
        latest = check_one_log(standby, url, [(r, env, port) for r, env, port, _ in load.receipts], ports)
        # The log goes on from the last head seen before the crash.
        _, body = request("127.0.0.1", ports[0], "GET", f"/api/v1/log/consistency?from={before.size}&to={latest.size}")
        tv.check_consistency(before, latest, [base64.b64decode(h) for h in body["hashes"]])
    finally:
        for s in servers:
            s.stop()

    # Every envelope sent got its receipt in the end, once: the database
    # holds exactly the receipted envelopes, no more (no envelope doubled by
    # a resend after an unconfirmed commit) and no fewer.
    assert load.unfinished == 0
    assert len({r["envelope_sha256"] for r, *_ in load.receipts}) == len(load.receipts) == load.cursor
    assert latest.size == load.cursor == after.size

    # While no server accepted writes, submissions were refused with a 503
    # and a JSON error a page can show; never a dropped connection.
    assert not load.dropped, load.dropped[:3]
    outage = [a for a in load.answers if killed <= a[3] <= promoted]
    assert outage, "no submission was refused while the primary was down"
    codes = Counter()
    for status, ctype, answer, _ in load.answers:
        assert (status, ctype) == (503, "application/json"), (status, answer)
        codes[json.loads(answer)["error"]["code"]] += 1
    assert set(codes) == {"storage_unavailable"}, codes
    before_kill = sum(1 for *_, when in load.receipts if when < killed)
    after_promotion = sum(1 for *_, when in load.receipts if when > promoted)
    assert before_kill >= 120 and after_promotion >= 150
    times = sorted([killed, *(when for *_, when in load.receipts)])
    gap = max(b - a for a, b in zip(times, times[1:], strict=False) if b >= killed)

    for log in logs:  # the intakes said what happened in lines of their own, no traceback
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
        assert not [line for line in text.splitlines() if line[:1].isspace()], text[-3000:]  # one line each
    print(
        f"\nfailover: {before_kill} receipts before the kill, {after_promotion} after promotion,"
        f" {len(load.receipts)} in all (log size {latest.size}); no receipt for {gap:.2f} s"
        f" (promotion {promoted - killed:.2f} s after the kill); {len(load.answers)} answers 503"
        f" ({sum(1 for a in load.answers if b'may have been stored' in a[2])} 'may have been stored'),"
        f" {len(outage)} of them between kill and promotion"
    )


@pytest.fixture
def lone_primary() -> Iterator[PgCluster]:
    """A server of its own, to be told it has a synchronous standby that never connects."""
    cluster = PgCluster("lone").start()
    try:
        yield cluster
    finally:
        cluster.remove()


def require_standby(cluster: PgCluster, name: str) -> None:
    """synchronous_standby_names = name ('' for none), reloaded."""
    cluster.configure({"synchronous_standby_names": f"'{name}'"})
    cluster.run("pg_ctl", "-D", cluster.data, "reload")


def commit_waiting_for_standby(cluster: PgCluster, timeout: float = 10) -> int:
    """The process id of the intake's backend once its COMMIT waits for the standby."""
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = 'dvr-intake' AND wait_event = 'SyncRep'"
    deadline = time.monotonic() + timeout
    while not (rows := cluster.sql(query)):
        assert time.monotonic() < deadline, "no COMMIT waited for the standby"
        time.sleep(0.05)
    return int(rows[0][0])


def test_a_commit_whose_wait_for_the_standby_is_cancelled_gets_no_receipt_nor_does_its_resend_until_replicated(
    lone_primary: PgCluster, tmp_path: Path, ministry_key: vault.UnlockedKey
) -> None:
    backend = PostgresBackend(lone_primary.new_database())
    log = backend.log(tmp_path)
    store = backend.store(log=log, wait_seconds=2.0)
    first, second = (vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(2))
    try:
        log.sync()
        assert store.append(first).seq == 1
        require_standby(lone_primary, "absent")
        thread, outcome = _append_in_background(store, second)
        # Cancelling the wait (an operator's pg_cancel_backend) lets COMMIT
        # return, with a warning: the group is committed here and on no standby.
        lone_primary.sql(f"SELECT pg_cancel_backend({commit_waiting_for_standby(lone_primary)})")
        thread.join(timeout=10)
        assert isinstance(outcome.get("error"), CommitUnconfirmed), outcome
        assert backend.query("SELECT seq FROM envelopes ORDER BY seq") == [(1,), (2,)]

        # The registrant sends it again: it is a repeat now, and its receipt
        # waits for the standby as a new envelope's would (it never comes:
        # the watchdog answers), not answered from the unreplicated row.
        thread, outcome = _append_in_background(store, second)
        commit_waiting_for_standby(lone_primary)
        thread.join(timeout=10)
        assert isinstance(outcome.get("error"), CommitUnconfirmed), outcome

        require_standby(lone_primary, "")  # no synchronous standby: the waiting COMMIT returns
        assert store.append(second).seq == 2
        assert backend.query("SELECT COUNT(*) FROM envelopes") == [(2,)]
    finally:
        store.close()
        log.close()


def test_a_first_host_that_never_answers_costs_the_connect_timeout_the_url_sets(pg_cluster, pg_url):
    """Over TCP a dead primary's packets may vanish: each connection then
    waits connect_timeout before trying the next host. The URL's own
    connect_timeout (libpq's minimum is 2 s) holds, not the store's 10 s."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:  # accepts TCP, never answers
        hosts = f"127.0.0.1,{pg_cluster.socket_dir}&port={silent.getsockname()[1]},{PORT}"
        url = f"postgresql:///{database_of(pg_url)}?host={hosts}&user={SUPERUSER}&connect_timeout=2"
        started = time.monotonic()
        store = PostgresStore(url)  # the committer's connection, then the pool's first
        try:
            assert store.count() == 0
            elapsed = time.monotonic() - started
        finally:
            store.close()
    assert 2 <= elapsed < 12, elapsed  # two connections, each 2 s on the silent host (10 s each before)


def test_the_pools_warnings_while_the_server_is_away_are_one_line_each(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="psycopg.pool")
    pool = _pool(f"postgresql:///x?host={tmp_path}&port={PORT}&user={SUPERUSER}", 1, 1.5)  # no server there
    try:
        with pytest.raises(PoolTimeout), pool.connection():
            pass
    finally:
        pool.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "psycopg.pool"]
    assert any("error connecting" in line and "No such file or directory" in line for line in lines), lines
    assert all("\n" not in line for line in lines), lines


def test_a_url_of_several_hosts_is_named_in_messages_without_its_password():
    url = "postgresql://dvr-intake:s3cret@db1.internal,db2.internal/dvr?target_session_attrs=read-write"
    assert where(url) == "database dvr on db1.internal,db2.internal"
    assert where(url.replace(",db2", ":5433,db2")) == "database dvr on db1.internal:5433,db2.internal"
    assert where("postgresql:///dvr?host=/run/a,/run/b&port=5432") == "database dvr on /run/a:5432,/run/b:5432"
