"""The transparency log over real HTTP on loopback, on real SQLite and on a
real PostgreSQL: every receipt, checkpoint and proof checks out with an
independent verifier that holds only the log's public key; bad parameters
get JSON errors."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import pytest
import tlog_verifier as tv
from store_backends import both_stores
from support import one_line_error, run, submission

import vault
from intake import IntakeConfig, create_app
from intake.keyring import add_bundle


def get(server, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get_content_type(), err.read().decode()


def log_key(server) -> tv.Key:
    status, ctype, body = get(server, "/api/v1/log/key")
    assert status == 200 and ctype == "text/plain"
    return tv.parse_key(body)


def envelope(key, i: int) -> vault.Envelope:
    return vault.seal(submission() + b" " * i, key.public_key)


@both_stores
def test_concurrent_receipts_verify_independently(intake_server, ministry_key):
    envs = [envelope(ministry_key, i) for i in range(40)]
    receipts: dict[int, dict] = {}

    def send(i: int) -> None:
        status, body = intake_server.submit(envs[i].to_json())
        assert status == 201, body
        receipts[i] = body

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(envs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    key = log_key(intake_server)
    assert sorted(r["seq"] for r in receipts.values()) == list(range(1, 41))
    heads = {}
    for i, receipt in receipts.items():
        head = tv.check_receipt(receipt, envs[i].canonical(), key)
        assert head.size >= receipt["seq"]
        heads[head.size] = head
    # The newest checkpoint covers all, and every receipt's checkpoint is a prefix of it.
    status, ctype, note = get(intake_server, "/api/v1/log/checkpoint")
    assert status == 200 and ctype == "text/plain"
    latest = tv.open_checkpoint(note, key)
    by_seq = [envs[i].canonical() for i, r in sorted(receipts.items(), key=lambda kv: kv[1]["seq"])]
    assert latest.size == 40 and latest.root == tv.mth(by_seq)
    for size, head in heads.items():
        status, body = intake_server.request("GET", f"/api/v1/log/consistency?from={size}&to=40")
        assert status == 200 and (body["from"], body["to"]) == (size, 40)
        tv.check_consistency(head, latest, [base64.b64decode(h) for h in body["hashes"]])


@both_stores
def test_inclusion_endpoint_proves_any_seq_in_any_tree_size(intake_server, ministry_key):
    envs = [envelope(ministry_key, i) for i in range(13)]
    for env in envs:
        assert intake_server.submit(env.to_json())[0] == 201
    for seq in (1, 5, 8, 13):
        for size in (seq, 9, 13):
            if size < seq:
                continue
            status, body = intake_server.request("GET", f"/api/v1/log/inclusion?seq={seq}&size={size}")
            assert status == 200
            assert (body["seq"], body["size"], body["leaf_index"]) == (seq, size, seq - 1)
            proof = [base64.b64decode(h) for h in body["hashes"]]
            want = tv.mth([e.canonical() for e in envs[:size]])
            assert tv.root_from_path(seq - 1, size, tv.leaf(envs[seq - 1].canonical()), proof) == want


@both_stores
def test_a_tampered_receipt_fails_the_independent_verifier(intake_server, ministry_key):
    env = envelope(ministry_key, 0)
    intake_server.submit(envelope(ministry_key, 1).to_json())
    _status, receipt = intake_server.submit(env.to_json())
    key = log_key(intake_server)
    tv.check_receipt(receipt, env.canonical(), key)
    forged = dict(receipt, inclusion_proof=[base64.b64encode(bytes(32)).decode()])
    with pytest.raises(tv.Rejected):
        tv.check_receipt(forged, env.canonical(), key)
    with pytest.raises(tv.Rejected):  # another envelope cannot borrow the receipt
        tv.check_receipt(
            dict(receipt, envelope_sha256=envelope(ministry_key, 1).sha256), envelope(ministry_key, 1).canonical(), key
        )
    lines = receipt["checkpoint"].split("\n")
    lines[1] = "3"
    with pytest.raises(tv.Rejected):
        tv.check_receipt(dict(receipt, checkpoint="\n".join(lines)), env.canonical(), key)


@both_stores
def test_a_repeated_envelope_gets_its_first_seq_with_a_fresh_proof(intake_server, ministry_key):
    env = envelope(ministry_key, 0)
    first = intake_server.submit(env.to_json())[1]
    intake_server.submit(envelope(ministry_key, 1).to_json())
    again = intake_server.submit(env.to_json())[1]
    assert again["seq"] == first["seq"] == 1
    head = tv.check_receipt(again, env.canonical(), log_key(intake_server))
    assert head.size == 2


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("inclusion", 400, "bad_parameter"),
        ("inclusion?seq=1", 400, "bad_parameter"),
        ("inclusion?seq=one&size=2", 400, "bad_parameter"),
        ("inclusion?seq=-1&size=2", 400, "bad_parameter"),
        ("inclusion?seq=0&size=2", 400, "bad_parameter"),
        ("inclusion?seq=3&size=2", 400, "bad_parameter"),
        ("inclusion?seq=1&size=99999999999999999999", 400, "bad_parameter"),
        ("inclusion?seq=1&size=4", 404, "beyond_log"),
        ("consistency?from=2", 400, "bad_parameter"),
        ("consistency?from=0&to=2", 400, "bad_parameter"),
        ("consistency?from=3&to=2", 400, "bad_parameter"),
        ("consistency?from=1&to=3", 404, "beyond_log"),
    ],
)
def test_bad_proof_requests_get_json_errors(intake_server, ministry_key, query, status, code):
    for i in range(2):
        intake_server.submit(envelope(ministry_key, i).to_json())
    got, ctype, body = get(intake_server, "/api/v1/log/" + query)
    assert (got, ctype) == (status, "application/json")
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"]


def test_the_log_key_is_private_to_the_service_user_and_matches_the_cli(intake_server):
    path = intake_server.config.data_dir / "log-key"
    assert path.stat().st_mode & 0o777 == 0o600
    proc = run("intake", "log", "key", "--data", intake_server.config.data_dir)
    assert proc.returncode == 0
    assert proc.stdout.strip() == get(intake_server, "/api/v1/log/key")[2].strip()
    assert "PRIVATE" not in get(intake_server, "/api/v1/log/key")[2]


def test_keys_add_and_log_init_make_the_key_once(tmp_path, ministry_key):
    (tmp_path / "bundle.json").write_text(json.dumps(ministry_key.bundle().to_json()))
    made = run("intake", "keys", "add", "--data", tmp_path / "d", tmp_path / "bundle.json")
    assert made.returncode == 0 and "transparency log key made" in made.stdout
    again = run("intake", "log", "init", "--data", tmp_path / "d")
    assert again.returncode == 0 and "already exists" in again.stdout
    assert run("intake", "log", "key", "--data", tmp_path / "d").stdout.strip() in again.stdout
    line = one_line_error(run("intake", "log", "key", "--data", tmp_path / "none"))
    assert "no log key" in line and "intake log init" in line
    named = run("intake", "log", "init", "--data", tmp_path / "e", "--origin", "registry.example/intake")
    assert named.returncode == 0 and "registry.example/intake+" in named.stdout


@both_stores
def test_a_store_from_before_the_log_is_caught_up_on_start(tmp_path, ministry_key, backend):
    config = IntakeConfig(data_dir=tmp_path / "intake", store_url=backend.url)
    config.data_dir.mkdir(exist_ok=True)
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    store = backend.store()  # no log: as before this feature (or an SQLite store migrated without one)
    envs = [envelope(ministry_key, i) for i in range(5)]
    for env in envs:
        store.append(env)
    store.close()
    app = create_app(config)
    try:
        client = app.test_client()
        key = tv.parse_key(client.get("/api/v1/log/key").text)
        head = tv.open_checkpoint(client.get("/api/v1/log/checkpoint").text, key)
        assert head.size == 5 and head.root == tv.mth([e.canonical() for e in envs])
        new = envelope(ministry_key, 9)
        receipt = client.post("/api/v1/submissions", json=new.to_json()).json
        assert tv.check_receipt(receipt, new.canonical(), key).size == 6
    finally:
        app.extensions["dvr_store"].close()
        app.extensions["dvr_log"].close()


@both_stores
def test_a_restart_continues_the_same_log(tmp_path, ministry_key, backend):
    config = IntakeConfig(data_dir=tmp_path / "intake", store_url=backend.url)
    config.data_dir.mkdir(exist_ok=True)
    add_bundle(config.keys_path, ministry_key.bundle().to_json())
    envs = [envelope(ministry_key, i) for i in range(6)]
    heads = []
    for batch in (envs[:3], envs[3:]):
        app = create_app(config)
        client = app.test_client()
        key = tv.parse_key(client.get("/api/v1/log/key").text)
        for env in batch:
            assert client.post("/api/v1/submissions", json=env.to_json()).status_code == 201
        heads.append(tv.open_checkpoint(client.get("/api/v1/log/checkpoint").text, key))
        app.extensions["dvr_store"].close()
        app.extensions["dvr_log"].close()
    app = create_app(config)
    try:
        proof = app.test_client().get("/api/v1/log/consistency?from=3&to=6").json["hashes"]
    finally:
        app.extensions["dvr_store"].close()
        app.extensions["dvr_log"].close()
    tv.check_consistency(heads[0], heads[1], [base64.b64decode(h) for h in proof])
    assert backend.query("SELECT COUNT(*) FROM tlog_nodes") == [(2 * 6 - 2,)]  # 6 leaves, 4 interior
