"""Proof of work (intake/pow.py), each defence played by its attacker: no
solution, a forged one, a replayed one, an expired one; each refused with a
clear JSON error before anything is stored. Real HTTP on loopback for the
main path; the Flask test client where a clock or the shared state is set."""

from __future__ import annotations

import base64
import json
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import submission
from werkzeug.serving import make_server

import vault
from intake import IntakeConfig, create_app
from intake.keyring import add_bundle
from intake.pow import CHALLENGE_PATH, Difficulty, ProofOfWork, SharedState, solve

EASY = Difficulty(levels=((0.0, 2_000),))


def stored(config: IntakeConfig) -> int:
    conn = sqlite3.connect(config.db_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def pow_app(tmp_path: Path, ministry_key: vault.UnlockedKey) -> Iterator[Any]:
    config = IntakeConfig(data_dir=tmp_path / "intake", proof_of_work=True, difficulty=EASY)
    config.data_dir.mkdir()
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    app = create_app(config)
    app.config["dvr_config"] = config
    yield app
    app.extensions["dvr_store"].close()


def envelope(ministry_key: vault.UnlockedKey) -> bytes:
    return json.dumps(vault.seal(submission(), ministry_key.public_key).to_json()).encode()


def post(client: Any, body: bytes, solution: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if solution is not None:
        headers["X-Altcha"] = solution
    return client.post("/api/v1/submissions", data=body, headers=headers)


def refused(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert "\n" not in error["message"]
    return str(error["message"])


def test_over_real_http_a_solved_challenge_gets_a_receipt_and_a_missing_one_a_clear_error(pow_app, ministry_key):
    import urllib.error
    import urllib.request

    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log(self, *args: Any) -> None:
            return

    server = make_server("127.0.0.1", 0, pow_app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    config = pow_app.config["dvr_config"]
    try:
        with urllib.request.urlopen(base + CHALLENGE_PATH, timeout=10) as resp:
            assert resp.headers["Cache-Control"] == "no-store"
            assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
            challenge = json.loads(resp.read())
        assert sorted(challenge) == ["algorithm", "challenge", "maxNumber", "salt", "signature"]
        assert challenge["algorithm"] == "SHA-256" and challenge["maxNumber"] == 2_000
        expires = int(challenge["salt"].split("expires=")[1].rstrip("&"))
        assert abs(expires - (time.time() + EASY.expires)) < 5

        body = envelope(ministry_key)
        request = urllib.request.Request(base + "/api/v1/submissions", data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=10)
        assert missing.value.code == 403
        error = json.loads(missing.value.read())["error"]
        assert error["code"] == "proof_of_work_required"
        assert "X-Altcha" in error["message"] and CHALLENGE_PATH in error["message"]
        assert stored(config) == 0

        request.add_header("X-Altcha", solve(challenge))
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 201
            assert json.loads(resp.read())["seq"] == 1
        assert stored(config) == 1
    finally:
        server.shutdown()


def test_a_replayed_solution_is_refused_and_stores_nothing(pow_app, ministry_key):
    client = pow_app.test_client()
    solution = solve(client.get(CHALLENGE_PATH).get_json())
    assert post(client, envelope(ministry_key), solution).status_code == 201
    message = refused(post(client, envelope(ministry_key), solution), 403, "proof_of_work_reused")
    assert "good once" in message
    assert stored(pow_app.config["dvr_config"]) == 1


def test_an_expired_challenge_is_refused(pow_app, ministry_key):
    client = pow_app.test_client()
    state = pow_app.wsgi_app.proof.state
    past = ProofOfWork(Difficulty(levels=EASY.levels, expires=60), state=state, clock=lambda: time.time() - 120)
    message = refused(post(client, envelope(ministry_key), solve(past.challenge())), 403, "proof_of_work_expired")
    assert CHALLENGE_PATH in message
    assert stored(pow_app.config["dvr_config"]) == 0


def forged_variants(genuine: dict[str, Any]) -> list[tuple[str, str]]:
    """Solutions an attacker without the HMAC key could send."""
    other = ProofOfWork(EASY, state=SharedState(slots=64))  # another key: another intake, or before a restart
    payload = json.loads(base64.b64decode(solve(genuine)))
    longer = dict(payload, salt=payload["salt"].replace("expires=", "expires=9"))  # a later expiry, same signature
    wrong_number = dict(payload, number=payload["number"] + 1)
    sha1 = dict(payload, algorithm="SHA-1")
    encode = lambda obj: base64.b64encode(json.dumps(obj).encode()).decode()  # noqa: E731
    return [
        ("signed by another key", solve(other.challenge())),
        ("expiry pushed later", encode(longer)),
        ("wrong number", encode(wrong_number)),
        ("another algorithm", encode(sha1)),
        ("not base64", "%%%"),
        ("base64 of not JSON", base64.b64encode(b"hello").decode()),
        ("a JSON list", encode([1, 2])),
        ("members missing", encode({"algorithm": "SHA-256"})),
        ("far too long", "A" * 5000),
        ("a lone surrogate", encode(dict(payload, signature="\ud800"))),
        ("number as text", encode(dict(payload, number=str(payload["number"])))),
    ]


def test_forged_solutions_are_refused_and_store_nothing(pow_app, ministry_key):
    client = pow_app.test_client()
    for name, solution in forged_variants(client.get(CHALLENGE_PATH).get_json()):
        response = post(client, envelope(ministry_key), solution)
        message = refused(response, 403, "proof_of_work_invalid")
        assert "X-Altcha" in message, name
    assert stored(pow_app.config["dvr_config"]) == 0


def test_the_envelope_is_checked_before_the_proof_and_a_refused_envelope_spends_no_solution(pow_app, ministry_key):
    client = pow_app.test_client()
    solution = solve(client.get(CHALLENGE_PATH).get_json())
    refused(post(client, b'{"format": "dvr-envelope/1"}', solution), 400, "not_an_envelope")
    refused(post(client, b'{"format": "dvr-envelope/1"}', None), 400, "not_an_envelope")
    assert post(client, envelope(ministry_key), solution).status_code == 201


def test_with_proof_of_work_off_the_challenge_route_says_so_and_submissions_need_none(tmp_path, ministry_key):
    config = IntakeConfig(data_dir=tmp_path / "intake")
    config.data_dir.mkdir()
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    app = create_app(config)
    client = app.test_client()
    refused(client.get(CHALLENGE_PATH), 404, "proof_of_work_off")
    assert post(client, envelope(ministry_key), None).status_code == 201
    assert post(client, envelope(ministry_key), "anything").status_code == 201  # ignored
    app.extensions["dvr_store"].close()


def test_difficulty_follows_the_rate_of_verified_submissions():
    rule = Difficulty()
    rates = (0, 29.9, 30, 99.9, 100, 249.9, 250, 10_000)
    assert [rule.max_number(r) for r in rates] == [100_000, 100_000, 250_000, 250_000, 500_000, 500_000] + [
        1_000_000
    ] * 2
    assert rule.highest == 1_000_000
    now = [1_000_000.0]
    state = SharedState(slots=1 << 14)
    proof = ProofOfWork(rule, state=state, clock=lambda: now[0])
    assert proof.challenge()["maxNumber"] == 100_000
    # 300 verified proofs a second for ten seconds.
    for second in range(10):
        for i in range(300):
            assert state.claim(bytes([second, i % 256, i // 256]) + bytes(13), now[0] + 600, now[0] + second)
    now[0] += 10
    assert state.rate(now[0]) == 300
    assert proof.challenge()["maxNumber"] == 1_000_000
    now[0] += 11  # quiet again: the window has passed
    assert proof.challenge()["maxNumber"] == 100_000


@pytest.mark.parametrize("levels", [(), ((1.0, 10),), ((0.0, 10), (5.0, 0)), ((0.0, 10), (5.0, 20), (2.0, 30))])
def test_a_difficulty_rule_that_makes_no_sense_is_refused(levels):
    with pytest.raises(ValueError, match="difficulty levels"):
        Difficulty(levels=levels)


def _claim_in_child(state: SharedState, challenge_id: bytes, out: Any) -> None:
    out.put(state.claim(challenge_id, time.time() + 60, time.time()))


def test_a_solution_used_in_one_worker_is_a_replay_in_another():
    """gunicorn's master makes the state before it forks; a claim in one
    worker process is seen by the others."""
    state = SharedState(slots=1 << 12)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_claim_in_child, args=(state, b"\x01" * 16, out))
    child.start()
    child.join(10)
    assert out.get(timeout=5) is True
    assert state.claim(b"\x01" * 16, time.time() + 60, time.time()) is False
    assert state.claim(b"\x02" * 16, time.time() + 60, time.time()) is True


def test_an_expired_entry_is_free_again_and_a_full_table_is_a_clear_503(pow_app, ministry_key):
    state = SharedState(slots=1)  # every challenge probes the same 64 entries
    now = time.time()
    ids = [bytes([i]) * 16 for i in range(64)]
    assert all(state.claim(i, now + 1, now) for i in ids[:32]) and all(state.claim(i, now + 100, now) for i in ids[32:])
    assert state.claim(ids[0], now + 100, now + 2)  # ids[0] expired: not a replay any more, and its entry is reused
    assert not state.claim(ids[40], now + 100, now + 2)
    state = SharedState(slots=1)
    assert all(state.claim(i, now + 100, now) for i in ids)  # every entry live: no room
    pow_app.wsgi_app.proof.state = state
    client = pow_app.test_client()
    challenge = ProofOfWork(EASY, state=state).challenge()
    message = refused(post(client, envelope(ministry_key), solve(challenge)), 503, "proof_of_work_busy")
    assert "try again" in message
    assert stored(pow_app.config["dvr_config"]) == 0


def http(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection: any worker may answer
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read())
    finally:
        conn.close()


def test_under_gunicorn_every_worker_takes_any_workers_challenge_once(tmp_path, ministry_key):
    """The production configuration, two workers, both defences on: a
    challenge from one worker is good at the other (one key), a solution is
    good once whichever worker sees it again (one table), a flood from one
    address is held to its limit, and the log names no address."""
    from prod_server import ProdServer

    data = tmp_path / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    on = {"DVR_INTAKE_PROOF_OF_WORK": "on", "DVR_INTAKE_RATE_LIMIT": "on"}
    server = ProdServer(data, tmp_path / "gunicorn.log", "--workers=2", env=on)
    config = IntakeConfig(data_dir=data)
    try:
        assert len(server.pids()) == 3
        solutions = []
        for _ in range(8):
            status, _headers, challenge = http(server.port, "GET", CHALLENGE_PATH)
            assert status == 200 and challenge["maxNumber"] == 100_000  # the default, quiet level
            solutions.append(solve(challenge))
        for solution in solutions:
            status, _h, receipt = http(
                server.port, "POST", "/api/v1/submissions", envelope(ministry_key), {"X-Altcha": solution}
            )
            assert status == 201, receipt
        for solution in solutions:  # 16 submissions so far: under the burst of 20 even if one worker took all
            status, _h, body = http(
                server.port, "POST", "/api/v1/submissions", envelope(ministry_key), {"X-Altcha": solution}
            )
            assert (status, body["error"]["code"]) == (403, "proof_of_work_reused")
        assert stored(config) == 8
        # A flood without solutions: refused, then limited (each worker counts its own: at most 2 x 20 pass to the check).
        answers = [http(server.port, "POST", "/api/v1/submissions", envelope(ministry_key)) for _ in range(60)]
        codes = [body["error"]["code"] for _s, _h, body in answers]
        assert set(codes) == {"proof_of_work_required", "rate_limited"} and codes[-1] == "rate_limited"
        assert all(int(h["Retry-After"]) >= 1 for s, h, _b in answers if s == 429)
        assert stored(config) == 8
    finally:
        server.stop()
    assert b"127.0.0.1" not in (tmp_path / "gunicorn.log").read_bytes()


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["salt", "challenge", "signature", "number"]),
    st.one_of(st.text(max_size=80), st.integers(-10, 10**6)),
    st.booleans(),
)
def test_the_intakes_check_agrees_with_the_altcha_librarys_on_any_tampering(member, value, tamper):
    """intake.pow._signed (constant-time comparisons) accepts exactly what
    the library's v1 verify_solution accepts, for genuine solutions and for
    any one member replaced."""
    from altcha.v1 import verify_solution

    from intake.pow import _signed

    proof = ProofOfWork(EASY, state=_STATE)
    payload = json.loads(base64.b64decode(solve(proof.challenge())))
    if tamper:
        if member == "number":
            payload["number"] = value if isinstance(value, int) else len(value)
        else:
            payload[member] = value if isinstance(value, str) else str(value)
    assert _signed(_STATE.key, payload) == verify_solution(payload, _STATE.key, check_expires=False)[0]
    if not tamper:
        assert _signed(_STATE.key, payload)


_STATE = SharedState(slots=64)
