"""A full disk (SQLite's page limit, exactly the error a full filesystem
gives) turns submissions into 503 with nothing stored and the log
untouched; the server keeps serving and takes submissions again once
there is space."""

from __future__ import annotations

import base64
import sqlite3
import threading

import tlog_verifier as tv
from conftest import Server, _Quiet
from store_backends import SQLiteBackend
from support import submission
from werkzeug.serving import make_server

import vault
from intake import IntakeConfig, create_app
from intake.keyring import add_bundle


def counts(config: IntakeConfig) -> tuple[int, int, int]:
    conn = sqlite3.connect(config.db_path)
    try:
        return (
            conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM tlog_nodes").fetchone()[0],
            conn.execute("SELECT size FROM tlog_checkpoint").fetchone()[0],
        )
    finally:
        conn.close()


def page_count(config: IntakeConfig) -> int:
    conn = sqlite3.connect(config.db_path)
    try:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


def test_a_full_disk_is_503_with_nothing_stored_and_recovers(tmp_path, ministry_key):
    data = tmp_path / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    setup = create_app(IntakeConfig(data_dir=data))  # make the database, then cap it
    setup.extensions["dvr_store"].close()
    config = IntakeConfig(data_dir=data, max_pages=page_count(IntakeConfig(data_dir=data)) + 8)
    app = create_app(config)
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    server = Server(f"http://127.0.0.1:{httpd.server_port}", config, SQLiteBackend(data))
    try:
        envs = [vault.seal(submission() + f" {i}".encode(), ministry_key.public_key) for i in range(200)]
        receipts, i = [], 0
        while i < len(envs):
            status, body = server.submit(envs[i].to_json())
            if status != 201:
                break
            receipts.append((body, envs[i]))
            i += 1
        assert 0 < len(receipts) < len(envs), "the page limit was never reached"
        assert status == 503 and body["error"]["code"] == "storage_unavailable"
        full = counts(config)
        assert full[0] == full[2] == len(receipts)  # the refused envelope left no row and no leaf
        for env in envs[i : i + 5]:  # still full: still 503, still nothing stored
            assert server.submit(env.to_json())[0] == 503
        assert counts(config) == full
        status, _ = server.request("GET", f"/api/v1/log/inclusion?seq=1&size={full[0]}")
        assert status == 200  # reads go on while writes cannot

        # Space returns (an operator frees the disk): raise the cap on the live writer connection.
        app.extensions["dvr_store"]._conn.execute("PRAGMA max_page_count = 1073741823")
        status, receipt = server.submit(envs[i].to_json())
        assert status == 201 and receipt["seq"] == len(receipts) + 1  # no gap in seq or leaves
        key = tv.parse_key(server_text(server, "/api/v1/log/key"))
        after = tv.check_receipt(receipt, envs[i].canonical(), key)
        before = tv.check_receipt(*last_receipt(receipts), key)
        status, proof = server.request("GET", f"/api/v1/log/consistency?from={before.size}&to={after.size}")
        tv.check_consistency(before, after, [base64.b64decode(h) for h in proof["hashes"]])
        assert counts(config)[0] == len(receipts) + 1
    finally:
        httpd.shutdown()
        app.extensions["dvr_store"].close()


def last_receipt(receipts):
    receipt, env = receipts[-1]
    return receipt, env.canonical()


def server_text(server: Server, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(server.url + path, timeout=10) as resp:
        return resp.read().decode()
