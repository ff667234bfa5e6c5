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

With `kinds=True` (docs/formats.md section 13) the same people are then
registered as a mix of version 1 and version 2 envelopes and of every
record kind (`_add_kinds`): a share of them register their household
instead of themselves (one to six members: partners, children, parents,
and relatives who also register on their own, living with them), and
businesses and associations are registered, some twice under a new code
with the same contact address, some corrected or withdrawn with their
registrant code; individuals and households are corrected and withdrawn
too. `Population.truth()` gives what a publication must count. Without
`kinds` every submission is version 1 and nothing else changes.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import Counter
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
    person_of: list[int] = field(default_factory=list)  # the registering person (-1: a business, an association)
    kind_of: list[str] = field(default_factory=list)  # "first", "exact" or a KINDS entry (+ "+date"); with kinds
    # also "household", "business", "association", "correction" and "withdrawal"
    n_people: int = 0
    # With kinds: the people each submission stands for (a household: its registrant and members),
    # and the business or association it is (-1 for none)
    persons_of: list[tuple[int, ...]] = field(default_factory=list)
    entity_of: list[int] = field(default_factory=list)

    def truth(self) -> dict[str, Counter]:
        """What a publication of every submission must count (docs/formats.md section 13.4):
        `registrants` (people, once each), and the counts of every household, business and
        association table, from who is who rather than from the records' answers."""
        persons_of = self.persons_of or [(p,) for p in self.person_of]
        entity_of = self.entity_of or [-1] * len(self.submissions)
        by_code: dict[bytes, list[int]] = {}
        stands = [True] * len(self.submissions)
        for i, sub in enumerate(self.submissions):
            control = sub["record"].get("registrant")
            if control is not None:
                by_code.setdefault(_control_id(control), []).append(i)
        for subs in by_code.values():
            firsts = [i for i in subs if "id" in self.submissions[i]["record"]["registrant"]]
            withdrawn = any(self.submissions[i]["record"].get("kind") == "withdrawal" for i in subs)
            for i in subs:
                stands[i] = bool(firsts) and not withdrawn and i == max(subs)
        people: set[int] = set()
        latest: dict[int, dict] = {}
        out: dict[str, Counter] = {name: Counter() for name in _TRUTH_TABLES}
        for i, sub in enumerate(self.submissions):
            if not stands[i]:
                continue
            people.update(persons_of[i])
            record = sub["record"]
            if record.get("kind") == "household":
                out["household_size"][(_household_size(1 + len(record["members"])),)] += 1
            elif record.get("kind") in ("business", "association"):
                latest[entity_of[i]] = record  # in submission order: the latest stands
        for record in latest.values():
            if record["kind"] == "business":
                out["business_country_by_sector"][(record["country"], record["sector"])] += 1
                out["business_size"][(record["size"],)] += 1
                out["business_trades_with_home"][("yes" if record["trades_with_home"] else "no",)] += 1
                out["business_invests_in_home"][("yes" if record["invests_in_home"] else "no",)] += 1
            else:
                out["association_country_by_field"][(record["country"], record["field"])] += 1
                out["association_members"][(record["members_band"],)] += 1
        out["registrants"] = Counter({(): len(people)})
        return out


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
    kinds: bool = False,
) -> Population:
    """Simulate `n_people` people registering, some of them more than once; with `kinds`,
    as households, businesses and associations too, in version 1 and 2 envelopes."""
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
    if kinds:
        _add_kinds(pop, ids, seed, as_of)
    return pop


# --- Record kinds (docs/formats.md section 13) -------------------------------------------------

_TRUTH_TABLES = (
    "household_size",
    "business_country_by_sector",
    "business_size",
    "business_trades_with_home",
    "business_invests_in_home",
    "association_country_by_field",
    "association_members",
)
HOUSEHOLD_SHARE = 0.2  # of the people, who register their household instead of themselves
MEMBERS = {1: 30, 2: 25, 3: 22, 4: 13, 5: 6, 6: 4}  # members of a household (its size is one more)
ALSO_ALONE = 0.15  # of the members, a relative who registers on their own too
VERSION_2 = 0.5  # of the individual registrations, sealed as dvr-registration/2
BUSINESS_SHARE = 0.04  # businesses per person
ASSOCIATION_SHARE = 0.01
AGAIN = 0.1  # of the businesses and associations, registered again under a new code
CORRECTED = 0.06  # of the version 2 registrations, corrected with their code
WITHDRAWN = 0.02  # of the version 2 registrations, withdrawn with their code
SECTORS = {"C": 8, "F": 12, "G": 20, "H": 10, "I": 14, "J": 7, "K": 2, "L": 3, "M": 8, "N": 4, "Q": 5, "S": 4, "A": 2}
SIZES = {"micro": 70, "small": 22, "medium": 6, "large": 2}
FIELDS = {
    "culture": 30,
    "education": 10,
    "sport": 15,
    "religion": 10,
    "professional": 8,
    "business": 7,
    "humanitarian": 8,
    "youth": 7,
    "other": 5,
}
MEMBER_BANDS = {"1-9": 20, "10-49": 45, "50-199": 25, "200-999": 8, "1000+": 2}


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _control_id(control: dict) -> bytes:
    """The control id a `registrant` member names (docs/formats.md section 12)."""
    if "id" in control:
        return base64.urlsafe_b64decode(control["id"] + "=")
    return hashlib.sha256(base64.urlsafe_b64decode(control["key"] + "=")).digest()


def _household_size(people: int) -> str:
    return str(people) if people < 7 else "7+"


def _v2(record: dict, lang: str, key: bytes, *, reveal: bool = False) -> dict:
    control = {"key": _b64u(key)} if reveal else {"id": _b64u(hashlib.sha256(key).digest())}
    return {"schema": "dvr-registration/2", "lang": lang, "record": {**record, "registrant": control}}


def _born(rnd: random.Random, head: str, years: tuple[int, int], as_of: date) -> str:
    """A birth date `years` (from, to) after the head's (negative: before), within 1901 … as_of."""
    start = date.fromisoformat(head)
    born = start + timedelta(days=int(rnd.uniform(*years) * 365.25))
    if born >= as_of:  # a child of a young registrant: born in the last years
        born = as_of - timedelta(days=rnd.randrange(30, 12 * 365))
    if born < date(1901, 1, 1):
        born = date(1901, 1, 1) + timedelta(days=rnd.randrange(20 * 365))
    return born.isoformat()


def _add_kinds(pop: Population, ids: dict[str, np.ndarray], seed: int, as_of: date) -> None:
    """Turn a version 1 population into a mix of every kind (see the module's docstring)."""
    rnd = random.Random(f"kinds-{seed}")
    n = pop.n_people
    rows = list(zip(pop.submissions, pop.person_of, pop.kind_of, strict=True))
    order = {id(sub): i / max(len(rows), 1) for i, (sub, _, _) in enumerate(rows)}  # when, as sorted
    firsts = {p: sub for sub, p, kind in rows if kind == "first"}
    people = list(range(n))
    rnd.shuffle(people)
    heads = set(people[: int(n * HOUSEHOLD_SHARE)])
    loners = [p for p in people[int(n * HOUSEHOLD_SHARE) :]]  # may also be someone's member
    extra = _identity(np.random.default_rng([seed, 22]), 2 * n)  # new people who are only ever members
    next_extra = 0
    taken: set[int] = set()
    household_of: dict[int, tuple[dict, tuple[int, ...], list[dict]]] = {}
    for head in sorted(heads):
        record = firsts[head]["record"]
        members: list[dict] = []
        persons = [head]
        used_given = {record["given_name"]}
        for _ in range(_choice(rnd, MEMBERS)):
            if rnd.random() < ALSO_ALONE and loners and loners[-1] not in taken:
                relative = loners.pop()
                taken.add(relative)
                own = firsts[relative]["record"]
                if own["given_name"] in used_given:
                    continue
                members.append(
                    {
                        "given_name": own["given_name"],
                        "family_name": own["family_name"],
                        "birth_date": own["birth_date"],
                        "sex": own["sex"],
                        "relationship": rnd.choice(("sibling", "other_relative", "other")),
                    }
                )
                persons.append(relative)
                used_given.add(own["given_name"])
                continue
            new = next_extra
            next_extra += 1
            given = str(extra["given"][new])
            if given in used_given:
                continue
            relationship = "child" if not members or rnd.random() < 0.6 else rnd.choice(("spouse_partner", "parent"))
            years = {"child": (20, 38), "spouse_partner": (-6, 6), "parent": (-38, -20)}[relationship]
            members.append(
                {
                    "given_name": given,
                    "family_name": record["family_name"]
                    if relationship != "spouse_partner"
                    else str(extra["family"][new]),
                    "birth_date": _born(rnd, record["birth_date"], years, as_of),
                    "sex": str(extra["sex"][new]),
                    "relationship": relationship,
                }
            )
            persons.append(n + new)
            used_given.add(given)
        if not members:  # every draw was a repeated name: a child with a name of its own
            members.append(
                {
                    "given_name": "Dea" if "Dea" not in used_given else "Ardit",
                    "family_name": record["family_name"],
                    "birth_date": _born(rnd, record["birth_date"], (20, 38), as_of),
                    "sex": "female",
                    "relationship": "child",
                }
            )
            persons.append(n + next_extra)
            next_extra += 1
        household_of[head] = ({**record, "kind": "household", "members": members}, tuple(persons), members)
    # The relatives who are members live with the household: so do their own registrations.
    residence_of = {}
    for record, persons, _ in household_of.values():
        for relative in persons[1:]:
            if relative < n:
                residence_of[relative] = record
    pop_rows: list[tuple[float, dict, int, str, tuple[int, ...], int]] = []
    for sub, person, kind in rows:
        when = order[id(sub)]
        lang = sub["lang"]
        if person in heads and kind == "first":  # a head's repeat registrations stay, as individuals
            record, persons, _ = household_of[person]
            key = rnd.randbytes(32)
            pop_rows.append((when, _v2(record, lang, key), person, "household", persons, -1))
            _controls(rnd, pop_rows, when, record, lang, key, person, persons, household=True, as_of=as_of)
            continue
        record = sub["record"]
        if person in residence_of:
            home = residence_of[person]
            record = {k: v for k, v in record.items() if k != "residence_city"}
            record["residence_country"] = home["residence_country"]
            if "residence_city" in home:
                record["residence_city"] = home["residence_city"]
        if rnd.random() < VERSION_2:
            key = rnd.randbytes(32)
            pop_rows.append((when, _v2(record, lang, key), person, kind, (person,), -1))
            _controls(rnd, pop_rows, when, record, lang, key, person, (person,), household=False, as_of=as_of)
        else:
            pop_rows.append((when, {**sub, "record": record}, person, kind, (person,), -1))
    entity = 0
    for what, share in (("business", BUSINESS_SHARE), ("association", ASSOCIATION_SHARE)):
        for _ in range(int(n * share)):
            owner = rnd.randrange(n)
            own = firsts[owner]["record"]
            email = f"{what}{entity}@{rnd.choice(('example.com', 'example.org', 'firma.example'))}"
            record = {
                "kind": what,
                "country": own["residence_country"],
                "contact": {"given_name": own["given_name"], "family_name": own["family_name"], "email": email},
                "consent": {"processing": True, "contact": rnd.random() < 0.8},
            }
            if what == "business":
                record["sector"] = _choice(rnd, SECTORS)
                record["size"] = _choice(rnd, SIZES)
                record["trades_with_home"] = rnd.random() < 0.45
                record["invests_in_home"] = rnd.random() < 0.2
            else:
                record["field"] = _choice(rnd, FIELDS)
                record["members_band"] = _choice(rnd, MEMBER_BANDS)
            when = rnd.random()
            lang = rnd.choice(("sq", "sq", "en", "de"))
            key = rnd.randbytes(32)
            pop_rows.append((when, _v2(record, lang, key), -1, what, (), entity))
            if rnd.random() < AGAIN:  # lost the code: registered again, the same contact address
                again = when + (1 - when) * rnd.random()
                pop_rows.append((again, _v2(record, lang, rnd.randbytes(32)), -1, what, (), entity))
            else:
                _controls(rnd, pop_rows, when, record, lang, key, -1, (), household=False, as_of=as_of, entity=entity)
            entity += 1
    pop_rows.sort(key=lambda r: r[0])
    pop.submissions = [r[1] for r in pop_rows]
    pop.person_of = [r[2] for r in pop_rows]
    pop.kind_of = [r[3] for r in pop_rows]
    pop.persons_of = [r[4] for r in pop_rows]
    pop.entity_of = [r[5] for r in pop_rows]


def _controls(
    rnd: random.Random,
    rows: list[tuple[float, dict, int, str, tuple[int, ...], int]],
    when: float,
    record: dict,
    lang: str,
    key: bytes,
    person: int,
    persons: tuple[int, ...],
    *,
    household: bool,
    as_of: date,
    entity: int = -1,
) -> None:
    """Maybe a later correction with `key` (a household's last member moves out, an individual's
    status, a business's size or an association's members band changes) or a withdrawal."""
    draw = rnd.random()
    later = when + (1 - when) * rnd.random()
    if draw < WITHDRAWN:
        withdrawal = {"schema": "dvr-registration/2", "lang": lang, "record": {"kind": "withdrawal"}}
        withdrawal["record"]["registrant"] = {"key": _b64u(key)}
        rows.append((later, withdrawal, person, "withdrawal", (), entity))
        return
    if draw >= WITHDRAWN + CORRECTED:
        return
    fixed = {k: (list(v) if isinstance(v, list) else v) for k, v in record.items()}
    if household:  # the last member moved out (or, with one member, a profession typed anew)
        if len(record["members"]) > 1:
            fixed["members"] = record["members"][:-1]
            persons = persons[:-1]
        else:
            fixed["profession"] = rnd.choice(ref.PROFESSIONS)
    elif record.get("kind") == "business":
        fixed["size"] = rnd.choice([s for s in SIZES if s != record["size"]])
    elif record.get("kind") == "association":
        fixed["members_band"] = rnd.choice([b for b in MEMBER_BANDS if b != record["members_band"]])
    else:
        fixed["status"] = rnd.choice(
            [s for s in ("employed", "self_employed", "unemployed", "other") if s != record["status"]]
        )
    rows.append((later, _v2(fixed, lang, key, reveal=True), person, "correction", persons, entity))
