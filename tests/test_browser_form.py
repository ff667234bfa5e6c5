"""The registrant's journey in real Chromium against the real intake: fill
the form in each language, get a receipt, and the offline side (the
`intake` and `keyholder` commands) counts the registrant and opens exactly
what was typed. Also: what leaves the browser, validation, and failures.

The vault is made as documented, so its key is X-Wing (v2) with an X25519
companion. This Chromium runs with its default switches, without X-Wing,
so the page seals to the companion (v1), as most browsers do today;
test_browser_xwing.py has the X-Wing path."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_browser_support import (  # noqa: F401 - pytest fixtures
    PEOPLE,
    Person,
    Registry,
    RequestLog,
    answers,
    browser_only,
    chromium,
    context,
    fill_form,
    live_intake,
    open_submission,
    registry,
    stored_envelopes,
    wait_until_ready,
)

from vault.canonical import b64u_decode
from vault.custody import epoch_key, open_keyfile

pytestmark = browser_only

BIN = Path(sys.executable).parent
PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a test vault's passphrase
PAGES = {"sq": "/", "en": "/en/", "sr": "/sr/", "de": "/de/"}
PROBLEMS = ("error", "warning")  # console message types that fail a test (CSP violations are errors)


def cli(name: str, *args: str | Path) -> str:
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    done = subprocess.run([BIN / name, *map(str, args)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{name} {args}: {done.stderr}"
    return done.stdout


@dataclass
class Ministry:
    """A keyholder vault made with `keyholder init`, and an intake serving its key."""

    vault: Path
    passphrase_file: Path
    data_dir: Path
    origin: str

    def sealed_to(self) -> str:
        """The kid the page seals to in a browser without X-Wing: the current key's companion."""
        return str(json.loads((self.vault / "key-bundle-v1.json").read_text())["kid"])

    def unlocked_key(self) -> Any:
        """The private key of `sealed_to`, from the current epoch's key file."""
        bundle = json.loads((self.vault / "key-bundle.json").read_text())
        keyfile = json.loads((self.vault / "epochs" / bundle["kid"] / "keyfile.json").read_text())
        return epoch_key(open_keyfile(keyfile, PASSPHRASE.encode())[0], self.sealed_to())


@pytest.fixture(scope="module")
def ministry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ministry]:
    root = tmp_path_factory.mktemp("ministry")
    vault, data_dir, passphrase = root / "vault", root / "intake", root / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    cli("keyholder", "init", "--vault", vault, "--passphrase-file", passphrase)
    cli("intake", "keys", "add", "--data", data_dir, vault / "key-bundle.json")
    cli("intake", "keys", "add", "--data", data_dir, vault / "key-bundle-v1.json")  # its companion
    with live_intake(data_dir) as origin:
        yield Ministry(vault, passphrase, data_dir, origin)


@dataclass
class Submitted:
    requests: list[Any]
    receipt: dict[str, Any]
    receipt_text: str
    post_body: bytes
    fingerprint: str
    console: list[str]


@pytest.fixture(scope="module")
def submitted(chromium: Any, ministry: Ministry) -> dict[str, Submitted]:
    """Each language's registrant fills the form and sends it, in their own page."""
    out = {}
    for lang, person in PEOPLE.items():
        ctx = chromium.new_context(locale="en-US")
        page = ctx.new_page()
        log = RequestLog().attach(page)
        console: list[str] = []
        page.on("console", lambda m, out=console: out.append(f"{m.type}: {m.text}") if m.type in PROBLEMS else None)
        page.on("pageerror", lambda e, out=console: out.append(f"page error: {e}"))
        page.goto(ministry.origin + PAGES[lang])
        wait_until_ready(page)
        assert page.locator("#browser-needed").is_hidden()
        fingerprint = page.inner_text("#fingerprint")
        fill_form(page, person)
        with page.expect_response("**/api/v1/submissions") as answer:
            page.click("#submit")
        page.wait_for_selector("[data-testid=receipt]", state="visible")
        receipt_text = page.inner_text("[data-testid=receipt]")
        post = log.posts[0].post_data_buffer
        out[lang] = Submitted(list(log.requests), answer.value.json(), receipt_text, post, fingerprint, console)
        ctx.close()
    return out


@pytest.mark.parametrize("lang", PEOPLE)
def test_each_language_gets_a_readable_receipt(submitted: dict[str, Submitted], lang: str) -> None:
    got = submitted[lang]
    assert got.receipt["format"] == "dvr-receipt/1"
    assert str(got.receipt["seq"]) in got.receipt_text
    sha = got.receipt["envelope_sha256"]
    grouped = " ".join(sha[i : i + 4] for i in range(0, 64, 4))
    assert grouped in got.receipt_text


@pytest.mark.parametrize("lang", PEOPLE)
def test_pages_show_the_key_fingerprint_without_console_errors(
    submitted: dict[str, Submitted], ministry: Ministry, lang: str
) -> None:
    kid = ministry.sealed_to()
    assert submitted[lang].fingerprint == " ".join(kid[i : i + 4] for i in range(0, 16, 4))
    assert submitted[lang].console == []


@pytest.mark.parametrize("lang", PEOPLE)
def test_only_an_envelope_leaves_the_browser_and_only_to_the_same_origin(
    submitted: dict[str, Submitted], ministry: Ministry, lang: str
) -> None:
    got = submitted[lang]
    assert got.requests, "no requests were seen"
    for request in got.requests:
        assert request.url.startswith(ministry.origin + "/"), request.url
        assert "?" not in request.url, request.url
        body = request.post_data_buffer or b""
        for typed in PEOPLE[lang].typed_strings() + [PEOPLE[lang].record["birth_date"]]:
            assert typed not in request.url
            assert typed.encode() not in body
    posts = [r for r in got.requests if r.method == "POST"]
    assert [r.url for r in posts] == [ministry.origin + "/api/v1/submissions"]
    envelope = json.loads(got.post_body)
    assert set(envelope) == {"format", "kid", "ct"} and envelope["format"] == "dvr-envelope/1"
    assert len(b64u_decode(envelope["ct"])) in {1072, 2096, 4144, 8240, 16432}


def test_the_keyholder_opens_exactly_what_was_typed(submitted: dict[str, Submitted], ministry: Ministry) -> None:
    key = ministry.unlocked_key()
    stored = stored_envelopes(ministry.data_dir)
    assert len(stored) == len(PEOPLE)
    opened = {}
    for blob in stored:
        submission = open_submission(Registry(ministry.origin, ministry.data_dir, key), blob)
        opened[submission["lang"]] = submission
    for lang, person in PEOPLE.items():
        assert opened[lang]["lang"] == lang and answers(opened[lang]) == person.record


def test_export_import_publish_counts_every_registrant(
    submitted: dict[str, Submitted], ministry: Ministry, tmp_path: Path
) -> None:
    batch, out = tmp_path / "batch.dvrb", tmp_path / "publication"
    cli("intake", "export", "--data", ministry.data_dir, "--out", batch)
    cli("keyholder", "import", "--vault", ministry.vault, batch)
    cli(
        "keyholder",
        "publish",
        "--vault",
        ministry.vault,
        "--passphrase-file",
        ministry.passphrase_file,
        "--out",
        out,
        "--min-cell",
        "1",
    )
    aggregates = json.loads((out / "aggregates.json").read_text())
    assert aggregates["registrants"] == len(PEOPLE)
    residence = next(t for t in aggregates["tables"] if t["name"] == "residence_country")
    counts = {c["residence_country"]: c["count"] for c in residence["cells"] if c["count"]}
    assert counts == {"DE": 1, "CH": 1, "AT": 1, "SE": 1}


# ---- validation and failures ----------------------------------------------


def test_errors_are_shown_in_the_page_language_linked_and_announced(context: Any, registry: Registry) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/de/")
    wait_until_ready(page)
    page.fill("[name=email]", "nicht-gültig")
    page.click("#submit")
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert summary.get_attribute("role") == "alert"
    assert page.evaluate("document.activeElement.id") == "error-summary"
    given = page.locator("[name=given_name]")
    assert given.get_attribute("aria-invalid") == "true"
    assert "f-given-name-error" in given.get_attribute("aria-describedby").split()
    assert page.inner_text("#f-given-name-error") == "Bitte füllen Sie dieses Feld aus."
    assert (
        page.inner_text("#f-email-error") == "Bitte geben Sie eine E-Mail-Adresse ein, zum Beispiel name@example.com."
    )
    assert (
        page.inner_text("#f-consent-processing-error") == "Um sich zu registrieren, kreuzen Sie bitte dieses Feld an."
    )
    assert "f-sex-error" in page.locator("#f-sex").get_attribute("aria-describedby").split()
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.name") == "given_name"
    page.fill("[name=given_name]", "Besë")
    page.locator("[name=given_name]").dispatch_event("change")
    assert page.inner_text("#f-given-name-error") == ""
    assert log.posts == []


def test_a_failed_submission_keeps_the_answers_and_says_why_in_the_page_language(
    context: Any,
    registry: Registry,
) -> None:
    page = context.new_page()
    page.goto(registry.origin + "/")
    wait_until_ready(page)
    person = PEOPLE["en"]
    fill_form(page, person)
    unavailable = json.dumps({"error": {"code": "storage_unavailable", "message": "x"}})
    page.route(
        "**/api/v1/submissions",
        lambda route: route.fulfill(status=503, body=unavailable, content_type="application/json"),
    )
    page.click("#submit")
    failure = page.locator("#submit-error")
    failure.filter(has_text="provoni përsëri më vonë").wait_for()
    assert failure.get_attribute("role") == "alert"
    assert failure.inner_text() == (
        "Regjistri nuk mundi ta ruante regjistrimin tuaj, prandaj nuk u ruajt asgjë. "
        "Ju lutemi provoni përsëri më vonë; përgjigjet tuaja janë ende këtu."
    )
    assert page.input_value("[name=given_name]") == "Dritëro"
    assert page.is_checked("[name=languages][value=ja]")
    assert page.locator("[data-testid=receipt]").is_hidden()
    assert page.is_enabled("#submit")
    page.unroute("**/api/v1/submissions")
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    stored = stored_envelopes(registry.data_dir)
    assert answers(open_submission(registry, stored[-1])) == person.record


def test_the_receipt_can_be_saved_as_json(context: Any, registry: Registry) -> None:
    page = context.new_page()
    page.goto(registry.origin + "/sr/")
    wait_until_ready(page)
    fill_form(page, PEOPLE["sr"])
    with page.expect_response("**/api/v1/submissions") as answer:
        page.click("#submit")
    receipt = answer.value.json()
    with page.expect_download() as download:
        page.click("#receipt-download")
    saved = json.loads(Path(download.value.path()).read_text())
    # The server's receipt, member for member, plus the envelope a later check needs and the code shown.
    code = page.inner_text("[data-testid=registrant-code]")
    posted = json.loads(answer.value.request.post_data_buffer)
    assert saved == {**receipt, "envelope": posted, "registrant_code": code}
    assert download.value.suggested_filename == f"dvr-receipt-{receipt['seq']}.json"
    assert page.locator("html").get_attribute("lang") == "sr-Cyrl"
    assert "Шта ова потврда доказује" in page.inner_text("[data-testid=receipt]")


@pytest.mark.parametrize("lang", ["sq", "sr"])
def test_the_other_countries_list_is_copied_whole_from_the_origin_country_list(
    context: Any, registry: Registry, lang: str
) -> None:
    """The page carries the country list once (forms._share_lists); the script fills
    "Other countries" with every country that is not a box already, in the list's order."""
    from intake.forms import build_form

    [field] = [f for s in build_form(lang) for f in s.fields if f.name == "citizenships"]
    page = context.new_page()
    page.goto(registry.origin + PAGES[lang])
    wait_until_ready(page)
    got = page.eval_on_selector_all("#f-citizenships-more option", "os => os.map((o) => [o.value, o.text])")
    assert got[0][0] == "" and got[1:] == [[o.value, o.label] for o in field.options]


def test_municipality_only_for_kosovo(context: Any, registry: Registry) -> None:
    page = context.new_page()
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    municipality = page.locator("[data-field=origin_municipality]")
    assert municipality.is_hidden()
    page.select_option("[name=origin_country]", "XK")
    assert municipality.is_visible()
    page.select_option("[name=origin_municipality]", "peje")
    page.select_option("[name=origin_country]", "AL")
    assert municipality.is_hidden()
    assert page.is_disabled("[name=origin_municipality]")


def test_a_key_that_changed_meanwhile_is_fetched_again_and_the_answers_kept(context: Any, registry: Registry) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    fill_form(page, PEOPLE["de"])
    unknown = json.dumps({"error": {"code": "unknown_kid", "message": "x"}})
    page.route(
        "**/api/v1/submissions", lambda route: route.fulfill(status=422, body=unknown, content_type="application/json")
    )
    page.click("#submit")
    page.locator("#submit-error").filter(has_text="key changed").wait_for()
    assert [r.url for r in log.requests].count(registry.origin + "/api/v1/keys") == 2
    assert page.input_value("[name=family_name]") == "Hoxha-Çitaku"
    page.unroute("**/api/v1/submissions")
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    assert page.inner_text("#submit-error") == ""
