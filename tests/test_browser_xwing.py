"""hpke.js and seal.js with X-Wing (envelope v2) in real Chromium: the
hpke-pq draft's vector, envelopes that the vault opens, and the fallback
to the X25519 companion in a browser without X-Wing.

Debian's Chromium has WebCrypto's MLKEM768-X25519 and ChaCha20-Poly1305
behind the feature switch WebCryptoPQC (on by default since Chromium 156).
This module launches a second Chromium with it on, and uses the session's
browser (launched with it off, as many registrants' browsers still are) for
the fallback.
"""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser_support import (  # noqa: F401 - pytest fixtures
    CHROMIUM,
    CHROMIUM_ARGS,
    PEOPLE,
    browser_only,
    chromium,
    fill_form,
    live_intake,
    stored_envelopes,
    wait_until_ready,
)

import vault
from intake import IntakeConfig
from intake.keyring import add_bundle
from vault.envelope import BUCKETS, CT_LENGTHS_V2

pytestmark = browser_only

VECTOR = json.loads((Path(__file__).parent / "vectors" / "hpke-pq-mlkem768-x25519-a0.json").read_text())
PQC_ARGS = [*CHROMIUM_ARGS, "--enable-features=WebCryptoPQC"]
MASTER = b"\x77" * 32
V2, COMPANION = vault.derive_keys(MASTER, 2), vault.derive_keys(MASTER, 1)

PRELUDE = """
const hx = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const th = (a) => Array.from(new Uint8Array(a), (b) => b.toString(16).padStart(2, "0")).join("");
const hpke = await import("/assets/hpke.js");
const seal = await import("/assets/seal.js");
const pinned = (await import("/assets/ministry-key.js")).MINISTRY_SIGNING_KEY;
"""


@pytest.fixture(scope="module")
def pqc_chromium(chromium: Any) -> Iterator[Any]:
    """A Chromium with WebCrypto's post-quantum algorithms switched on, from the session's Playwright."""
    browser = chromium.browser_type.launch(executable_path=str(CHROMIUM), args=PQC_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An intake whose current key is X-Wing, with its X25519 companion installed beside it."""
    data_dir = tmp_path_factory.mktemp("intake-v2")
    keys = IntakeConfig(data_dir=data_dir).keys_path
    add_bundle(keys, V2.bundle().to_json())
    add_bundle(keys, COMPANION.bundle().to_json())
    with live_intake(data_dir) as url:
        yield url, data_dir


def page_in(browser: Any, url: str) -> Any:
    ctx = browser.new_context(locale="en-US")
    page = ctx.new_page()
    page.goto(url + "/en/")
    return page


@pytest.fixture(scope="module")
def pqc(pqc_chromium: Any, origin: tuple[str, Path]) -> Iterator[Any]:
    page = page_in(pqc_chromium, origin[0])
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def plain(chromium: Any, origin: tuple[str, Path]) -> Iterator[Any]:
    page = page_in(chromium, origin[0])
    yield page
    page.context.close()


def run(page: Any, body: str, arg: Any = None) -> Any:
    return page.evaluate(f"async (arg) => {{ {PRELUDE} {body} }}", arg)


def test_only_the_switched_on_chromium_has_x_wing(pqc: Any, plain: Any) -> None:
    assert run(pqc, "return await hpke.supportsXWing();") is True
    assert run(plain, "return await hpke.supportsXWing();") is False
    assert run(plain, "return await hpke.supportsX25519();") is True


def test_chromiums_x_wing_decapsulates_the_drafts_vector(pqc: Any) -> None:
    """WebCrypto's MLKEM768-X25519 is the draft's KEM: from the 32-byte seed skRm
    it has the public key pkRm, and the vector's encapsulation gives its shared secret."""
    out = run(
        pqc,
        """
        const alg = {name: "MLKEM768-X25519"};
        const sk = await crypto.subtle.importKey("raw-seed", hx(arg.skRm), alg, true, ["decapsulateBits"]);
        const ss = await crypto.subtle.decapsulateBits(alg, sk, hx(arg.enc));
        const pk = await crypto.subtle.importKey("raw-public", hx(arg.pkRm), alg, true, ["encapsulateBits"]);
        return {ss: th(ss), pk: th(await crypto.subtle.exportKey("raw-public", pk))};
        """,
        VECTOR,
    )
    assert out == {"ss": VECTOR["shared_secret"], "pk": VECTOR["pkRm"]}


def test_the_key_schedule_and_seal_reproduce_the_drafts_vector(pqc: Any) -> None:
    """hpke.js's composition for the X-Wing suite: the key and base nonce, then
    the whole single-shot seal, with the KEM's output fixed to the vector's."""
    out = run(
        pqc,
        """
        const ks = await hpke.keySchedule(hx(arg.shared_secret), hx(arg.info), true);
        const fixed = {sharedKey: hx(arg.shared_secret), ciphertext: hx(arg.enc)};
        const r = await hpke.sealXWing(hx(arg.pkRm), hx(arg.info), hx(arg.aad), hx(arg.pt), fixed);
        return {key: th(ks.key), nonce: th(ks.baseNonce), enc: th(r.enc), ct: th(r.ct)};
        """,
        VECTOR,
    )
    assert out == {"key": VECTOR["key"], "nonce": VECTOR["base_nonce"], "enc": VECTOR["enc"], "ct": VECTOR["ct"]}


def test_each_seal_encapsulates_afresh(pqc: Any) -> None:
    encs = run(
        pqc,
        """
        const pt = new TextEncoder().encode("same");
        const a = await hpke.sealXWing(hx(arg), new Uint8Array(0), new Uint8Array(0), pt);
        const b = await hpke.sealXWing(hx(arg), new Uint8Array(0), new Uint8Array(0), pt);
        return [th(a.enc), th(b.enc), a.enc.length];
        """,
        V2.public_key.hex(),
    )
    assert encs[0] != encs[1] and encs[2] == 1120


@pytest.mark.parametrize("filler", [10, 1000, 3000, 7000, 15000])
def test_browser_v2_envelopes_open_with_the_vault(pqc: Any, filler: int) -> None:
    submission = {"schema": "dvr-registration/1", "lang": "sr", "record": {"profession": "Ђ" * (filler // 2)}}
    out = run(
        pqc,
        """
        const key = await seal.checkBundle(arg.bundle);
        const envelope = await seal.sealSubmission(arg.submission, key);
        return {envelope, sha: await seal.envelopeSha256(envelope), version: key.version};
        """,
        {"bundle": V2.bundle().to_json(), "submission": submission},
    )
    assert out["version"] == 2 and out["envelope"]["format"] == "dvr-envelope/2"
    envelope = vault.parse_envelope(out["envelope"], {V2.kid})
    assert json.loads(vault.open_envelope(envelope, V2)) == submission
    assert out["sha"] == envelope.sha256 and len(envelope.ct) in CT_LENGTHS_V2
    size = len(json.dumps(submission, ensure_ascii=False, separators=(",", ":")).encode())
    assert len(envelope.ct) == next(b for b in BUCKETS if size + 1 <= b) + 1120 + 16


def test_the_key_chosen_follows_the_browser(pqc: Any, plain: Any) -> None:
    """With X-Wing: the current v2 key. Without: its companion, marked as a fallback."""
    body = """
        const keys = await (await fetch("/api/v1/keys")).json();
        const key = await seal.currentKey(keys, pinned);
        return {kid: key.kid, version: key.version, fallback: key.fallback ?? false};
    """
    assert run(pqc, body) == {"kid": V2.kid, "version": 2, "fallback": False}
    assert run(plain, body) == {"kid": COMPANION.kid, "version": 1, "fallback": True}


def test_without_a_trustworthy_companion_a_browser_without_x_wing_seals_nothing(plain: Any) -> None:
    stranger = vault.derive_keys(b"\x78" * 32, 1).bundle().to_json()  # signed by another key
    cases = run(
        plain,
        """
        const keys = await (await fetch("/api/v1/keys")).json();
        const current = keys.keys.find((b) => b.kid === keys.current);
        const out = {};
        const attempt = async (name, answer) => {
          try { await seal.currentKey(answer, pinned); out[name] = "sealed"; } catch (e) { out[name] = e.code; }
        };
        await attempt("none", {...keys, keys: [current]});
        await attempt("stranger", {...keys, keys: [current, {...arg, signing_key: current.signing_key}]});
        const companion = keys.keys.find((b) => b.kid !== keys.current);
        await attempt("altered", {...keys, keys: [current, {...companion, created: "2020-01-01T00:00:00Z"}]});
        return out;
        """,
        stranger,
    )
    assert cases == {"none": "needs_xwing", "stranger": "untrusted", "altered": "untrusted"}


def journey(browser: Any, url: str) -> tuple[bool, str]:
    """A registrant fills the English form and sends it; returns whether the
    fallback notice was shown and the receipt's envelope hash."""
    page = page_in(browser, url)
    try:
        wait_until_ready(page)
        notice = page.locator("#pq-fallback").is_visible()
        fill_form(page, PEOPLE["en"])
        page.click("#submit")
        page.wait_for_selector("[data-testid=receipt]", state="visible")
        return notice, page.inner_text("#receipt-sha")
    finally:
        page.context.close()


def test_the_form_seals_v2_with_x_wing_and_v1_with_a_notice_without(
    pqc_chromium: Any, chromium: Any, origin: tuple[str, Path]
) -> None:
    url, data_dir = origin
    before = len(stored_envelopes(data_dir))
    assert journey(pqc_chromium, url)[0] is False
    notice, _sha = journey(chromium, url)
    assert notice is True
    stored = [json.loads(e) for e in stored_envelopes(data_dir)[before:]]
    assert [(e["format"], e["kid"]) for e in stored] == [("dvr-envelope/2", V2.kid), ("dvr-envelope/1", COMPANION.kid)]
    for env_obj, key in zip(stored, (V2, COMPANION), strict=True):
        opened = json.loads(vault.open_envelope(vault.parse_envelope(env_obj), key))
        assert opened["record"]["given_name"] == PEOPLE["en"].record["given_name"]
