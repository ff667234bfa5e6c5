"""The record kinds of `dvr-registration/2` on the publication side (docs/formats.md section 13).

- `persons(record)`: the person records one validated record stands for. An
  individual is itself. A household is its registrant's own answers plus one
  record per member: the member's given and family name, birth date and sex,
  and the household's `residence_country` and `residence_city`. A member was
  asked nothing else, so every other answer of theirs is missing and counts
  as `not_stated` in the person tables (engagement: `none`). A business or an
  association is no person at all: its contact person is never counted.
- `KindsEncoder` (in the opening workers) turns the households, businesses
  and associations into a `KindRows` of integer columns, one row per record:
  what their own tables count, and for a business or association the
  fingerprint by which two registrations of one organisation are found.
- `standing(rows)`: of the businesses and associations registered more than
  once under different codes (same kind, country, sector or field, and
  contact e-mail address), the latest; every household stands.
- `count_kinds(rows)`: each kind's population (`Population`) with its tables.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

import numpy as np

import schemas

from .columns import vocabulary
from .tables import Table

__all__ = [
    "ASSOCIATION",
    "BUSINESS",
    "HOUSEHOLD",
    "HOUSEHOLD_SIZES",
    "KIND_TABLES",
    "KindRows",
    "KindsEncoder",
    "Population",
    "count_kinds",
    "kinds_domain",
    "persons",
    "standing",
]

HOUSEHOLD, BUSINESS, ASSOCIATION = 0, 1, 2
_KIND = {"household": HOUSEHOLD, "business": BUSINESS, "association": ASSOCIATION}
# A member's own answers; the household's residence is theirs too.
_MEMBER = ("given_name", "family_name", "birth_date", "sex", "relationship")  # relationship marks a member
_SHARED = ("residence_country", "residence_city")
# Household sizes (the registrant and the members: 2 to 21 people), the last band open.
HOUSEHOLD_SIZES = ("2", "3", "4", "5", "6", "7+")
# The tables count_kinds makes, in the order the report shows them (docs/formats.md section 13.4).
KIND_TABLES = (
    "household_size",
    "business_country_by_sector",
    "business_size",
    "business_trades_with_home",
    "business_invests_in_home",
    "association_country_by_field",
    "association_members",
)
YES_NO = ("yes", "no")
_MISSING = -1


def persons(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The person records of one validated record (see the module's docstring)."""
    kind = record.get("kind")
    if kind is None:
        return [record]
    if kind != "household":
        return []
    head = {k: v for k, v in record.items() if k not in ("kind", "members")}
    shared = {k: record[k] for k in _SHARED if k in record}
    return [head, *({**{k: m[k] for k in _MEMBER}, **shared} for m in record["members"])]


@cache
def _kind_values(kind: str, field: str) -> tuple[str, ...]:
    definitions = schemas.load("registration-kinds.schema.json")["$defs"]
    prop = definitions[kind]["properties"][field]
    if "$ref" in prop:
        prop = definitions[prop["$ref"].rsplit("/", 1)[1]]
    return tuple(prop["enum"])


def kinds_domain(dimension: str) -> tuple[str, ...]:
    """Every category of a kind table's dimension, in publication order."""
    if dimension in ("business_country", "association_country"):
        return vocabulary("residence_country")
    if dimension == "household_size":
        return HOUSEHOLD_SIZES
    if dimension in ("trades_with_home", "invests_in_home"):
        return YES_NO
    owner = "association" if dimension in ("field", "members_band") else "business"
    return _kind_values(owner, dimension)


@dataclass(frozen=True)
class KindRows:
    """Households, businesses and associations as columns (row i of each column is record i)."""

    seq: np.ndarray  # int64
    kind: np.ndarray  # int8: HOUSEHOLD, BUSINESS or ASSOCIATION
    country: np.ndarray  # int16 into vocabulary("residence_country"); a household's residence
    category: np.ndarray  # int16: a business's sector, an association's field; -1 for a household
    band: np.ndarray  # int16: a business's size, an association's members band, a household's people
    trades: np.ndarray  # bool: the business trades with the home country
    invests: np.ndarray  # bool: the business invests in the home country
    same: np.ndarray  # uint64: fingerprint of a business or association (0 for a household)

    @property
    def n(self) -> int:
        return len(self.seq)

    def take(self, rows: np.ndarray) -> KindRows:
        return KindRows(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @staticmethod
    def joined(parts: Sequence[KindRows]) -> KindRows:
        if not parts:
            return KindsEncoder().encode([])
        return KindRows(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(KindRows)})


def _fingerprint(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


class KindsEncoder:
    """Turns validated household, business and association records into `KindRows`."""

    def __init__(self) -> None:
        self._country = {c: i for i, c in enumerate(vocabulary("residence_country"))}
        self._sector = {c: i for i, c in enumerate(kinds_domain("sector"))}
        self._size = {c: i for i, c in enumerate(kinds_domain("size"))}
        self._field = {c: i for i, c in enumerate(kinds_domain("field"))}
        self._members = {c: i for i, c in enumerate(kinds_domain("members_band"))}

    def encode(self, records: Iterable[tuple[int, Mapping[str, Any]]]) -> KindRows:
        cols: dict[str, list[Any]] = {f.name: [] for f in fields(KindRows)}
        for seq, record in records:
            kind = _KIND[record["kind"]]
            cols["seq"].append(seq)
            cols["kind"].append(kind)
            if kind == HOUSEHOLD:
                cols["country"].append(self._country[record["residence_country"]])
                cols["category"].append(_MISSING)
                cols["band"].append(1 + len(record["members"]))
                cols["trades"].append(False)
                cols["invests"].append(False)
                cols["same"].append(0)
                continue
            cols["country"].append(self._country[record["country"]])
            if kind == BUSINESS:
                cols["category"].append(self._sector[record["sector"]])
                cols["band"].append(self._size[record["size"]])
                cols["trades"].append(record["trades_with_home"])
                cols["invests"].append(record["invests_in_home"])
                what = record["sector"]
            else:
                cols["category"].append(self._field[record["field"]])
                cols["band"].append(self._members[record["members_band"]])
                cols["trades"].append(False)
                cols["invests"].append(False)
                what = record["field"]
            email = record["contact"]["email"].strip().casefold()
            cols["same"].append(_fingerprint(record["kind"], record["country"], what, email))
        return KindRows(
            seq=np.array(cols["seq"], dtype=np.int64),
            kind=np.array(cols["kind"], dtype=np.int8),
            country=np.array(cols["country"], dtype=np.int16),
            category=np.array(cols["category"], dtype=np.int16),
            band=np.array(cols["band"], dtype=np.int16),
            trades=np.array(cols["trades"], dtype=bool),
            invests=np.array(cols["invests"], dtype=bool),
            same=np.array(cols["same"], dtype=np.uint64),
        )


def standing(rows: KindRows) -> np.ndarray:
    """The rows that count: every household, and of the businesses (associations) with one
    fingerprint, the latest (highest seq). Registrations of one registrant code are resolved
    before (`keyholder_cli.publishing.opening.resolve_controls`)."""
    organisation = rows.kind != HOUSEHOLD
    idx = np.flatnonzero(organisation)
    order = idx[np.lexsort((rows.seq[idx], rows.same[idx]))]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = rows.same[order][1:] != rows.same[order][:-1]
    return np.sort(np.concatenate([np.flatnonzero(~organisation), order[last]]))


@dataclass(frozen=True)
class Population:
    """Counted things other than persons (`name`: households, businesses, associations),
    `n` of them, and their tables; protected on their own (publication.protection)."""

    name: str
    n: int
    tables: list[Table]


def _table(name: str, dims: tuple[str, ...], counts: Counter[tuple[str, ...]], population: str) -> Table:
    categories = []
    for i, dim in enumerate(dims):
        full = kinds_domain(dim)
        if dim.endswith("_country"):  # listed only where something is, as the person tables' countries
            seen = {key[i] for key in counts}
            full = tuple(c for c in full if c in seen)
        categories.append(full)
    return Table(name, dims, tuple(categories), dict(counts), notes={"population": population})


def _codes(values: np.ndarray, labels: Sequence[str]) -> Counter[tuple[str, ...]]:
    counts = np.bincount(values.astype(np.int64), minlength=len(labels))
    return Counter({(labels[i],): int(counts[i]) for i in np.flatnonzero(counts).tolist()})


def _pairs(a: np.ndarray, a_labels: Sequence[str], b: np.ndarray, b_labels: Sequence[str]) -> Counter[tuple[str, ...]]:
    width = len(b_labels)
    counts = np.bincount(a.astype(np.int64) * width + b, minlength=len(a_labels) * width)
    cells = np.flatnonzero(counts).tolist()
    return Counter({(a_labels[i // width], b_labels[i % width]): int(counts[i]) for i in cells})


def count_kinds(rows: KindRows) -> list[Population]:
    """The households, businesses and associations of `rows` (the standing ones) counted."""
    countries = vocabulary("residence_country")
    out = []
    households = rows.take(np.flatnonzero(rows.kind == HOUSEHOLD))
    size = np.minimum(households.band, 7) - 2  # 2 … 6 people, then 7 or more
    out.append(
        Population(
            "households",
            households.n,
            [_table("household_size", ("household_size",), _codes(size, HOUSEHOLD_SIZES), "households")],
        )
    )
    b = rows.take(np.flatnonzero(rows.kind == BUSINESS))
    sectors = kinds_domain("sector")
    business = [
        _table(
            "business_country_by_sector",
            ("business_country", "sector"),
            _pairs(b.country, countries, b.category, sectors),
            "businesses",
        ),
        _table("business_size", ("size",), _codes(b.band, kinds_domain("size")), "businesses"),
        _table("business_trades_with_home", ("trades_with_home",), _codes(~b.trades, YES_NO), "businesses"),
        _table("business_invests_in_home", ("invests_in_home",), _codes(~b.invests, YES_NO), "businesses"),
    ]
    out.append(Population("businesses", b.n, business))
    a = rows.take(np.flatnonzero(rows.kind == ASSOCIATION))
    association = [
        _table(
            "association_country_by_field",
            ("association_country", "field"),
            _pairs(a.country, countries, a.category, kinds_domain("field")),
            "associations",
        ),
        _table("association_members", ("members_band",), _codes(a.band, kinds_domain("members_band")), "associations"),
    ]
    out.append(Population("associations", a.n, association))
    return out
