"""The production server (gunicorn with intake/gunicorn_conf.py: gevent
workers) while a group commit cannot proceed: the submission waits, and only
it; every other request is answered. A commit that blocked the event loop
(the fsync, or the wait for another process's commit turn) would stall the
whole worker."""

from __future__ import annotations

import fcntl
import json
import threading
import time

import tlog_verifier as tv
from prod_server import ProdServer, request
from support import submission

import vault
from intake.keyring import add_bundle


def test_a_submission_waiting_for_its_commit_holds_up_no_other_request(tmp_path, ministry_key):
    data = tmp_path / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    # One worker, so the requests below meet the one whose commit waits.
    server = ProdServer(data, tmp_path / "gunicorn.log", "--workers=1")
    envelope = vault.seal(submission(), ministry_key.public_key)
    answers: list[tuple[int, object]] = []
    try:
        # Take the commit turn that the server processes share, as a slow
        # commit of another process would hold it.
        with open(data / "intake.sqlite.commit-lock", "a+b") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)
            poster = threading.Thread(
                target=lambda: answers.append(
                    request("127.0.0.1", server.port, "POST", "/api/v1/submissions", envelope.canonical(), timeout=30)
                )
            )
            poster.start()
            time.sleep(0.5)
            assert answers == [], "a submission was answered before its commit"
            started = time.monotonic()
            for _ in range(20):
                status, body = request("127.0.0.1", server.port, "GET", "/healthz", timeout=2)
                assert status == 200, body
                status, _note = request("127.0.0.1", server.port, "GET", "/api/v1/log/checkpoint", timeout=2)
                assert status == 200
            assert time.monotonic() - started < 5
            assert answers == []
            fcntl.flock(turn, fcntl.LOCK_UN)
        poster.join(timeout=30)
        [(status, receipt)] = answers
        assert status == 201, receipt
        assert receipt["seq"] == 1
        _status, vkey = request("127.0.0.1", server.port, "GET", "/api/v1/log/key")
        tv.check_receipt(json.loads(json.dumps(receipt)), envelope.canonical(), tv.parse_key(vkey))
    finally:
        server.stop()
