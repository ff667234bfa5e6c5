"""The sealed pipeline end to end, with exactly the documented commands, a
real server on loopback, and envelopes made by an independent implementation
of FORMATS.md and docs/formats.md (pyca's HPKE and the standard library;
no `vault`). The vault is made as documented, so its key is X-Wing: the
client seals version 2 to it, and version 1 to its X25519 companion."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from support import run

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
SUITE_V2 = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def independent_envelope(bundle: dict, record: dict) -> bytes:
    """FORMATS.md section 2 (a dvr-key-bundle/1) or docs/formats.md's version 2, spelled out."""
    raw = base64.urlsafe_b64decode(bundle["public_key"] + "=" * (-len(bundle["public_key"]) % 4))
    assert hashlib.sha256(raw).digest()[:16].hex() == bundle["kid"]
    version = {"dvr-key-bundle/1": 1, "dvr-key-bundle/2": 2}[bundle["format"]]
    submission = json.dumps(
        {"schema": "dvr-registration/1", "lang": "sq", "record": record}, ensure_ascii=False
    ).encode()
    bucket = next(b for b in (1024, 2048, 4096, 8192, 16384) if len(submission) + 1 <= b)
    padded = submission + b"\x80" + b"\x00" * (bucket - len(submission) - 1)
    info = f"dvr-envelope/{version} {bundle['kid']}".encode("ascii")
    if version == 2:  # the ML-KEM-768 encapsulation key (1,184 bytes), then the X25519 key
        public = hpke.MLKEM768X25519PublicKey(
            MLKEM768PublicKey.from_public_bytes(raw[:1184]), X25519PublicKey.from_public_bytes(raw[1184:])
        )
        ct = SUITE_V2.encrypt(padded, public, info=info)
    else:
        ct = SUITE.encrypt(padded, X25519PublicKey.from_public_bytes(raw), info=info)
    b64 = base64.urlsafe_b64encode(ct).rstrip(b"=").decode()
    return json.dumps({"format": f"dvr-envelope/{version}", "kid": bundle["kid"], "ct": b64}).encode()


def population() -> tuple[list[dict], dict[str, int]]:
    """80 people; 12 of them register again later after moving. The latest stands."""
    residences = ["DE"] * 30 + ["CH"] * 25 + ["IT"] * 22 + ["IS"] * 3
    records, latest = [], {}
    for i, country in enumerate(residences):
        rec = {
            "given_name": f"Dritë{i}",
            "family_name": "Berisha" if i % 2 else "Gashi",
            "birth_date": f"19{60 + i % 40:02d}-0{1 + i % 9}-1{i % 10}",
            "sex": "female" if i % 3 else "male",
            "origin_country": "XK",
            "residence_country": country,
            "status": "student" if i % 4 == 0 else "employed",
            "consent": {"processing": True, "contact": False},
        }
        records.append(rec)
        latest[i] = rec
    for i in range(12):  # people 0..11 (all DE) move to CH and register again
        moved = {**records[i], "residence_country": "CH", "given_name": records[i]["given_name"].upper()}
        records.append(moved)
        latest[i] = moved
    truth = Counter(rec["residence_country"] for rec in latest.values())
    return records, dict(truth)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    (tmp_path / "P").write_text("a long passphrase for the test\n")
    assert run("keyholder", "init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "P").returncode == 0
    for name in ("key-bundle.json", "key-bundle-v1.json"):  # the X-Wing key and its X25519 companion
        assert run("intake", "keys", "add", "--data", tmp_path / "D", tmp_path / "V" / name).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "intake"),
            "serve",
            "--data",
            str(tmp_path / "D"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # Proof of work stays on (the client below solves it from docs/formats.md);
            # 80 registrations from one address in a second are past any per-client limit.
            "--no-rate-limit",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield tmp_path, base
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
        assert b"127.0.0.1 -" not in err  # no request log lines with client addresses


def independent_solution(base: str) -> str:
    """docs/formats.md section 10, spelled out: a challenge, the number n with
    SHA-256(salt + n) = challenge, and the solution as base64 of JSON."""
    challenge = json.load(urllib.request.urlopen(base + "/api/v1/challenge"))
    assert challenge["algorithm"] == "SHA-256"
    salt, target = challenge["salt"].encode(), challenge["challenge"]
    number = next(
        n for n in range(challenge["maxNumber"] + 1) if hashlib.sha256(salt + b"%d" % n).hexdigest() == target
    )
    solution = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")} | {"number": number}
    return base64.b64encode(json.dumps(solution).encode()).decode()


def test_whole_journey_with_an_independent_client(served):
    tmp, base = served
    keys = json.load(urllib.request.urlopen(base + "/api/v1/keys"))
    bundle = next(k for k in keys["keys"] if k["kid"] == keys["current"])
    companion = next(k for k in keys["keys"] if k["kid"] != keys["current"])
    assert (bundle["format"], companion["format"]) == ("dvr-key-bundle/2", "dvr-key-bundle/1")
    records, truth = population()
    for i, rec in enumerate(records):
        req = urllib.request.Request(
            base + "/api/v1/submissions",
            data=independent_envelope(companion if i % 4 == 3 else bundle, rec),  # a quarter as browsers without X-Wing
            headers={"Content-Type": "application/json", "X-Altcha": independent_solution(base)},
        )
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 201

    assert run("intake", "export", "--data", tmp / "D", "--out", tmp / "B1").returncode == 0
    assert run("keyholder", "import", "--vault", tmp / "V", tmp / "B1").returncode == 0
    proc = run("keyholder", "publish", "--vault", tmp / "V", "--passphrase-file", tmp / "P", "--out", tmp / "O")
    assert proc.returncode == 0, proc.stderr

    aggregates = json.loads((tmp / "O" / "aggregates.json").read_text())
    assert aggregates["format"] == "dvr-aggregates/1"
    assert aggregates["registrants"] == 80
    [table] = [t for t in aggregates["tables"] if t["name"] == "residence_country"]
    published = {c["residence_country"]: c["count"] for c in table["cells"]}
    assert published["IS"] is None  # 3 people: suppressed
    shown = {country: n for country, n in published.items() if n is not None}
    assert len(shown) >= 2  # complementary suppression hides one more country at most
    for country, n in shown.items():
        assert n == truth.get(country, 0), country  # right to the person
    assert truth == {"DE": 18, "CH": 37, "IT": 22, "IS": 3}
    for t in aggregates["tables"]:
        for cell in t["cells"]:
            assert cell["count"] is None or cell["count"] == 0 or cell["count"] >= 10

    # No registrant's name, in any form, in any file the intake or the publication holds.
    names = {rec["given_name"] for rec in records} | {"Berisha", "Gashi"}
    for root in (tmp / "D", tmp / "O"):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for name in names:
                    for form in {name, name.upper(), name.casefold()}:
                        assert form.encode("utf-8") not in data, (path, form)
