"""Generated hostile requests against the production server (gunicorn with
intake/gunicorn_conf.py, over loopback): any method (lowercase too), path,
content type, a Content-Length that lies, bodies nested deep, not UTF-8,
huge numbers, repeated members, or a sealed envelope cut or padded. None is
answered 500, none changes the store, and every answer the application
gives under /api/ is the JSON error shape with the security headers."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prod_server import ProdServer
from support import submission

import vault
from intake.api import is_api_path
from intake.keyring import add_bundle
from intake.pages import SECURITY_HEADERS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ministry_key: vault.UnlockedKey) -> Iterator[ProdServer]:
    root = tmp_path_factory.mktemp("hostile")
    data = root / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    prod = ProdServer(data, root / "gunicorn.log", "--workers=1")
    try:
        yield prod
    finally:
        prod.stop()


def stored(prod: ProdServer) -> tuple[int, int]:
    conn = sqlite3.connect(prod.data_dir / "intake.sqlite")
    try:
        return (
            conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0],
            conn.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0],
        )
    finally:
        conn.close()


def _sealed(key: vault.UnlockedKey) -> bytes:
    return vault.seal(submission(), key.public_key).canonical()


METHODS = st.sampled_from(["POST", "post", "Post", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"])
PATHS = st.one_of(
    st.sampled_from(
        [
            "/api/v1/submissions",
            "//api/v1/submissions",
            "/api//v1/submissions",
            "/api/v1/submissions/",
            "/api/v1/submissions?x=1",
            "/api/v1/SUBMISSIONS",
            "/api/v1/keys",
            "/api/v1/log/inclusion?seq=1&size=1",
            "/api/v1/log/consistency?from=a&to=-1",
            "/api/v1/log/inclusion?seq=99999999999999999999&size=1",
            "/api",
            "/api/",
            "/api/v2/submissions",
            "/api/v1/%2e%2e/submissions",
        ]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%/", max_size=40).map(lambda t: "/api/v1/" + t),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/json;;;",
        "application/jsonx",
        "text/plain",
        "multipart/form-data; boundary=x",
        None,
    ]
)


def _deep(depth: int, opener: str) -> bytes:
    close = "]" if opener == "[" else "}"
    inner = '"a":' if opener == "{" else ""
    return ((opener + inner) * depth + "1" + close * depth).encode()


ENVELOPE_MEMBERS = st.sampled_from(["format", "kid", "ct", "extra"])
BODIES = st.one_of(
    st.builds(_deep, st.integers(min_value=30, max_value=12000), st.sampled_from(["[", "{"])),
    st.binary(max_size=200),  # mostly not UTF-8
    st.sampled_from([b"\xff\xfe{}", b'{"format": "\xc3\x28"}', b'"\\ud800"', b"\xed\xa0\x80"]),
    st.integers(min_value=4000, max_value=30000).map(lambda n: b"1" * n),  # past Python's int digit limit
    st.sampled_from([b"1e999999", b"-1e999999", b"[1e400, -0.0, 1E-400]", b"NaN", b"Infinity", b"[-]"]),
    st.lists(ENVELOPE_MEMBERS, min_size=2, max_size=8).map(
        lambda names: ("{" + ", ".join(f'"{n}": "x"' for n in names) + "}").encode()
    ),
    st.just(b"sealed"),  # replaced by a freshly sealed envelope, sent with a length that lies
    st.just(b""),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    method=METHODS,
    path=PATHS,
    content_type=CONTENT_TYPES,
    body=BODIES,
    lie=st.one_of(st.just(0), st.integers(min_value=-20, max_value=20), st.just(None)),
    extra_headers=st.lists(
        st.sampled_from(
            [
                ("Transfer-Encoding", "chunked"),
                ("Expect", "100-continue"),
                ("X-Forwarded-For", "203.0.113.9"),
                ("Content-Encoding", "gzip"),
                ("Accept", "text/html"),
            ]
        ),
        max_size=2,
        unique=True,
    ),
)
def test_no_hostile_request_gets_a_500_changes_the_store_or_an_api_answer_that_is_not_json(
    server, ministry_key, method, path, content_type, body, lie, extra_headers
):
    if body == b"sealed":
        body = _sealed(ministry_key)
        lie = lie or 7  # the exact length would store it: always a lie here
    before = stored(server)
    chunked = ("Transfer-Encoding", "chunked") in extra_headers
    head = [f"{method} {path} HTTP/1.1", "Host: intake", "Connection: close"]
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    if lie is not None and not chunked:
        head.append(f"Content-Length: {max(0, len(body) + lie)}")
    head += [f"{name}: {value}" for name, value in extra_headers]
    payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked and body else b"0\r\n\r\n" if chunked else body
    status, headers, data = exchange(server.port, ("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    assert stored(server) == before
    if status is None:
        return  # the server closed the connection without an answer (a body it was still waiting for)
    assert status < 500, (status, data[:300])
    ours = headers.get("content-security-policy") is not None
    if not ours:
        # gunicorn's own refusal of what is not HTTP it accepts (a lowercase method): never the application's.
        assert status == 400 and method != method.upper(), (status, headers, data[:300])
        return
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, name
    if is_api_path(path.partition("?")[0]):
        assert headers.get("content-type") == "application/json", (status, data[:300])
        if method != "HEAD" and status >= 400:
            error = json.loads(data)["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str)


def exchange(port: int, request: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Send `request` as it is, half-close, and read the answer (if any)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)  # a body shorter than declared: the client has stopped
        except OSError:
            pass  # the server answered and closed before reading it all
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None, {}, b""
        headers: dict[str, Any] = {k.lower(): v for k, v in response.getheaders()}
        try:
            data = response.read()
        except (http.client.IncompleteRead, ConnectionResetError):
            data = b""
        return response.status, headers, data
