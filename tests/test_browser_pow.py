"""The page's proof of work in real Chromium: it solves the intake's
challenge in a worker (intake/static/pow.js) and sends the solution with
the envelope, one click as before; a refused solution is replaced once;
and over the rate limit it tells the registrant, in the page's language,
when to send again."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from test_browser_support import (  # noqa: F401 - pytest fixtures
    PEOPLE,
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

from intake import IntakeConfig
from intake.keyring import add_bundle
from intake.pages import TRANSLATIONS_DIR
from intake.pow import SharedState
from intake.ratelimit import RateLimits
from vault import derive_keys, new_master_secret

pytestmark = browser_only
PAGES = {"sq": "/", "en": "/en/", "sr": "/sr/", "de": "/de/"}
RATE_LIMITED = (
    "Too many registrations came from your network in a short time, so this one was not stored."
    " Please send it again after {time}; your answers are still here."
)


def post(origin: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(origin + "/api/v1/submissions", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL built here
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_page_solves_the_challenge_in_a_worker_and_sends_it_with_one_click(
    context: Any, registry: Registry
) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    fill_form(page, PEOPLE["en"])
    before = len(stored_envelopes(registry.data_dir))
    with page.expect_response("**/api/v1/submissions") as answer:
        page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    assert answer.value.status == 201
    urls = [r.url.removeprefix(registry.origin) for r in log.requests]
    assert "/api/v1/challenge" in urls and "/assets/pow.js" in urls
    assert [r.url for r in log.requests if r.method == "POST"] == [registry.origin + "/api/v1/submissions"]

    # What the page sent: an ALTCHA solution of the intake's challenge, SHA-256(salt + number) = challenge.
    sent = answer.value.request.headers["x-altcha"]
    solution = json.loads(base64.b64decode(sent))
    assert sorted(solution) == ["algorithm", "challenge", "number", "salt", "signature"]
    assert solution["algorithm"] == "SHA-256" and isinstance(solution["number"], int)
    assert hashlib.sha256(f"{solution['salt']}{solution['number']}".encode()).hexdigest() == solution["challenge"]
    stored = stored_envelopes(registry.data_dir)
    assert len(stored) == before + 1
    assert answers(open_submission(registry, stored[-1])) == PEOPLE["en"].record

    # It was good once: sent again by anyone, it is refused and nothing is stored.
    status, body = post(
        registry.origin, answer.value.request.post_data_buffer, {"Content-Type": "application/json", "X-Altcha": sent}
    )
    assert (status, body["error"]["code"]) == (403, "proof_of_work_reused")
    assert len(stored_envelopes(registry.data_dir)) == before + 1


def test_a_refused_solution_is_replaced_once_and_the_registration_goes_through(chromium: Any, tmp_path: Path) -> None:
    """The server restarted after the page solved its challenge (a new key):
    the page fetches and solves a new one, and the registrant sees a receipt."""
    key = derive_keys(new_master_secret())
    add_bundle(IntakeConfig(data_dir=tmp_path).keys_path, key.bundle().to_json())
    apps: list[Any] = []
    with live_intake(tmp_path, apps=apps) as origin:
        ctx = chromium.new_context(locale="en-US")
        page = ctx.new_page()
        log = RequestLog().attach(page)
        page.goto(origin + "/de/")
        wait_until_ready(page)
        fill_form(page, PEOPLE["de"])
        page.wait_for_function("() => performance.getEntriesByName(location.origin + '/assets/pow.js').length > 0")
        apps[0].wsgi_app.proof.state = SharedState(slots=1 << 10)  # as after a restart: the page's solution is void
        page.click("#submit")
        page.wait_for_selector("[data-testid=receipt]", state="visible")
        posts = [r for r in log.requests if r.method == "POST"]
        assert len(posts) == 2
        assert posts[0].headers["x-altcha"] != posts[1].headers["x-altcha"]
        assert len(stored_envelopes(tmp_path)) == 1
        ctx.close()


def catalogue_sentence(lang: str) -> str:
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return str(read_po(po, locale=lang).get(RATE_LIMITED).string)


@pytest.mark.parametrize("lang", PAGES)
def test_over_the_limit_the_page_says_when_to_send_again_in_its_language(
    chromium: Any, tmp_path: Path, lang: str
) -> None:
    key = derive_keys(new_master_secret())
    add_bundle(IntakeConfig(data_dir=tmp_path).keys_path, key.bundle().to_json())
    with live_intake(tmp_path, rate_limits=RateLimits(burst=1, per_second=1 / 600)) as origin:
        # This network's one submission in ten minutes, spent (a refused request counts too).
        assert post(origin, b"{", {"Content-Type": "application/json"})[0] == 400
        ctx = chromium.new_context(locale="en-US")
        page = ctx.new_page()
        page.goto(origin + PAGES[lang])
        wait_until_ready(page)
        fill_form(page, PEOPLE[lang])
        with page.expect_response("**/api/v1/submissions") as answer:
            page.click("#submit")
        assert answer.value.status == 429
        assert 580 <= int(answer.value.headers["retry-after"]) <= 600  # less the seconds since it was spent
        failure = page.locator("#submit-error")
        failure.filter(has_text=re.compile(r"\d")).wait_for()
        pattern = re.escape(catalogue_sentence(lang)).replace(re.escape("{time}"), r"(.+)")
        shown = re.fullmatch(pattern, failure.inner_text())
        assert shown, failure.inner_text()
        # The time is the wait rounded up to the minute, written as this language writes a time of day.
        expected = page.evaluate(
            "([lang, wait]) => new Date(Math.ceil((Date.now() + wait * 1000) / 60000) * 60000)"
            ".toLocaleTimeString(lang, { timeStyle: 'short' })",
            [page.evaluate("document.documentElement.lang"), int(answer.value.headers["retry-after"])],
        )
        assert shown.group(1) == expected
        assert re.search(r"\d{1,2}[:.]\d{2}", shown.group(1))
        assert page.locator("[data-testid=receipt]").is_hidden()
        assert page.is_enabled("#submit")
        assert stored_envelopes(tmp_path) == []
        ctx.close()
