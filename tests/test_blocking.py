"""publication.linkage.blocking: which records the matcher compares.

test_dedup.py checks that find_duplicates joins repeats; this module checks
the step before it: that `candidate_pairs` puts a likely duplicate in the same
block as the original for each reason the blocking passes exist, leaves
clearly different people apart, and stays near-linear on a common name.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publication.linkage.blocking import SPARSE_WINDOW, candidate_pairs, encode
from publication.linkage.dedup import Person

ARBER = Person(
    seq=1,
    given_name="Arbër",
    family_name="Krasniqi",
    birth_date="1985-03-12",
    origin_country="XK",
    sex="male",
    residence_country="DE",
    origin_municipality="prishtine",
    residence_city="München",
    email="arber.k@example.org",
)
# Someone sharing nothing with ARBER that a blocking key uses.
DRITA = Person(
    seq=2,
    given_name="Drita",
    family_name="Berisha",
    birth_date="1992-11-30",
    origin_country="XK",
    sex="female",
    residence_country="CH",
    residence_city="Zürich",
    email="drita@example.net",
)


def pairs(people: list[Person]) -> set[tuple[int, int]]:
    lo, hi = candidate_pairs(encode(people))
    found = ((people[i].seq, people[j].seq) for i, j in zip(lo.tolist(), hi.tolist(), strict=True))
    return {(min(a, b), max(a, b)) for a, b in found}


def together(a: Person, b: Person) -> bool:
    return (a.seq, b.seq) in pairs([a, DRITA, b])


@pytest.mark.parametrize(
    ("variant", "why"),
    [
        (ARBER._replace(given_name="Arber"), "ë typed as e"),
        (ARBER._replace(given_name="Арбер", family_name="Красники"), "Serbian Cyrillic"),
        (ARBER._replace(family_name="Krasnići"), "Serbian Latin"),
        (ARBER._replace(given_name="Krasniqi", family_name="Arbër"), "names swapped"),
        (ARBER._replace(family_name="Krasniqi-Berisha"), "compound family name"),
        (ARBER._replace(family_name="Krasinqi", email=""), "typo in one name (pass 1)"),
        (ARBER._replace(birth_date="1985-12-03", email=""), "day and month swapped (pass 2)"),
        (ARBER._replace(birth_date="1958-03-12", email=""), "typo in the year (pass 3)"),
        (ARBER._replace(given_name="Arbnr", birth_date="1985-03-21", email=""), "name and date typo (pass 4)"),
        (ARBER._replace(given_name="Abrer", family_name="Krsaniqi", email=""), "a typo in each name (pass 5)"),
        (ARBER._replace(given_name="Bujar", family_name="Hoxha", birth_date="1970-01-01"), "same e-mail (pass 6)"),
        (ARBER._replace(email=" Arber.K@Example.org "), "e-mail in other case and spacing (pass 6)"),
        (ARBER._replace(birth_date="", email=""), "no birth date (pass 7)"),
        (ARBER._replace(given_name="Abnre", family_name="Kransiqu", email=""), "both names badly typed (pass 8)"),
        (ARBER._replace(given_name="Abnre", family_name="Kransiqu", email="", residence_city="Munchen"), "city"),
        (ARBER._replace(given_name="Abrer", birth_date="1958-03-12", email="", residence_city=""), "pass 9"),
        (ARBER._replace(family_name="Karsniqi", birth_date="1985-03-13", email="", residence_city=""), "pass 10"),
        (ARBER._replace(given_name="Abrer", birth_date="1985-08-12", email="", residence_city=""), "pass 11"),
        (ARBER._replace(family_name="Kasrniqi", birth_date="1985-12-03", email="", residence_city=""), "pass 12"),
        (
            ARBER._replace(
                given_name="Krasinqi", family_name="Arbër", birth_date="1958-03-12", email="", residence_city=""
            ),
            "names swapped, a typo in one and in the year (pass 9)",
        ),
    ],
)
def test_a_likely_duplicate_lands_in_a_block_with_the_original(variant, why):
    assert together(ARBER, variant._replace(seq=3)), why


def test_the_three_spellings_of_arber_krasniqi_are_all_compared():
    people = [
        ARBER._replace(seq=1, email=""),
        ARBER._replace(seq=2, given_name="Arber", email=""),
        ARBER._replace(seq=3, given_name="Арбер", family_name="Красники", email=""),
        DRITA,
    ]
    assert {(1, 2), (1, 3), (2, 3)} <= pairs(people)


@pytest.mark.parametrize(
    "other",
    [
        DRITA,
        DRITA._replace(family_name="Krasniqi"),  # a shared family name alone, other birth date
        DRITA._replace(birth_date="1985-03-12", residence_city=""),  # a shared birth date alone
    ],
)
def test_people_who_share_no_blocking_key_are_not_compared(other):
    assert pairs([ARBER, other._replace(seq=9)]) == set()


def test_empty_and_single_inputs_give_no_pairs():
    assert pairs([]) == set() and pairs([ARBER]) == set()


def test_a_record_without_names_or_date_is_compared_only_by_e_mail():
    blank = Person(seq=5, given_name="", family_name="", birth_date="", origin_country="", sex="")
    assert pairs([ARBER, blank]) == set()
    assert pairs([ARBER, blank._replace(email=ARBER.email)]) == {(1, 5)}


def test_encode_gives_every_spelling_of_a_name_one_id_and_reads_dates():
    e = encode([ARBER, ARBER._replace(seq=2, given_name="Арбер", birth_date="1985-3-12"), DRITA])
    assert e.given[0] == e.given[1] != e.given[2]
    assert e.keys[e.given[0]] == "arber"
    assert e.date.tolist() == [19850312, 0, 19921130]  # a date not in YYYY-MM-DD form counts as missing
    assert e.sex.tolist() == [2, 2, 1]
    assert e.emails[e.email[0]] == "arber.k@example.org"
    assert e.cities[e.city[0]] == "munchen"


def test_a_very_common_name_costs_a_bounded_number_of_pairs_per_record():
    n = 600
    same = [ARBER._replace(seq=i, email="") for i in range(n)]
    found = pairs(same)
    assert all(a != b for a, b in found)
    assert len(found) < n * 31  # about `window` pairs per record, not n * (n - 1) / 2 = 179,700


def test_the_window_pairs_each_record_with_its_nearest_neighbours_in_the_block():
    same = [ARBER._replace(seq=i, email="") for i in range(10)]
    lo, hi = candidate_pairs(encode(same), window=2)
    found = set(zip(lo.tolist(), hi.tolist(), strict=True))
    assert {(i, i + d) for i in range(10) for d in (1, 2) if i + d < 10} <= found
    # The names-only pass looks SPARSE_WINDOW = 3 ahead; nothing looks further.
    assert max(j - i for i, j in found) == SPARSE_WINDOW == 3


_people = st.builds(
    Person,
    seq=st.just(0),
    given_name=st.sampled_from(["Arbër", "Arber", "Арбер", "Drita", "Blerim", ""]),
    family_name=st.sampled_from(["Krasniqi", "Krasnići", "Berisha", "Gashi-Morina", ""]),
    birth_date=st.sampled_from(["1985-03-12", "1985-12-03", "1992-11-30", ""]),
    origin_country=st.just("XK"),
    sex=st.sampled_from(["male", "female", ""]),
    residence_city=st.sampled_from(["München", "Zürich", ""]),
    email=st.sampled_from(["", "a@example.org", "b@example.org"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_people, max_size=SPARSE_WINDOW + 1), st.randoms(use_true_random=False))
def test_pairs_are_distinct_ordered_and_do_not_depend_on_the_input_order(people, rnd):
    people = [p._replace(seq=i) for i, p in enumerate(people)]
    lo, hi = candidate_pairs(encode(people))
    codes = list(zip(lo.tolist(), hi.tolist(), strict=True))
    assert all(0 <= i < j < len(people) for i, j in codes) and len(set(codes)) == len(codes)
    shuffled = list(people)
    rnd.shuffle(shuffled)
    # No block larger than the narrowest window: every record of a block meets every other.
    assert pairs(shuffled) == pairs(people)


@settings(max_examples=100, deadline=None)
@given(_people, st.lists(_people, max_size=6))
def test_an_exact_repeat_is_always_compared_with_its_original(person, others):
    dated_name = person.birth_date and (person.given_name or person.family_name)
    if not (dated_name or person.email or (person.given_name and person.family_name)):
        return  # nothing a blocking key is made of
    people = [person._replace(seq=0), *(o._replace(seq=i + 1) for i, o in enumerate(others))]
    people.append(person._replace(seq=len(people)))
    assert (0, len(people) - 1) in pairs(people)
