"""Raw counts of the published tables (FORMATS §5), before any protection.

`count_tables(rows, generated_on)` makes one pass over the kept (de-duplicated)
records and returns the number of registrants and one `Table` per published
table. Only categorical answers are read; names, birth dates (beyond the age
band), e-mails, cities and professions never enter a table.

Missing optional answers are counted in the category `not_stated`, so every
table except `engagement` adds up to the number of registrants (and
`origin_municipality`, asked only of people from Kosovo, adds up to the
`origin_country` count for `XK`). `engagement` counts a person once per option
ticked; people who ticked nothing are counted in `none`, so it is not additive.

A household member (docs/formats.md section 13) answers only names, birth
date and sex, and lives where the household does: their origin country and
status, required of every registrant, are `not_stated` too. That category
is listed in those two tables only when someone is in it, so a publication
of version 1 records alone is what it always was; engagement counts a
member in `none`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import compress, islice, repeat
from operator import eq, itemgetter
from typing import Any

import numpy as np

import schemas

from .columns import CATEGORICAL, ENGAGEMENT, Records, vocabulary

__all__ = ["AGE_BANDS", "NOT_STATED", "Table", "age_band", "count_records", "count_tables", "domain"]

NOT_STATED = "not_stated"
NONE_TICKED = "none"
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_AGE_LIMITS = (18, 25, 35, 45, 55, 65)
ONE_WAY = (
    "residence_country",
    "origin_country",
    "origin_municipality",
    "status",
    "education_level",
    "field_of_study",
    "occupation",
    "sex",
    "age_band",
    "emigration_reason",
    "engagement",
)
CROSS = (("residence_country", "status"), ("residence_country", "education_level"))  # "residence_country_by_status"
_OPTIONAL = {"origin_municipality", "education_level", "field_of_study", "occupation", "emigration_reason"}
# Dimensions whose categories are listed only when someone is in them (the
# country lists are long); the others list every category, zeros included.
SPARSE = frozenset({"residence_country", "origin_country"})
# Answers every registrant gives, which a household member does not: `not_stated` only when someone is.
_MEMBERS_UNSTATED = frozenset({"origin_country", "status"})


@dataclass(frozen=True)
class Table:
    """Counts of one table. `counts` maps a tuple of category codes (one per
    dimension, in order) to a count ≥ 1; absent keys are zero. `condition`
    restricts the population (origin_municipality: origin_country = XK)."""

    name: str
    dimensions: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    counts: Mapping[tuple[str, ...], int]
    condition: tuple[tuple[str, str], ...] = ()
    additive: bool = True
    notes: dict[str, str] = field(default_factory=dict)


def domain(dimension: str) -> tuple[str, ...]:
    """Every category a dimension can take, in publication order."""
    props = schemas.load("registration.schema.json")["properties"]
    if dimension == "age_band":
        return AGE_BANDS
    if dimension in ("residence_country", "origin_country"):
        codes = tuple(schemas.load("countries.json")["codes"])
        return tuple(c for c in codes if c != "XK") if dimension == "residence_country" else (*codes, NOT_STATED)
    if dimension == "origin_municipality":
        values = tuple(schemas.load("registration.schema.json")["$defs"]["municipality"]["enum"])
    elif dimension == "engagement":
        return tuple(props["engagement"]["items"]["enum"]) + (NONE_TICKED,)
    else:
        values = tuple(props[dimension]["enum"])
    return values + ((NOT_STATED,) if dimension in _OPTIONAL | _MEMBERS_UNSTATED else ())


def age_band(birth_date: str, on: date) -> str:
    born = date.fromisoformat(birth_date)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    for band, limit in zip(AGE_BANDS, _AGE_LIMITS, strict=False):
        if age < limit:
            return band
    return AGE_BANDS[-1]


# The answers a table reads, per record, in this order.
_READ = (
    *(d for d in ONE_WAY if d not in ("age_band", "engagement", "origin_municipality")),
    "birth_date",
    "origin_municipality",
    "engagement",
)
_PICK = itemgetter(*_READ)
# Records per batch. Each batch is counted column by column while its answers
# are still in the CPU cache; a whole column of fresh strings is not.
_BATCH = 256


def _category(value: object) -> str:
    return NOT_STATED if value is None else str(value)


def _keyed(counts: Mapping[Any, int]) -> Counter[tuple[str, ...]]:
    """Counts of raw answers (or tuples of them) as counts of category tuples."""
    out: Counter[tuple[str, ...]] = Counter()
    for value, n in counts.items():
        out[tuple(map(_category, value)) if isinstance(value, tuple) else (_category(value),)] += n
    return out


def count_tables(rows: Iterable[Mapping[str, object]], generated_on: date) -> tuple[int, list[Table]]:
    """Count the kept records into the tables of FORMATS §5.

    Records are read in batches; each answer column of a batch is counted by
    a `Counter` (in C), and only distinct answers are looked at in Python."""
    named = {d: i for i, d in enumerate(_READ)}
    raw: list[Counter[object]] = [Counter() for _ in _READ]  # per answer, its raw values
    pairs: dict[tuple[str, ...], Counter[tuple[object, ...]]] = {dims: Counter() for dims in CROSS}
    in_xk: Counter[object] = Counter()  # municipalities of people from Kosovo
    registrants = 0
    records = iter(rows)
    while batch := list(islice(records, _BATCH)):
        registrants += len(batch)
        try:
            answers = list(map(_PICK, batch))
        except KeyError:  # some record leaves an optional answer out
            answers = [tuple(map(record.get, _READ)) for record in batch]
        columns = list(zip(*answers, strict=True))
        for counter, column in zip(raw[:-1], columns, strict=False):
            counter.update(column)
        try:
            ticked: Counter[Any] = Counter(columns[-1])
        except TypeError:  # engagement as lists of options (a partial count is dropped)
            ticked = Counter(tuple(t) if isinstance(t, list) else t for t in columns[-1])
        raw[-1].update(ticked)
        for dims, pair_counts in pairs.items():
            pair_counts.update(zip(columns[named[dims[0]]], columns[named[dims[1]]], strict=True))
        origin = columns[named["origin_country"]]
        in_xk.update(compress(columns[named["origin_municipality"]], map(eq, origin, repeat("XK"))))
    single = {d: _keyed(raw[named[d]]) for d in ONE_WAY if d in named and d != "engagement"}
    single["origin_municipality"] = _keyed(in_xk)
    bands: Counter[tuple[str, ...]] = Counter()
    for born, n in raw[named["birth_date"]].items():
        if born is None:
            raise KeyError("birth_date")
        bands[(age_band(str(born), generated_on),)] += n
    single["age_band"] = bands
    ticks: Counter[tuple[str, ...]] = Counter()
    for answer, n in raw[named["engagement"]].items():
        for option in answer if isinstance(answer, tuple) and answer else (NONE_TICKED,):
            ticks[(str(option),)] += n
    single["engagement"] = ticks
    tables = [_table((d,), single[d]) for d in ONE_WAY]
    tables += [_table(dims, _keyed(pairs[dims])) for dims in CROSS]
    return registrants, tables


def _named(codes: np.ndarray, labels: Sequence[str]) -> Counter[tuple[str, ...]]:
    """Counts of codes (-1 = not stated) as counts of one-category tuples, zeros left out."""
    counts = np.bincount(codes.astype(np.int64) + 1, minlength=len(labels) + 1)
    names = (NOT_STATED, *labels)
    return Counter({(names[i],): int(counts[i]) for i in np.flatnonzero(counts)})


def count_records(records: Records, generated_on: date, rows: np.ndarray | None = None) -> tuple[int, list[Table]]:
    """As `count_tables`, for records held as columns: the `rows` given (the kept
    records), or all. Each table is a `bincount` over integer codes."""
    idx = np.arange(records.n) if rows is None else np.asarray(rows)
    codes = records.codes[idx]
    column = {f: codes[:, i] for i, f in enumerate(CATEGORICAL)}
    single: dict[str, Counter[tuple[str, ...]]] = {}
    for d in ONE_WAY:
        if d in column and d != "origin_municipality":
            single[d] = _named(column[d], vocabulary(d))
    from_xk = column["origin_country"] == vocabulary("origin_country").index("XK")
    single["origin_municipality"] = _named(column["origin_municipality"][from_xk], vocabulary("origin_municipality"))
    born = records.birth[idx].astype(np.int64)
    on_year, on_day = generated_on.year, generated_on.month * 100 + generated_on.day
    age = on_year - born // 10000 - ((born % 10000) > on_day)
    band = np.searchsorted(np.array(_AGE_LIMITS), age, side="right")
    bands = np.bincount(band, minlength=len(AGE_BANDS))
    single["age_band"] = Counter({(AGE_BANDS[i],): int(bands[i]) for i in np.flatnonzero(bands)})
    ticked = records.engagement[idx]
    ticks: Counter[tuple[str, ...]] = Counter()
    for bit, option in enumerate(ENGAGEMENT):
        if k := int(np.count_nonzero(ticked & (1 << bit))):
            ticks[(option,)] = k
    if none := int(np.count_nonzero(ticked == 0)):
        ticks[(NONE_TICKED,)] = none
    single["engagement"] = ticks
    tables = [_table((d,), single[d]) for d in ONE_WAY]
    for dims in CROSS:
        rows_of, cols_of = vocabulary(dims[0]), vocabulary(dims[1])
        width = len(cols_of) + 1
        pair = (column[dims[0]].astype(np.int64) + 1) * width + column[dims[1]] + 1
        counts = np.bincount(pair, minlength=(len(rows_of) + 1) * width)
        labels_r, labels_c = (NOT_STATED, *rows_of), (NOT_STATED, *cols_of)
        cells: Counter[tuple[str, ...]] = Counter(
            {(labels_r[i // width], labels_c[i % width]): int(counts[i]) for i in np.flatnonzero(counts)}
        )
        tables.append(_table(dims, cells))
    return len(idx), tables


def _table(dims: tuple[str, ...], counts: Counter[tuple[str, ...]]) -> Table:
    categories = []
    for i, dim in enumerate(dims):
        full = domain(dim)
        if dim in SPARSE or dim in _MEMBERS_UNSTATED:
            seen = {key[i] for key in counts}
            categories.append(tuple(c for c in full if c in seen or (c != NOT_STATED and dim not in SPARSE)))
        else:
            categories.append(full)
    name = "_by_".join(dims)
    condition = (("origin_country", "XK"),) if dims == ("origin_municipality",) else ()
    return Table(
        name=name,
        dimensions=dims,
        categories=tuple(categories),
        counts=dict(counts),
        condition=condition,
        additive=dims != ("engagement",),
    )
