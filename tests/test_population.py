"""The simulated population: valid records, reproducible, every kind of repeat."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

import schemas
from simulate import KINDS, generate
from simulate.population import date_typo, serbian_latin, to_cyrillic, typo


def test_records_are_valid_and_reproducible() -> None:
    pop = generate(1500, 7)
    validator = jsonschema.Draft202012Validator(
        schemas.load("registration.schema.json"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for submission in pop.submissions:
        assert submission["schema"] == "dvr-registration/1"
        assert submission["lang"] in ("sq", "en", "sr")
        validator.validate(submission["record"])
        record = submission["record"]
        assert record["birth_date"] <= "2026-01-01"
        assert record.get("emigration_year", 2000) <= 2026
        assert ("origin_municipality" in record) <= (record["origin_country"] == "XK")
    again = generate(1500, 7)
    assert again.submissions == pop.submissions and again.person_of == pop.person_of
    assert generate(1500, 8).submissions != pop.submissions


def test_repeat_rate_and_kinds() -> None:
    pop = generate(4000, 1, repeat_rate=0.15, typo_share=0.5)
    assert len(pop.submissions) == len(pop.person_of) == len(pop.kind_of)
    assert len(set(pop.person_of)) == 4000
    repeaters = sum(1 for c in Counter(pop.person_of).values() if c > 1)
    assert 0.12 < repeaters / 4000 < 0.18
    kinds = Counter(k.removesuffix("+date") for k in pop.kind_of)
    assert kinds["first"] == 4000
    changed = sum(v for k, v in kinds.items() if k not in ("first", "exact"))
    assert 0.4 < changed / (len(pop.kind_of) - 4000) < 0.6
    assert set(KINDS) - {"ascii"} <= set(kinds)
    assert any(k.endswith("+date") for k in pop.kind_of)
    # a repeat comes after the person's first submission
    first = {}
    for i, (p, k) in enumerate(zip(pop.person_of, pop.kind_of, strict=True)):
        if k == "first":
            first[p] = i
        else:
            assert p in first


def test_no_repeats_when_rate_is_zero() -> None:
    pop = generate(500, 3, repeat_rate=0.0)
    assert pop.person_of == list(range(500)) or sorted(pop.person_of) == list(range(500))


@settings(max_examples=200)
@given(
    name=st.sampled_from(["Arbër", "Krasniqi", "Xhemajl", "Gjergj", "Çeku", "Ana", "Jovanović"]),
    seed=st.integers(0, 2**32),
)
def test_typo_is_one_edit(name: str, seed: int) -> None:
    assert OSA.distance(name, typo(name, random.Random(seed))) == 1  # noqa: S311 - test data


@settings(max_examples=200)
@given(seed=st.integers(0, 2**32), days=st.integers(0, 40000))
def test_date_typo_is_a_different_valid_date(seed: int, days: int) -> None:
    birth = date(1915, 1, 1).fromordinal(date(1915, 1, 1).toordinal() + days).isoformat()
    changed = date_typo(birth, random.Random(seed), date(2026, 1, 1))  # noqa: S311 - test data
    assert date.fromisoformat(changed) <= date(2026, 1, 1)
    digits = sum(a != b for a, b in zip(birth, changed, strict=True))
    assert changed == birth or 1 <= digits <= 4


def test_spellings() -> None:
    assert serbian_latin("Xhemajl Krasniqi") == "Džemajl Krasnići"
    assert to_cyrillic("Gashi") == "Гаши"
