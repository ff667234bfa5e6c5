"""Shared harness for the browser tests: the real intake server on loopback,
Debian's Chromium driven by Playwright, and a registrant to type in.

The other `test_browser_*` modules import the fixtures from here. The tests
in this module check the harness itself (the server is the real app, the
browser is the real Chromium), so a broken harness fails loudly instead of
letting the other tests pass for the wrong reason.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from intake import IntakeConfig, create_app
from intake.keyring import add_bundle
from vault import UnlockedKey, derive_keys, new_master_secret

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--headless",
]
# Chromium 156 (Debian's 156.0.8078.129) ships WebCrypto's MLKEM768-X25519 by
# default. The session's browser stands for the registrants' browsers that
# still lack it (Firefox, Safari, older Chromium), so the X25519 fallback stays
# tested; tests/test_browser_xwing.py launches a second one with it switched on.
WITHOUT_XWING = "--disable-features=WebCryptoPQC"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

browser_only = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]
pytestmark = browser_only


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        return


@contextmanager
def live_intake(data_dir: Path, apps: list[Any] | None = None, **config: Any) -> Iterator[str]:
    """The real intake app on 127.0.0.1 and a free port; yields its origin
    (and appends the app to `apps`). Proof of work is on, at the production
    difficulty, unless `config` says otherwise; rate limits are off (the
    tests send from one address)."""
    app = create_app(IntakeConfig(data_dir=data_dir, **{"proof_of_work": True, **config}))
    if apps is not None:
        apps.append(app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="intake-under-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        app.extensions["dvr_store"].close()


def proof_header(origin: str) -> dict[str, str]:
    """A solved challenge of the intake at `origin`, as a request header (none if it asks for none)."""
    from urllib.error import HTTPError

    from intake.pow import HEADER, solve

    try:
        with urlopen(f"{origin}/api/v1/challenge") as response:  # noqa: S310 - loopback URL built here
            return {HEADER: solve(json.load(response))}
    except HTTPError as error:
        if error.code == 404:
            return {}
        raise


@dataclass
class Registry:
    """A running intake and the private key its current bundle belongs to."""

    origin: str
    data_dir: Path
    key: UnlockedKey


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """An intake with a freshly made key installed (no keyholder CLI needed)."""
    data_dir = tmp_path_factory.mktemp("intake")
    key = derive_keys(new_master_secret())
    add_bundle(IntakeConfig(data_dir=data_dir).keys_path, key.bundle().to_json())
    with live_intake(data_dir) as origin:
        yield Registry(origin, data_dir, key)


_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One Chromium for the whole session. Each module imports this fixture, so
    each gets its own fixture definition; the first one to run starts the
    browser and closes it at the end of the session, the others reuse it."""
    if "browser" in _SHARED:
        yield _SHARED["browser"]
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, WITHOUT_XWING])
        _SHARED["browser"] = browser
        try:
            yield browser
        finally:
            _SHARED.clear()
            browser.close()


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    ctx = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


@dataclass
class RequestLog:
    """Every request a page makes, as Playwright saw it leave the browser."""

    requests: list[Any] = field(default_factory=list)

    def attach(self, page: Any) -> RequestLog:
        page.on("request", lambda request: self.requests.append(request))
        return self

    @property
    def posts(self) -> list[Any]:
        return [r for r in self.requests if r.method == "POST"]


# ---- a registrant --------------------------------------------------------


@dataclass
class Person:
    """What a registrant types, and the record that must come out the other end."""

    record: dict[str, Any]
    added: dict[str, list[str]] = field(default_factory=dict)  # codes picked through an "add" list

    def typed_strings(self) -> list[str]:
        """The free-text values: none of them may appear in any request."""
        keys = ("given_name", "family_name", "residence_city", "profession", "email")
        return [self.record[k] for k in keys if k in self.record]


# One registrant per page language: names with ë, ç and Cyrillic; full and minimal records;
# choices from the frequent lists and through "add".
PEOPLE = {
    "sq": Person(
        {
            "given_name": "Arbëreshë",
            "family_name": "Çollaku",
            "birth_date": "1988-03-14",
            "sex": "female",
            "origin_country": "XK",
            "origin_municipality": "prizren",
            "residence_country": "DE",
            "residence_city": "Stuttgart",
            "emigration_year": 2012,
            "emigration_reason": "work",
            "citizenships": ["XK", "DE"],
            "status": "employed",
            "education_level": "isced7",
            "field_of_study": "06",
            "occupation": "2",
            "profession": "Inxhiniere softueri",
            "engagement": ["knowledge_transfer", "mentoring"],
            "languages": ["sq", "en", "de"],
            "email": "arbereshe.collaku@example.com",
            "consent": {"processing": True, "contact": True},
        }
    ),
    "en": Person(
        {
            "given_name": "Dritëro",
            "family_name": "Gashi",
            "birth_date": "1975-11-02",
            "sex": "male",
            "origin_country": "AL",
            "residence_country": "CH",
            "residence_city": "Zürich",
            "citizenships": ["AL", "IS"],
            "status": "self_employed",
            "languages": ["sq", "en", "ja"],
            "consent": {"processing": True, "contact": False},
        },
        added={"citizenships": ["IS"], "languages": ["ja"]},
    ),
    "sr": Person(
        {
            "given_name": "Јелена",
            "family_name": "Ђорђевић",
            "birth_date": "1992-07-30",
            "sex": "female",
            "origin_country": "XK",
            "origin_municipality": "gracanice",
            "residence_country": "AT",
            "residence_city": "Беч",
            "emigration_year": 2015,
            "emigration_reason": "education",
            "status": "student",
            "education_level": "isced6",
            "field_of_study": "09",
            "languages": ["sr", "de"],
            "email": "jelena.djordjevic@example.com",
            "consent": {"processing": True, "contact": False},
        }
    ),
    "de": Person(
        {
            "given_name": "Qëndresë",
            "family_name": "Hoxha-Çitaku",
            "birth_date": "1961-01-21",
            "sex": "undisclosed",
            "origin_country": "MK",
            "residence_country": "SE",
            "residence_city": "Malmö",
            "emigration_year": 1991,
            "emigration_reason": "political",
            "citizenships": ["MK", "CH"],
            "status": "retired",
            "occupation": "7",
            "profession": "Schneiderin",
            "engagement": ["investment", "return"],
            "email": "q.hoxha@example.org",
            "consent": {"processing": True, "contact": True},
        }
    ),
}


def fill_form(page: Any, person: Person) -> None:
    """Fill the form with the mouse-free Playwright helpers (keyboard-only is its own test)."""
    record = person.record
    for name, value in record.items():
        if name == "consent":
            if value["processing"]:
                page.check("[name='consent.processing']")
            if value["contact"]:
                page.check("[name='consent.contact']")
        elif isinstance(value, list):
            for code in value:
                if code in person.added.get(name, ()):
                    more = page.locator(f"[data-field='{name}'] select[data-add-to]")
                    more.select_option(code)
                    page.locator(f"[data-field='{name}'] button[data-add-from]").click()
                page.check(f"[name='{name}'][value='{code}']")
        elif page.locator(f"input[type=radio][name='{name}']").count():
            page.check(f"[name='{name}'][value='{value}']")
        elif page.locator(f"select[name='{name}']").count():
            page.select_option(f"[name='{name}']", str(value))
        else:
            page.fill(f"[name='{name}']", str(value))


def wait_until_ready(page: Any) -> None:
    """The page is ready to send once its script has checked the browser and the key."""
    page.wait_for_selector("#submit:not([disabled])")


def open_submission(registry: Registry, envelope_json: bytes) -> dict[str, Any]:
    from vault import open_envelope, parse_envelope

    envelope = parse_envelope(json.loads(envelope_json), {registry.key.kid})
    return json.loads(open_envelope(envelope, registry.key))


def answers(submission: dict[str, Any]) -> dict[str, Any]:
    """The record a registrant typed, from a submission the page sealed: a
    first registration of version 2 (docs/formats.md section 12), whose
    control member is an id the intake never sees."""
    assert submission["schema"] == "dvr-registration/2", submission["schema"]
    record = dict(submission["record"])
    control = record.pop("registrant")
    assert set(control) == {"id"} and len(control["id"]) == 43, control
    return record


def stored_envelopes(data_dir: Path) -> list[bytes]:
    import sqlite3

    conn = sqlite3.connect(IntakeConfig(data_dir=data_dir).db_path)
    try:
        return [bytes(row[0]) for row in conn.execute("SELECT envelope FROM envelopes ORDER BY seq")]
    finally:
        conn.close()


# ---- the harness checks itself --------------------------------------------


def test_the_server_is_the_real_intake(registry: Registry) -> None:
    with urlopen(f"{registry.origin}/api/v1/keys") as response:  # noqa: S310 - loopback URL built here
        keys = json.load(response)
    assert keys["current"] == registry.key.kid
    with urlopen(f"{registry.origin}/") as response:  # noqa: S310 - loopback URL built here
        assert "form-action 'none'" in response.headers["Content-Security-Policy"]


def test_the_browser_is_chromium_with_webcrypto_x25519(registry: Registry, chromium: Any, context: Any) -> None:
    assert chromium.browser_type.name == "chromium"
    assert int(chromium.version.split(".")[0]) >= 133  # WebCrypto X25519 shipped in Chromium 133
    page = context.new_page()
    page.goto(registry.origin + "/")
    assert page.evaluate("async () => (await import('/assets/hpke.js')).supportsX25519()") is True
