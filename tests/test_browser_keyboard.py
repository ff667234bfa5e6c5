"""Keyboard-only completion in Albanian, the tab order, and the page at
desktop and phone width (screenshots go to tests/artifacts/)."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from test_browser_support import (  # noqa: F401 - pytest fixtures
    ARTIFACTS,
    PEOPLE,
    Registry,
    answers,
    browser_only,
    chromium,
    fill_form,
    open_submission,
    registry,
    stored_envelopes,
    wait_until_ready,
)

pytestmark = browser_only

# What document.activeElement is, in words the plan below can use.
DESCRIBE_FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "";
  if (e.id === "submit") return "submit";
  if (e.dataset.addFrom) return `add:${e.dataset.addFrom}`;
  if (e.name) return e.type === "checkbox" ? `${e.name}=${e.value}` : e.name;
  return e.id || e.tagName.toLowerCase();
}"""

# The named controls a keyboard user reaches, in document order.
NAMED_CONTROLS = """() => {
  const seen = [];
  for (const e of document.querySelectorAll("#registration [name]")) {
    if (e.disabled || e.closest("[hidden]")) continue;
    if (!seen.includes(e.name)) seen.push(e.name);
  }
  return seen;
}"""

EXPECTED = {
    "given_name": "Ilirjana",
    "family_name": "Berisha-Çeku",
    "birth_date": "1988-03-14",
    "sex": "female",
    "origin_country": "XK",
    "origin_municipality": "prizren",
    "residence_country": "DE",
    "residence_city": "Düsseldorf",
    "emigration_year": 2012,
    "citizenships": ["XK", "DE", "IS"],
    "status": "employed",
    "education_level": "isced7",
    "profession": "Mjeke",
    "engagement": ["mentoring"],
    "languages": ["sq", "de"],
    "email": "ilirjana@example.com",
    "consent": {"processing": True, "contact": False},
}


def keyboard_plan(page: Any) -> dict[str, Callable[[], None]]:
    """What to do on first reaching each control (the Albanian page, an en-US browser)."""
    kb = page.keyboard

    def typing(text: str) -> Callable[[], None]:
        return lambda: kb.type(text)

    def press(key: str) -> Callable[[], None]:
        return lambda: kb.press(key)

    return {
        "given_name": typing("Ilirjana"),
        "family_name": typing("Berisha-Çeku"),
        "birth_date": typing("03141988"),  # the browser's (en-US) order: month, day, year
        "sex": press("Space"),  # the first option: Femër
        "origin_country": typing("Kosov"),
        "origin_municipality": typing("Prizren"),
        "residence_country": typing("Gjermani"),
        "residence_city": typing("Düsseldorf"),
        "emigration_year": typing("2012"),
        "citizenships=XK": press("Space"),
        "citizenships=DE": press("Space"),
        "f-citizenships-more": typing("Islandë"),
        "add:f-citizenships-more": press("Enter"),
        "status": press("Space"),  # the first option: I/e punësuar
        "education_level": typing("Master"),
        "profession": typing("Mjeke"),
        "engagement=mentoring": press("Space"),
        "languages=sq": press("Space"),
        "languages=de": press("Space"),
        "email": typing("ilirjana@example.com"),
        "consent.processing=true": press("Space"),
    }


def test_keyboard_only_registration_in_albanian(chromium: Any, registry: Registry) -> None:
    ctx = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(registry.origin + "/")
    wait_until_ready(page)
    plan = keyboard_plan(page)
    visited: list[str] = []
    for _ in range(400):
        page.keyboard.press("Tab")
        focus = page.evaluate(DESCRIBE_FOCUS)
        if focus == "submit":
            break
        if not visited or visited[-1] != focus:
            visited.append(focus)
        action = plan.pop(focus, None)
        if action is not None:
            action()
    else:
        raise AssertionError(f"never reached the submit button; visited {visited}")
    assert plan == {}, f"never reached {sorted(plan)}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "registrant-desktop-form.png", full_page=True)

    # The tab order is the document order, and the municipality comes right after the country.
    names = [v.split("=")[0] for v in visited if v.split("=")[0] in page.evaluate(NAMED_CONTROLS)]
    in_order = list(dict.fromkeys(names))
    assert in_order == page.evaluate(NAMED_CONTROLS)
    assert in_order[in_order.index("origin_country") + 1] == "origin_municipality"

    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    assert page.evaluate("document.activeElement.id") == "receipt"
    page.screenshot(path=ARTIFACTS / "registrant-desktop-receipt.png", full_page=True)
    ctx.close()
    submission = open_submission(registry, stored_envelopes(registry.data_dir)[-1])
    assert submission["lang"] == "sq" and answers(submission) == EXPECTED


def test_usable_at_phone_width(chromium: Any, registry: Registry) -> None:
    ctx = chromium.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    page.goto(registry.origin + "/sr/")
    wait_until_ready(page)
    no_sideways_scroll = "window.innerWidth === 360 && document.documentElement.scrollWidth <= 360"
    assert page.evaluate(no_sideways_scroll)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "registrant-phone-form.png", full_page=True)
    fill_form(page, PEOPLE["sr"])
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    assert page.evaluate(no_sideways_scroll)
    receipt = page.locator("[data-testid=receipt]").bounding_box()
    assert receipt is not None and receipt["x"] >= 0 and receipt["x"] + receipt["width"] <= 360
    page.screenshot(path=ARTIFACTS / "registrant-phone-receipt.png", full_page=True)
    ctx.close()
