"""Checking a saved receipt in the registration page, in real Chromium against
the real intake (issue 5): the receipt file the page saves, the check's
sentence for a good receipt and for each kind of tampering, what the check
asks the server, and the page's verifier (intake/static/verify.js) agreeing
with `vault.merkle` and `vault.note` on the same data."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import base64
import copy
import functools
import json
import random
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from support import submission
from test_browser_support import (  # noqa: F401 - pytest fixtures
    ARTIFACTS,
    PEOPLE,
    Registry,
    RequestLog,
    browser_only,
    chromium,
    fill_form,
    proof_header,
    registry,
    stored_envelopes,
    wait_until_ready,
)

import vault
from intake.tlog import load_log_key
from keyholder_cli.receipt import load_receipt
from vault import merkle
from vault.note import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint

pytestmark = browser_only

BEFORE, AFTER = 2, 5  # envelopes sent before the browser's (so its leaf is not the first) and after it

SENTENCES = {
    "ok": "Your registration (receipt number {seq}) is in the registry's log, and the log has only grown since.",
    "not_receipt": "This file is not a receipt from the Diaspora Registry.",
    "no_envelope": "This file has no sealed envelope, so it cannot be checked here; the ministry can check it for you.",
    "envelope": "The envelope in this file does not match the receipt's fingerprint, so the file was altered.",
    "signature": "The receipt is not signed by the registry's log key, so the registry did not issue it or it was altered.",
    "inclusion": "The receipt's proof does not link your envelope to the registry's signed log, so the receipt was altered.",
    "inconsistent": (
        "Your receipt is genuine, but the registry has since rewritten its log: "
        "please keep the receipt and contact the ministry."
    ),
    "network": "The registry's log could not be read, so the receipt could not be checked; please try again later.",
    "unsupported": (
        "Please open this page in a current version of Firefox, Chrome, Edge or Safari with JavaScript switched on."
    ),
}


def post_envelopes(registry: Registry, n: int, tag: str) -> list[dict[str, Any]]:
    """Send `n` envelopes sealed in Python; return their receipts."""
    public_key = vault.load_bundle(registry.key.bundle().to_json()).public_key
    receipts = []
    for i in range(n):
        envelope = vault.seal(submission() + f" {tag}{i}".encode(), public_key)
        request = urllib.request.Request(
            f"{registry.origin}/api/v1/submissions",
            data=json.dumps(envelope.to_json()).encode(),
            headers={"Content-Type": "application/json", **proof_header(registry.origin)},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL built here
            assert response.status == 201
            receipts.append({**json.load(response), "envelope": envelope.to_json()})
    return receipts


def get_text(registry: Registry, path: str) -> str:
    with urllib.request.urlopen(registry.origin + path, timeout=10) as response:  # noqa: S310 - loopback URL
        return response.read().decode()


@dataclass
class Saved:
    """The receipt the server sent to the browser, and the file the page saved."""

    server: dict[str, Any]
    posted: dict[str, Any]
    file: dict[str, Any]
    others: list[dict[str, Any]]  # receipts (with envelopes) of envelopes sent from Python


@pytest.fixture(scope="module")
def saved(chromium: Any, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    """A registrant sends the form and saves the receipt; more registrations follow."""
    before = post_envelopes(registry, BEFORE, "before")
    ctx = chromium.new_context(locale="en-US", accept_downloads=True)
    try:
        page = ctx.new_page()
        log = RequestLog().attach(page)
        page.goto(registry.origin + "/en/")
        wait_until_ready(page)
        fill_form(page, PEOPLE["en"])
        with page.expect_response("**/api/v1/submissions") as answer:
            page.click("#submit")
        page.wait_for_selector("[data-testid=receipt]", state="visible")
        with page.expect_download() as download:
            page.click("#receipt-download")
        path = tmp_path_factory.mktemp("download") / "receipt.json"
        download.value.save_as(path)
        server, posted = answer.value.json(), json.loads(log.posts[0].post_data_buffer)
    finally:
        ctx.close()
    after = post_envelopes(registry, AFTER, "after")
    return Saved(server, posted, json.loads(path.read_text()), before + after)


class Checker:
    """Checks receipt files in the page, one page per language kept open (a check
    resets the result first), or a fresh page when a test changes the browser."""

    def __init__(self, chromium: Any, origin: str) -> None:
        self.origin = origin
        self.context = chromium.new_context(locale="en-US")
        self.pages: dict[str, tuple[Any, RequestLog]] = {}
        self.console: list[str] = []  # errors and warnings in the pages kept open (CSP violations are errors)

    def open(self, lang: str = "en", setup: Any = None) -> tuple[Any, RequestLog]:
        page = self.context.new_page()
        if setup:
            setup(page)
        log = RequestLog().attach(page)
        page.goto(self.origin + ("/" if lang == "sq" else f"/{lang}/"))
        page.wait_for_selector("#check:not([hidden])")
        return page, log

    def page(self, lang: str = "en") -> Any:
        return self.logged(lang)[0]

    def logged(self, lang: str) -> tuple[Any, RequestLog]:
        if lang not in self.pages:
            self.pages[lang] = self.open(lang)
            self.pages[lang][0].on(
                "console",
                lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
            )
            self.pages[lang][0].on("pageerror", lambda e: self.console.append(f"page error: {e}"))
        page, log = self.pages[lang]
        page.bring_to_front()  # a page behind another gets its animation frames throttled
        return page, log

    def __call__(
        self, receipt: dict[str, Any] | str, lang: str = "en", setup: Any = None
    ) -> tuple[str, bool, list[Any]]:
        """(the sentence shown, whether it is a success, the requests to the log or not GET)."""
        page, log = self.open(lang, setup) if setup else self.logged(lang)
        seen = len(log.requests)
        text = receipt if isinstance(receipt, str) else json.dumps(receipt)
        page.set_input_files("#check-file", {"name": "r.json", "mimeType": "application/json", "buffer": text.encode()})
        page.click("#check-button")
        result = page.wait_for_selector("#check-result.ok, #check-result.failed")
        ok = "ok" in (result.get_attribute("class") or "").split()
        sentence = result.inner_text()
        requests = [r for r in log.requests[seen:] if "/api/v1/log/" in r.url or r.method != "GET"]
        if setup:
            page.close()
        return sentence, ok, requests


@pytest.fixture(scope="module")
def check(chromium: Any, registry: Registry) -> Iterator[Checker]:
    checker = Checker(chromium, registry.origin)
    yield checker
    checker.context.close()


# ---- the saved file ---------------------------------------------------------


def test_the_saved_file_is_the_servers_receipt_plus_the_envelope(saved: Saved, registry: Registry) -> None:
    code = saved.file["registrant_code"]  # docs/formats.md section 12.1
    assert len(code) == 21 and code.count("-") == 4
    assert saved.file == {**saved.server, "envelope": saved.posted, "registrant_code": code}
    assert list(saved.file)[-2:] == ["envelope", "registrant_code"]
    assert saved.server["seq"] == BEFORE + 1
    # The envelope in the file is the one stored at its seq, byte for byte.
    stored = stored_envelopes(registry.data_dir)[saved.server["seq"] - 1]
    assert vault.parse_envelope(saved.file["envelope"]).canonical() == stored


def test_keyholder_audit_receipt_still_reads_the_saved_file(saved: Saved, tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(saved.file))
    parsed = load_receipt(path)
    assert (parsed.seq, parsed.envelope_sha256) == (saved.server["seq"], saved.server["envelope_sha256"])


# ---- the check in the page -------------------------------------------------


def test_a_saved_receipt_checks_out_after_the_log_grew(saved: Saved, check: Checker, registry: Registry) -> None:
    size = Checkpoint.parse(saved.file["checkpoint"].split("\n\n")[0] + "\n").size
    assert size == BEFORE + 1
    sentence, ok, requests = check(saved.file)
    assert ok
    assert sentence == SENTENCES["ok"].format(seq=saved.server["seq"])
    current = BEFORE + 1 + AFTER
    assert [r.url.removeprefix(registry.origin) for r in requests] == [
        "/api/v1/log/key",
        "/api/v1/log/checkpoint",
        f"/api/v1/log/consistency?from={size}&to={current}",
    ]
    assert all(r.method == "GET" and not r.post_data_buffer for r in requests)
    assert check.console == []
    ARTIFACTS.mkdir(exist_ok=True)
    check.page().locator("#check").screenshot(path=ARTIFACTS / "receipt-check.png")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("sq", "Regjistrimi juaj (dëftesa numër {seq}) gjendet në ditarin e regjistrit"),
        ("sr", "Ваша регистрација (потврда број {seq}) налази се у дневнику регистра"),
        ("de", "Ihre Registrierung (Bestätigung Nummer {seq}) steht im Protokoll des Registers"),
    ],
    ids=["sq", "sr", "de"],
)
def test_the_sentence_is_in_the_page_language(saved: Saved, check: Checker, lang: str, expected: str) -> None:
    sentence, ok, _ = check(saved.file, lang)
    assert ok
    assert sentence.startswith(expected.format(seq=saved.server["seq"]))


def test_every_receipt_in_the_log_checks_out(saved: Saved, check: Checker) -> None:
    """Receipts of other sizes (1, 2, and the newest: an empty consistency proof)."""
    for receipt in (saved.others[0], saved.others[1], saved.others[-1]):
        sentence, ok, _ = check(receipt)
        assert ok, (receipt["seq"], sentence)


def flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def tampered(saved: Saved, how: str) -> dict[str, Any]:
    receipt = copy.deepcopy(saved.file)
    other = saved.others[-1]
    if how == "flipped proof hash":
        receipt["inclusion_proof"][0] = flip(receipt["inclusion_proof"][0])
    elif how == "another envelope":
        receipt["envelope"] = other["envelope"]
    elif how == "another envelope with its hash":
        receipt["envelope"], receipt["envelope_sha256"] = other["envelope"], other["envelope_sha256"]
    elif how == "another seq":
        receipt["seq"], receipt["leaf_index"] = receipt["seq"] + 1, receipt["leaf_index"] + 1
    elif how == "a proof hash too few":
        receipt["inclusion_proof"] = receipt["inclusion_proof"][:-1]
    elif how == "checkpoint signed by another key":
        text = receipt["checkpoint"].split("\n\n")[0] + "\n"
        origin = text.split("\n")[0]
        receipt["checkpoint"] = sign_checkpoint(Checkpoint.parse(text), NoteSigner.generate(origin))
    elif how == "checkpoint with another root":
        text, signature = receipt["checkpoint"].split("\n\n")
        origin, size, root = text.split("\n")
        receipt["checkpoint"] = f"{origin}\n{size}\n{flip(root)}\n\n{signature}"
    elif how == "no envelope":
        del receipt["envelope"]
    elif how == "not a receipt":
        return {"format": "dvr-envelope/1", "kid": "00", "ct": "AA"}
    return receipt


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("flipped proof hash", "inclusion"),
        ("a proof hash too few", "inclusion"),
        ("another seq", "inclusion"),
        ("another envelope", "envelope"),
        ("another envelope with its hash", "inclusion"),
        ("checkpoint signed by another key", "signature"),
        ("checkpoint with another root", "signature"),
        ("no envelope", "no_envelope"),
        ("not a receipt", "not_receipt"),
    ],
)
def test_a_tampered_receipt_gets_its_own_sentence(saved: Saved, check: Checker, how: str, reason: str) -> None:
    sentence, ok, _ = check(tampered(saved, how))
    assert not ok
    assert sentence == SENTENCES[reason]


def test_a_file_that_is_not_json_is_not_a_receipt(check: Checker) -> None:
    sentence, ok, requests = check("%PDF-1.7 not json")
    assert (sentence, ok, requests) == (SENTENCES["not_receipt"], False, [])


def test_a_log_that_forked_after_the_receipt_is_caught(saved: Saved, check: Checker, registry: Registry) -> None:
    """The intake (holding its key) shows a current checkpoint that does not extend the receipt's."""
    current = Checkpoint.parse(get_text(registry, "/api/v1/log/checkpoint").split("\n\n")[0] + "\n")
    signer = load_log_key(registry.data_dir)
    page = check.page()

    def serve(note: str, route: Any) -> None:
        route.fulfill(body=note, content_type="text/plain")

    for size in (current.size, 1):  # another root at the current size; a log that shrank
        fork = sign_checkpoint(Checkpoint(current.origin, size, bytes(32)), signer)
        page.route("**/api/v1/log/checkpoint", functools.partial(serve, fork))
        try:
            sentence, ok, _ = check(saved.file)
        finally:
            page.unroute("**/api/v1/log/checkpoint")
        assert (sentence, ok) == (SENTENCES["inconsistent"], False), size


def test_an_unreachable_log_says_so(saved: Saved, check: Checker) -> None:
    sentence, ok, _ = check(saved.file, setup=lambda page: page.route("**/api/v1/log/**", lambda r: r.abort()))
    assert (sentence, ok) == (SENTENCES["network"], False)


def test_a_browser_without_ed25519_is_asked_to_use_a_current_one(saved: Saved, check: Checker) -> None:
    no_ed25519 = """(() => {
      const importKey = crypto.subtle.importKey.bind(crypto.subtle);
      crypto.subtle.importKey = (format, data, algorithm, ...rest) =>
        (algorithm?.name ?? algorithm) === "Ed25519"
          ? Promise.reject(new DOMException("no Ed25519", "NotSupportedError"))
          : importKey(format, data, algorithm, ...rest);
    })();"""
    sentence, ok, _ = check(saved.file, setup=lambda page: page.add_init_script(no_ed25519))
    assert (sentence, ok) == (SENTENCES["unsupported"], False)


def test_the_check_works_with_the_keyboard_alone(saved: Saved, check: Checker, tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(saved.file))
    page = check.page()
    # Now and then the file chooser that the key opens never reaches
    # Playwright (seen here about once in ten runs, before and after any
    # change to the page); a lost one stays lost, so the key is pressed
    # again, a few times at most.
    for _attempt in range(3):
        page.focus("#check-file")
        try:
            with page.expect_file_chooser(timeout=5000) as chooser:
                page.keyboard.press("Space")
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError("Space on the receipt file field never opened a file chooser")
    chooser.value.set_files(str(path))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "check-button"
    page.keyboard.press("Enter")
    result = page.wait_for_selector("#check-result.ok, #check-result.failed")
    assert result.get_attribute("role") == "status"
    assert result.inner_text() == SENTENCES["ok"].format(seq=saved.server["seq"])


# ---- the page's verifier agrees with vault.merkle and vault.note -----------------

AGREE = """async ({cases, note, key}) => {
  const v = await import("/assets/verify.js");
  const b = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const out = [];
  for (const c of cases) {
    const proof = c.proof.map(b);
    out.push(
      c.kind === "inclusion"
        ? await v.verifyInclusion(b(c.leaf), c.index, c.size, proof, b(c.root))
        : await v.verifyConsistency(c.first, c.second, proof, b(c.firstRoot), b(c.secondRoot)),
    );
  }
  const cp = await v.openCheckpoint(note, await v.parseVerifier(key), "signature");
  return { verdicts: out, checkpoint: { size: cp.size, root: btoa(String.fromCharCode(...cp.root)) } };
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def python_verdict(check: Checker, *args: Any) -> bool:
    try:
        check(*args)
    except merkle.InvalidProof:
        return False
    return True


def proof_variants(proof: list[bytes], rng: random.Random) -> Iterator[tuple[str, list[bytes]]]:
    yield "as made", proof
    if proof:
        i = rng.randrange(len(proof))
        yield "one hash flipped", [*proof[:i], bytes([proof[i][0] ^ 0x80]) + proof[i][1:], *proof[i + 1 :]]
        yield "one hash too few", proof[:-1]
    yield "one hash too many", [*proof, bytes(32)]


def agreement_cases(max_size: int) -> list[dict[str, Any]]:
    rng = random.Random(20261126)  # noqa: S311 - test data, not secrets
    leaves = [merkle.leaf_hash(rng.randbytes(40)) for _ in range(max_size)]
    nodes: dict[merkle.NodeId, bytes] = {}
    frontier = merkle.CompactRange()
    roots = [merkle.EMPTY_ROOT]
    for leaf in leaves:
        nodes.update(frontier.append(leaf))
        roots.append(frontier.root())

    def read(_ids: Any) -> dict[merkle.NodeId, bytes]:
        return nodes

    cases = []
    for size in range(1, max_size + 1):
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, read)
            for variant, p in proof_variants(proof, rng):
                for idx, sz in ((index, size), ((index + 1) % size, size), (index, size + 1)):
                    if sz > max_size:
                        continue
                    expected = python_verdict(merkle.verify_inclusion, leaves[index], idx, sz, p, roots[sz])
                    case = {"leaf": b64(leaves[index]), "index": idx, "size": sz, "root": b64(roots[sz])}
                    cases.append({"kind": "inclusion", "variant": variant, **case, "proof": [b64(h) for h in p]})
                    cases[-1]["python"] = expected
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(first, size, read)
            for variant, p in proof_variants(proof, rng):
                for root1 in (roots[first], roots[first - 1]):
                    expected = python_verdict(merkle.verify_consistency, first, size, p, root1, roots[size])
                    cases.append(
                        {
                            "kind": "consistency",
                            "variant": variant,
                            "first": first,
                            "second": size,
                            "proof": [b64(h) for h in p],
                            "firstRoot": b64(root1),
                            "secondRoot": b64(roots[size]),
                            "python": expected,
                        }
                    )
    return cases


def test_the_pages_verifier_agrees_with_vault(saved: Saved, check: Checker, registry: Registry) -> None:
    cases = agreement_cases(13)
    assert sum(c["python"] for c in cases) >= 2 * 91 and sum(not c["python"] for c in cases) > 1000  # 91 = 13 * 14 / 2
    note = saved.file["checkpoint"]
    key = get_text(registry, "/api/v1/log/key")
    got = check.page().evaluate(AGREE, {"cases": cases, "note": note, "key": key})
    disagree = [
        {k: c[k] for k in ("kind", "variant", "index", "size", "first", "second") if k in c}
        for c, js in zip(cases, got["verdicts"], strict=True)
        if js is not c["python"]
    ]
    assert disagree == []
    checkpoint = open_checkpoint(note, NoteVerifier.parse(key.strip()))
    assert got["checkpoint"] == {"size": checkpoint.size, "root": b64(checkpoint.root_hash)}


def test_the_pages_leaf_hash_is_the_logs(saved: Saved, check: Checker, registry: Registry) -> None:
    got = check.page().evaluate(
        """async (envelope) => {
          const [v, s] = [await import("/assets/verify.js"), await import("/assets/seal.js")];
          return s.hex(await v.leafHash(s.canonicalEnvelope(envelope)));
        }""",
        saved.file["envelope"],
    )
    stored = stored_envelopes(registry.data_dir)[saved.server["seq"] - 1]
    assert got == merkle.leaf_hash(stored).hex()
