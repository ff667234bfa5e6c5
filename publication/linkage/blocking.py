"""Encoding people into integer columns and finding candidate pairs by blocking.

Everything here is vectorised with numpy: each distinct string is normalised
once (`pandas.factorize` finds the distinct values in C), records become
integer ids, and candidate pairs come from sorting hashed blocking keys —
never from a Python loop over records or pairs.

Blocking passes (a pair is a candidate if it shares a key in *any* pass, so a
wrong value in one field cannot hide it):

| pass | key | finds, despite |
| --- | --- | --- |
| 1 | birth date + a word of either name | a typo in the other name, swapped names, shortened compound, other script |
| 2 | sorted (given, first family word) + birth year | a typo in the birth day or month, or day/month swapped |
| 3 | sorted (given, first family word) + birth month and day | a typo in the birth year |
| 4 | sorted (first 3, first 3 letters) + birth year + sex | a name typo *and* a day/month typo together |
| 5 | sorted initials of both names + birth date | a typo in each name |
| 6 | e-mail address | anything, when both gave the same address |
| 7 | sorted (given, first family word) alone, 3 nearest dates only | a missing or badly wrong birth date |
| 8 | birth date + city of residence | both names badly typed |
| 9 | a word of either name + the other's initial + birth month and day | a typo in the other name *and* in the year |
| 10 | the same + birth year and month | a typo in a name and in the day |
| 11 | the same + birth year and day | a typo in a name and in the month |
| 12 | the same + birth year and {day, month} | a typo in a name, day and month swapped |

Within a key, records are sorted (by birth date, then submission order) and
each is paired with at most `window` following records, so a very common key
(a popular name in pass 7) costs O(window) pairs per record rather than
O(block size): the work stays near-linear in the number of people.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from ..columns import Records, vocabulary
from .names import normalise, phonetic

__all__ = ["Encoded", "PersonLike", "candidate_pairs", "encode", "encode_records"]


class PersonLike(Protocol):
    """The identity fields `encode` reads (dedup.Person has them; a protocol, since dedup imports this module)."""

    @property
    def seq(self) -> int: ...
    @property
    def given_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def birth_date(self) -> str: ...
    @property
    def sex(self) -> str: ...
    @property
    def origin_country(self) -> str: ...
    @property
    def origin_municipality(self) -> str: ...
    @property
    def residence_country(self) -> str: ...
    @property
    def residence_city(self) -> str: ...
    @property
    def email(self) -> str: ...


_MISSING = -1
SPARSE_WINDOW = 3  # pass 7 (names only) compares each record with its 3 nearest birth dates
NAME_DATE_WINDOW = 8  # passes 9 and 10 compare each record with the 8 nearest birth dates of its key
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True, slots=True)
class Encoded:
    """People as integer columns. Name ids index `keys` (phonetic strings)."""

    n: int
    keys: np.ndarray  # object array of distinct phonetic name strings
    given: np.ndarray  # int32 id into keys, -1 when empty
    family: np.ndarray  # int32 id into keys, -1 when empty
    word_first: np.ndarray  # int32 per key id: id of its first word
    word_last: np.ndarray  # int32 per key id: id of its last word
    word_count: np.ndarray  # int8 per key id
    key_freq: np.ndarray  # float64 per key id: share of records using it (given or family)
    date: np.ndarray  # int32 yyyymmdd, 0 when missing
    sex: np.ndarray  # int8: 0 unknown/other, 1 female, 2 male
    origin: np.ndarray  # int32 codes, -1 missing
    municipality: np.ndarray
    residence: np.ndarray
    city: np.ndarray  # int32 id into cities, -1 missing
    cities: np.ndarray  # object array of distinct normalised city names
    city_lengths: np.ndarray
    email: np.ndarray  # int32 id into emails, -1 missing
    emails: np.ndarray  # object array of distinct normalised e-mails
    seq: np.ndarray  # int64


def _codes(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray(uniques, dtype=object)


def _category(values: Sequence[str]) -> np.ndarray:
    codes, uniques = _codes(values)
    empty = np.array([u == "" for u in uniques], dtype=bool)
    out = codes.copy()
    if empty.any():
        out[empty[codes]] = _MISSING
    return out


def _names(given: Sequence[str], family: Sequence[str]) -> tuple[np.ndarray, ...]:
    n = len(given)
    raw_codes, raw_uniques = _codes(list(given) + list(family))
    key_of_raw = [phonetic(normalise(s)) for s in raw_uniques]
    key_codes, keys = _codes(key_of_raw)
    ids = key_codes[raw_codes]
    empty = np.array([k == "" for k in keys], dtype=bool)
    ids[empty[ids]] = _MISSING
    return _name_table(keys, ids, n)


def _name_table(keys: np.ndarray, ids: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """From distinct keys and the ids of every given name then every family name
    (-1 = empty), the key table with each key's words, and the ids into it."""
    # Words of each key, in the same id space so a word can match a whole name.
    words = [k.split() or [""] for k in keys]
    all_keys = list(keys) + [w for ws in words for w in ws]
    all_codes, all_uniques = _codes(all_keys)
    flat = all_codes[len(keys) :]
    counts = np.array([len(ws) for ws in words], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    first = flat[starts] if len(keys) else np.zeros(0, np.int32)
    last = flat[starts + counts - 1] if len(keys) else np.zeros(0, np.int32)
    # Re-index names into the enlarged table (keys first, then bare words).
    name_ids = np.where(ids >= 0, all_codes[: len(keys)][np.maximum(ids, 0)], _MISSING).astype(np.int32)
    m = len(all_uniques)
    word_first = np.full(m, -1, np.int32)
    word_last = np.full(m, -1, np.int32)
    word_count = np.ones(m, np.int8)
    own = all_codes[: len(keys)]
    word_first[own] = first
    word_last[own] = last
    word_count[own] = np.minimum(counts, 127)
    # Bare words that are not themselves a key point to themselves.
    lone = word_first < 0
    word_first[lone] = np.nonzero(lone)[0]
    word_last[lone] = np.nonzero(lone)[0]
    valid = name_ids[name_ids >= 0]
    freq = np.bincount(valid, minlength=m).astype(np.float64) / max(n, 1)
    return all_uniques, name_ids[:n], name_ids[n:], word_first, word_last, word_count, freq


def _dates(values: Sequence[str]) -> np.ndarray:
    codes, uniques = _codes(values)
    parsed = np.zeros(len(uniques) + 1, dtype=np.int32)
    for i, text in enumerate(uniques):
        digits = text.replace("-", "") if isinstance(text, str) else ""
        if len(digits) == 8 and digits.isdigit():
            parsed[i] = int(digits)
    return np.asarray(parsed[codes])  # code -1 → the trailing 0 (missing)


def encode(people: Sequence[PersonLike]) -> Encoded:
    """Turn `Person`-like objects into integer columns (one pass per field)."""
    n = len(people)
    keys, given, family, first, last, count, freq = _names(
        [p.given_name for p in people],
        [p.family_name for p in people],
    )
    sex_codes = {"female": 1, "male": 2}
    email_codes, emails = _codes([p.email.strip().casefold() for p in people])
    empty_email = np.array([e == "" for e in emails], dtype=bool)
    if empty_email.any():
        email_codes[empty_email[email_codes]] = _MISSING
    raw_city, raw_cities = _codes([p.residence_city for p in people])
    city_of_raw, cities = _codes([normalise(c) for c in raw_cities])
    city = city_of_raw[raw_city] if len(raw_city) else raw_city
    empty_city = np.array([c == "" for c in cities], dtype=bool)
    if empty_city.any():
        city[empty_city[city]] = _MISSING
    return Encoded(
        n=n,
        keys=keys,
        given=given,
        family=family,
        word_first=first,
        word_last=last,
        word_count=count,
        key_freq=freq,
        date=_dates([p.birth_date for p in people]),
        sex=np.array([sex_codes.get(p.sex, 0) for p in people], dtype=np.int8),
        origin=_category([p.origin_country for p in people]),
        municipality=_category([p.origin_municipality for p in people]),
        residence=_category([p.residence_country for p in people]),
        city=city,
        cities=cities,
        city_lengths=np.array([len(c) for c in cities], dtype=np.int32),
        email=email_codes,
        emails=emails,
        seq=np.array([p.seq for p in people], dtype=np.int64),
    )


def encode_records(records: Records) -> Encoded:
    """The `Encoded` columns of opened `Records` (whose names are keys already)."""
    n = records.n
    # The scoring indexes a table with max(id, 0) before it masks missing ids: never an empty table.
    name_keys = records.name_keys if len(records.name_keys) else np.array([""], dtype=object)
    cities = records.cities if len(records.cities) else np.array([""], dtype=object)
    keys, given, family, first, last, count, freq = _name_table(
        name_keys, np.concatenate([records.given, records.family]), n
    )
    sex_vocabulary = vocabulary("sex")
    sex_of_code = np.zeros(len(sex_vocabulary) + 1, dtype=np.int8)  # the last entry: not given
    sex_of_code[sex_vocabulary.index("female")] = 1
    sex_of_code[sex_vocabulary.index("male")] = 2
    return Encoded(
        n=n,
        keys=keys,
        given=given,
        family=family,
        word_first=first,
        word_last=last,
        word_count=count,
        key_freq=freq,
        date=records.birth,
        sex=sex_of_code[records.column("sex")],
        origin=records.column("origin_country").astype(np.int32),
        municipality=records.column("origin_municipality").astype(np.int32),
        residence=records.column("residence_country").astype(np.int32),
        city=records.city,
        cities=cities,
        city_lengths=np.array([len(c) for c in cities], dtype=np.int32),
        email=records.email,
        emails=records.emails,
        seq=records.seq,
    )


def _mix(*parts: np.ndarray) -> np.ndarray:
    h = np.zeros(len(parts[0]), dtype=np.uint64)
    for part in parts:
        h ^= part.astype(np.int64).astype(np.uint64)
        h *= _M1
        h ^= h >> np.uint64(29)
        h *= _M2
    h ^= h >> np.uint64(32)
    h *= _M3
    return h


def _prefix_ids(keys: np.ndarray, ids: np.ndarray, width: int) -> np.ndarray:
    codes, _ = _codes([k[:width] for k in keys])
    out = np.where(ids >= 0, codes[np.maximum(ids, 0)], _MISSING)
    return out.astype(np.int32)


def _block_keys(e: Encoded, window: int) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(hashed key, record index, window) per pass; one entry per record and key.
    One pass at a time, so that only one pass's keys are in memory at once."""
    idx = np.arange(e.n, dtype=np.int64)
    year, mmdd = e.date // 10000, e.date % 10000
    has_date = e.date > 0
    fam1 = np.where(e.family >= 0, e.word_first[np.maximum(e.family, 0)], _MISSING)
    lo, hi = np.minimum(e.given, fam1), np.maximum(e.given, fam1)
    both = (e.given >= 0) & (fam1 >= 0)
    g3, f3 = _prefix_ids(e.keys, e.given, 3), _prefix_ids(e.keys, fam1, 3)
    lo3, hi3 = np.minimum(g3, f3), np.maximum(g3, f3)
    g1, f1 = _prefix_ids(e.keys, e.given, 1), _prefix_ids(e.keys, fam1, 1)
    lo1, hi1 = np.minimum(g1, f1), np.maximum(g1, f1)

    def add(pass_no: int, width: int, mask: np.ndarray, *parts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        tag = np.full(int(mask.sum()), pass_no, dtype=np.int64)
        return _mix(tag, *(p[mask] for p in parts)), idx[mask], width

    last = np.where(e.family >= 0, e.word_last[np.maximum(e.family, 0)], _MISSING)
    last[last == fam1] = _MISSING  # a one-word family name emits one key, not two
    words = np.concatenate([e.given, fam1, last])
    dates = np.tile(e.date, 3)
    mask = (dates > 0) & (words >= 0)
    tag = np.full(int(mask.sum()), 1, dtype=np.int64)
    yield _mix(tag, dates[mask], words[mask]), np.tile(idx, 3)[mask], window
    del words, dates, mask, tag
    yield add(2, window, has_date & both, lo, hi, year)
    yield add(3, window, has_date & both, lo, hi, mmdd)
    yield add(4, window, has_date & both, lo3, hi3, year, e.sex)
    yield add(5, window, has_date & both, lo1, hi1, e.date)
    yield add(6, window, e.email >= 0, e.email)
    yield add(7, SPARSE_WINDOW, both, lo, hi)
    yield add(8, window, has_date & (e.city >= 0), e.date, e.city)
    # Passes 9 to 12: one name word as typed, the other name's initial, and all of the
    # birth date but the part a typo changed: the year (9), the day (10), the month (11),
    # or which of day and month is which (12). Both orientations of the names get the
    # same tag, so swapped names keep their keys. They find a typo in one name *and* one
    # in the birth date, which every pass above misses, in blocks small enough to leave
    # the work near-linear.
    word = np.concatenate([e.given, fam1])
    initial = np.concatenate([f1, g1])
    two = np.concatenate([idx, idx])
    month, day = mmdd // 100, mmdd % 100
    date_parts = (
        (9, (mmdd,)),
        (10, (year, month)),
        (11, (year, day)),
        (12, (year, np.minimum(month, day) * 100 + np.maximum(month, day))),
    )
    mask = (word >= 0) & (initial >= 0) & np.tile(has_date, 2)
    for pass_no, parts in date_parts:
        tags = np.full(int(mask.sum()), pass_no, dtype=np.int64)
        tiled = (np.tile(part, 2)[mask] for part in parts)
        yield _mix(tags, word[mask], initial[mask], *tiled), two[mask], min(NAME_DATE_WINDOW, window)


def _window_pairs(keys: np.ndarray, recs: np.ndarray, order_by: np.ndarray | None, window: int) -> np.ndarray:
    """Pair each entry with the next `window` entries of the same key
    (ordered by `order_by` within a key, else by record)."""
    order = np.argsort(keys, kind="stable") if order_by is None else np.lexsort((order_by, keys))
    k, r = keys[order], recs[order]
    pos = np.nonzero(k[1:] == k[:-1])[0]
    found = []
    for d in range(1, window + 1):
        if d > 1:
            pos = pos[(pos + d < len(k))]
            pos = pos[k[pos + d] == k[pos]]
        if len(pos) == 0:
            break
        found.append(_pair_code(r[pos], r[pos + d]))
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _pair_code(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.asarray((lo << np.int64(32)) | hi)


def _distinct(codes: np.ndarray) -> np.ndarray:
    codes = np.sort(codes)
    keep = np.ones(len(codes), dtype=bool)
    keep[1:] = codes[1:] != codes[:-1]
    return codes[keep]


def candidate_pairs(e: Encoded, window: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """All distinct candidate pairs (i < j) from every blocking pass."""
    found = []
    for keys, recs, width in _block_keys(e, window):
        order_by = e.date[recs] if width < window else None
        found.append(_window_pairs(keys, recs, order_by, width))
    codes = _distinct(np.concatenate(found)) if found else np.zeros(0, np.int64)
    del found
    lo, hi = (codes >> np.int64(32)).astype(np.int32), (codes & np.int64(0xFFFFFFFF)).astype(np.int32)
    del codes
    keep = lo != hi
    return lo[keep], hi[keep]  # int32: record indexes, half the memory of int64 per pair
