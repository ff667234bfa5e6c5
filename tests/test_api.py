"""The intake API over real HTTP on loopback with real SQLite (and, for the
tests about what is stored, a real PostgreSQL too): every bad request gets
a clear JSON error and stores nothing."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_backends import both_stores
from support import submission

import vault


def stored_rows(server) -> int:
    return int(server.backend.query("SELECT COUNT(*) FROM envelopes")[0][0])


def test_keys_lists_the_installed_bundle(intake_server, ministry_key):
    status, body = intake_server.request("GET", "/api/v1/keys")
    assert status == 200
    assert body["current"] == ministry_key.kid
    assert vault.load_bundle(body["keys"][0]).public_key == ministry_key.public_key


def test_healthz(intake_server):
    import urllib.request

    with urllib.request.urlopen(intake_server.url + "/healthz") as resp:
        assert resp.status == 200


@both_stores
def test_a_sealed_submission_gets_a_receipt_and_is_stored_committed(intake_server, ministry_key):
    env = vault.seal(submission(), ministry_key.public_key)
    status, receipt = intake_server.submit(env.to_json())
    assert status == 201
    assert receipt["format"] == "dvr-receipt/1" and receipt["seq"] == 1
    assert receipt["envelope_sha256"] == env.sha256
    assert len(receipt["received_on"]) == 10
    # A fresh connection sees the row: it was committed before the 201.
    [row] = intake_server.backend.query("SELECT seq, kid, envelope, received_on FROM envelopes")
    assert row[0] == 1 and row[1] == ministry_key.kid and json.loads(row[2]) == env.to_json()
    # The same envelope again: the same receipt, nothing new stored.
    assert intake_server.submit(env.to_json()) == (201, receipt)
    assert stored_rows(intake_server) == 1


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"not json", "application/json", 400, "not_json"),
        (b"[1, 2]", "application/json", 400, "not_an_envelope"),
        (b'{"format": "dvr-envelope/1", "kid": "K", "ct": "", "extra": 1}', "application/json", 400, "not_an_envelope"),
        (b'{"format": "dvr-envelope/7", "kid": "K", "ct": ""}', "application/json", 422, "unknown_format"),
        (
            b'{"format": "dvr-envelope/1", "kid": "0123456789abcdef0123456789abcdef", "ct": "CT"}',
            "application/json",
            422,
            "unknown_kid",
        ),
        (
            b'{"format": "dvr-envelope/1", "kid": "K", "ct": "!!not base64!!"}',
            "application/json",
            400,
            "not_an_envelope",
        ),
        (
            b'{"format": "dvr-envelope/1", "kid": "K", "ct": "' + b64u(b"\x01" * 1000).encode() + b'"}',
            "application/json",
            422,
            "wrong_length",
        ),
        (
            b'{"format": "dvr-envelope/1", "format": "dvr-envelope/1", "kid": "K", "ct": "CT"}',
            "application/json",
            400,
            "not_an_envelope",
        ),
        (b'{"format": "dvr-envelope/1", "kid": "K", "ct": "CT"}', "text/plain", 415, "unsupported_media_type"),
        (
            b'{"format": "dvr-envelope/1", "kid": "K", "ct": "CT"}',
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        (b"{" + b" " * 40000 + b"}", "application/json", 413, "too_large"),
    ],
    ids=[
        "not-json",
        "not-object",
        "unknown-member",
        "unknown-format",
        "unknown-kid",
        "ct-not-b64u",
        "wrong-length",
        "duplicate-member",
        "text-plain",
        "form-post",
        "too-large",
    ],
)
@both_stores
def test_bad_requests_get_a_clear_error_and_store_nothing(
    intake_server, ministry_key, body, content_type, status, code
):
    good = vault.seal(submission(), ministry_key.public_key)
    body = body.replace(b'"K"', json.dumps(ministry_key.kid).encode()).replace(
        b'"CT"', json.dumps(b64u(good.ct)).encode()
    )
    got_status, got = intake_server.request("POST", "/api/v1/submissions", body, content_type)
    assert got_status == status
    assert got["error"]["code"] == code
    assert got["error"]["message"]
    assert stored_rows(intake_server) == 0


@both_stores
def test_envelope_sealed_to_an_unknown_key_is_refused(intake_server):
    other = vault.derive_keys(b"\x05" * 32)
    status, body = intake_server.submit(vault.seal(submission(), other.public_key).to_json())
    assert (status, body["error"]["code"]) == (422, "unknown_kid")
    assert stored_rows(intake_server) == 0


def test_no_keys_installed_means_every_kid_is_unknown(tmp_path, ministry_key):
    from intake import IntakeConfig, create_app

    app = create_app(IntakeConfig(data_dir=tmp_path / "empty"))
    client = app.test_client()
    assert client.get("/api/v1/keys").get_json() == {"current": None, "keys": [], "rotations": []}
    resp = client.post("/api/v1/submissions", json=vault.seal(b"{}", ministry_key.public_key).to_json())
    assert resp.status_code == 422
    app.extensions["dvr_store"].close()


@both_stores
def test_a_key_installed_while_the_server_runs_is_accepted_at_once(intake_server, ministry_key):
    from intake.keyring import add_bundle

    # a second encryption key under the ministry's pinned signing key
    other = vault.UnlockedKey.from_private_bytes(b"\x06" * 32, ministry_key.private_bytes()[1])
    sealed = vault.seal(submission(), other.public_key).to_json()
    assert intake_server.submit(sealed)[1]["error"]["code"] == "unknown_kid"
    add_bundle(intake_server.config.keys_path, other.bundle().to_json(), make_current=False)
    status, receipt = intake_server.submit(sealed)
    assert (status, receipt["seq"]) == (201, 1)
    # the key installed first is still accepted
    assert intake_server.submit(vault.seal(submission(), ministry_key.public_key).to_json())[0] == 201
    assert stored_rows(intake_server) == 2


@both_stores
def test_the_store_refuses_what_is_not_an_envelope(backend):
    from intake.store import NotEncrypted

    store = backend.store()
    try:
        with pytest.raises(NotEncrypted):
            store.append({"format": "dvr-envelope/1", "kid": "x", "ct": "plaintext"})  # type: ignore[arg-type]
        assert store.count() == 0
    finally:
        store.close()


@both_stores
def test_store_tables_hold_no_client_information(intake_server, ministry_key):
    intake_server.submit(vault.seal(submission(), ministry_key.public_key).to_json())
    columns = {c for table in ("envelopes", "exports") for c in intake_server.backend.columns(table)}
    assert {"seq", "received_on", "envelope", "first_seq"} <= columns
    assert not {c for c in columns if any(w in c for w in ("ip", "addr", "agent", "time", "host"))}


@pytest.fixture
def app_with_key(tmp_path, ministry_key, backend):
    from intake import IntakeConfig, create_app
    from intake.keyring import add_bundle

    config = IntakeConfig(data_dir=tmp_path / "intake", store_url=backend.url)
    config.data_dir.mkdir(exist_ok=True)
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    app = create_app(config)
    yield app
    app.extensions["dvr_store"].close()
    app.extensions["dvr_log"].close()


def test_the_receipt_is_compact_sorted_json_as_flask_writes_it(app_with_key, ministry_key):
    from flask import jsonify

    app = app_with_key
    resp = app.test_client().post(
        "/api/v1/submissions", json=vault.seal(submission(), ministry_key.public_key).to_json()
    )
    assert resp.status_code == 201 and resp.mimetype == "application/json"
    with app.app_context():  # the wire format of every earlier release
        assert resp.data == jsonify(resp.get_json()).get_data()
    assert resp.data.endswith(b"}\n") and b": " not in resp.data


_B64 = st.binary(min_size=32, max_size=32).map(lambda h: base64.b64encode(h).decode())


@given(
    seq=st.integers(min_value=1, max_value=2**53),
    sha=st.binary(min_size=32, max_size=32).map(bytes.hex),
    day=st.text(max_size=12),
    checkpoint=st.text(max_size=300),
    path=st.lists(_B64, max_size=40),
    logged=st.booleans(),
)
def test_the_receipt_text_is_what_json_writes_for_any_values(seq, sha, day, checkpoint, path, logged):
    from intake.api import receipt_json
    from intake.store import Stored

    receipt = {"format": "dvr-receipt/1", "seq": seq, "envelope_sha256": sha, "received_on": day}
    members = {"leaf_index": seq - 1, "checkpoint": checkpoint, "inclusion_proof": path} if logged else None
    expected = json.dumps(receipt | (members or {}), sort_keys=True, separators=(",", ":")) + "\n"
    assert receipt_json(Stored(seq, sha, day), members) == expected


def test_submissions_carry_the_headers_flask_gives_every_other_answer(app_with_key, ministry_key):
    # SubmissionHandler answers this route in front of Flask; its answers must
    # carry whatever pages.py's after-request hook adds to Flask's, and no cookie.
    client = app_with_key.test_client()
    flask_answer = client.get("/api/v1/keys")
    for resp in (
        client.post("/api/v1/submissions", json=vault.seal(submission(), ministry_key.public_key).to_json()),
        client.post("/api/v1/submissions", data=b"[1]", content_type="application/json"),
    ):
        ours = {k: v for k, v in resp.headers.items() if k != "Content-Length"}
        theirs = {k: v for k, v in flask_answer.headers.items() if k != "Content-Length"}
        assert ours == theirs
        assert int(resp.headers["Content-Length"]) == len(resp.data)
    # another method on the path is still Flask's: 405, naming the one allowed
    resp = client.get("/api/v1/submissions")
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]


@given(code=st.text(max_size=30), message=st.text(max_size=200))
def test_error_bodies_are_the_bytes_jsonify_writes_for_any_text(code, message):
    from flask import Flask, jsonify

    from intake.api import error_body

    with Flask(__name__).app_context():  # the wire format of every earlier release
        assert error_body(code, message) == jsonify({"error": {"code": code, "message": message}}).get_data()


def post_raw(app, body: bytes, **environ: object) -> tuple[int, dict]:
    """POST `body` to the submission route with a hand-built WSGI environ,
    as a server other than werkzeug's test client might pass it."""
    import io

    answer: list[str] = []
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/submissions", "CONTENT_TYPE": "application/json"}
    chunks = app.wsgi_app(base | environ | {"wsgi.input": io.BytesIO(body)}, lambda status, _: answer.append(status))
    return int(answer[0].split()[0]), json.loads(b"".join(chunks))


def test_a_body_without_a_length_is_read_to_its_end_or_refused_over_the_limit(app_with_key, ministry_key):
    # As a WSGI server passes a chunked body: no CONTENT_LENGTH, the stream
    # marked terminated. Without that mark there is no body at all.
    sealed = vault.seal(submission(), ministry_key.public_key).canonical()
    limit = 32 * 1024  # IntakeConfig.max_body

    def post(body: bytes, terminated: bool) -> tuple[int, dict]:
        return post_raw(app_with_key, body, **{"wsgi.input_terminated": terminated})

    assert post(sealed, terminated=False) == (400, {"error": {"code": "not_json", "message": "the body is not JSON"}})
    status, receipt = post(sealed, terminated=True)
    assert status == 201 and receipt["seq"] == 1
    # JSON may start with spaces: a body of exactly the limit is accepted
    # (the same envelope again: its receipt), one byte more is refused.
    assert post(b" " * (limit - len(sealed)) + sealed, terminated=True) == (201, receipt)
    status, error = post(b" " * (limit + 1 - len(sealed)) + sealed, terminated=True)
    assert status == 413 and error["error"]["code"] == "too_large"
    assert app_with_key.extensions["dvr_store"].count() == 1


@pytest.mark.parametrize("declared", ["12a", "-5", "１２", "1e3"])
def test_a_content_length_that_is_not_a_number_is_refused_unread(app_with_key, ministry_key, declared):
    # gunicorn refuses such a request itself; the handler must not trust
    # another server to.
    sealed = vault.seal(submission(), ministry_key.public_key).canonical()
    status, error = post_raw(app_with_key, sealed, CONTENT_LENGTH=declared)
    assert (status, error["error"]["code"]) == (400, "bad_request")
    assert app_with_key.extensions["dvr_store"].count() == 0


def http(server, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    """One request over real HTTP with the method and path spelt as given
    (http.client sends `post` and `//api/...` as they are)."""
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def assert_json_error(status: int, headers: dict[str, str], data: bytes, expected_status: int, code: str) -> None:
    from intake.pages import SECURITY_HEADERS

    assert status == expected_status, data[:300]
    assert headers["Content-Type"] == "application/json", data[:300]
    error = json.loads(data)["error"]
    assert error["code"] == code and error["message"], error
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert headers.get("Cache-Control") == "no-store"


def nested(depth: int) -> bytes:
    return b'{"format": "dvr-envelope/1", "kid": "K", "ct": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("depth", [33, 1000, 10000])
def test_json_nested_past_the_depth_limit_is_a_clear_400(intake_server, depth):
    # 1,000 deep (well inside 32 KiB) used to end in a RecursionError and a 500.
    status, headers, data = http(intake_server, "POST", "/api/v1/submissions", nested(depth))
    assert_json_error(status, headers, data, 400, "too_deep")
    assert stored_rows(intake_server) == 0


def test_json_at_the_depth_limit_is_parsed(intake_server):
    from intake.api import MAX_DEPTH, too_deep

    status, headers, data = http(intake_server, "POST", "/api/v1/submissions", nested(MAX_DEPTH))
    assert_json_error(status, headers, data, 400, "not_an_envelope")  # parsed, and not an envelope
    # brackets inside strings are not nesting
    assert not too_deep(b'{"ct": "' + b"[{" * 100 + b'\\"[" }')
    assert too_deep(b'["\\\\", ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]")


@given(
    st.recursive(
        st.none() | st.integers() | st.text(alphabet='[]{}"\\ a'),
        lambda c: st.lists(c) | st.dictionaries(st.text(alphabet='[]{}"\\ a'), c),
        max_leaves=60,
    )
)
def test_the_depth_of_any_json_is_measured_exactly(value):
    from intake.api import too_deep

    def depth(v) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    text = json.dumps(value).encode()
    for limit in range(0, depth(value) + 2):
        assert too_deep(text, limit) == (depth(value) > limit)


def test_a_deep_body_without_brackets_in_strings_costs_linear_time():
    import time

    from intake.api import too_deep

    body = b"[" * 40 + b'"' + b'\\"' * 16000  # a string that never ends, full of escaped quotes
    started = time.monotonic()
    assert too_deep(body)
    assert not too_deep(b'"' + b'\\"' * 16000 + b"[" * 40)  # inside the string: not nesting
    assert time.monotonic() - started < 0.5


@both_stores
def test_a_body_shorter_than_its_content_length_is_refused_and_not_stored(app_with_key, ministry_key):
    # A client that closes early used to get 201 for what it had sent, and it was stored.
    sealed = vault.seal(submission(), ministry_key.public_key).canonical()
    status, error = post_raw(app_with_key, sealed, CONTENT_LENGTH=str(len(sealed) + 7))
    assert (status, error["error"]["code"]) == (400, "short_body")
    assert app_with_key.extensions["dvr_store"].count() == 0
    status, receipt = post_raw(app_with_key, sealed, CONTENT_LENGTH=str(len(sealed)))
    assert status == 201 and receipt["seq"] == 1


@pytest.mark.parametrize("method", ["post", "Post", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_another_method_on_the_submission_path_is_a_json_405(intake_server, ministry_key, method):
    # `post` used to reach a placeholder Flask view that raised: a 500.
    sealed = vault.seal(submission(), ministry_key.public_key).canonical()
    status, headers, data = http(intake_server, method, "/api/v1/submissions", sealed)
    assert_json_error(status, headers, data, 405, "method_not_allowed")
    assert headers["Allow"] == "POST"
    assert stored_rows(intake_server) == 0


@pytest.mark.parametrize(
    "path", ["/api//v1/submissions", "/api/v1/submissions/", "/api/v1/Submissions", "/api/v1/./submissions"]
)
def test_another_spelling_of_the_submission_path_is_a_json_404(intake_server, ministry_key, path):
    # (werkzeug's server reads `//api/v1/submissions` as /api/v1/submissions
    # itself; gunicorn passes it on as it is: tests/test_prod_server.py.)
    sealed = vault.seal(submission(), ministry_key.public_key).canonical()
    status, headers, data = http(intake_server, "POST", path, sealed)
    assert_json_error(status, headers, data, 404, "not_found")
    assert stored_rows(intake_server) == 0


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api", 404, "not_found"),
        ("GET", "/api/", 404, "not_found"),
        ("GET", "/api/v2/keys", 404, "not_found"),
        ("GET", "/api/v1/nothing-here", 404, "not_found"),
        ("GET", "/api//v1/keys", 404, "not_found"),
        ("POST", "/api/v1/keys", 405, "method_not_allowed"),
        ("DELETE", "/api/v1/log/checkpoint", 405, "method_not_allowed"),
        ("OPTIONS", "/api/v1/keys", 405, "method_not_allowed"),
        ("GET", "/api/v1/log/nothing", 404, "not_found"),
    ],
)
def test_every_error_under_api_is_json_with_the_security_headers(intake_server, method, path, status, code):
    # These used to be Flask's HTML pages.
    got_status, headers, data = http(intake_server, method, path)
    assert_json_error(got_status, headers, data, status, code)


def test_a_body_over_the_limit_under_api_is_a_json_413(intake_server):
    status, headers, data = http(intake_server, "POST", "/api/v1/submissions", b"{" + b" " * 40000 + b"}")
    assert_json_error(status, headers, data, 413, "too_large")


@pytest.fixture
def faulty_app(app_with_key):
    def boom():
        raise RuntimeError("a fault the test put in")

    app_with_key.add_url_rule("/api/v1/boom", "api_boom", boom)
    app_with_key.add_url_rule("/boom", "boom", boom)
    return app_with_key


@both_stores
def test_a_500_under_api_is_json_and_any_500_carries_the_security_headers(faulty_app, ministry_key, monkeypatch):
    from intake.pages import SECURITY_HEADERS

    client = faulty_app.test_client()
    resp = client.get("/api/v1/boom")
    assert_json_error(resp.status_code, dict(resp.headers), resp.data, 500, "internal_error")
    assert b"a fault the test put in" not in resp.data
    resp = client.get("/boom")
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    assert all(resp.headers.get(name) == value for name, value in SECURITY_HEADERS.items())
    # A fault in the submission handler itself (in front of Flask): a JSON 500 with the headers, nothing stored.
    store = faulty_app.extensions["dvr_store"]
    monkeypatch.setattr(store, "append", lambda _envelope: 1 / 0)
    resp = client.post("/api/v1/submissions", json=vault.seal(submission(), ministry_key.public_key).to_json())
    assert_json_error(resp.status_code, dict(resp.headers), resp.data, 500, "internal_error")
    monkeypatch.undo()
    assert store.count() == 0


def test_every_route_takes_its_headers_from_the_one_list(tmp_path, ministry_key, monkeypatch):
    """A header added to pages.DEFAULT_HEADERS reaches the submission route
    (answered in front of Flask) and Flask's routes alike, in the same order."""
    from intake import IntakeConfig, create_app, pages
    from intake.keyring import add_bundle

    extra = ("X-Test-Header", "one list")
    monkeypatch.setattr(pages, "DEFAULT_HEADERS", (*pages.DEFAULT_HEADERS, extra))
    config = IntakeConfig(data_dir=tmp_path / "d")
    config.data_dir.mkdir()
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    app = create_app(config)
    try:
        client = app.test_client()
        answers = [
            client.post("/api/v1/submissions", json=vault.seal(submission(), ministry_key.public_key).to_json()),
            client.post("/api/v1/submissions", data=b"{}", content_type="text/plain"),
            client.get("/api/v1/submissions"),
            client.get("/api/v1/keys"),
            client.get("/healthz"),
            client.get("/api/v1/nowhere"),
        ]
        for resp in answers:
            names = [name for name, _ in pages.DEFAULT_HEADERS]
            got = [(name, value) for name, value in resp.headers.items() if name in names]
            assert got == list(pages.DEFAULT_HEADERS), resp.request.path
    finally:
        app.extensions["dvr_store"].close()
        app.extensions["dvr_log"].close()


@both_stores
def test_an_envelope_of_the_other_version_for_an_installed_key_is_refused(intake_server, ministry_key):
    """A well-formed dvr-envelope/2 (an X-Wing-sized ciphertext) naming the
    installed X25519 key could never be opened: refused, nothing stored."""
    v2_sized = {"format": "dvr-envelope/2", "kid": ministry_key.kid, "ct": b64u(b"\x01" * 2160)}
    status, body = intake_server.submit(v2_sized)
    assert (status, body["error"]["code"]) == (422, "format_mismatch")
    assert "dvr-envelope/1" in body["error"]["message"]
    assert stored_rows(intake_server) == 0
    # the same key's own version is still taken
    assert intake_server.submit(vault.seal(submission(), ministry_key.public_key).to_json())[0] == 201
