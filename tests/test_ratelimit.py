"""Per-client rate limits (intake/ratelimit.py): a flood from one client
gets 429 with Retry-After and stores nothing, other clients are not held
back, the limiter forgets, and neither the address nor its keyed hash is in
any log line or any file the intake writes."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support import submission

import vault
from intake import IntakeConfig, create_app
from intake.keyring import add_bundle
from intake.ratelimit import RateLimiter, RateLimits, client_bytes

LIMITS = RateLimits(burst=5, per_second=0.5)
ATTACKER = "198.51.100.77"
REGISTRANT = "203.0.113.5"


def make_app(tmp_path: Path, key: vault.UnlockedKey, **extra: Any) -> tuple[Any, IntakeConfig]:
    config = IntakeConfig(data_dir=tmp_path / "intake", rate_limits=LIMITS, **extra)
    config.data_dir.mkdir()
    add_bundle(config.keys_path, key.bundle().to_json())
    return create_app(config), config


def stored(config: IntakeConfig) -> int:
    conn = sqlite3.connect(config.db_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])
    finally:
        conn.close()


def post(client: Any, key: vault.UnlockedKey, address: str, headers: dict[str, str] | None = None) -> Any:
    body = json.dumps(vault.seal(submission(), key.public_key).to_json())
    return client.post(
        "/api/v1/submissions",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_flood_from_one_client_gets_429_with_retry_after_and_nothing_stored(tmp_path, ministry_key):
    app, config = make_app(tmp_path, ministry_key)
    client = app.test_client()
    answers = [post(client, ministry_key, ATTACKER) for _ in range(40)]
    assert [a.status_code for a in answers[:5]] == [201] * 5
    limited = answers[5:]
    assert all(a.status_code == 429 for a in limited)  # the bucket refills 1 per 2 s; the flood takes far less
    for answer in limited:
        assert answer.mimetype == "application/json"
        assert answer.get_json()["error"]["code"] == "rate_limited"
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.headers["Cache-Control"] == "no-store"  # the same headers as every answer
    assert "send again in" in limited[0].get_json()["error"]["message"]
    assert stored(config) == 5
    # Another client is not held back by the flood.
    assert post(client, ministry_key, REGISTRANT).status_code == 201
    assert stored(config) == 6
    app.extensions["dvr_store"].close()


def test_every_request_counts_even_a_refused_one():
    limiter = RateLimiter(RateLimits(burst=2, per_second=1), clock=lambda: 0.0)
    assert limiter.check(ATTACKER) is None and limiter.check(ATTACKER) is None
    assert limiter.check(ATTACKER) == 1


def test_the_limiter_forgets_after_the_wait_it_names():
    now = [100.0]
    limiter = RateLimiter(RateLimits(burst=3, per_second=0.25), clock=lambda: now[0])
    for _ in range(3):
        assert limiter.check(ATTACKER) is None
    wait = limiter.check(ATTACKER)
    assert wait == 4  # one token per 4 s
    now[0] += wait - 0.5
    assert limiter.check(ATTACKER) is not None  # not yet (and the early try cost nothing more: no token)
    now[0] += 4
    assert limiter.check(ATTACKER) is None
    # A client quiet long enough to be back at its full burst is dropped from memory.
    now[0] += 1000
    limiter.check(REGISTRANT)
    assert len(limiter) == 1


def test_a_new_day_drops_every_counter_and_the_key():
    day = [datetime.date(2026, 12, 7)]
    limiter = RateLimiter(RateLimits(burst=1, per_second=0.001), clock=lambda: 0.0, today=lambda: day[0])
    key = limiter._key
    assert limiter.check(ATTACKER) is None
    assert limiter.check(ATTACKER) is not None
    day[0] += datetime.timedelta(days=1)
    assert limiter.check(ATTACKER) is None
    assert limiter._key != key


def test_the_number_of_clients_held_is_bounded():
    limiter = RateLimiter(RateLimits(burst=2, per_second=0.001, max_clients=100), clock=lambda: 0.0)
    for i in range(1000):
        limiter.check(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100


def test_ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4():
    assert client_bytes("2001:db8:1:2::1") == client_bytes("2001:db8:1:2:ffff::9")
    assert client_bytes("2001:db8:1:2::1") != client_bytes("2001:db8:1:3::1")
    assert client_bytes("::ffff:192.0.2.1") == client_bytes("192.0.2.1")
    assert client_bytes("fe80::1%eth0") == client_bytes("fe80::2")
    assert client_bytes("") is None and client_bytes("not an address") is None


def test_behind_the_proxy_its_header_is_the_client_and_the_socket_peer_is_not(tmp_path, ministry_key, caplog):
    app, _config = make_app(tmp_path, ministry_key, client_address_header="X-Dvr-Client")
    client = app.test_client()
    statuses = [post(client, ministry_key, "", {"X-Dvr-Client": ATTACKER}).status_code for _ in range(7)]
    assert statuses == [201] * 5 + [429] * 2
    assert post(client, ministry_key, "", {"X-Dvr-Client": REGISTRANT}).status_code == 201
    # No header (a proxy misconfigured): not limited, and one warning that names no address.
    with caplog.at_level(logging.WARNING):
        statuses = [post(client, ministry_key, ATTACKER).status_code for _ in range(7)]
    assert statuses == [201] * 7
    warnings = [r.getMessage() for r in caplog.records if "rate limits" in r.getMessage()]
    assert len(warnings) == 1 and "header is missing" in warnings[0]
    app.extensions["dvr_store"].close()


def test_no_address_and_no_hash_in_any_log_line_or_file(tmp_path, ministry_key, capfd, caplog):
    app, config = make_app(tmp_path, ministry_key)
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        for _ in range(30):
            post(client, ministry_key, ATTACKER)
        post(client, ministry_key, "2001:db8:77::5")
        client.post("/api/v1/submissions", data=b"{", headers={"Content-Type": "application/json"})
    limiter = app.wsgi_app.limiter
    hashes = [hmac.digest(limiter._key, client_bytes(a), hashlib.sha256)[:16] for a in (ATTACKER, "2001:db8:77::5")]
    needles_text = [ATTACKER, "2001:db8:77", *(h.hex() for h in hashes)]
    needles_bytes = [n.encode() for n in needles_text] + hashes
    out, err = capfd.readouterr()
    logged = out + err + "\n".join(r.getMessage() for r in caplog.records)
    for needle in needles_text:
        assert needle not in logged
    app.extensions["dvr_store"].close()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "intake.sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        for needle in needles_bytes:
            assert needle not in data, path


@pytest.mark.parametrize("bad", [{"burst": 0}, {"per_second": 0}, {"max_clients": 0}])
def test_limits_that_make_no_sense_are_refused(bad):
    with pytest.raises(ValueError, match="rate limits"):
        RateLimits(**bad)


def test_forked_workers_count_one_client_against_one_bucket():
    """Two processes forked after the table is made (as gunicorn's workers
    are) share each client's bucket and the day's key: a client that
    spreads its requests over both still gets its burst once, not twice."""
    import multiprocessing

    from intake.ratelimit import SharedBuckets

    shared = SharedBuckets(max_clients=1000)
    limits = RateLimits(burst=5, per_second=0.001)
    first = RateLimiter(limits, shared=shared)
    context = multiprocessing.get_context("fork")
    answers = context.Queue()

    def worker() -> None:
        limiter = RateLimiter(limits, shared=shared)
        answers.put((limiter._key, [limiter.check(ATTACKER) is None for _ in range(4)]))

    children = [context.Process(target=worker) for _ in range(2)]
    for child in children:
        child.start()
    results = [answers.get(timeout=20) for _ in children]
    for child in children:
        child.join(timeout=20)
    assert {key for key, _ in results} == {first._key}
    allowed = sum(sum(oks) for _key, oks in results)
    assert allowed == 5  # 8 requests over two processes: the burst, once
    assert first.check(ATTACKER) is not None and first.check(REGISTRANT) is None


def test_the_shared_table_is_bounded_and_a_new_day_clears_it():
    from intake.ratelimit import SharedBuckets

    day = [datetime.date(2026, 12, 7)]
    shared = SharedBuckets(max_clients=100)
    limiter = RateLimiter(RateLimits(burst=2, per_second=0.001), clock=lambda: 0.0, today=lambda: day[0], shared=shared)
    for i in range(1000):
        limiter.check(f"10.0.{i // 256}.{i % 256}")
    assert 100 <= len(limiter) <= shared.slots + 16
    key = limiter._key
    assert limiter.check(ATTACKER) is None and limiter.check(ATTACKER) is None
    assert limiter.check(ATTACKER) is not None
    day[0] += datetime.timedelta(days=1)
    assert limiter.check(ATTACKER) is None
    assert limiter._key != key and len(limiter) == 1


def test_under_gunicorn_two_workers_hold_a_flooding_client_to_one_burst(tmp_path, ministry_key):
    """The attacker spreads a flood over gunicorn's two workers (a new
    connection per request): it still stores one burst (20) and what refills
    meanwhile (one per 3 s), not one burst per worker."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from prod_server import ProdServer, request

    SUBMIT = "/api/v1/submissions"

    data = tmp_path / "intake"
    data.mkdir()
    add_bundle(data / "keys.json", ministry_key.bundle().to_json())
    server = ProdServer(data, tmp_path / "gunicorn.log", "--workers=2", env={"DVR_INTAKE_RATE_LIMIT": "on"})
    try:
        bodies = [json.dumps(vault.seal(submission(), ministry_key.public_key).to_json()).encode() for _ in range(80)]
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:  # 16 connections at once: both workers accept
            statuses = list(pool.map(lambda b: request("127.0.0.1", server.port, "POST", SUBMIT, b)[0], bodies))
        elapsed = time.monotonic() - started
        workers = len(server.pids()) - 1
    finally:
        server.stop()
    assert workers == 2
    assert statuses.count(201) <= 20 + 1 + int(elapsed / 3), (statuses.count(201), elapsed)
    assert statuses.count(201) >= 20 and statuses.count(429) == 80 - statuses.count(201)
