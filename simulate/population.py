"""A seeded population of registrants, with repeat registrations and ground truth.

`generate(n_people, seed)` returns submissions exactly as the browser would
seal them (`{"schema": "dvr-registration/1", "lang": ..., "record": {...}}`,
each record valid against `schemas/registration.schema.json`) in submission
order, and `person_of[i]`, the true person behind submission i.

A share `repeat_rate` of people register more than once. Of the repeat
submissions, a share `typo_share` changes how the person is written, one of:

- `typo`: one character dropped, doubled, swapped with its neighbour or changed;
- `cyrillic`: the name typed in Serbian Cyrillic;
- `ascii`: Albanian ë/ç typed as e/c (falls back to `typo` when there is none);
- `serbian_latin`: the Albanian name in Serbian Latin spelling (xh→dž, gj→đ, q→ć, ç→č, sh→š, zh→ž, ...);
- `swap`: given and family name swapped;
- `compound`: a compound family name shortened to its first part, or a
  short one lengthened by a second family name;

and, independently, with probability `date_typo_rate`, a typo in the birth
date (one digit, two adjacent digits swapped, or day and month swapped).
The rest repeat the person's identity exactly (other answers may change).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import cyrtranslit
import numpy as np

from . import reference as ref

__all__ = ["KINDS", "Population", "generate"]

KINDS = ("typo", "cyrillic", "ascii", "serbian_latin", "swap", "compound")
STATUS_BY_AGE = (
    (25, {"student": 0.55, "employed": 0.3, "self_employed": 0.03, "unemployed": 0.1, "other": 0.02}),
    (65, {"employed": 0.68, "self_employed": 0.14, "student": 0.03, "unemployed": 0.09, "other": 0.06}),
    (200, {"retired": 0.8, "employed": 0.1, "self_employed": 0.05, "other": 0.05}),
)
EDUCATION = {f"isced{i}": w for i, w in enumerate((0.5, 3, 12, 38, 8, 5, 18, 13, 2.5))}
ENGAGEMENT = {
    "investment": 0.12,
    "knowledge_transfer": 0.3,
    "volunteering": 0.22,
    "mentoring": 0.18,
    "business_partnership": 0.15,
    "return": 0.08,
}
REASONS = {"work": 0.45, "family": 0.25, "education": 0.1, "economic": 0.12, "political": 0.05, "other": 0.03}
_SR_LATIN = (
    ("xh", "dž"),
    ("gj", "đ"),
    ("sh", "š"),
    ("zh", "ž"),
    ("ç", "č"),
    ("q", "ć"),
    ("ë", "e"),
    ("y", "i"),
    ("dh", "d"),
    ("th", "t"),
    ("ll", "l"),
    ("rr", "r"),
    ("x", "dz"),
)
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"


@dataclass
class Population:
    """Submissions in order, and the truth: who is who and what was changed."""

    submissions: list[dict] = field(default_factory=list)
    person_of: list[int] = field(default_factory=list)
    kind_of: list[str] = field(default_factory=list)  # "first", "exact" or a KINDS entry (+ "+date")
    n_people: int = 0


def _pick(rng: np.random.Generator, weights: dict, size: int) -> np.ndarray:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=size, p=p / p.sum())]


def _zipf(names: list[str], exponent: float = 0.9) -> dict[str, float]:
    return {name: 1.0 / (rank + 1) ** exponent for rank, name in enumerate(names)}


def _recase(word: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in word.split("-"))


def serbian_latin(name: str) -> str:
    """How a Serbian clerk or keyboard spells an Albanian name."""
    text = name.lower()
    for src, dst in _SR_LATIN:
        text = text.replace(src, dst)
    return " ".join(_recase(w) for w in text.split(" "))


def to_cyrillic(name: str) -> str:
    return cyrtranslit.to_cyrillic(serbian_latin(name), "sr")


def typo(name: str, rnd: random.Random) -> str:
    """One keyboard slip: drop, double, swap neighbours, or change a letter."""
    for _ in range(20):
        i = rnd.randrange(1, len(name)) if len(name) > 1 else 0
        op = rnd.choice(("drop", "double", "swap", "change"))
        if op == "drop" and len(name) > 3:
            out = name[:i] + name[i + 1 :]
        elif op == "double":
            out = name[:i] + name[i] + name[i:]
        elif op == "swap" and i + 1 < len(name):
            out = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        elif op == "change":
            out = name[:i] + rnd.choice(_KEYBOARD) + name[i + 1 :]
        else:
            continue
        if out != name and out.strip() and " " not in (out[0], out[-1]):
            return out
    return name + name[-1]


def date_typo(birth: str, rnd: random.Random, as_of: date) -> str:
    """A birth date with one slip that is still a real, past date."""
    for _ in range(50):
        digits = list(birth.replace("-", ""))
        op = rnd.choice(("digit", "swap", "day_month"))
        if op == "digit":
            i = rnd.choice((2, 3, 4, 5, 6, 7))
            digits[i] = str(rnd.randrange(10))
        elif op == "swap":
            i = rnd.choice((2, 4, 6))
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
        else:
            digits[4:6], digits[6:8] = digits[6:8], digits[4:6]
        text = "".join(digits)
        candidate = f"{text[:4]}-{text[4:6]}-{text[6:]}"
        try:
            parsed = date.fromisoformat(candidate)
        except ValueError:
            continue
        if candidate != birth and date(1900, 1, 2) <= parsed <= as_of:
            return candidate
    return birth


def _vary(record: dict, kind: str, rnd: random.Random) -> str:
    """Apply one identity change in place; return the kind actually applied."""
    given, family = record["given_name"], record["family_name"]
    if kind == "ascii" and not any(c in given + family for c in "ëçËÇ"):
        kind = "typo"
    if kind == "typo":
        key = rnd.choice(("given_name", "family_name"))
        record[key] = typo(record[key], rnd)
    elif kind == "cyrillic":
        record["given_name"], record["family_name"] = to_cyrillic(given), to_cyrillic(family)
    elif kind == "ascii":
        table = str.maketrans("ëçËÇ", "ecEC")
        record["given_name"], record["family_name"] = given.translate(table), family.translate(table)
    elif kind == "serbian_latin":
        record["given_name"], record["family_name"] = serbian_latin(given), serbian_latin(family)
    elif kind == "swap":
        record["given_name"], record["family_name"] = family, given
    elif kind == "compound":
        parts = family.replace("-", " ").split()
        if len(parts) > 1:
            record["family_name"] = parts[0]
        else:
            record["family_name"] = f"{family}-{rnd.choice(ref.ALBANIAN_FAMILY)}"
    return kind


def _identity(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    origin = _pick(rng, ref.ORIGINS, n)
    serbian = rng.random(n) < np.array([ref.SERBIAN_SHARE[o] for o in origin])
    sex = _pick(rng, {"female": 48, "male": 49, "other": 0.5, "undisclosed": 2.5}, n)
    female = (sex == "female") | ((sex != "male") & (rng.random(n) < 0.5))
    given = np.where(
        serbian,
        np.where(female, _pick(rng, _zipf(ref.SERBIAN_FEMALE, 0.6), n), _pick(rng, _zipf(ref.SERBIAN_MALE, 0.6), n)),
        np.where(female, _pick(rng, _zipf(ref.ALBANIAN_FEMALE, 0.5), n), _pick(rng, _zipf(ref.ALBANIAN_MALE, 0.5), n)),
    )
    albanian_family = _zipf(ref.ALBANIAN_FAMILY + ref.PATRONYMIC_FAMILY, 0.55)
    family = np.where(serbian, _pick(rng, _zipf(ref.SERBIAN_FAMILY, 0.6), n), _pick(rng, albanian_family, n))
    compound = rng.random(n) < 0.06
    second = _pick(rng, albanian_family, n)
    family = np.where(compound & ~serbian & (second != family), family + "-" + second, family)
    return {"origin": origin, "serbian": serbian, "sex": sex, "given": given, "family": family}


def _person(rnd: random.Random, rng_row: dict, as_of: date) -> dict:
    origin = rng_row["origin"]
    age_days = int(min(max(rnd.gauss(37, 14), 16), 90) * 365.25) + rnd.randrange(365)
    birth = as_of - timedelta(days=age_days)
    age = age_days // 365
    record: dict = {
        "given_name": rng_row["given"],
        "family_name": rng_row["family"],
        "birth_date": birth.isoformat(),
        "sex": rng_row["sex"],
        "origin_country": origin,
        "residence_country": rnd.choices(list(ref.RESIDENCES), weights=list(ref.RESIDENCES.values()))[0],
        "status": _choice(rnd, next(d for limit, d in STATUS_BY_AGE if age < limit)),
        "consent": {"processing": True, "contact": rnd.random() < 0.6},
    }
    while record["residence_country"] == origin:
        record["residence_country"] = rnd.choices(list(ref.RESIDENCES), weights=list(ref.RESIDENCES.values()))[0]
    if origin == "XK" and rnd.random() < 0.85:
        pool = ref.SERBIAN_MUNICIPALITIES if rng_row["serbian"] else list(ref.MUNICIPALITIES)
        weights = [ref.MUNICIPALITIES[m] for m in pool]
        record["origin_municipality"] = rnd.choices(pool, weights=weights)[0]
    if rnd.random() < 0.7 and record["residence_country"] in ref.CITIES:
        record["residence_city"] = rnd.choice(ref.CITIES[record["residence_country"]])
    if rnd.random() < 0.9:
        record["emigration_year"] = rnd.randint(max(1960, birth.year + 1), as_of.year)
    if rnd.random() < 0.8:
        record["emigration_reason"] = _choice(rnd, REASONS)
    if rnd.random() < 0.6:
        record["citizenships"] = sorted({origin, record["residence_country"]})
    if rnd.random() < 0.9 and age >= 18:
        record["education_level"] = _choice(rnd, EDUCATION)
    if rnd.random() < 0.6 and age >= 18:
        record["field_of_study"] = f"{rnd.randrange(11):02d}"
    if rnd.random() < 0.7 and record["status"] in ("employed", "self_employed"):
        record["occupation"] = str(rnd.choices(range(10), weights=(1, 5, 18, 12, 8, 16, 2, 16, 10, 12))[0])
    if rnd.random() < 0.3:
        record["profession"] = rnd.choice(ref.PROFESSIONS)
    ticked = [k for k, p in ENGAGEMENT.items() if rnd.random() < p]
    if ticked or rnd.random() < 0.5:
        record["engagement"] = ticked
    first_language = ref.FIRST_LANGUAGE[origin] if not rng_row["serbian"] else "sr"
    langs = {first_language, ref.RESIDENCE_LANGUAGE.get(record["residence_country"], "en")}
    if rnd.random() < 0.5:
        langs.add("en")
    record["languages"] = sorted(langs)
    if rnd.random() < 0.6:
        local = rnd.choice((record["given_name"], record["family_name"])).lower()
        local = "".join(c for c in serbian_latin(local).lower() if c.isascii() and c.isalpha()) or "user"
        record["email"] = f"{local}{rnd.randrange(10000)}@{rnd.choice(('gmail.com', 'outlook.com', 'gmx.de'))}"
    return record


def _choice(rnd: random.Random, weights: dict) -> str:
    return rnd.choices(list(weights), weights=list(weights.values()))[0]


def _repeat(first: dict, rnd: random.Random, typo_share: float, date_typo_rate: float, as_of: date) -> tuple[dict, str]:
    record = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in first.items()}
    kind = "exact"
    if rnd.random() < typo_share:
        kind = _vary(record, rnd.choice(KINDS), rnd)
        if rnd.random() < date_typo_rate:
            record["birth_date"] = date_typo(record["birth_date"], rnd, as_of)
            kind += "+date"
    if rnd.random() < 0.03:  # moved to another country since
        record["residence_country"] = rnd.choices(list(ref.RESIDENCES), weights=list(ref.RESIDENCES.values()))[0]
        if record["residence_country"] == record["origin_country"]:
            record["residence_country"] = "DE" if record["origin_country"] != "DE" else "CH"
        record.pop("residence_city", None)
    if "email" in record and rnd.random() < 0.2:
        if rnd.random() < 0.5:
            del record["email"]
        else:
            record["email"] = "new." + record["email"]
    if rnd.random() < 0.1:
        record["status"] = _choice(rnd, STATUS_BY_AGE[1][1])
    return record, kind


def generate(
    n_people: int,
    seed: int,
    repeat_rate: float = 0.15,
    typo_share: float = 0.5,
    *,
    date_typo_rate: float = 0.15,
    as_of: date = date(2026, 1, 1),
) -> Population:
    """Simulate `n_people` people registering, some of them more than once."""
    if n_people < 0 or not 0 <= repeat_rate <= 1 or not 0 <= typo_share <= 1:
        raise ValueError("n_people must be ≥ 0 and the rates within [0, 1]")
    rng = np.random.default_rng(seed)
    rnd = random.Random(seed)
    ids = _identity(rng, n_people)
    rows: list[tuple[float, dict, int, str]] = []
    for person in range(n_people):
        row = {k: (v[person].item() if hasattr(v[person], "item") else v[person]) for k, v in ids.items()}
        first = _person(rnd, row, as_of)
        when = rnd.random()
        rows.append((when, first, person, "first"))
        if rnd.random() < repeat_rate:
            for _ in range(1 if rnd.random() < 0.85 else 2):
                record, kind = _repeat(first, rnd, typo_share, date_typo_rate, as_of)
                when = when + (1 - when) * rnd.random()
                rows.append((when, record, person, kind))
    rows.sort(key=lambda r: r[0])
    pop = Population(n_people=n_people)
    for _, record, person, kind in rows:
        lang = "sr" if person % 10 == 0 and ids["serbian"][person] else rnd.choice(("sq", "sq", "sq", "en"))
        pop.submissions.append({"schema": "dvr-registration/1", "lang": lang, "record": record})
        pop.person_of.append(person)
        pop.kind_of.append(kind)
    return pop
