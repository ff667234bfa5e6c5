"""publication.columns: opened records as integer columns, and everything
computed from them equal to what the same records as dicts give."""

from __future__ import annotations

import pickle
from collections import Counter
from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from publication.columns import CATEGORICAL, ENGAGEMENT, ChunkEncoder, RecordsBuilder, vocabulary
from publication.linkage.dedup import find_duplicates, find_duplicates_in, person_from_record
from publication.linkage.names import normalise, phonetic
from publication.tables import count_records, count_tables
from simulate.population import generate

ON = date(2026, 11, 26)


def _records(rows: list[dict], chunk: int = 3):
    """`rows` through workers' encoders (one per chunk, as forked workers do) and the parent's builder."""
    builder = RecordsBuilder()
    for start in range(0, len(rows), chunk):
        part = list(enumerate(rows[start : start + chunk], start=start + 1))
        encoded = ChunkEncoder().encode(part)
        builder.add(pickle.loads(pickle.dumps(encoded)))  # noqa: S301 - our own bytes, as a worker sends them
    return builder.build()


_record = st.fixed_dictionaries(
    {
        "given_name": st.sampled_from(["Arbër", "Arber", "Арбер", "Drita", "..."]),
        "family_name": st.sampled_from(["Krasniqi", "Krasniqi-Hoxha", "Gashi"]),
        "birth_date": st.sampled_from(["1950-02-03", "1990-11-26", "2008-11-27", "2001-06-30", "2026-11-26"]),
        "residence_country": st.sampled_from(["DE", "CH", "IS"]),
        "origin_country": st.sampled_from(["XK", "AL", "XK"]),
        "status": st.sampled_from(["employed", "student", "retired"]),
        "sex": st.sampled_from(["female", "male", "other", "undisclosed"]),
    },
    optional={
        "education_level": st.sampled_from(["isced3", "isced6"]),
        "field_of_study": st.sampled_from(["04", "06"]),
        "occupation": st.sampled_from(["2", "5"]),
        "emigration_reason": st.sampled_from(["work", "family"]),
        "origin_municipality": st.sampled_from(["prishtine", "peje"]),
        "engagement": st.lists(st.sampled_from(ENGAGEMENT), unique=True, max_size=6),
        "residence_city": st.sampled_from(["", "Zürich", "zurich", "Berlin"]),
        "email": st.sampled_from(["A@b.de", " a@b.de", "c@d.ch"]),
    },
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_record, max_size=30), chunk=st.sampled_from([1, 4, 100]))
def test_counts_from_columns_equal_counts_from_dicts(rows: list[dict], chunk: int) -> None:
    records = _records(rows, chunk)
    n, from_columns = count_records(records, ON)
    m, from_dicts = count_tables(iter(rows), ON)
    assert n == m == len(rows)
    for a, b in zip(from_columns, from_dicts, strict=True):
        assert (a.name, a.categories, a.condition, a.additive) == (b.name, b.categories, b.condition, b.additive)
        assert Counter(a.counts) == Counter(b.counts), a.name


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(_record, min_size=1, max_size=30), chunk=st.sampled_from([1, 4, 100]))
def test_columns_hold_what_was_answered(rows: list[dict], chunk: int) -> None:
    records = _records(rows, chunk)
    assert records.seq.tolist() == list(range(1, len(rows) + 1))
    for i, row in enumerate(rows):
        for field in CATEGORICAL:
            code = int(records.column(field)[i])
            assert (vocabulary(field)[code] if code >= 0 else None) == row.get(field)
        assert int(records.birth[i]) == int(row["birth_date"].replace("-", ""))
        ticked = {o for b, o in enumerate(ENGAGEMENT) if int(records.engagement[i]) >> b & 1}
        assert ticked == set(row.get("engagement", []))
        given_key = phonetic(normalise(row["given_name"]))
        assert (records.name_keys[records.given[i]] if records.given[i] >= 0 else "") == given_key
        city = normalise(row.get("residence_city", ""))
        assert (records.cities[records.city[i]] if records.city[i] >= 0 else "") == city
        email = row.get("email", "").strip().casefold()
        assert (records.emails[records.email[i]] if records.email[i] >= 0 else "") == email
    # One shared table of distinct strings, however many chunks brought them.
    assert len(set(records.name_keys)) == len(records.name_keys)
    assert len(set(records.emails)) == len(records.emails)


def test_no_records():
    records = RecordsBuilder().build()
    assert records.n == 0
    n, tables = count_records(records, ON)
    assert n == 0 and all(not t.counts for t in tables)


def test_dedup_on_columns_equals_dedup_on_people():
    subs = generate(3000, seed=3).submissions
    people = [person_from_record(i + 1, s["record"]) for i, s in enumerate(subs)]
    records = _records([s["record"] for s in subs], chunk=500)
    a, b = find_duplicates(people), find_duplicates_in(records)
    assert b.matched_pairs > 200  # a population with repeats, so the comparison means something
    assert np.array_equal(a.representative, b.representative)
    assert (a.pairs_compared, a.matched_pairs, a.clusters) == (b.pairs_compared, b.matched_pairs, b.clusters)


def test_columns_are_compact():
    subs = generate(5000, seed=4).submissions
    records = _records([s["record"] for s in subs], chunk=2000)
    assert records.nbytes / records.n <= 48  # bytes per record in the numeric columns
