"""Opened records as compact columns: integer codes in numpy arrays.

A publication of millions of records cannot keep a Python dict or tuple of
strings per record (about 1.7 KB each). Records are turned into columns as
soon as they are opened, in the opening workers, one chunk at a time:

- every categorical answer (countries, sex, status, ...) becomes its index
  in the schema's list of values (`vocabulary`), -1 when not given;
- the birth date becomes the integer yyyymmdd; the engagement options
  ticked become a bit mask;
- a household member's row (docs/formats.md section 13: a record with
  `relationship`) is marked `member`, so that de-duplication prefers a
  person's own registration to the one a relative made for them;
- names, the city and the e-mail address become ids into a table of
  distinct strings. What is stored is already what de-duplication compares
  (a name's phonetic key, the normalised city, the case-folded address), so
  the typed spellings never leave the worker and the work of folding them is
  done there, on every core.

`ChunkEncoder` (in a worker) makes a `Chunk` of a few thousand records;
`RecordsBuilder` (in the parent) appends chunks, mapping each chunk's own
string ids onto one shared table, and `build()` gives the `Records`. About
50 bytes per record, plus the distinct strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

import schemas

from .linkage.names import normalise, phonetic

__all__ = ["CATEGORICAL", "ENGAGEMENT", "Chunk", "ChunkEncoder", "Records", "RecordsBuilder", "vocabulary"]

# The categorical answers kept per record, in column order.
CATEGORICAL = (
    "origin_country",
    "sex",
    "residence_country",
    "origin_municipality",
    "status",
    "education_level",
    "field_of_study",
    "occupation",
    "emigration_reason",
)
_MISSING = -1
# Folding a name or a city costs a few microseconds; a worker sees the same few
# thousand spellings again and again. Bounded, so ten million typos cannot grow it.
_CACHE = 1 << 16


def vocabulary(field: str) -> tuple[str, ...]:
    """The values the registration schema allows for a categorical answer, in its order."""
    schema = schemas.load("registration.schema.json")
    prop = schema["properties"][field]
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[1]]
    return tuple(prop["enum"])


def _engagement_options() -> tuple[str, ...]:
    return tuple(schemas.load("registration.schema.json")["properties"]["engagement"]["items"]["enum"])


ENGAGEMENT = _engagement_options()


@lru_cache(maxsize=_CACHE)
def _name_key(typed: str) -> str:
    return phonetic(normalise(typed))


@lru_cache(maxsize=_CACHE)
def _city_key(typed: str) -> str:
    return normalise(typed)


@dataclass(frozen=True)
class Chunk:
    """A few thousand opened records as columns; string ids are local to the chunk."""

    seq: np.ndarray  # int64
    codes: np.ndarray  # int16 (n, len(CATEGORICAL)), -1 missing
    birth: np.ndarray  # int32 yyyymmdd
    engagement: np.ndarray  # uint8, bit i = ENGAGEMENT[i] ticked
    names: np.ndarray  # int32 (n, 2): given and family, ids into name_keys, -1 when the key is empty
    name_keys: list[str]
    city: np.ndarray  # int32 ids into cities, -1 missing
    cities: list[str]
    email: np.ndarray  # int32 ids into emails, -1 missing
    emails: list[str]
    member: np.ndarray  # bool: a household member's row


class ChunkEncoder:
    """Turns validated `dvr-registration/1` records into a `Chunk` (run in the workers)."""

    def __init__(self) -> None:
        # One lookup per answer, an absent answer (None) included: -1.
        self._codes = [{None: _MISSING, **{v: i for i, v in enumerate(vocabulary(f))}} for f in CATEGORICAL]
        self._bits = {option: 1 << i for i, option in enumerate(ENGAGEMENT)}

    def encode(self, records: Iterable[tuple[int, Mapping[str, Any]]]) -> Chunk:
        """The columns of `records` (seq, record) in the order given. Per record this is
        a few C-level maps and dict lookups: it runs once per envelope, on every core."""
        seqs: list[int] = []
        codes: list[int] = []
        births: list[int] = []
        ticks: list[int] = []
        names: list[int] = []
        cities: list[int] = []
        emails: list[int] = []
        members: list[bool] = []
        name_ids: dict[str, int] = {}
        city_ids: dict[str, int] = {}
        email_ids: dict[str, int] = {}
        tables = self._codes
        lookup = dict.__getitem__
        bits = self._bits
        for seq, record in records:
            get = record.get
            seqs.append(seq)
            codes.extend(map(lookup, tables, map(get, CATEGORICAL)))
            births.append(int(record["birth_date"].replace("-", "")))  # the schema's pattern: yyyy-mm-dd
            ticked = get("engagement")
            ticks.append(sum(map(bits.__getitem__, ticked)) if ticked else 0)
            key = _name_key(record["given_name"])
            names.append(name_ids.setdefault(key, len(name_ids)) if key else _MISSING)
            key = _name_key(record["family_name"])
            names.append(name_ids.setdefault(key, len(name_ids)) if key else _MISSING)
            city = get("residence_city")
            key = _city_key(city) if city else ""
            cities.append(city_ids.setdefault(key, len(city_ids)) if key else _MISSING)
            email = get("email")
            key = email.strip().casefold() if email else ""
            emails.append(email_ids.setdefault(key, len(email_ids)) if key else _MISSING)
            members.append("relationship" in record)
        n = len(seqs)
        return Chunk(
            seq=np.array(seqs, dtype=np.int64),
            codes=np.array(codes, dtype=np.int16).reshape(n, len(CATEGORICAL)),
            birth=np.array(births, dtype=np.int32),
            engagement=np.array(ticks, dtype=np.uint8),
            names=np.array(names, dtype=np.int32).reshape(n, 2),
            name_keys=list(name_ids),
            city=np.array(cities, dtype=np.int32),
            cities=list(city_ids),
            email=np.array(emails, dtype=np.int32),
            emails=list(email_ids),
            member=np.array(members, dtype=bool),
        )


@dataclass(frozen=True)
class Records:
    """Every opened, valid record, as columns (row i of every column is record i)."""

    seq: np.ndarray  # int64
    codes: np.ndarray  # int16 (n, len(CATEGORICAL)), -1 missing
    birth: np.ndarray  # int32 yyyymmdd
    engagement: np.ndarray  # uint8 bit mask over ENGAGEMENT
    given: np.ndarray  # int32 id into name_keys, -1 when empty
    family: np.ndarray
    name_keys: np.ndarray  # object array: distinct phonetic name keys
    city: np.ndarray  # int32 id into cities, -1 missing
    cities: np.ndarray  # object array: distinct normalised cities
    email: np.ndarray  # int32 id into emails, -1 missing
    emails: np.ndarray  # object array: distinct case-folded e-mail addresses
    member: np.ndarray  # bool: a household member's row (not the person's own registration)

    @property
    def n(self) -> int:
        return len(self.seq)

    def column(self, field: str) -> np.ndarray:
        """The codes of one categorical answer (indexes into `vocabulary(field)`, -1 missing)."""
        return np.asarray(self.codes[:, CATEGORICAL.index(field)])

    @property
    def nbytes(self) -> int:
        """Bytes held by the numeric columns (not counting the distinct strings)."""
        arrays = (self.seq, self.codes, self.birth, self.engagement, self.given, self.family, self.city, self.email)
        return sum(a.nbytes for a in arrays) + self.member.nbytes


def _merge(shared: dict[str, int], local: list[str], ids: np.ndarray) -> np.ndarray:
    """A chunk's local string ids as ids into the shared table (which grows)."""
    if not local:
        return ids
    remap = np.array([shared.setdefault(s, len(shared)) for s in local], dtype=np.int32)
    return np.where(ids >= 0, remap[np.maximum(ids, 0)], _MISSING).astype(np.int32)


def _table(shared: dict[str, int]) -> np.ndarray:
    out = np.empty(len(shared), dtype=object)
    out[:] = list(shared)
    return out


class RecordsBuilder:
    """Collects `Chunk`s in the parent, in the order given, into one `Records`."""

    def __init__(self) -> None:
        self._chunks: list[Chunk] = []
        self._names: dict[str, int] = {}
        self._cities: dict[str, int] = {}
        self._emails: dict[str, int] = {}
        self.n = 0

    def add(self, chunk: Chunk) -> None:
        names = _merge(self._names, chunk.name_keys, chunk.names)
        city = _merge(self._cities, chunk.cities, chunk.city)
        email = _merge(self._emails, chunk.emails, chunk.email)
        # Keep only the arrays; the chunk's string lists are dropped here.
        self._chunks.append(
            Chunk(chunk.seq, chunk.codes, chunk.birth, chunk.engagement, names, [], city, [], email, [], chunk.member)
        )
        self.n += len(chunk.seq)

    def build(self) -> Records:
        chunks, self._chunks = self._chunks, []

        def joined(attr: str, dtype: type, shape: tuple[int, ...] = ()) -> np.ndarray:
            parts = [getattr(c, attr) for c in chunks]
            return np.concatenate(parts) if parts else np.zeros((0, *shape), dtype=dtype)

        names = joined("names", np.int32, (2,))
        records = Records(
            seq=joined("seq", np.int64),
            codes=joined("codes", np.int16, (len(CATEGORICAL),)),
            birth=joined("birth", np.int32),
            engagement=joined("engagement", np.uint8),
            given=np.ascontiguousarray(names[:, 0]),
            family=np.ascontiguousarray(names[:, 1]),
            name_keys=_table(self._names),
            city=joined("city", np.int32),
            cities=_table(self._cities),
            email=joined("email", np.int32),
            emails=_table(self._emails),
            member=joined("member", bool),
        )
        self._names, self._cities, self._emails = {}, {}, {}
        return records
