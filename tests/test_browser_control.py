"""Correct and withdraw with the saved receipt file instead of the typed code
(issue 18), in real Chromium against the real intake, `intake export` and
`keyholder import, publish`: the file chosen in the correct-or-withdraw
section corrects (the count moves, the registrant count stays) and withdraws
(the count drops by one); a file that is not JSON, a receipt without a code
(as saved before codes existed) and a receipt whose code was altered are each
one sentence in the page, and nothing is sent or changed."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import dataclasses
import json
from typing import Any

from test_browser_form import Ministry, ministry  # noqa: F401 - pytest fixture
from test_browser_registrant import mistype, publish, register, residence
from test_browser_support import (  # noqa: F401 - pytest fixtures
    PEOPLE,
    RequestLog,
    browser_only,
    chromium,
    fill_form,
    wait_until_ready,
)

pytestmark = browser_only

NO_CODE = "This file holds no registrant code, so nothing was sent."
CORRECTING = "it replaces your earlier registration"


def receipt_file(content: bytes) -> dict[str, Any]:
    return {"name": "dvr-receipt.json", "mimeType": "application/json", "buffer": content}


def use_file(chromium: Any, origin: str, content: bytes, button: str) -> tuple[str, str, int, Any]:
    """Choose `content` as the receipt file and press `button`; the section's
    status and alert, the POSTs made, and the page (still open) with its context."""
    ctx = chromium.new_context(locale="en-US", accept_downloads=True)
    page = ctx.new_page()
    log = RequestLog().attach(page)
    page.goto(origin + "/en/")
    wait_until_ready(page)
    page.set_input_files("#control-file", receipt_file(content))
    page.click(button)
    # (a polling locator: the page's CSP refuses wait_for_function's eval)
    done = (
        "#control-error:not(:empty), #control-result:has-text('receipt number'), #control-result:has-text('replaces')"
    )
    page.locator(done).first.wait_for()
    return page.inner_text("#control-result"), page.inner_text("#control-error"), len(log.posts), page


def test_correct_and_withdraw_with_the_saved_receipt_file(chromium: Any, ministry: Ministry, tmp_path: Any) -> None:
    stays, leaves = PEOPLE["en"], PEOPLE["de"]  # CH and SE
    first = register(chromium, ministry.origin, stays)
    other = register(chromium, ministry.origin, leaves)
    aggregates, _ = publish(ministry, tmp_path / "p1")
    assert aggregates["registrants"] == 2 and residence(aggregates) == {"CH": 1, "SE": 1}

    # Broken files, for both buttons: one sentence, nothing sent, the form not switched to correcting.
    without_code = {k: v for k, v in other.items() if k != "registrant_code"}
    altered = {**other, "registrant_code": mistype(other["registrant_code"])}
    broken = [b"{not json", json.dumps(without_code).encode(), json.dumps(altered).encode(), b"\xff\xfe\x00"]
    for content in broken:
        for button in ("#withdraw-button", "#correct-button"):
            status, alert, posts, page = use_file(chromium, ministry.origin, content, button)
            assert (status, alert, posts) == ("", NO_CODE, 0), (content[:20], button)
            assert page.get_attribute("#control-file", "aria-invalid") == "true"
            assert page.evaluate("document.activeElement.id") == "control-file"
            page.context.close()

    # Correct with the first registrant's saved file: the count moves from CH to FR, still two people.
    status, alert, posts, page = use_file(chromium, ministry.origin, json.dumps(first).encode(), "#correct-button")
    assert alert == "" and CORRECTING in status and posts == 0
    moved = dataclasses.replace(stays, record={**stays.record, "residence_country": "FR"})
    fill_form(page, moved)
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    assert page.inner_text("[data-testid=registrant-code]") == first["registrant_code"]  # the same code
    page.context.close()
    aggregates, output = publish(ministry, tmp_path / "p2")
    assert aggregates["registrants"] == 2 and residence(aggregates) == {"FR": 1, "SE": 1}
    assert "1 correction, 0 withdrawals" in output

    # Withdraw with the other registrant's saved file: the count drops by one.
    status, alert, posts, page = use_file(chromium, ministry.origin, json.dumps(other).encode(), "#withdraw-button")
    assert alert == "" and posts == 1 and "will be erased" in status
    assert page.evaluate("document.getElementById('control-file').files.length") == 0
    page.context.close()
    aggregates, output = publish(ministry, tmp_path / "p3")
    assert aggregates["registrants"] == 1 and residence(aggregates) == {"FR": 1}
    assert "1 withdrawal, 2 erased" in output
