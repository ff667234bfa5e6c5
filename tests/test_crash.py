"""Kill -9 the production intake at random moments under concurrent load,
on SQLite and on PostgreSQL, restart it, and prove that not one receipted envelope is missing, that the
log verifies (independently and on import), and that exports, run
concurrently all along, have no gaps and no duplicates."""

from __future__ import annotations

import base64
import http.client
import json
import random
import subprocess
import threading
import time

import pytest
import tlog_verifier as tv
from prod_server import BIN, ProdServer, request
from store_backends import both_stores
from support import submission

import vault
from intake.keyring import add_bundle
from keyholder_cli.custody import init_vault
from keyholder_cli.importer import import_batch
from keyholder_cli.station import Station

ROUNDS = 4
CLIENTS = 12
POOL = 20000  # more than the load gets through in all rounds, so every kill lands under load


class Load:
    """CLIENTS threads posting distinct envelopes until told to stop."""

    def __init__(self, port: int, pool: list[vault.Envelope], cursor: list[int], receipts: list[tuple[dict, bytes]]):
        self.port, self.pool, self.cursor, self.receipts = port, pool, cursor, receipts
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def _next(self) -> vault.Envelope | None:
        with self.lock:
            if self.cursor[0] >= len(self.pool):
                return None
            self.cursor[0] += 1
            return self.pool[self.cursor[0] - 1]

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            env = self._next()
            if env is None:
                break
            try:
                conn.request(
                    "POST", "/api/v1/submissions", body=env.canonical(), headers={"Content-Type": "application/json"}
                )
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 201:
                    with self.lock:
                        self.receipts.append((json.loads(body), env.canonical()))
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()  # killed mid-request: no receipt, so no promise
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.close()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def export(data, out, backend) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "intake"), "export", "--data", str(data), *backend.store_args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def header(path) -> dict:
    with open(path, "rb") as fp:
        return json.loads(fp.readline())


@pytest.mark.slow
@both_stores
def test_kill_9_under_load_loses_no_receipted_envelope(tmp_path, ministry_key, backend):
    data = tmp_path / "intake"
    data.mkdir(exist_ok=True)
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    pool = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(POOL)]
    cursor, receipts = [0], []
    rng = random.Random(5)  # noqa: S311 - test timing, not security
    exports: list[subprocess.Popen] = []
    started = time.monotonic()
    for round_ in range(ROUNDS):
        server = ProdServer(data, tmp_path / "gunicorn.log", env=backend.env)
        before = len(receipts)
        load = Load(server.port, pool, cursor, receipts)
        deadline = time.monotonic() + 5  # let the load get going, however slow the machine
        while len(receipts) < before + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        # Two exports race each other (and the load) in every round.
        exports += [export(data, tmp_path / f"batch-{round_}-{i}", backend) for i in range(2)]
        time.sleep(rng.uniform(0.2, 1.0))
        server.kill()
        load.finish()
    for proc in exports:
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert len(receipts) > 100, "the load did not get going"
    assert cursor[0] < POOL, "the load ran out of envelopes before the last kill"
    assert time.monotonic() - started < 60

    # Restart: the log is intact, and every receipted envelope is there.
    server = ProdServer(data, tmp_path / "gunicorn.log", env=backend.env)
    try:
        status, vkey = request("127.0.0.1", server.port, "GET", "/api/v1/log/key")
        key = tv.parse_key(vkey)
        status, note = request("127.0.0.1", server.port, "GET", "/api/v1/log/checkpoint")
        assert status == 200
        latest = tv.open_checkpoint(note, key)
        rows = backend.query("SELECT seq, sha256, envelope FROM envelopes ORDER BY seq")
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # seq has no gaps
        assert latest.size == len(rows) and latest.root == tv.mth([bytes(r[2]) for r in rows])
        by_seq = {r[0]: (r[1], bytes(r[2])) for r in rows}
        sizes = {}
        for receipt, canonical in receipts:
            assert by_seq[receipt["seq"]] == (receipt["envelope_sha256"], canonical), receipt["seq"]
            head = tv.check_receipt(receipt, canonical, key)
            sizes[head.size] = head
        for size in rng.sample(sorted(sizes), min(40, len(sizes))):
            status, body = request(
                "127.0.0.1", server.port, "GET", f"/api/v1/log/consistency?from={size}&to={latest.size}"
            )
            tv.check_consistency(sizes[size], latest, [base64.b64decode(h) for h in body["hashes"]])
    finally:
        server.stop()

    # Exports: recorded ranges are disjoint and contiguous, each file is the one recorded.
    final = export(data, tmp_path / "batch-final", backend)
    _out, err = final.communicate(timeout=30)
    assert final.returncode == 0, err
    files = sorted(tmp_path.glob("batch-*"), key=lambda p: header(p)["first_seq"])
    ranges = [(header(p)["first_seq"], header(p)["last_seq"]) for p in files]
    assert ranges[0][0] == 1 and ranges[-1][1] == len(rows)
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False)), ranges
    recorded = backend.query("SELECT first_seq, last_seq FROM exports ORDER BY first_seq")
    assert [tuple(r) for r in recorded] == ranges

    # And the keyholder accepts them in order, checking each signed checkpoint.
    v = Station(tmp_path / "V")
    init_vault(v, b"correct horse battery")
    for path in files:  # sealed to the test ministry's key, not this vault's: accepted as such
        assert import_batch(v, path, accept_unknown_keys=True).log is not None
    assert v.envelope_count() == len(rows)
