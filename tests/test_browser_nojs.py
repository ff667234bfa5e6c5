"""No plaintext path: without JavaScript, without WebCrypto X25519, or with
the page's script missing, pressing submit sends nothing anywhere."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
from test_browser_support import (  # noqa: F401 - pytest fixtures
    Registry,
    RequestLog,
    browser_only,
    chromium,
    registry,
    stored_envelopes,
)

pytestmark = browser_only

TYPED = {"given_name": "Gëzim", "family_name": "Çerkezi", "residence_city": "Göteborg", "email": "gezim@example.com"}

NO_X25519 = """
(() => {
  const generateKey = SubtleCrypto.prototype.generateKey;
  SubtleCrypto.prototype.generateKey = function (algorithm, ...rest) {
    const name = typeof algorithm === "string" ? algorithm : algorithm?.name;
    if (String(name).toUpperCase() === "X25519") {
      return Promise.reject(new DOMException("Algorithm: Unrecognized name", "NotSupportedError"));
    }
    return generateKey.call(this, algorithm, ...rest);
  };
})();
"""


def type_and_try_to_send(page: Any) -> None:
    for name, value in TYPED.items():
        page.fill(f"[name='{name}']", value)
    page.check("[name='consent.processing']")
    page.press("[name=given_name]", "Enter")  # implicit submission
    page.click("#submit", force=True)
    page.wait_for_timeout(300)


def assert_nothing_sent(log: RequestLog, origin: str, registry: Registry) -> None:
    for request in log.requests:
        assert request.method == "GET", request.url
        assert request.url.startswith(origin + "/")
        assert "?" not in request.url
        assert not any(value in request.url for value in TYPED.values())
    assert stored_envelopes(registry.data_dir) == []


@pytest.fixture
def new_page(chromium: Any) -> Any:
    contexts = []

    def make(**options: Any) -> Any:
        ctx = chromium.new_context(**options)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def test_with_javascript_off_nothing_is_sent_and_the_page_says_so(new_page: Any, registry: Registry) -> None:
    page = new_page(java_script_enabled=False)
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/en/")
    notice = page.locator("#browser-needed")
    notice.wait_for(state="visible")
    assert "current version of Firefox, Chrome, Edge or Safari" in notice.inner_text()
    assert page.is_disabled("#submit")
    type_and_try_to_send(page)
    assert page.url == registry.origin + "/en/"
    assert_nothing_sent(log, registry.origin, registry)


def test_without_webcrypto_x25519_nothing_is_sent_and_the_page_says_so(new_page: Any, registry: Registry) -> None:
    page = new_page()
    page.add_init_script(NO_X25519)
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/")
    page.locator("#browser-needed").wait_for(state="visible")
    assert "Firefox, Chrome, Edge ose Safari" in page.inner_text("#browser-needed")
    assert page.is_disabled("#submit")
    type_and_try_to_send(page)
    assert not [r for r in log.requests if "/api/" in r.url], "the page must not even fetch the key"
    assert_nothing_sent(log, registry.origin, registry)


def test_the_form_cannot_send_itself_even_with_the_button_enabled(new_page: Any, registry: Registry) -> None:
    """Defence in depth: with the page's script missing and the button forced
    on, the form (method=dialog, no action) goes nowhere; switched to
    method=post, CSP form-action 'none' stops it."""
    page = new_page()
    page.route("**/assets/form.js", lambda route: route.abort())
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/de/")
    assert page.get_attribute("#registration", "method") == "dialog"
    assert page.get_attribute("#registration", "action") is None
    page.evaluate("document.getElementById('submit').disabled = false")
    type_and_try_to_send(page)
    page.evaluate(
        """() => {
          window.violations = [];
          document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.effectiveDirective));
          const form = document.getElementById("registration");
          form.method = "post";
          form.requestSubmit();
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.violations") == ["form-action"]
    assert page.url == registry.origin + "/de/"
    assert_nothing_sent(log, registry.origin, registry)
