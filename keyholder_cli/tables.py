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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import schemas

__all__ = ["AGE_BANDS", "NOT_STATED", "Table", "age_band", "count_tables", "domain"]

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
        return tuple(c for c in codes if c != "XK") if dimension == "residence_country" else codes
    if dimension == "origin_municipality":
        values = tuple(schemas.load("registration.schema.json")["$defs"]["municipality"]["enum"])
    elif dimension == "engagement":
        return tuple(props["engagement"]["items"]["enum"]) + (NONE_TICKED,)
    else:
        values = tuple(props[dimension]["enum"])
    return values + ((NOT_STATED,) if dimension in _OPTIONAL else ())


def age_band(birth_date: str, on: date) -> str:
    born = date.fromisoformat(birth_date)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    for band, limit in zip(AGE_BANDS, _AGE_LIMITS, strict=False):
        if age < limit:
            return band
    return AGE_BANDS[-1]


def _value(record: Mapping[str, object], dimension: str, on: date) -> str:
    if dimension == "age_band":
        return age_band(str(record["birth_date"]), on)
    value = record.get(dimension)
    return NOT_STATED if value is None else str(value)


def count_tables(rows: Iterable[Mapping[str, object]], generated_on: date) -> tuple[int, list[Table]]:
    """Count the kept records into the tables of FORMATS §5."""
    single: dict[str, Counter[tuple[str, ...]]] = {d: Counter() for d in ONE_WAY}
    cross: dict[tuple[str, str], Counter[tuple[str, ...]]] = {c: Counter() for c in CROSS}
    registrants = 0
    for record in rows:
        registrants += 1
        values = {d: _value(record, d, generated_on) for d in ONE_WAY if d not in ("engagement", "origin_municipality")}
        for dim, value in values.items():
            single[dim][(value,)] += 1
        if values["origin_country"] == "XK":
            single["origin_municipality"][(_value(record, "origin_municipality", generated_on),)] += 1
        ticked = record.get("engagement") or ()
        for option in ticked if isinstance(ticked, list | tuple) and ticked else (NONE_TICKED,):
            single["engagement"][(str(option),)] += 1
        for dims, counter in cross.items():
            counter[tuple(values[d] for d in dims)] += 1
    tables = [_table((d,), single[d]) for d in ONE_WAY]
    tables += [_table(dims, cross[dims]) for dims in CROSS]
    return registrants, tables


def _table(dims: tuple[str, ...], counts: Counter[tuple[str, ...]]) -> Table:
    categories = []
    for i, dim in enumerate(dims):
        full = domain(dim)
        if dim in SPARSE:
            seen = {key[i] for key in counts}
            categories.append(tuple(c for c in full if c in seen))
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
