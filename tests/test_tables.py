"""count_tables: the batched, column-wise count equals a plain per-record count."""

from __future__ import annotations

from collections import Counter
from datetime import date
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from publication import tables
from publication.tables import CROSS, NONE_TICKED, NOT_STATED, ONE_WAY, age_band, count_tables

ON = date(2026, 11, 26)


def _reference(rows: list[dict], on: date) -> dict[str, Counter]:
    """The obvious count: one record at a time, one table at a time."""
    out: dict[str, Counter] = {d: Counter() for d in ONE_WAY} | {"_by_".join(c): Counter() for c in CROSS}

    def value(record: dict, dim: str) -> str:
        if dim == "age_band":
            return age_band(record["birth_date"], on)
        v = record.get(dim)
        return NOT_STATED if v is None else str(v)

    for r in rows:
        for dim in ONE_WAY:
            if dim == "engagement":
                ticked = r.get("engagement")
                options = ticked if isinstance(ticked, list | tuple) and ticked else [NONE_TICKED]
                out[dim].update((str(o),) for o in options)
            elif dim == "origin_municipality":
                if value(r, "origin_country") == "XK":
                    out[dim][(value(r, dim),)] += 1
            else:
                out[dim][(value(r, dim),)] += 1
        for dims in CROSS:
            out["_by_".join(dims)][tuple(value(r, d) for d in dims)] += 1
    return out


_engagement = st.one_of(
    st.none(),
    st.just([]),
    st.just(()),
    st.lists(st.sampled_from(["mentoring", "return", "investment"]), unique=True, max_size=3),
    st.lists(st.sampled_from(["mentoring", "return"]), unique=True, max_size=2).map(tuple),
    st.just("mentoring"),  # not a list: counted as nothing ticked
)
_record = st.fixed_dictionaries(
    {
        "birth_date": st.sampled_from(["1950-02-03", "1990-11-26", "2008-11-27", "2001-06-30"]),
        "residence_country": st.sampled_from(["DE", "CH", "IS"]),
        "origin_country": st.sampled_from(["XK", "AL", "XK"]),
        "status": st.sampled_from(["employed", "student", "retired"]),
        "sex": st.sampled_from(["female", "male"]),
    },
    optional={
        "education_level": st.sampled_from(["isced3", "isced6"]) | st.none(),
        "field_of_study": st.sampled_from(["04", "06"]) | st.none(),
        "occupation": st.sampled_from(["2", "5"]),
        "emigration_reason": st.sampled_from(["work", "family"]) | st.none(),
        "origin_municipality": st.sampled_from(["prishtine", "peje"]) | st.none(),
        "engagement": _engagement,
    },
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_record, max_size=40), batch=st.sampled_from([1, 3, 7, 256]))
def test_count_tables_matches_a_per_record_count(rows: list[dict], batch: int) -> None:
    with mock.patch.object(tables, "_BATCH", batch):
        n, counted = count_tables(iter(rows), ON)
    assert n == len(rows)
    expected = _reference(rows, ON)
    for table in counted:
        assert Counter(table.counts) == expected[table.name], table.name
        assert all(v > 0 for v in table.counts.values())
