"""The record kinds on the registration page, in real Chromium (docs/registrant-page.md,
"Record kinds"; docs/formats.md section 13): a household, a business and an association each
register over HTTP and get a receipt, and the envelope the vault opens holds a record the
keyholder's validator accepts for its kind; household members are added and removed with the
keyboard alone; each kind fits a phone; every language shows the chooser and the kinds' labels;
kinds.js and the fragment load only when such a kind is chosen, and a tampered one is refused
by the browser with nothing sent."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from test_browser_support import (  # noqa: F401 - pytest fixtures
    ARTIFACTS,
    PEOPLE,
    Person,
    Registry,
    RequestLog,
    answers,
    browser_only,
    chromium,
    context,
    fill_form,
    open_submission,
    registry,
    stored_envelopes,
    wait_until_ready,
)

import schemas
from keyholder_cli.validate import CORRECTION, FIRST, WITHDRAWAL, Parsed, compile_validator, parse_any

pytestmark = browser_only

PAGES = {"sq": "/", "en": "/en/", "sr": "/sr/", "de": "/de/"}
CONTACT = {"given_name": "Besnik", "family_name": "Gashi-Çeku", "email": "besnik@example.org"}
BUSINESS = {
    "kind": "business",
    "country": "DE",
    "sector": "F",
    "size": "small",
    "trades_with_home": True,
    "invests_in_home": False,
    "contact": CONTACT,
    "consent": {"processing": True, "contact": True},
}
ASSOCIATION = {
    "kind": "association",
    "country": "CH",
    "field": "culture",
    "members_band": "1000+",
    "contact": {"given_name": "Vjosa", "family_name": "Berisha", "email": "vjosa@example.org"},
    "consent": {"processing": True, "contact": False},
}
MEMBERS = [
    {"given_name": "Drita", "family_name": "Krasniqi", "birth_date": "2015-06-01", "sex": "female", "relationship": "child"},
    {"given_name": "Agim", "family_name": "Krasniqi", "birth_date": "1950-02-11", "sex": "male", "relationship": "parent"},
]  # fmt: skip


def parsed(submission: dict[str, Any]) -> Parsed:
    """A sealed submission as the keyholder's validator accepts it (or the test fails)."""
    return parse_any(json.dumps(submission).encode(), compile_validator(), date.today())


def valid(submission: dict[str, Any]) -> dict[str, Any]:
    """The record of a sealed first registration, as the keyholder's validator accepts it."""
    opened = parsed(submission)
    assert opened.record is not None and opened.use == FIRST
    return opened.record


def choose(page: Any, kind: str) -> None:
    page.check(f"[name=kind][value={kind}]")
    page.wait_for_selector(f"section[data-for={kind}]")


def fill(page: Any, values: dict[str, Any], prefix: str = "") -> None:
    """Fill a kind's own controls (named as in the record, `contact.x` inside contact)."""
    for name, value in values.items():
        if name == "kind":
            continue
        if isinstance(value, dict):
            if name == "consent":
                fill_form(page, Person({"consent": value}))
            else:
                fill(page, value, f"{prefix}{name}.")
            continue
        selector = f"[name='{prefix}{name}']"
        if isinstance(value, bool):
            if value:
                page.check(selector)
        elif page.locator(f"input[type=radio]{selector}").count():
            page.check(f"{selector}[value='{value}']")
        elif page.locator(f"select{selector}").count():
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def send(page: Any) -> None:
    page.click("#submit")
    page.wait_for_selector("[data-testid=receipt]", state="visible")


def last_record(registry: Registry) -> dict[str, Any]:
    submission = open_submission(registry, stored_envelopes(registry.data_dir)[-1])
    record = valid(submission)
    assert answers(submission) == record  # the registrant control member, an id, as for an individual
    return record


@pytest.mark.parametrize(("kind", "record", "lang"), [("business", BUSINESS, "en"), ("association", ASSOCIATION, "sr")])
def test_a_business_and_an_association_register_and_open_as_valid_records(
    context: Any, registry: Registry, kind: str, record: dict[str, Any], lang: str
) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + PAGES[lang])
    wait_until_ready(page)
    choose(page, kind)
    # Only its own sections and the consent: the individual's questions are out of the form.
    assert page.locator("[name=given_name]").count() == 0
    assert page.locator("[name='consent.processing']").is_visible()
    fill(page, record)
    send(page)
    assert page.locator("[data-testid=registrant-code]").inner_text().count("-") == 4
    assert last_record(registry) == record
    assert [r.url.rsplit("/", 1)[-1] for r in log.requests if "kinds" in r.url] == ["kinds.js", f"kinds-{lang}.html"]


def test_a_household_adds_and_removes_members_with_the_keyboard_alone(chromium: Any, registry: Registry) -> None:
    ctx = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    kb = page.keyboard
    page.focus("[name=kind][value='']")
    kb.press("ArrowDown")  # a radio group moves with the arrows: Myself -> My household
    page.wait_for_selector("section[data-for=household]")
    fill_form(page, PEOPLE["en"])
    focused = "document.activeElement"
    count = page.locator("#members-count")
    assert count.inner_text() == "People listed: 1 of at most 20."
    assert page.locator("#members [data-remove]").is_disabled()  # at least one member

    def tab() -> None:
        """Tab to the next control (a date input takes a Tab for each of its parts)."""
        name = page.evaluate(f"{focused}.name")
        for _ in range(4):
            kb.press("Tab")
            if page.evaluate(f"{focused}.name") != name:
                return
        raise AssertionError(f"Tab does not leave {name}")

    def type_member(member: dict[str, Any]) -> None:
        # Focus is on the member's given name; Tab through its controls.
        kb.type(member["given_name"])
        tab()
        kb.type(member["family_name"])
        tab()
        y, m, d = member["birth_date"].split("-")
        kb.type(f"{m}{d}{y}")  # the browser's (en-US) order
        tab()
        sexes = ["female", "male", "other", "undisclosed"]
        kb.press("Space")  # the first: female
        for _ in range(sexes.index(member["sex"])):
            kb.press("ArrowDown")
        tab()
        label = page.evaluate(f"{focused}.querySelector('option[value={member['relationship']}]').text")
        kb.type(label)

    page.focus("#members fieldset:nth-child(1) input")
    type_member(MEMBERS[0])
    # Three more people: each "Add" moves focus to the new person's first field.
    for n in (2, 3, 4):
        page.focus("#member-add")
        kb.press("Enter")
        assert page.evaluate(f"{focused}.closest('#members > fieldset').querySelector('legend').textContent") == (
            f"Person {n}"
        )
        assert page.evaluate(f"{focused}.name").endswith(".given_name")
        assert count.inner_text() == f"People listed: {n} of at most 20."
        type_member(MEMBERS[1] if n == 3 else {**MEMBERS[0], "given_name": f"Extra{n}"})
    # Remove persons 2 and 4 (Tab to their "Remove" and press Space); focus stays in the list.
    legends = page.locator("#members > fieldset > legend")
    for person in (2, 3):  # Extra2, then Extra4 (the third once Extra2 is gone)
        assert legends.nth(person - 1).inner_text() == f"Person {person}"
        page.locator("#members > fieldset").nth(person - 1).locator("[data-remove]").focus()
        kb.press("Space")
        assert page.evaluate(f"{focused}.closest('section[data-for=household]') !== null")
    assert count.inner_text() == "People listed: 2 of at most 20."
    assert legends.all_inner_texts() == ["Person 1", "Person 2"]
    page.focus("#submit")
    kb.press("Enter")
    page.wait_for_selector("[data-testid=receipt]", state="visible")
    ARTIFACTS.mkdir(exist_ok=True)
    ctx.close()
    record = last_record(registry)
    assert record == {**PEOPLE["en"].record, "kind": "household", "members": [MEMBERS[0], MEMBERS[1]]}


def test_a_household_holds_at_most_twenty_people(context: Any, registry: Registry) -> None:
    page = context.new_page()
    page.goto(registry.origin + "/de/")
    wait_until_ready(page)
    choose(page, "household")
    for _ in range(19):
        page.click("#member-add")
    assert page.locator("fieldset.member").count() == 20
    assert page.locator("#member-add").is_disabled()
    assert page.locator("#members-count").inner_text() == "Angegebene Personen: 20 von höchstens 20."


def test_an_individual_loads_no_kind_asset_and_switching_back_is_todays_form(context: Any, registry: Registry) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/")
    wait_until_ready(page)
    fill_form(page, PEOPLE["sq"])
    assert not [r for r in log.requests if "kinds" in r.url]
    # A business chosen and given up again: the individual's answers are all still there.
    choose(page, "business")
    page.check("[name=kind][value='']")
    page.wait_for_selector("section[data-for=business]", state="detached")
    send(page)
    assert last_record(registry) == PEOPLE["sq"].record


@pytest.mark.parametrize("kind", ["individual", "household", "business", "association"])
def test_each_kind_fits_a_phone(chromium: Any, registry: Registry, kind: str) -> None:
    ctx = chromium.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    page.goto(registry.origin + "/sr/")
    wait_until_ready(page)
    if kind != "individual":
        choose(page, kind)
    if kind == "household":
        page.click("#member-add")
    assert page.evaluate("window.innerWidth === 360 && document.documentElement.scrollWidth <= 360")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"registrant-phone-{kind}.png", full_page=True)
    ctx.close()


@pytest.mark.parametrize("lang", list(PAGES))
def test_every_language_shows_the_chooser_and_the_kinds_labels(context: Any, registry: Registry, lang: str) -> None:
    catalogue = schemas.catalogue(lang)
    labels = schemas.load("labels.json")["fields"]
    page = context.new_page()
    page.goto(registry.origin + PAGES[lang])
    wait_until_ready(page)
    assert page.locator("#f-kind legend").inner_text() == catalogue.gettext("Who are you registering?")
    chooser = [t.strip() for t in page.locator("#f-kind label").all_inner_texts()]
    assert chooser == [catalogue.gettext(t) for t in ("Myself", "My household", "A business", "An association")]
    choose(page, "business")
    titles = page.locator("#registration h2").all_inner_texts()
    assert titles == [catalogue.gettext(t) for t in ("About the business", "Contact person", "Consent")]
    sectors = [t.strip() for t in page.locator("[name=sector] option").all_inner_texts()[1:]]
    assert sectors == [labels["sector"][code][lang] for code in labels["sector"]]
    choose(page, "household")
    legend = page.locator("#members > fieldset > legend").inner_text()
    assert legend == catalogue.gettext("Person {n}").format(n=1)
    relationships = [t.strip() for t in page.locator("#members select option").all_inner_texts()[1:]]
    assert relationships == [labels["relationship"][code][lang] for code in labels["relationship"]]
    choose(page, "association")
    bands = [t.strip() for t in page.locator("[data-field=members_band] label").all_inner_texts()]
    assert bands == [labels["members_band"][code][lang] for code in labels["members_band"]]


@pytest.mark.parametrize("asset", ["kinds.js", "kinds-en.html"])
def test_a_tampered_kinds_asset_is_refused_and_nothing_is_sent(context: Any, registry: Registry, asset: str) -> None:
    def tampered(route: Any) -> None:
        response = route.fetch()
        body = response.body()
        # A change a hostile server might make: the same file with one more line.
        route.fulfill(response=response, body=body + b"\n// exfiltrate\n")

    page = context.new_page()
    log = RequestLog().attach(page)
    page.route(f"**/assets/{asset}", tampered)
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    before = len(stored_envelopes(registry.data_dir))
    page.check("[name=kind][value=business]")
    alert = page.locator("#submit-error")
    page.locator("#submit-error:not(:empty)").wait_for()  # (a polling locator: CSP refuses eval)
    assert alert.inner_text().startswith("This part of the form did not load as the ministry published it")
    assert page.locator("section[data-for]").count() == 0  # the kinds' sections never reached the page
    assert page.locator("#submit").is_disabled()
    page.check("[name=kind][value='']")  # back to the individual: still nothing can be sent
    fill_form(page, PEOPLE["en"])
    page.evaluate("document.getElementById('submit').disabled = false")  # forced on
    page.click("#submit")
    page.wait_for_timeout(300)
    assert log.posts == []
    assert len(stored_envelopes(registry.data_dir)) == before


def test_an_incomplete_business_is_refused_in_the_page_and_nothing_is_sent(context: Any, registry: Registry) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    choose(page, "business")
    unfinished = {k: v for k, v in BUSINESS.items() if k != "sector"}
    fill(page, {**unfinished, "contact": {"given_name": "Besnik"}})
    page.click("#submit")
    summary = page.locator("#error-summary li")
    summary.first.wait_for()
    assert summary.all_inner_texts() == [
        "Sector of activity: Please choose an option.",
        "Family name: Please fill in this field.",
        "Email address: Please fill in this field.",
    ]
    assert log.posts == []


def test_the_registrant_code_corrects_and_withdraws_a_business(chromium: Any, registry: Registry) -> None:
    """Issue 18's code works for every kind: the correction reveals the key whose hash the
    first registration sealed, and the withdrawal carries it too."""
    ctx = chromium.new_context(locale="en-US")
    page = ctx.new_page()
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    choose(page, "business")
    fill(page, BUSINESS)
    send(page)
    code = page.inner_text("[data-testid=registrant-code]")
    first = parsed(open_submission(registry, stored_envelopes(registry.data_dir)[-1]))

    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    page.fill("#control-code", code)
    page.click("#correct-button")
    page.locator("#control-result").filter(has_text="it replaces your earlier registration").wait_for()
    choose(page, "business")
    grown = {**BUSINESS, "size": "medium", "invests_in_home": True}
    fill(page, grown)
    send(page)
    assert page.inner_text("[data-testid=registrant-code]") == code
    corrected = parsed(open_submission(registry, stored_envelopes(registry.data_dir)[-1]))
    assert corrected.use == CORRECTION and corrected.control == first.control
    assert corrected.record == grown

    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    page.fill("#control-code", code)
    page.click("#withdraw-button")
    page.locator("#control-result:has-text('receipt number')").wait_for()
    ctx.close()
    withdrawn = parsed(open_submission(registry, stored_envelopes(registry.data_dir)[-1]))
    assert withdrawn.use == WITHDRAWAL and withdrawn.control == first.control


def test_an_unfinished_person_is_named_in_the_error_summary(context: Any, registry: Registry) -> None:
    page = context.new_page()
    log = RequestLog().attach(page)
    page.goto(registry.origin + "/en/")
    wait_until_ready(page)
    choose(page, "household")
    fill_form(page, PEOPLE["en"])
    page.click("#member-add")
    member = {k: v for k, v in MEMBERS[0].items() if k != "family_name"}
    for n in (1, 2):  # internal names carry their own numbers; data-field says the place
        fill(page, member, prefix=f"members.{n}.")
    page.click("#submit")
    summary = page.locator("#error-summary li")
    summary.first.wait_for()
    assert summary.all_inner_texts() == [
        "Person 1, Family name: Please fill in this field.",
        "Person 2, Family name: Please fill in this field.",
    ]
    summary.nth(1).locator("a").click()
    assert page.evaluate(
        "document.activeElement.closest('#members > fieldset').querySelector('legend').textContent"
    ) == ("Person 2")
    assert log.posts == []
