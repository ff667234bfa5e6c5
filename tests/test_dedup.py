"""De-duplication: every kind of repeat is found, different people stay apart."""

from __future__ import annotations

import random
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from publication.linkage.dedup import Person, find_duplicates, person_from_record
from publication.linkage.names import normalise, phonetic
from simulate import generate
from simulate.population import date_typo, serbian_latin, to_cyrillic, typo

ARBEN = Person(
    seq=1,
    given_name="Arbër",
    family_name="Krasniqi",
    birth_date="1985-03-12",
    origin_country="XK",
    sex="male",
    residence_country="DE",
    origin_municipality="prishtine",
)


@cache
def _background() -> tuple[Person, ...]:
    """2,000 distinct simulated people, so thresholds see a realistic population."""
    pop = generate(2000, 99, repeat_rate=0.0)
    return tuple(person_from_record(100 + i, s["record"]) for i, s in enumerate(pop.submissions))


def _joined(a: Person, b: Person) -> bool:
    people = [*_background(), a, b]
    rep = find_duplicates(people).representative
    return bool(rep[-1] == rep[-2])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Арбен Красники", "arben krasniki"),
        ("Džemaili", "xhemaili"),
        ("Đergj", "gjergj"),
        ("Krasnići", "krasniqi"),
        ("Čeku", "ceku"),
        ("Çeku", "ceku"),
        ("Arbër", "arber"),
        ("Gaši-Morina", "gashi morina"),
        ("Djurdjević", "gjurgjeviq"),
    ],
)
def test_normalise_folds_scripts_and_spellings(typed: str, expected: str) -> None:
    assert normalise(typed) == expected


def test_phonetic_key_merges_albanian_and_serbian_spellings() -> None:
    assert phonetic(normalise("Hoxha")) == phonetic(normalise("Hodža")) == phonetic(normalise("Ходжа"))
    assert phonetic(normalise("Krasniqi")) == phonetic(normalise("Krasnici"))
    assert phonetic(normalise("Mulliqi")) == phonetic(normalise("Muliqi"))
    assert phonetic(normalise("Gashi")) != phonetic(normalise("Gjoka"))


@pytest.mark.parametrize(
    "variant",
    [
        ARBEN._replace(seq=2, given_name="Arbr"),  # dropped
        ARBEN._replace(seq=2, given_name="Arbëër"),  # doubled
        ARBEN._replace(seq=2, family_name="Krasinqi"),  # swapped neighbours
        ARBEN._replace(seq=2, family_name="Krasniqo"),  # changed
        ARBEN._replace(seq=2, given_name="Арбер", family_name="Красники"),  # Serbian Cyrillic
        ARBEN._replace(seq=2, given_name="Arber"),  # ë typed as e
        ARBEN._replace(seq=2, family_name="Krasnići"),  # Serbian Latin spelling
        ARBEN._replace(seq=2, given_name="Krasniqi", family_name="Arbër"),  # swapped
        ARBEN._replace(seq=2, birth_date="1985-12-03"),  # day and month swapped
        ARBEN._replace(seq=2, birth_date="1985-03-13"),  # one digit
        ARBEN._replace(seq=2, given_name="Arbnr", birth_date="1985-03-21"),  # name and date typo together
        # a name typo and day and month swapped, with no municipality to help (a swap weighs more than a changed digit)
        ARBEN._replace(seq=2, given_name="Arbnr", birth_date="1985-12-03", origin_municipality=""),
    ],
)
def test_each_kind_of_repeat_is_found(variant: Person) -> None:
    assert _joined(ARBEN, variant)


def test_shortened_compound_family_name_is_found() -> None:
    first = ARBEN._replace(family_name="Krasniqi-Berisha")
    assert _joined(first, ARBEN._replace(seq=2, family_name="Krasniqi"))
    assert _joined(first, ARBEN._replace(seq=2, family_name="Berisha"))


@pytest.mark.parametrize(
    "other",
    [
        ARBEN._replace(seq=2, sex="female"),
        ARBEN._replace(seq=2, origin_country="AL", origin_municipality=""),
        ARBEN._replace(seq=2, given_name="Blerim"),  # a twin brother
        ARBEN._replace(seq=2, family_name="Gashi"),
        ARBEN._replace(seq=2, birth_date="1991-07-30"),
    ],
)
def test_different_people_stay_apart(other: Person) -> None:
    assert not _joined(ARBEN, other)


def test_latest_submission_stands_whatever_the_list_order() -> None:
    people = [ARBEN._replace(seq=9), ARBEN._replace(seq=30, given_name="Arbr"), ARBEN._replace(seq=4)]
    result = find_duplicates(people)
    assert result.representative.tolist() == [1, 1, 1]
    assert result.kept.tolist() == [1]
    assert result.registrants == 1
    assert result.clusters == 1


def test_empty_and_single() -> None:
    assert find_duplicates([]).registrants == 0
    assert find_duplicates([ARBEN]).representative.tolist() == [0]


def test_progress_adds_up_to_the_number_of_people() -> None:
    steps: list[int] = []
    people = list(_background()[:500])
    find_duplicates(people, progress=steps.append)
    assert sum(steps) == len(people)
    assert all(s > 0 for s in steps)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    person=st.integers(0, 1999),
    kind=st.sampled_from(["typo", "cyrillic", "serbian_latin", "swap", "date"]),
    seed=st.integers(0, 10**6),
)
def test_any_single_change_of_a_simulated_person_is_found(person: int, kind: str, seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    original = _background()[person]
    if kind == "typo":
        field = rnd.choice(["given_name", "family_name"])
        variant = original._replace(**{field: typo(getattr(original, field), rnd)})
        assert OSA.distance(getattr(original, field), getattr(variant, field)) == 1
    elif kind == "cyrillic":
        variant = original._replace(
            given_name=to_cyrillic(original.given_name), family_name=to_cyrillic(original.family_name)
        )
    elif kind == "serbian_latin":
        variant = original._replace(
            given_name=serbian_latin(original.given_name), family_name=serbian_latin(original.family_name)
        )
    elif kind == "swap":
        variant = original._replace(given_name=original.family_name, family_name=original.given_name)
    else:
        from datetime import date

        variant = original._replace(birth_date=date_typo(original.birth_date, rnd, date(2026, 1, 1)))
    people = list(_background())
    people.append(variant._replace(seq=10**6))
    rep = find_duplicates(people).representative
    assert rep[person] == len(people) - 1  # joined, and the later submission stands


def _pairs(labels: np.ndarray) -> int:
    counts = np.unique(labels, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def test_simulated_population_quality_and_scale() -> None:
    """20k people: few pairs compared per record; pair precision and recall and the count hold."""
    pop = generate(20_000, 5)
    people = [person_from_record(i, s["record"]) for i, s in enumerate(pop.submissions)]
    result = find_duplicates(people)
    truth = np.array(pop.person_of, dtype=np.int64)
    rep = result.representative
    both = _pairs(truth * len(rep) + rep)
    precision, recall = both / _pairs(rep), both / _pairs(truth)
    assert result.pairs_per_record < 6
    assert precision >= 0.99
    assert recall >= 0.98
    assert abs(result.registrants - 20_000) / 20_000 < 0.005
