"""Households, businesses and associations in a publication (issue 22, docs/formats.md section 13):
a household's members become persons before de-duplication, so a member registered
by a relative and the same person registering alone count once; a correction or
withdrawal of the household record moves or removes all its persons; businesses and
associations never enter the person tables and have their own tables, protected by the
same disclosure rules."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from support import VALID_RECORD
from test_keyholder_cli import FAMILY, GIVEN
from test_registrant import b64u, control_id, key_of, v2

import schemas
import vault
from keyholder_cli.publishing.aggregates import build_aggregates
from keyholder_cli.publishing.opening import OpenedSet, open_all
from publication.kinds import KIND_TABLES
from publication.protection import suppression
from publication.protection.suppression import build_lattice

ON = date(2026, 12, 1)
KEY = vault.derive_keys(bytes(range(32)))


def sealed_vault(path: Path, submissions: list[bytes]) -> Path:
    """A vault database holding `submissions` sealed, seq 1, 2, ... in order."""
    path.mkdir(parents=True, exist_ok=True)
    db = path / "vault.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE envelopes (seq INTEGER PRIMARY KEY, received_on TEXT, kid TEXT, ct BLOB, sha256 TEXT)"
        )
        rows = []
        for seq, sub in enumerate(submissions, start=1):
            env = vault.seal(sub, KEY.public_key)
            rows.append((seq, "2026-11-26", env.kid, env.ct, ""))
        conn.executemany("INSERT INTO envelopes VALUES (?, ?, ?, ?, ?)", rows)
    return db


def opened_from(tmp_path: Path, submissions: list[bytes]) -> OpenedSet:
    return open_all(sealed_vault(tmp_path, submissions), {KEY.kid: KEY}, ON, processes=1)


def v1(rec: dict[str, Any]) -> bytes:
    return json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": rec}, ensure_ascii=False).encode()


def person(given: str, family: str, born: str, sex: str = "female", **extra: Any) -> dict[str, Any]:
    return {**VALID_RECORD, "given_name": given, "family_name": family, "birth_date": born, "sex": sex, **extra}


def member(given: str, family: str, born: str, sex: str, relationship: str) -> dict[str, Any]:
    return {"given_name": given, "family_name": family, "birth_date": born, "sex": sex, "relationship": relationship}


def household(head: dict[str, Any], *members: dict[str, Any], code: int | None = None) -> bytes:
    rec: dict[str, Any] = {**head, "kind": "household", "members": list(members)}
    rec["registrant"] = {"id": control_id(code)} if code is not None else {"id": control_id(900)}
    return v2(rec)


def contact(email: str) -> dict[str, str]:
    return {"given_name": "Besa", "family_name": "Hoxha", "email": email}


def business(country: str, sector: str, email: str, *, code: int, reveal: bool = False, **extra: Any) -> bytes:
    rec: dict[str, Any] = {
        "kind": "business",
        "country": country,
        "sector": sector,
        "size": "micro",
        "trades_with_home": True,
        "invests_in_home": False,
        "contact": contact(email),
        "consent": {"processing": True, "contact": True},
        **extra,
    }
    rec["registrant"] = {"key": b64u(key_of(code))} if reveal else {"id": control_id(code)}
    return v2(rec)


def association(country: str, field: str, email: str, *, code: int) -> bytes:
    rec = {
        "kind": "association",
        "country": country,
        "field": field,
        "members_band": "10-49",
        "contact": contact(email),
        "consent": {"processing": True, "contact": True},
        "registrant": {"id": control_id(code)},
    }
    return v2(rec)


def withdrawal(code: int) -> bytes:
    return v2({"kind": "withdrawal", "registrant": {"key": b64u(key_of(code))}})


def table(aggregates: dict[str, Any], name: str) -> dict[tuple[str, ...], int | None]:
    found = next(t for t in aggregates["tables"] if t["name"] == name)
    return {tuple(c[d] for d in found["dimensions"]): c["count"] for c in found["cells"]}


def nonzero(aggregates: dict[str, Any], name: str) -> dict[tuple[str, ...], int | None]:
    return {k: v for k, v in table(aggregates, name).items() if v != 0}


def names(aggregates: dict[str, Any]) -> list[str]:
    return [t["name"] for t in aggregates["tables"]]


def valid(aggregates: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(
        aggregates,
        schemas.load("aggregates.schema.json"),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    return aggregates


# P registers alone (version 1); her brother registers his household with P and his son as members.
P = person("Drita", "Gashi", "1990-03-04", residence_country="CH", residence_city="Zürich")
BROTHER = person("Ilir", "Gashi", "1986-07-21", sex="male", residence_country="CH", residence_city="Zürich")
P_AS_MEMBER = member("Drita", "Gashi", "1990-03-04", "female", "sibling")
SON = member("Arben", "Gashi", "2015-09-30", "male", "child")


def test_a_member_registered_by_a_relative_and_alone_counts_once(tmp_path: Path) -> None:
    opened = opened_from(tmp_path, [v1(P), household(BROTHER, P_AS_MEMBER, SON)])
    assert (opened.envelopes, opened.invalid, opened.records.n) == (2, 0, 4)  # two envelopes, four person rows
    aggregates, duplicates = build_aggregates(opened, ON, min_cell=1)
    valid(aggregates)
    assert (aggregates["registrants"], duplicates) == (3, 1)  # P, her brother, his son
    assert nonzero(aggregates, "residence_country") == {("CH",): 3}
    assert nonzero(aggregates, "sex") == {("female",): 1, ("male",): 2}
    # P's own registration stands for her, not the row her brother made: only the son is not stated.
    assert nonzero(aggregates, "origin_country") == {("XK",): 2, ("not_stated",): 1}
    assert nonzero(aggregates, "status") == {("employed",): 2, ("not_stated",): 1}
    assert nonzero(aggregates, "age_band") == {("0-17",): 1, ("35-44",): 2}
    assert nonzero(aggregates, "engagement") == {("none",): 3}
    assert nonzero(aggregates, "household_size") == {("3",): 1}
    assert not any(n.startswith(("business", "association")) for n in names(aggregates))


def test_without_the_solo_registration_the_member_is_a_person_of_her_own(tmp_path: Path) -> None:
    opened = opened_from(tmp_path, [household(BROTHER, P_AS_MEMBER, SON)])
    aggregates, duplicates = build_aggregates(opened, ON, min_cell=1)
    assert (aggregates["registrants"], duplicates) == (3, 0)
    assert nonzero(aggregates, "origin_country") == {("XK",): 1, ("not_stated",): 2}


def test_two_members_of_one_household_are_never_one_person(tmp_path: Path) -> None:
    twin = member("Arben", "Gashi", "2015-09-30", "male", "child")  # twins the same in every answer
    aggregates, duplicates = build_aggregates(opened_from(tmp_path, [household(BROTHER, SON, twin)]), ON, 1)
    assert (aggregates["registrants"], duplicates) == (3, 0)


def test_a_correction_or_withdrawal_of_the_household_moves_or_removes_all_its_persons(tmp_path: Path) -> None:
    moved = {**BROTHER, "residence_country": "AT", "residence_city": "Wien"}
    corrected = {**moved, "kind": "household", "members": [SON], "registrant": {"key": b64u(key_of(7))}}
    first = household(BROTHER, P_AS_MEMBER, SON, code=7)
    opened = opened_from(tmp_path / "a", [first, v2(corrected)])
    aggregates, _ = build_aggregates(opened, ON, min_cell=1)
    assert opened.corrections == 1
    assert aggregates["registrants"] == 2
    assert nonzero(aggregates, "residence_country") == {("AT",): 2}
    assert nonzero(aggregates, "household_size") == {("2",): 1}
    opened = opened_from(tmp_path / "b", [v1(P), first, withdrawal(7)])
    aggregates, _ = build_aggregates(opened, ON, min_cell=1)
    assert (opened.withdrawals, opened.withdrawn_people, opened.erase_seqs) == (1, 1, [2, 3])
    assert aggregates["registrants"] == 1  # P alone: her brother, his son and the row he made for her are gone
    assert "household_size" not in names(aggregates)


def test_businesses_and_associations_are_no_persons_and_have_their_own_tables(tmp_path: Path) -> None:
    subs = [
        v1(P),
        business("DE", "C", "Info@Example.com", code=1),
        business("DE", "C", "info@example.com ", code=2),  # the same business, again, under another code
        business("DE", "F", "bau@example.com", code=3),
        business("CH", "I", "cafe@example.com", code=4),
        business("CH", "I", "cafe@example.com", code=4, reveal=True, size="small"),  # corrected: small
        association("CH", "culture", "club@example.com", code=5),
        association("AT", "sport", "fc@example.com", code=6),
        withdrawal(6),
    ]
    opened = opened_from(tmp_path, subs)
    assert opened.records.n == 1  # the contacts are not persons
    assert (opened.withdrawals, opened.withdrawn_people) == (1, 0)  # nor is the association that withdrew
    aggregates, _ = build_aggregates(opened, ON, min_cell=1)
    valid(aggregates)
    assert aggregates["registrants"] == 1
    assert nonzero(aggregates, "sex") == {("female",): 1}
    assert nonzero(aggregates, "business_country_by_sector") == {("DE", "C"): 1, ("DE", "F"): 1, ("CH", "I"): 1}
    assert nonzero(aggregates, "business_size") == {("micro",): 2, ("small",): 1}
    assert table(aggregates, "business_trades_with_home") == {("yes",): 3, ("no",): 0}
    assert table(aggregates, "business_invests_in_home") == {("yes",): 0, ("no",): 3}
    assert nonzero(aggregates, "association_country_by_field") == {("CH", "culture"): 1}
    assert nonzero(aggregates, "association_members") == {("10-49",): 1}
    by_name = {t["name"]: t for t in aggregates["tables"]}
    assert by_name["business_size"]["population"] == "businesses"
    assert by_name["business_country_by_sector"]["margins"]["total"] == 3
    assert by_name["association_members"]["population"] == "associations"
    assert by_name["sex"]["population"] == "registrants"


def _businesses(n_de: int, n_ch: int) -> list[bytes]:
    out = [business("DE", "C" if i % 3 else "G", f"de{i}@example.com", code=100 + i) for i in range(n_de)]
    out += [business("CH", "I", f"ch{i}@example.com", code=300 + i) for i in range(n_ch)]
    return out


def test_the_business_tables_are_suppressed_and_audited_like_the_person_tables(tmp_path: Path) -> None:
    opened = opened_from(tmp_path, [v1(P), *_businesses(30, 4)])
    aggregates, _ = build_aggregates(opened, ON, min_cell=10)
    valid(aggregates)
    assert "business_country_by_sector" in names(aggregates)
    cells = table(aggregates, "business_country_by_sector")
    # 20 DE in C and 10 in G are shown; 4 CH in I is small, so it is suppressed along with what would give it away.
    assert cells[("DE", "C")] in (20, None) and cells[("CH", "I")] is None
    assert all(v is None or v == 0 or v >= 10 for v in cells.values())
    # The audit the publication ran, run again on the suppression pattern it published.
    counts = opened.kinds
    assert counts.n == 34
    from publication.kinds import count_kinds

    businesses = next(p for p in count_kinds(counts) if p.name == "businesses")
    sector = next(t for t in businesses.tables if t.name == "business_country_by_sector")
    lat = build_lattice(businesses.n, [sector])
    suppressed, primary, evidence = suppression.suppress(lat, 10, 5)
    suppression.check(lat, suppressed, primary, 10, 5, evidence)
    for i in np.flatnonzero(primary):
        lo, hi = suppression.audit(lat, suppressed)[int(i)]
        assert hi >= 10, f"{lat.keys[i]} can be shown below min_cell"
    published_margin = next(t for t in aggregates["tables"] if t["name"] == "business_country_by_sector")
    assert published_margin["margins"]["total"] == 34


def test_below_min_cell_businesses_none_of_their_tables_is_published(tmp_path: Path) -> None:
    people = [v1(person(GIVEN[i], FAMILY[i], f"19{60 + i}-01-0{1 + i % 9}")) for i in range(12)]
    opened = opened_from(tmp_path, [*people, *_businesses(5, 0)])
    aggregates, _ = build_aggregates(opened, ON, min_cell=10)
    valid(aggregates)
    assert aggregates["registrants"] == 12
    assert "sex" in names(aggregates)
    assert not any(n.startswith("business") for n in names(aggregates))
    d = aggregates["disclosure"]
    assert set(d["withheld_tables"]) >= {"business_country_by_sector", "business_size"}
    assert "the tables of businesses: fewer than 10 businesses" in d["withheld"]
    from publication.report import render

    page = render(aggregates, ("en",))
    assert "fewer than 10 households, businesses or associations of their kind registered" in page
    sentence = page[page.index("fewer than 10 households") :].split("</p>")[0]
    assert "Businesses by size" in sentence and "Businesses by country and sector" in sentence
    assert "Fewer than 10 people registered" not in page  # the people's tables are published


def test_with_differential_privacy_the_kinds_are_released_and_the_budget_adds_up(tmp_path: Path) -> None:
    opened = opened_from(tmp_path, [v1(P), *_businesses(30, 12)])
    aggregates, _ = build_aggregates(opened, ON, min_cell=10, epsilon=2.0)
    valid(aggregates)
    d = aggregates["disclosure"]
    releases = {b["release"] for b in d["budget"]}
    assert {"registrants", "businesses", "business_country_by_sector", "households", "association_members"} <= releases
    assert sum(b["epsilon"] for b in d["budget"]) == pytest.approx(2.0)
    assert len({b["epsilon"] for b in d["budget"]}) == 1  # split equally
    for t in aggregates["tables"]:
        if t["population"] == "businesses" and t["margins"]["total"] is not None:
            cells = [c["count"] for c in t["cells"] if c["count"] is not None]
            assert sum(cells) <= t["margins"]["total"]


@pytest.mark.parametrize("lang", ["sq", "en", "sr", "de"])
def test_the_report_shows_the_kinds_tables_with_their_charts_in_every_language(tmp_path: Path, lang: str) -> None:
    from publication.report import render
    from publication.report.labels import gettext, title

    people = [v1(person(GIVEN[i], FAMILY[i], f"19{60 + i}-01-0{1 + i % 9}")) for i in range(12)]
    households = [household(BROTHER, P_AS_MEMBER, SON, code=500 + i) for i in range(10)]
    opened = opened_from(tmp_path, [*people, *households, *_businesses(30, 12)])
    aggregates, _ = build_aggregates(opened, ON, min_cell=10)
    page = render(aggregates, (lang,))
    sections = page.split("<section>")[1:]
    for name in ("household_size", "business_country_by_sector", "business_size", "business_trades_with_home"):
        section = next(s for s in sections if s.startswith(f"<h2>{title(name, lang)}</h2>"))
        assert ("<svg" in section) == (name != "business_trades_with_home"), name
    business = next(s for s in sections if s.startswith(f"<h2>{title('business_size', lang)}</h2>"))
    assert (
        gettext("A business is not a person: its contact person is not counted among the registrants.", lang)
        in business
    )
    assert ">42</b>" in business  # the total: 30 in Germany and 12 in Switzerland
    trades = next(s for s in sections if s.startswith(f"<h2>{title('business_trades_with_home', lang)}</h2>"))
    assert f"<td>{gettext('yes', lang)}</td>" in trades
    # No association registered: no association table, and no sentence that says one was withheld.
    assert title("association_members", lang) not in page


def test_a_vault_of_version_1_and_2_envelopes_publishes_exactly_the_generated_population(tmp_path: Path) -> None:
    from collections import Counter

    from simulate.population import generate

    # Repeat registrations spell the person the same way here, so de-duplication can be exact.
    pop = generate(1500, 7, kinds=True, typo_share=0.0)
    kinds = Counter(pop.kind_of)
    schemas_used = Counter(s["schema"] for s in pop.submissions)
    assert schemas_used["dvr-registration/1"] > 300 and schemas_used["dvr-registration/2"] > 300
    assert min(kinds["household"], kinds["business"], kinds["association"], kinds["correction"]) > 10
    assert kinds["withdrawal"] > 5
    members = Counter(p for persons in pop.persons_of if len(persons) > 1 for p in persons[1:])
    alone = {p for persons, kind in zip(pop.persons_of, pop.kind_of, strict=True) if kind == "first" for p in persons}
    assert len(set(members) & alone) > 20, "too few members who also register alone"
    truth = pop.truth()

    subs = [json.dumps(s, ensure_ascii=False).encode() for s in pop.submissions]
    aggregates, _ = build_aggregates(opened_from(tmp_path, subs), ON, min_cell=1)
    valid(aggregates)
    assert aggregates["registrants"] == truth["registrants"][()]
    for name in KIND_TABLES:
        assert nonzero(aggregates, name) == dict(truth[name]), name
    assert sum(truth["household_size"].values()) > 200


def test_the_simulated_kinds_are_valid_seeded_and_realistic() -> None:
    from collections import Counter

    from keyholder_cli.validate import compile_validator, parse_any
    from simulate.population import generate

    pop = generate(1000, 3, kinds=True)
    assert pop.submissions == generate(1000, 3, kinds=True).submissions
    assert generate(300, 3).submissions == generate(300, 3, kinds=False).submissions  # the golden's population
    validate = compile_validator()
    for sub in pop.submissions:
        parse_any(json.dumps(sub).encode(), validate, date(2026, 1, 1))  # raises if one is invalid
    sizes = Counter(len(s["record"]["members"]) for s in pop.submissions if s["record"].get("kind") == "household")
    assert set(sizes) == {1, 2, 3, 4, 5, 6} and sizes[1] > sizes[6]
    # A relative who is a member and registers alone lives where the household does, in every registration.
    home = {}
    for persons, sub in zip(pop.persons_of, pop.submissions, strict=True):
        if sub["record"].get("kind") == "household":
            home.update({p: sub["record"]["residence_country"] for p in persons[1:]})
    own = [
        (persons[0], sub["record"]["residence_country"])
        for persons, sub, kind in zip(pop.persons_of, pop.submissions, pop.kind_of, strict=True)
        if kind == "first" and persons[0] in home
    ]
    assert len(own) > 10 and all(home[p] == country for p, country in own)
