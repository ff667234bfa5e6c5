"""The production server (gunicorn with intake/gunicorn_conf.py: gevent
workers) while a group commit cannot proceed: the submission waits, and only
it; every other request is answered. A commit that blocked the event loop
(the fsync, or the wait for another process's commit turn) would stall the
whole worker."""

from __future__ import annotations

import fcntl
import http.client
import json
import socket
import sqlite3
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


def _post_raw(port: int, head: str, body: bytes) -> tuple[int, dict]:
    """One HTTP/1.1 POST written byte for byte, so the framing is the test's."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read())


def _chunked(data: bytes, size: int = 500) -> bytes:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_every_framing_of_a_body_is_read_and_the_limit_holds_for_each(tmp_path, ministry_key):
    data = tmp_path / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    server = ProdServer(data, tmp_path / "gunicorn.log", "--workers=1")
    sealed = [vault.seal(submission() + b" %d" % i, ministry_key.public_key).canonical() for i in range(3)]
    post = "POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    try:
        length = f"{post}Content-Type: application/json\r\nContent-Length: {len(sealed[0])}\r\n"
        assert _post_raw(server.port, length, sealed[0])[1]["seq"] == 1
        charset = f"{post}Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(sealed[1])}\r\n"
        assert _post_raw(server.port, charset, sealed[1])[1]["seq"] == 2
        chunked = f"{post}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        assert _post_raw(server.port, chunked, _chunked(sealed[2]))[1]["seq"] == 3
        # Over the limit, declared or not: refused, nothing stored.
        big = b'{"format": "dvr-envelope/1", "kid": "K", "ct": "' + b"A" * 40000 + b'"}'
        status, body = _post_raw(server.port, chunked, _chunked(big, 4000))
        assert (status, body["error"]["code"]) == (413, "too_large")
        declared = f"{post}Content-Type: application/json\r\nContent-Length: {len(big)}\r\n"
        status, body = _post_raw(server.port, declared, big)
        assert (status, body["error"]["code"]) == (413, "too_large")
        assert request("127.0.0.1", server.port, "GET", "/api/v1/log/checkpoint")[0] == 200
    finally:
        server.stop()
    assert sqlite3.connect(data / "intake.sqlite").execute("SELECT COUNT(*) FROM envelopes").fetchone()[0] == 3


def test_a_short_body_and_another_spelling_of_the_path_store_nothing(tmp_path, ministry_key):
    # A client that closed before the end of its declared body got 201 and
    # its prefix was stored; `//api/v1/submissions` reached a view that raised (500).
    data = tmp_path / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    server = ProdServer(data, tmp_path / "gunicorn.log", "--workers=1")
    sealed = vault.seal(submission(), ministry_key.public_key).canonical()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = (
                "POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(sealed) + 40}\r\n\r\n"
            )
            sock.sendall(head.encode() + sealed)
            sock.shutdown(socket.SHUT_WR)
            response = http.client.HTTPResponse(sock)
            response.begin()
            assert (response.status, json.loads(response.read())["error"]["code"]) == (400, "short_body")
        head = "POST //api/v1/submissions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(sealed)}\r\n"
        status, body = _post_raw(server.port, head, sealed)
        assert (status, body["error"]["code"]) == (404, "not_found")
    finally:
        server.stop()
    assert sqlite3.connect(data / "intake.sqlite").execute("SELECT COUNT(*) FROM envelopes").fetchone()[0] == 0
