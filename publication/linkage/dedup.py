"""Find the registrations that belong to the same person; keep the latest.

Pipeline (docs/deduplication.md has the full rule and its known errors):

1. `blocking.encode`: every distinct name is normalised and transliterated
   once (`names.normalise` → `names.phonetic`); records become integer columns.
2. `blocking.candidate_pairs`: eight hashed blocking passes, windowed, give the
   candidate pairs — near-linear in the number of people.
3. `_score`: each candidate pair gets a Fellegi–Sunter style evidence score
   in bits (log2 of how much likelier the agreement pattern is for the same
   person than for two people). Names are compared with rapidfuzz's OSA
   distance (`process.cpdist`, vectorised, all cores); exact name agreement is
   weighted by how rare the name is. Different sex (both stated) or
   different origin country is a veto.
4. A pair is a match when its score reaches `log2(len(people)) + MARGIN`:
   the more people, the more chance two of them share a name and birthday,
   so the more evidence a match needs.
5. Matches are joined with a union–find; in each cluster the member with the
   highest `seq` (the latest submission) stands for the person, a person's
   own registration before any household member row naming them. Two rows
   of one submission (the persons of a household) are never a match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA
from rapidfuzz.process import cpdist

from ..columns import Records
from .blocking import Encoded, candidate_pairs, encode, encode_records

__all__ = [
    "MARGIN",
    "MIN_REPEAT_SHARE",
    "MIN_THRESHOLD",
    "WEIGHTS",
    "DedupResult",
    "Person",
    "decision_threshold",
    "find_duplicates",
    "find_duplicates_in",
    "person_from_record",
]

# Evidence weights in bits; see docs/deduplication.md for where each comes from.
WEIGHTS = {
    "name_exact_max": 10.0,  # cap of the frequency-based exact-name weight
    "name_exact_min": 2.0,
    "name_m": 0.9,  # share of true pairs whose name agrees exactly
    "name_close": 3.0,  # similarity ≥ 0.8: one typo in a 5+ letter name
    "name_weak": 0.0,  # similarity ≥ 0.65
    "given_disagree": -8.0,
    "family_disagree": -9.0,
    "swap_penalty": 1.0,
    "compound_penalty": 1.0,
    "date_exact": 13.0,
    "date_typo": 5.0,  # one digit changed
    "date_transposed": 9.0,  # two adjacent digits swapped, or day ↔ month: rarer between strangers
    "date_near": -1.0,  # two digits differ
    "date_disagree": -7.0,
    "sex_agree": 1.0,
    "origin_agree": 1.0,
    "municipality_agree": 3.0,
    "municipality_disagree": -4.0,
    "residence_agree": 2.0,
    "residence_disagree": -4.5,
    "city_agree": 3.0,
    "city_close": 2.0,
    "city_disagree": -1.0,
    "email_agree": 14.0,
    "email_close": 6.0,
    "email_disagree": -2.0,
}
MARGIN = 1.5
MIN_THRESHOLD = 12.0
MIN_REPEAT_SHARE = 0.01
_CLOSE, _WEAK = 0.8, 0.65
_CHUNK = 1_000_000
_VETO = -1e9
_RANK_BITS = 48  # a seq is below 2**48


class Person(NamedTuple):
    """The identity fields of one valid record. Empty string = not given.
    (A named tuple: publish makes one per record, five times faster than a
    frozen dataclass.)"""

    seq: int
    given_name: str
    family_name: str
    birth_date: str
    origin_country: str
    sex: str
    residence_country: str = ""
    origin_municipality: str = ""
    residence_city: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class DedupResult:
    """`representative[i]` is the index (into `people`) of the record that
    stands for record i's person: the cluster member with the highest seq."""

    representative: np.ndarray
    pairs_compared: int
    matched_pairs: int
    clusters: int  # groups of two or more records judged to be one person

    @property
    def kept(self) -> np.ndarray:
        """Indexes of the records that stand (each its own representative)."""
        return np.nonzero(self.representative == np.arange(len(self.representative)))[0]

    @property
    def registrants(self) -> int:
        return len(self.kept)

    @property
    def pairs_per_record(self) -> float:
        return self.pairs_compared / max(len(self.representative), 1)


def _distance(strings: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OSA distance between strings[a] and strings[b], computed once per
    distinct pair of ids (0 when the ids are equal)."""
    dist = np.zeros(len(a), dtype=np.int32)
    differ = np.nonzero(a != b)[0]
    if len(differ):
        lo, hi = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
        code = lo.astype(np.int64) * np.int64(len(strings) + 1) + hi
        which, distinct = pd.factorize(code)
        left, right = distinct // (len(strings) + 1), distinct % (len(strings) + 1)
        found = cpdist(strings[left], strings[right], scorer=OSA.distance, workers=-1).ravel()
        dist[differ] = found[which]
    return dist


def _sim(keys: np.ndarray, lengths: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OSA distance and normalised similarity of two id columns (-1 = missing);
    a one-edit difference in a name of 4+ letters counts as similarity 1."""
    present = (a >= 0) & (b >= 0)
    ia, ib = np.maximum(a, 0), np.maximum(b, 0)
    dist = _distance(keys, ia, ib)
    longest = np.maximum(np.maximum(lengths[ia], lengths[ib]), 1)
    sim = np.where(present, 1.0 - dist / longest, -1.0)
    close = present & (((dist == 1) & (longest >= 4)) | (sim >= _CLOSE))
    return np.where(present, dist, -1), np.where(close, 1.0, sim)


def _part_weight(
    e: Encoded, lengths: np.ndarray, a: np.ndarray, b: np.ndarray, exact_w: np.ndarray, disagree: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weight of one name part, and whether it agreed exactly."""
    dist, sim = _sim(e.keys, lengths, a, b)
    w = WEIGHTS
    out = np.where(sim >= _WEAK, w["name_weak"], disagree)
    out = np.where(sim >= _CLOSE, w["name_close"], out)
    exact = dist == 0
    out = np.where(exact, exact_w[np.maximum(a, 0)], out)
    return np.where(dist >= 0, out, 0.0), exact


def _family_weight(
    e: Encoded, lengths: np.ndarray, fa: np.ndarray, fb: np.ndarray, exact_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    full, exact = _part_weight(e, lengths, fa, fb, exact_w, WEIGHTS["family_disagree"])
    ca = (fa >= 0) & (e.word_count[np.maximum(fa, 0)] > 1)
    cb = (fb >= 0) & (e.word_count[np.maximum(fb, 0)] > 1)
    one = ca ^ cb  # exactly one side is a compound name: was it shortened?
    if not one.any():
        return full, exact
    idx = np.nonzero(one)[0]
    short = np.where(ca[idx], fb[idx], fa[idx])
    long_ = np.where(ca[idx], fa[idx], fb[idx])
    disagree = WEIGHTS["family_disagree"]
    first, _ = _part_weight(e, lengths, short, e.word_first[long_], exact_w, disagree)
    last, _ = _part_weight(e, lengths, short, e.word_last[long_], exact_w, disagree)
    out = full.copy()
    out[idx] = np.maximum(full[idx], np.maximum(first, last) - WEIGHTS["compound_penalty"])
    return out, exact


def _names_weight(
    e: Encoded, a: np.ndarray, b: np.ndarray, lengths: np.ndarray, tf: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Best of the straight and the swapped reading of the two names.

    When both parts agree exactly the weight comes from how common the whole
    name is (given and family names are not independent); otherwise the parts
    add up, each exact part weighted by how common it is."""
    exact_w, full_w, full_code = tf
    w = WEIGHTS
    ga, gb, fa, fb = e.given[a], e.given[b], e.family[a], e.family[b]
    g, g_exact = _part_weight(e, lengths, ga, gb, exact_w, w["given_disagree"])
    f, f_exact = _family_weight(e, lengths, fa, fb, exact_w)
    sg, sg_exact = _part_weight(e, lengths, ga, fb, exact_w, w["given_disagree"])
    sf, sf_exact = _part_weight(e, lengths, fa, gb, exact_w, w["family_disagree"])
    whole = full_w[full_code[a]]
    straight = np.where(g_exact & f_exact, whole, g + f)
    swapped = np.where(sg_exact & sf_exact, whole, sg + sf) - w["swap_penalty"]
    return np.asarray(np.maximum(straight, swapped))


def _date_weight(da: np.ndarray, db: np.ndarray) -> np.ndarray:
    w = WEIGHTS
    present = (da > 0) & (db > 0)
    powers = 10 ** np.arange(7, -1, -1, dtype=np.int32)
    ga, gb = (da[:, None] // powers) % 10, (db[:, None] // powers) % 10
    diff = ga != gb
    ndiff = diff.sum(axis=1)
    swapped = diff[:, :-1] & diff[:, 1:] & (ga[:, :-1] == gb[:, 1:]) & (ga[:, 1:] == gb[:, :-1])
    transposed = (ndiff == 2) & swapped.any(axis=1)
    ya, yb = da // 10000, db // 10000
    ma, mb, dda, ddb = (da // 100) % 100, (db // 100) % 100, da % 100, db % 100
    day_month = (ya == yb) & (ma == ddb) & (dda == mb)
    out = np.where(ndiff == 2, w["date_near"], w["date_disagree"])
    out = np.where(transposed | day_month, w["date_transposed"], out)
    out = np.where(ndiff == 1, w["date_typo"], out)
    out = np.where(ndiff == 0, w["date_exact"], out)
    return np.where(present, out, 0.0)


def _category_weight(xa: np.ndarray, xb: np.ndarray, agree: float, disagree: float) -> np.ndarray:
    present = (xa >= 0) & (xb >= 0)
    return np.where(present, np.where(xa == xb, agree, disagree), 0.0)


def _score(e: Encoded, a: np.ndarray, b: np.ndarray, lengths: np.ndarray, tf: tuple[np.ndarray, ...]) -> np.ndarray:
    w = WEIGHTS
    score = _names_weight(e, a, b, lengths, tf) + _date_weight(e.date[a], e.date[b])
    sa, sb = e.sex[a], e.sex[b]
    score += np.where((sa > 0) & (sa == sb), w["sex_agree"], 0.0)
    score += _category_weight(e.origin[a], e.origin[b], w["origin_agree"], 0.0)
    score += _category_weight(e.municipality[a], e.municipality[b], w["municipality_agree"], w["municipality_disagree"])
    score += _category_weight(e.residence[a], e.residence[b], w["residence_agree"], w["residence_disagree"])
    city_dist, city_sim = _sim(e.cities, e.city_lengths, e.city[a], e.city[b])
    city = np.where(city_dist == 0, w["city_agree"], np.where(city_sim >= _CLOSE, w["city_close"], w["city_disagree"]))
    score += np.where(city_dist >= 0, city, 0.0)
    ea, eb = e.email[a], e.email[b]
    both = (ea >= 0) & (eb >= 0)
    if both.any():
        idx = np.nonzero(both)[0]
        dist = _distance(e.emails, ea[idx], eb[idx])
        ew = np.where(dist == 0, w["email_agree"], np.where(dist == 1, w["email_close"], w["email_disagree"]))
        score[idx] += ew
    veto = ((sa > 0) & (sb > 0) & (sa != sb)) | ((e.origin[a] >= 0) & (e.origin[b] >= 0) & (e.origin[a] != e.origin[b]))
    return np.where(veto, _VETO, score)


def _frequency_weights(e: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact-agreement weights from how often a name (part, or whole) occurs."""
    w, floor = WEIGHTS, 1.0 / max(e.n, 1)
    exact_w = np.clip(np.log2(w["name_m"] / np.maximum(e.key_freq, floor)), w["name_exact_min"], w["name_exact_max"])
    g, f = e.given.astype(np.int64), e.family.astype(np.int64)
    pair = np.minimum(g, f) * np.int64(len(e.keys) + 1) + np.maximum(g, f)
    full_code, uniques = pd.factorize(pair)
    full_freq = np.bincount(full_code, minlength=len(uniques)) / max(e.n, 1)
    full_w = np.clip(np.log2(w["name_m"] / np.maximum(full_freq, floor)), w["name_exact_min"], None)
    return exact_w, full_w, full_code


def decision_threshold(n: int, scores: np.ndarray) -> float:
    """The score a pair needs: the prior odds against a match, plus MARGIN.

    Among all n(n-1)/2 pairs of records only a few are the same person; the
    prior odds are estimated from how many candidate pairs a first, strict
    cut (log2 n + 2 bits) accepts, and never taken as fewer than
    MIN_REPEAT_SHARE × n (a campaign always has some repeat registrations; a
    clean test population would otherwise demand ever more evidence). A pair
    matches when its evidence outweighs
    those odds by MARGIN bits (posterior odds ≥ 2^MARGIN), and never on less
    than MIN_THRESHOLD bits."""
    all_pairs = max(n * (n - 1) / 2, 1.0)
    first_cut = int((scores >= math.log2(max(n, 2)) + 2.0).sum())
    prior_bits = math.log2(all_pairs / max(first_cut, MIN_REPEAT_SHARE * n, 1.0))
    return max(prior_bits + MARGIN, MIN_THRESHOLD)


class _UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return
        if self.size[rx] < self.size[ry]:
            rx, ry = ry, rx
        self.parent[ry] = rx
        self.size[rx] += self.size[ry]


def _representatives(n: int, rank: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Each record's cluster's member of highest `rank`, and the number of clusters."""
    rep = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return rep, 0
    involved, local = np.unique(np.concatenate([a, b]), return_inverse=True)
    uf = _UnionFind(len(involved))
    la, lb = local[: len(a)].tolist(), local[len(a) :].tolist()
    for x, y in zip(la, lb, strict=True):
        uf.union(x, y)
    roots = np.array([uf.find(i) for i in range(len(involved))], dtype=np.int64)
    order = np.lexsort((rank[involved], roots))  # by root, then rank ascending
    last_of_root = np.full(len(involved), -1, dtype=np.int64)
    last_of_root[roots[order]] = involved[order]  # later (higher rank) writes win
    rep[involved] = last_of_root[roots]
    return rep, len(np.unique(roots))


def find_duplicates(people: Sequence[Person], progress: Callable[[int], None] | None = None) -> DedupResult:
    """Cluster `people` into persons. `progress`, if given, is called with
    increments that add up to `len(people)` over the run."""
    return _find(lambda: encode(people), len(people), progress, None)


def find_duplicates_in(records: Records, progress: Callable[[int], None] | None = None) -> DedupResult:
    """As `find_duplicates`, for opened records held as columns (indexes are rows of `records`).
    A person's own registration stands before a household member's row naming them (the
    relative knew fewer of their answers), the latest of each first."""
    own = (~records.member).astype(np.int64) << np.int64(_RANK_BITS)
    return _find(lambda: encode_records(records), records.n, progress, own | records.seq)


def _find(
    encoded: Callable[[], Encoded], n: int, progress: Callable[[int], None] | None, rank: np.ndarray | None
) -> DedupResult:
    report = progress or (lambda _step: None)
    done = 0

    def advance(fraction: float) -> None:
        nonlocal done
        target = int(n * fraction)
        if target > done:
            report(target - done)
            done = target

    e = encoded()
    advance(0.05)  # from columns, a few bincounts; the pairs and their scores are the work
    a_all, b_all = candidate_pairs(e)
    advance(0.4)
    lengths = np.array([len(k) for k in e.keys], dtype=np.int32)
    tf = _frequency_weights(e)
    total = len(a_all)
    scores = np.empty(total, dtype=np.float32)
    for start in range(0, total, _CHUNK):
        stop = min(start + _CHUNK, total)
        scores[start:stop] = _score(e, a_all[start:stop], b_all[start:stop], lengths, tf)
        advance(0.4 + 0.5 * stop / max(total, 1))
    threshold = decision_threshold(n, scores)
    # Rows of one submission (a household's members and its registrant) are different people by
    # the registrant's word: never linked to each other.
    ok = (scores >= threshold) & (e.seq[a_all] != e.seq[b_all])
    ma, mb = a_all[ok], b_all[ok]
    rep, clusters = _representatives(n, e.seq if rank is None else rank, ma, mb)
    advance(1.0)
    return DedupResult(representative=rep, pairs_compared=total, matched_pairs=len(ma), clusters=clusters)


def person_from_record(seq: int, record: Mapping[str, Any]) -> Person:
    """The `Person` of one validated `dvr-registration/1` record."""
    return Person(
        seq=seq,
        given_name=record["given_name"],
        family_name=record["family_name"],
        birth_date=record["birth_date"],
        origin_country=record["origin_country"],
        sex=record["sex"],
        residence_country=record.get("residence_country", ""),
        origin_municipality=record.get("origin_municipality", ""),
        residence_city=record.get("residence_city", ""),
        email=record.get("email", ""),
    )
