"""The page trusts only the ministry's key (issue 14, finding 1), in real
Chromium against the real intake. The test plays the intake's operator, who
can edit keys.json (the server re-reads it without a restart) or answer
`/api/v1/keys` with anything: an unsigned bundle, one signed by another key,
a retired bundle replayed after a real rotation, a tampered public key. In
each case nothing is sent, nothing is stored, and the registrant is told in
their language not to register there. After a real rotation, the page seals
to the new key and the vault opens what it sent."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from test_browser_support import (  # noqa: F401 - pytest fixtures
    PEOPLE,
    RequestLog,
    answers,
    browser_only,
    chromium,
    context,
    fill_form,
    live_intake,
    stored_envelopes,
    wait_until_ready,
)

from intake.pages import TRANSLATIONS_DIR
from vault import derive_keys, new_master_secret, open_envelope, parse_envelope
from vault._fsutil import atomic_write
from vault.canonical import b64u_decode, b64u_encode, canonical_json
from vault.custody import epoch_key, open_keyfile
from vault.keys import kid_for

pytestmark = browser_only

BIN = Path(sys.executable).parent
PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a test vault's passphrase
NEW_PASSPHRASE = "a new epoch, a new passphrase"  # noqa: S105 - a test vault's passphrase
PAGES = {"sq": "/", "en": "/en/", "sr": "/sr/", "de": "/de/"}
WARNING = "Do not register on this page: nothing was sent."


def cli(name: str, *args: str | Path) -> str:
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    done = subprocess.run([BIN / name, *map(str, args)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{name} {args}: {done.stderr}"
    return done.stdout


def translated(lang: str, text: str) -> str:
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        message = read_po(po, locale=lang).get(text)
    assert message is not None and message.string, f"{text!r} is not translated to {lang}"
    return str(message.string)


@dataclass
class Ministry:
    """A vault made with `keyholder init`, an intake data directory with its key, and a running intake."""

    root: Path
    stack: ExitStack = field(default_factory=ExitStack)
    origin: str = ""

    @property
    def vault(self) -> Path:
        return self.root / "vault"

    @property
    def data(self) -> Path:
        return self.root / "intake"

    def start(self) -> None:
        """(Re)start the intake: the page pins the key keys.json leads to now."""
        self.stack.close()
        self.origin = self.stack.enter_context(live_intake(self.data))

    def rotate(self) -> dict[str, Any]:
        """A real rotation with `keyholder rotate`, installed with `intake keys add --rotation`."""
        (self.root / "new-passphrase").write_text(NEW_PASSPHRASE + "\n")
        old = self.bundle()
        cli(
            "keyholder", "rotate", "--vault", self.vault, "--passphrase-file", self.root / "passphrase",
            "--new-passphrase-file", self.root / "new-passphrase",
        )  # fmt: skip
        cli("intake", "keys", "add", "--data", self.data, self.vault / "key-bundle.json",
            "--rotation", self.vault / "key-rotation.json")  # fmt: skip
        cli("intake", "keys", "add", "--data", self.data, self.vault / "key-bundle-v1.json")
        assert self.bundle()["kid"] != old["kid"]
        return old

    def bundle(self) -> dict[str, Any]:
        return dict(json.loads((self.vault / "key-bundle.json").read_text()))

    def sealed_to(self) -> str:
        """The kid the page seals to in this Chromium (no X-Wing): the current key's X25519 companion."""
        return str(json.loads((self.vault / "key-bundle-v1.json").read_text())["kid"])

    def current_key(self, passphrase: str) -> Any:
        """The private key of `sealed_to`, from the current epoch's key file."""
        bundle = self.bundle()
        keyfile = json.loads((self.vault / "epochs" / bundle["kid"] / "keyfile.json").read_text())
        return epoch_key(open_keyfile(keyfile, passphrase.encode())[0], self.sealed_to())

    def operator_makes_current(self, bundle: dict[str, Any]) -> None:
        """What an operator can do to keys.json by hand: add any bundle and make it current (no restart)."""
        path = self.data / "keys.json"
        ring = json.loads(path.read_text())
        if all(b["kid"] != bundle["kid"] for b in ring["keys"]):
            ring["keys"].append(bundle)
        ring["current"] = bundle["kid"]
        with atomic_write(path) as out:
            out.write(json.dumps(ring, indent=1).encode())


@pytest.fixture
def ministry(tmp_path: Path) -> Iterator[Ministry]:
    m = Ministry(tmp_path)
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    cli("keyholder", "init", "--vault", m.vault, "--passphrase-file", tmp_path / "passphrase")
    cli("intake", "keys", "add", "--data", m.data, m.vault / "key-bundle.json")
    cli("intake", "keys", "add", "--data", m.data, m.vault / "key-bundle-v1.json")  # its companion
    m.start()
    with m.stack:
        yield m


def operator_bundle(signed: bool) -> dict[str, Any]:
    """A bundle for a key the operator holds; `signed`: by the operator's own Ed25519 key."""
    bundle = derive_keys(new_master_secret()).bundle().to_json()
    if not signed:
        del bundle["signing_key"], bundle["signature"]
    return bundle


def expect_refusal(context: Any, ministry: Ministry, lang: str = "en", route: Any = None) -> Any:
    """Open the page as a registrant, try everything to send; assert nothing left and the warning shown."""
    page = context.new_page()
    log = RequestLog().attach(page)
    if route is not None:
        page.route("**/api/v1/keys", route)
    page.goto(ministry.origin + PAGES[lang])
    warning = page.locator("#key-untrusted")
    warning.wait_for(state="visible")
    assert page.is_disabled("#submit")
    assert page.locator("#key-info").is_hidden()
    fill_form(page, PEOPLE[lang])
    page.click("#submit", force=True)  # a disabled button: no submit event
    page.evaluate("document.getElementById('registration').requestSubmit()")  # and no handler to seal anyway
    page.wait_for_timeout(300)
    assert [r for r in log.requests if "/api/v1/submissions" in r.url] == []
    assert log.posts == []
    assert stored_envelopes(ministry.data) == []
    text = warning.inner_text()
    assert translated(lang, WARNING) in text
    assert "nothing was sent" in text if lang == "en" else "nothing was sent" not in text
    return page


@pytest.mark.parametrize("lang", PAGES)
def test_an_unsigned_bundle_made_current_is_refused_in_every_language(
    context: Any, ministry: Ministry, lang: str
) -> None:
    ministry.operator_makes_current(operator_bundle(signed=False))
    expect_refusal(context, ministry, lang)


def test_the_serbian_warning_is_in_cyrillic(context: Any, ministry: Ministry) -> None:
    ministry.operator_makes_current(operator_bundle(signed=False))
    text = expect_refusal(context, ministry, "sr").inner_text("#key-untrusted")
    assert "Не региструјте се на овој страници" in text


def test_a_bundle_signed_by_another_key_is_refused(context: Any, ministry: Ministry) -> None:
    ministry.operator_makes_current(operator_bundle(signed=True))
    expect_refusal(context, ministry, "de")


def test_a_forged_rotation_to_the_operators_key_is_refused(context: Any, ministry: Ministry) -> None:
    """A rotation statement naming the operator's key, "from" the ministry's key but signed by the operator's."""
    operator = derive_keys(new_master_secret())
    bundle = operator.bundle().to_json()
    ministry_bundle = ministry.bundle()
    statement = {
        "format": "dvr-key-rotation/1",
        "previous_kid": ministry_bundle["kid"],
        "previous_signing_key": ministry_bundle["signing_key"],
        "kid": bundle["kid"],
        "public_key": bundle["public_key"],
        "signing_key": bundle["signing_key"],
        "created": "2026-11-27T10:00:00Z",
    }
    statement["signature"] = operator.sign_json(statement)

    def forged(route: Any) -> None:
        keys = route.fetch().json()
        keys["keys"].append(bundle)
        keys["current"] = bundle["kid"]
        keys["rotations"] = [statement]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(keys))

    expect_refusal(context, ministry, route=forged)


def test_a_tampered_public_key_with_its_kid_recomputed_is_refused(context: Any, ministry: Ministry) -> None:
    """keys.json cannot hold it (the intake checks a bundle's signature when it loads the file), but the
    operator controls what the server answers: the page gets the ministry's signed bundle with the
    operator's public key and a matching kid."""
    operator_public = derive_keys(new_master_secret(), 2).public_key  # of the current bundle's kind

    def tampered(route: Any) -> None:
        keys = route.fetch().json()
        bundle = next(b for b in keys["keys"] if b["kid"] == keys["current"])
        bundle["public_key"] = b64u_encode(operator_public)
        bundle["kid"] = keys["current"] = kid_for(operator_public)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(keys))

    expect_refusal(context, ministry, route=tampered)


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "after-restart"])
def test_the_old_bundle_replayed_after_a_rotation_is_refused(context: Any, ministry: Ministry, restarted: bool) -> None:
    """Same process: the page still pins the old key, and the rotation statement it is served marks the
    old kid superseded. After a restart: the page pins the new key, and the old one is older than the pin."""
    old = ministry.rotate()
    if restarted:
        ministry.start()
    ministry.operator_makes_current(old)
    expect_refusal(context, ministry)


def test_the_old_companion_replayed_after_a_rotation_is_refused(context: Any, ministry: Ministry) -> None:
    """The retired epoch's X25519 companion is signed by a signing key the chain has moved on from."""
    old_companion = json.loads((ministry.vault / "key-bundle-v1.json").read_text())
    ministry.rotate()
    ministry.operator_makes_current(old_companion)
    expect_refusal(context, ministry)


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "after-restart"])
def test_after_a_real_rotation_the_page_seals_to_the_new_key_and_the_vault_opens_it(
    context: Any, ministry: Ministry, restarted: bool
) -> None:
    old_kid = ministry.sealed_to()
    ministry.rotate()
    if restarted:
        ministry.start()
    new_kid = ministry.sealed_to()  # the new epoch's companion: this Chromium has no X-Wing
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(ministry.origin + "/en/")
    wait_until_ready(page)
    assert page.locator("#key-untrusted").is_hidden()
    assert page.inner_text("#fingerprint").replace(" ", "") == new_kid[:16]
    fill_form(page, PEOPLE["en"])
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    [post] = log.posts
    envelope = parse_envelope(json.loads(post.post_data_buffer), {new_kid})
    assert envelope.kid == new_kid != old_kid
    opened = json.loads(open_envelope(envelope, ministry.current_key(NEW_PASSPHRASE)))
    assert answers(opened) == PEOPLE["en"].record
    assert len(stored_envelopes(ministry.data)) == 1


def test_the_page_canonicalises_bundles_and_rotations_as_rfc8785(context: Any, ministry: Ministry) -> None:
    ministry.rotate()
    page = context.new_page()
    page.goto(ministry.origin + "/en/")
    keys = json.loads(page.evaluate("async () => (await fetch('/api/v1/keys')).text()"))
    objects = [*keys["keys"], *keys["rotations"]]
    assert len(objects) == 5  # two epochs' bundles and their companions, one rotation
    for obj in objects:
        unsigned = {k: v for k, v in obj.items() if k != "signature"}
        got = page.evaluate(
            "async (o) => new TextDecoder().decode((await import('/assets/seal.js')).canonicalStrings(o))", unsigned
        )
        assert got.encode() == canonical_json(unsigned)
    refused = page.evaluate(
        """async () => { const { canonicalStrings } = await import('/assets/seal.js');
           const out = [];
           for (const o of [{a: 1}, {a: 'é'}, {a: 'q"'}, {a: 'b\\\\'}, {a: null}, {'\\n': 'x'}]) {
             try { canonicalStrings(o); out.push('accepted'); } catch (e) { out.push(e.code); } }
           return out; }"""
    )
    assert refused == ["untrusted"] * 6


def test_the_pin_asset_is_fixed_at_start(ministry: Ministry) -> None:
    """Editing keys.json changes the keys the API lists, never the key the page trusts, until a restart."""
    from urllib.request import urlopen

    def pin() -> bytes:
        with urlopen(ministry.origin + "/assets/ministry-key.js") as response:  # noqa: S310 - loopback URL
            return bytes(response.read())

    before = pin()
    assert b64u_encode(b64u_decode(ministry.bundle()["signing_key"])) in before.decode()
    ministry.operator_makes_current(operator_bundle(signed=True))
    assert pin() == before
    old = hashlib.sha256(before).hexdigest()
    ministry.rotate()
    ministry.start()
    assert hashlib.sha256(pin()).hexdigest() != old
    assert ministry.bundle()["signing_key"] in pin().decode()
