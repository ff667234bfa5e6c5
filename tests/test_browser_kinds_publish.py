"""Every record kind from the page to the publication, in real Chromium
(issue 22's first Done-when): a person registers alone, a relative registers
a household that lists her, a business and an association register; after
`intake export`, `keyholder import` and `keyholder publish` the published
tables show each kind, and the person registered twice counts once."""

# Test functions take the fixtures imported below as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_browser_form import Ministry, ministry  # noqa: F401 - pytest fixture
from test_browser_kinds import ASSOCIATION, BUSINESS, PAGES, choose, fill, send
from test_browser_registrant import publish
from test_browser_support import PEOPLE, Person, browser_only, chromium, fill_form, wait_until_ready  # noqa: F401
from test_kinds_publish import nonzero

pytestmark = browser_only


def fill_member(page: Any, n: int, member: dict[str, str]) -> None:
    """The n-th person (from 1) of the household's list."""
    person = page.locator("#members > fieldset").nth(n - 1)
    person.locator("input[name$='.given_name']").fill(member["given_name"])
    person.locator("input[name$='.family_name']").fill(member["family_name"])
    person.locator("input[name$='.birth_date']").fill(member["birth_date"])
    person.locator(f"input[type=radio][name$='.sex'][value={member['sex']}]").check()
    person.locator("select[name$='.relationship']").select_option(member["relationship"])


def register(chromium: Any, origin: str, kind: str, lang: str = "en") -> Any:
    """A new page in `lang` with `kind` chosen; the caller fills it and sends it."""
    ctx = chromium.new_context(locale="en-US")
    page = ctx.new_page()
    page.goto(origin + PAGES[lang])
    wait_until_ready(page)
    if kind != "individual":
        choose(page, kind)
    return ctx, page


def test_each_kind_from_the_page_is_published_and_a_listed_person_counts_once(
    chromium: Any, ministry: Ministry, tmp_path: Path
) -> None:
    alone = PEOPLE["en"].record
    ctx, page = register(chromium, ministry.origin, "individual")
    fill_form(page, PEOPLE["en"])
    send(page)
    ctx.close()

    # Her brother, in her city, registers his household and lists her (as she wrote herself) and his son.
    ctx, page = register(chromium, ministry.origin, "household")
    where = {k: alone[k] for k in ("residence_country", "residence_city")}
    fill_form(page, Person({**PEOPLE["de"].record, **where}, PEOPLE["de"].added))
    sister = {k: alone[k] for k in ("given_name", "family_name", "birth_date", "sex")}
    fill_member(page, 1, {**sister, "relationship": "sibling"})
    page.click("#member-add")
    son = {"given_name": "Dren", "family_name": "Krasniqi", "birth_date": "2012-03-04", "sex": "male"}
    fill_member(page, 2, {**son, "relationship": "child"})
    send(page)
    ctx.close()

    for kind, record in (("business", BUSINESS), ("association", ASSOCIATION)):
        ctx, page = register(chromium, ministry.origin, kind)
        fill(page, record)
        send(page)
        ctx.close()

    aggregates, output = publish(ministry, tmp_path / "out")
    # She, her brother and his son: three people, though she is in two registrations.
    assert aggregates["registrants"] == 3, output
    assert nonzero(aggregates, "household_size") == {("3",): 1}
    assert nonzero(aggregates, "business_country_by_sector") == {(BUSINESS["country"], BUSINESS["sector"]): 1}
    assert nonzero(aggregates, "association_country_by_field") == {(ASSOCIATION["country"], ASSOCIATION["field"]): 1}
    report = (tmp_path / "out" / "report.html").read_text()
    assert "household" in report.lower() and "association" in report.lower()
