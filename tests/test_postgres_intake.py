"""Several production intakes (gunicorn, each with two workers) on one
PostgreSQL database, over real HTTP on loopback: their data directories
share nothing but the log's key (and the ministry's bundle). Sequence
numbers stay gapless, there is one tree, every receipt from either intake
verifies against the other's checkpoints with consistency proofs it
serves; exports from both hosts never overlap; and kill -9 of an intake
under load loses no envelope that got a 201."""

from __future__ import annotations

import base64
import http.client
import json
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import tlog_verifier as tv
from pg_support import PgCluster
from prod_server import BIN, ProdServer, request
from support import one_line_error, run, submission

import vault
from intake.keyring import add_bundle
from intake.tlog import ensure_log_key
from keyholder_cli.custody import init_vault
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station


def intake_dirs(tmp_path: Path, ministry_key: vault.UnlockedKey, n: int) -> list[Path]:
    """`n` data directories: the first makes the log key, the others get a copy."""
    dirs = [tmp_path / f"intake-{i}" for i in range(n)]
    for d in dirs:
        d.mkdir()
        add_bundle(d / "keys.json", ministry_key.bundle().to_json())
    ensure_log_key(dirs[0])
    for d in dirs[1:]:
        shutil.copy2(dirs[0] / "log-key", d / "log-key")
    return dirs


class Flood:
    """Client threads posting distinct envelopes, spread over several ports,
    until told to stop; keeps every 201's receipt with the port that gave it."""

    def __init__(self, ports: list[int], pool: list[vault.Envelope], clients: int = 12) -> None:
        self.ports, self.pool = ports, pool
        self.cursor = 0
        self.receipts: list[tuple[dict, bytes, int]] = []
        self.refused: list[int] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]
        for t in self.threads:
            t.start()

    def _next(self) -> vault.Envelope | None:
        with self.lock:
            if self.cursor >= len(self.pool):
                return None
            self.cursor += 1
            return self.pool[self.cursor - 1]

    def _run(self, i: int) -> None:
        port = self.ports[i % len(self.ports)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not self.stop.is_set():
            env = self._next()
            if env is None:
                break
            try:
                conn.request("POST", "/api/v1/submissions", env.canonical(), {"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
                with self.lock:
                    if resp.status == 201:
                        self.receipts.append((json.loads(body), env.canonical(), port))
                    else:
                        self.refused.append(resp.status)
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()  # the server died mid-request: no receipt, no promise
                time.sleep(0.05)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.receipts) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def check_one_log(pg: PgCluster, url: str, receipts: list[tuple[dict, bytes, int]], ports: list[int]) -> tv.Head:
    """Everything receipted is stored at its seq with its bytes, seqs have no
    gaps, the intakes serve the same newest checkpoint over all rows, and
    every receipt's checkpoint is consistent with it by a proof any intake
    serves. Returns the newest head."""
    from pg_support import database_of

    status, vkey = request("127.0.0.1", ports[0], "GET", "/api/v1/log/key")
    key = tv.parse_key(vkey)
    notes = {request("127.0.0.1", p, "GET", "/api/v1/log/checkpoint")[1] for p in ports}
    assert len(notes) == 1, notes  # one tree head, whichever intake is asked
    latest = tv.open_checkpoint(notes.pop(), key)
    rows = pg.sql("SELECT seq, sha256, envelope FROM envelopes ORDER BY seq", database_of(url))
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    assert latest.size == len(rows) and latest.root == tv.mth([bytes(r[2]) for r in rows])
    by_seq = {r[0]: (r[1], bytes(r[2])) for r in rows}
    heads: dict[int, tuple[tv.Head, int]] = {}
    for receipt, canonical, port in receipts:
        assert by_seq[receipt["seq"]] == (receipt["envelope_sha256"], canonical), receipt["seq"]
        heads[receipt["seq"]] = (tv.check_receipt(receipt, canonical, key), port)
    rng = random.Random(7)  # noqa: S311 - test sampling
    sample = rng.sample(sorted(heads.values(), key=lambda h: h[0].size), min(40, len(heads)))
    for head, port in sample:
        other = next((p for p in ports if p != port), port)  # ask an intake that did not give the receipt
        _, body = request("127.0.0.1", other, "GET", f"/api/v1/log/consistency?from={head.size}&to={latest.size}")
        tv.check_consistency(head, latest, [base64.b64decode(h) for h in body["hashes"]])
    for (a, pa), (b, _pb) in zip(sample, sample[1:], strict=False):  # between two receipts' checkpoints
        first, second = (a, b) if a.size <= b.size else (b, a)
        other = next((p for p in ports if p != pa), pa)
        _, body = request("127.0.0.1", other, "GET", f"/api/v1/log/consistency?from={first.size}&to={second.size}")
        tv.check_consistency(first, second, [base64.b64decode(h) for h in body["hashes"]])
    return latest


def export(data: Path, url: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "intake"), "export", "--data", str(data), "--store", url, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def header(path: Path) -> dict:
    with open(path, "rb") as fp:
        return json.loads(fp.readline())


@pytest.mark.slow
def test_two_intakes_take_submissions_at_once_into_one_log(tmp_path, ministry_key, pg_cluster, pg_url):
    dirs = intake_dirs(tmp_path, ministry_key, 2)
    servers = [
        ProdServer(d, tmp_path / f"gunicorn-{i}.log", env={"DVR_INTAKE_STORE": pg_url}) for i, d in enumerate(dirs)
    ]
    pool = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(1500)]
    try:
        flood = Flood([s.port for s in servers], pool)
        flood.wait_for(300)
        exports = [export(d, pg_url, tmp_path / f"batch-{i}") for i, d in enumerate(dirs)]  # from both hosts at once
        for t in flood.threads:
            t.join(timeout=120)
        flood.finish()
        assert flood.cursor == len(pool) and not flood.refused
        assert len(flood.receipts) == len(pool)
        by_port = {port: sum(1 for r in flood.receipts if r[2] == port) for port in [s.port for s in servers]}
        assert all(n > 100 for n in by_port.values()), by_port
        latest = check_one_log(pg_cluster, pg_url, flood.receipts, [s.port for s in servers])
        assert latest.size == len(pool)
        for proc in exports:
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    finally:
        for s in servers:
            s.stop()
    final = export(dirs[1], pg_url, tmp_path / "batch-final")
    _out, err = final.communicate(timeout=60)
    assert final.returncode == 0, err
    files = sorted((p for p in tmp_path.glob("batch-*") if p.exists()), key=lambda p: header(p)["first_seq"])
    ranges = [(header(p)["first_seq"], header(p)["last_seq"]) for p in files]
    assert ranges[0][0] == 1 and ranges[-1][1] == len(pool)
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False)), ranges  # no overlap, no gap
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    for path in files:  # each batch's signed checkpoint extends the one before, whichever host wrote it
        assert import_batch(v, path, accept_unknown_keys=True).log is not None
    assert v.envelope_count() == len(pool)


@pytest.mark.slow
def test_kill_9_of_an_intake_under_load_loses_no_receipted_envelope(tmp_path, ministry_key, pg_cluster, pg_url):
    dirs = intake_dirs(tmp_path, ministry_key, 2)
    env = {"DVR_INTAKE_STORE": pg_url}
    servers = [ProdServer(d, tmp_path / f"gunicorn-{i}.log", env=env) for i, d in enumerate(dirs)]
    pool = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(20000)]
    receipts: list[tuple[dict, bytes, int]] = []
    rng = random.Random(11)  # noqa: S311 - test timing
    cursor = 0
    try:
        for round_ in range(3):
            flood = Flood([s.port for s in servers], pool[cursor:])
            flood.wait_for(50)
            time.sleep(rng.uniform(0.2, 0.8))
            victim = round_ % 2
            servers[victim].kill()  # mid-flood: its workers die inside group commits
            time.sleep(rng.uniform(0.1, 0.4))  # the other intake goes on alone
            flood.finish()
            receipts += flood.receipts
            cursor += flood.cursor
            servers[victim] = ProdServer(dirs[victim], tmp_path / f"gunicorn-{victim}.log", env=env)
        assert len(receipts) > 200 and cursor < len(pool)
        check_one_log(pg_cluster, pg_url, receipts, [s.port for s in servers])
    finally:
        for s in servers:
            s.stop()


def test_an_intake_with_another_log_key_is_refused_in_one_line(tmp_path, ministry_key, pg_url):
    first, second = intake_dirs(tmp_path, ministry_key, 2)
    (second / "log-key").unlink()
    ensure_log_key(second)  # a key of its own: its receipts would not verify against the first's checkpoints
    assert run("intake", "log", "checkpoint", "--data", first, "--store", pg_url).returncode == 0
    line = one_line_error(run("intake", "log", "checkpoint", "--data", second, "--store", pg_url))
    assert "signed by the key" in line and "log-key" in line
    proc = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "python:intake.gunicorn_conf", "-b", "127.0.0.1:0", "intake.wsgi:from_environ()"],
        env={"PATH": "/usr/bin:/bin", "DVR_INTAKE_DATA": str(second), "DVR_INTAKE_STORE": pg_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "signed by the key" in proc.stderr


def test_a_store_url_that_is_not_postgresql_or_does_not_answer_is_one_line(tmp_path, ministry_key):
    (data,) = intake_dirs(tmp_path, ministry_key, 1)
    line = one_line_error(run("intake", "export", "--data", data, "--store", "mysql://x/y", "--out", tmp_path / "b"))
    assert "postgresql://" in line
    gone = f"postgresql:///nowhere?host={tmp_path}&port=1&user=dvr&password=s3cret"
    line = one_line_error(run("intake", "export", "--data", data, "--store", gone, "--out", tmp_path / "b"))
    assert "PostgreSQL" in line and "s3cret" not in line
    assert not (tmp_path / "b").exists()
    proc = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "python:intake.gunicorn_conf", "-b", "127.0.0.1:0", "intake.wsgi:from_environ()"],
        env={"PATH": "/usr/bin:/bin", "DVR_INTAKE_DATA": str(data), "DVR_INTAKE_STORE": gone},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[0]]
    assert "cannot be reached" in proc.stderr and "s3cret" not in proc.stderr
