"""hpke.js and seal.js in real Chromium: the RFC 9180 vector, and envelopes
that Python's `vault` opens (FORMATS.md section 2)."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_browser_support import Registry, browser_only, chromium, context, registry  # noqa: F401 - pytest fixtures

from vault import Envelope, open_envelope, parse_envelope
from vault.envelope import BUCKETS, pad

pytestmark = browser_only

VECTOR = json.loads((Path(__file__).parent / "vectors" / "hpke-rfc9180-a1-1.json").read_text())

# Helpers defined in the page for each evaluation: hex <-> bytes, the modules.
PRELUDE = """
const hx = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const th = (a) => Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
const hpke = await import("/assets/hpke.js");
const seal = await import("/assets/seal.js");
// DeriveKeyPair(ikm) for DHKEM(X25519, HKDF-SHA256), RFC 9180 section 7.1.3, from hpke.js's labeled HKDF:
// the page never derives a key pair, the test does, to fix the RFC vector's ephemeral key.
const deriveKeyPair = async (ikm) => {
  const kem = hpke.concat(new TextEncoder().encode("KEM"), Uint8Array.of(0x00, 0x20));
  const prk = await hpke.labeledExtract(kem, new Uint8Array(0), "dkp_prk", ikm);
  const sk = await hpke.labeledExpand(kem, prk, "sk", new Uint8Array(0), 32);
  const pkcs8 = hx("302e020100300506032b656e04220420"); // RFC 8410 wrapping: WebCrypto imports no raw X25519 key
  const privateKey = await crypto.subtle.importKey("pkcs8", hpke.concat(pkcs8, sk), {name: "X25519"}, true, ["deriveBits"]);
  const x = (await crypto.subtle.exportKey("jwk", privateKey)).x.replace(/-/g, "+").replace(/_/g, "/");
  return {privateKey, publicKey: Uint8Array.from(atob(x + "="), (c) => c.charCodeAt(0))};
};
"""


@pytest.fixture(scope="module")
def page(chromium: Any, registry: Registry) -> Any:
    ctx = chromium.new_context()
    page = ctx.new_page()
    page.goto(registry.origin + "/")
    yield page
    ctx.close()


def run(page: Any, body: str, arg: Any = None) -> Any:
    return page.evaluate(f"async (arg) => {{ {PRELUDE} {body} }}", arg)


def test_vector_is_the_rfc_one() -> None:
    assert VECTOR["source"].startswith("RFC 9180, Appendix A.1.1")
    assert (VECTOR["mode"], VECTOR["kem_id"], VECTOR["kdf_id"], VECTOR["aead_id"]) == (0, 0x20, 1, 1)


def test_derive_key_pair_reproduces_the_rfc_ephemeral_key(page: Any) -> None:
    pk = run(page, "return th((await deriveKeyPair(hx(arg))).publicKey);", VECTOR["ikmE"])
    assert pk == VECTOR["pkEm"]


def test_seal_reproduces_rfc_9180_a_1_1(page: Any) -> None:
    out = run(
        page,
        """
        const eph = await deriveKeyPair(hx(arg.ikmE));
        const r = await hpke.seal(hx(arg.pkRm), hx(arg.info), hx(arg.aad), hx(arg.pt), eph);
        return {enc: th(r.enc), ct: th(r.ct)};
        """,
        VECTOR,
    )
    assert out == {"enc": VECTOR["enc"], "ct": VECTOR["ct"]}


def test_seal_without_a_fixed_key_uses_a_fresh_ephemeral_key_each_time(page: Any) -> None:
    encs = run(
        page,
        """
        const pt = new TextEncoder().encode("same plaintext");
        const a = await hpke.seal(hx(arg.pkRm), hx(arg.info), new Uint8Array(0), pt);
        const b = await hpke.seal(hx(arg.pkRm), hx(arg.info), new Uint8Array(0), pt);
        return [th(a.enc), th(b.enc), th(a.ct) === th(b.ct)];
        """,
        VECTOR,
    )
    assert encs[0] != encs[1] and encs[0] != VECTOR["enc"]
    assert encs[2] is False


@pytest.mark.parametrize("length", [0, 1, 1023, 1024, 2047, 4095, 8191, 16383])
def test_pad_matches_the_python_padding(page: Any, length: int) -> None:
    padded = run(page, "return th(seal.pad(new Uint8Array(arg).fill(0x41)));", length)
    assert bytes.fromhex(padded) == pad(b"A" * length)


def test_pad_refuses_what_does_not_fit_the_largest_bucket(page: Any) -> None:
    code = run(
        page, "try { seal.pad(new Uint8Array(arg)); return 'padded'; } catch (e) { return e.code; }", BUCKETS[-1]
    )
    assert code == "too_large"


@pytest.mark.parametrize("filler", [10, 1000, 3000, 7000, 15000])
def test_browser_envelopes_open_with_vault(page: Any, registry: Registry, filler: int) -> None:
    submission = {
        "schema": "dvr-registration/1",
        "lang": "sr",
        "record": {"given_name": "Ђорђе", "family_name": "Çollaku-Gërvalla", "profession": "x" * filler},
    }
    out = run(
        page,
        """
        const key = await seal.checkBundle(arg.bundle);
        const envelope = await seal.sealSubmission(arg.submission, key);
        return {envelope, sha: await seal.envelopeSha256(envelope)};
        """,
        {"bundle": registry.key.bundle().to_json(), "submission": submission},
    )
    envelope = parse_envelope(out["envelope"], {registry.key.kid})
    assert isinstance(envelope, Envelope)
    assert json.loads(open_envelope(envelope, registry.key)) == submission
    assert out["sha"] == envelope.sha256
    expected_bucket = next(b for b in BUCKETS if len(json.dumps(submission, ensure_ascii=False).encode()) + 1 <= b)
    assert len(envelope.ct) == 32 + expected_bucket + 16


def test_check_bundle_refuses_a_kid_that_is_not_the_key_fingerprint(page: Any, registry: Registry) -> None:
    good = registry.key.bundle().to_json()
    cases = {
        "kid": {**good, "kid": "0" * 32},
        "suite": {**good, "suite": "DHKEM-P256-HKDF-SHA256/HKDF-SHA256/AES-128-GCM"},
        "short key": {**good, "public_key": good["public_key"][:-2]},
    }
    codes = run(
        page,
        """
        const out = {};
        for (const [name, bundle] of Object.entries(arg.cases)) {
          try { await seal.checkBundle(bundle); out[name] = "accepted"; } catch (e) { out[name] = e.code; }
        }
        out.good = (await seal.checkBundle(arg.good)).kid;
        return out;
        """,
        {"cases": cases, "good": good},
    )
    assert codes == {"kid": "bad_key", "suite": "bad_key", "short key": "bad_key", "good": registry.key.kid}
