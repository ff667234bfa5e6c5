"""Disclosure control: counts, suppression an attacker cannot undo, DP mode, schema."""

from __future__ import annotations

import json
from datetime import date

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import schemas
from publication.protection.disclosure import count_tables, protect
from publication.tables import Table
from simulate import generate

ON = date(2026, 11, 26)
STATUSES = ["employed", "self_employed", "student", "unemployed", "retired", "other"]


def _record(**fields: object) -> dict:
    base = {
        "given_name": "Besa",
        "family_name": "Gashi",
        "birth_date": "1990-01-01",
        "sex": "female",
        "origin_country": "XK",
        "residence_country": "DE",
        "status": "employed",
        "consent": {"processing": True, "contact": False},
    }
    base.update(fields)
    return base


def _table(tables: list[Table], name: str) -> Table:
    return next(t for t in tables if t.name == name)


# ---------------------------------------------------------------- counting


def test_count_tables_counts_and_not_stated() -> None:
    rows = [
        _record(origin_municipality="prishtine", education_level="isced6", engagement=["mentoring", "return"]),
        _record(residence_country="CH", status="student", birth_date="2008-11-26"),  # 18 today
        _record(origin_country="AL", birth_date="2008-11-27", engagement=[]),  # 17 until tomorrow
    ]
    n, tables = count_tables(rows, ON)
    assert n == 3
    assert _table(tables, "residence_country").counts == {("DE",): 2, ("CH",): 1}
    assert _table(tables, "education_level").counts == {("isced6",): 1, ("not_stated",): 2}
    assert _table(tables, "origin_municipality").counts == {("prishtine",): 1, ("not_stated",): 1}
    assert _table(tables, "age_band").counts == {("35-44",): 1, ("18-24",): 1, ("0-17",): 1}
    assert _table(tables, "engagement").counts == {("mentoring",): 1, ("return",): 1, ("none",): 2}
    assert _table(tables, "residence_country_by_status").counts == {("DE", "employed"): 2, ("CH", "student"): 1}
    for table in tables:
        if table.additive and not table.condition:
            assert sum(table.counts.values()) == n, table.name


def test_names_and_free_text_never_reach_a_table() -> None:
    rows = [
        _record(
            given_name="Zyrafete",
            family_name="Xhemaili",
            residence_city="Winterthur",
            profession="Elektriker",
            email="z@example.org",
        )
    ] * 12
    _, tables = count_tables(rows, ON)
    aggregates = protect(tables, 10, None, ON)
    text = json.dumps(aggregates)
    for secret in ("Zyrafete", "Xhemaili", "Winterthur", "Elektriker", "example.org", "1990-01-01"):
        assert secret not in text


# ---------------------------------------------------------------- the attacker


def _keyed(
    aggregates: dict,
) -> tuple[dict[frozenset, list], list[tuple[frozenset, list[frozenset]]], list[tuple[list[frozenset], int]]]:
    """Every published quantity by the set of (dimension, category) it counts, the
    equations, and the inequalities "sum of these ≥ registrants" of multi-response tables."""
    seen: dict[frozenset, list] = {frozenset(): [aggregates["registrants"]]}
    equations = []
    at_least: list[tuple[list[frozenset], int]] = []
    for table in aggregates["tables"]:
        base = (
            frozenset()
            if table["population"] == "registrants"
            else frozenset(tuple(part.split(" = ")) for part in table["population"].split(" and "))
        )
        dims = table["dimensions"]
        seen.setdefault(base, []).append(table["margins"]["total"])
        cells = [(base | {(d, c[d]) for d in dims}, c["count"]) for c in table["cells"]]
        for key, count in cells:
            seen.setdefault(key, []).append(count)
        if not table["additive"]:
            # engagement: a person in `none` ticked nothing, everyone else at least one option. So
            # option + none ≤ registrants for each option, and all options + none ≥ registrants.
            [none] = [k for k, _ in cells if (dims[0], "none") in k]
            options = [k for k, _ in cells if k != none]
            at_least += [([none, o], -1) for o in options]
            at_least.append(([none, *options], 1))
            continue
        if len(dims) == 1:
            equations.append((base, [k for k, _ in cells]))
            continue
        for dim in dims:
            margin_keys = []
            for entry in table["margins"][dim]:
                key = base | {(dim, entry[dim])}
                seen.setdefault(key, []).append(entry["count"])
                margin_keys.append(key)
                equations.append((key, [k for k, _ in cells if (dim, entry[dim]) in k]))
            equations.append((base, margin_keys))
    return seen, equations, at_least


def attack(aggregates: dict) -> dict[frozenset, tuple[float, float]]:
    """The feasible interval of every suppressed quantity, from the publication alone:
    every equation and inequality the tables imply, zeros are published (so a
    suppressed count is ≥ 1), and no count exceeds the number of registrants."""
    seen, equations, at_least = _keyed(aggregates)
    for key, values in seen.items():
        published = {v for v in values if v is not None}
        assert len(published) <= 1, f"{key} published with different values"
        assert not (published and None in values), f"{key} suppressed in one place, published in another"
    unknown = sorted((k for k, v in seen.items() if v[0] is None), key=sorted)
    col = {k: i for i, k in enumerate(unknown)}
    n = aggregates["registrants"]

    def row_of(terms: list[tuple[frozenset, float]]) -> tuple[np.ndarray, float]:
        row, b = np.zeros(len(unknown)), 0.0
        for key, sign in terms:
            if key in col:
                row[col[key]] += sign
            else:
                b -= sign * seen[key][0]
        return row, b

    rows, rhs, ub_rows, ub_rhs = [], [], [], []
    for total, parts in equations:
        row, b = row_of([(total, -1.0)] + [(p, 1.0) for p in parts])
        if row.any():
            rows.append(row)
            rhs.append(b)
        else:
            assert abs(b) < 1e-9, f"published numbers break {sorted(total)} = sum of its parts"
    for parts, sign in at_least:  # sign * (sum(parts) - n) >= 0, as -sign * sum(parts) <= -sign * n
        row, b = row_of([(p, -sign) for p in parts])
        b += -sign * n
        if row.any():
            ub_rows.append(row)
            ub_rhs.append(b)
        else:
            assert b >= -1e-9, "published numbers break a multi-response inequality"
    out = {}
    for key, i in col.items():
        c = np.zeros(len(unknown))
        c[i] = 1.0
        bounds = []
        for sense in (1.0, -1.0):
            res = linprog(
                sense * c,
                A_eq=np.array(rows) if rows else None,
                b_eq=np.array(rhs) if rows else None,
                A_ub=np.array(ub_rows) if ub_rows else None,
                b_ub=np.array(ub_rhs) if ub_rows else None,
                bounds=(1, n),
                method="highs",
            )
            assert res.status == 0, res.message
            bounds.append(sense * res.fun)
        out[key] = (bounds[0], bounds[1])
    return out


def exposed(aggregates: dict, min_cell: int) -> list[str]:
    """What the publication gives away, judged from the publication alone: a
    published count from 1 to min_cell-1, a suppressed count the attacker can
    pin to one value, or one shown to lie within 1 … min_cell-1."""
    bad = [
        f"{t['name']} publishes {count}"
        for t in aggregates["tables"]
        for count in [
            t["margins"]["total"],
            *(c["count"] for c in t["cells"]),
            *(m["count"] for d in t["dimensions"] for m in t["margins"].get(d, [])),
        ]
        if count is not None and 0 < count < min_cell
    ]
    for key, (lo, hi) in attack(aggregates).items():
        if hi - lo < 1 - 1e-6:
            bad.append(f"{sorted(key)} pinned at {lo}")
        if lo >= 1 - 1e-6 and hi < min_cell - 1e-6:
            bad.append(f"{sorted(key)} known to be in [{lo:g}, {hi:g}]")
    return bad


def _truth(tables: list[Table], registrants: int) -> dict[frozenset, int]:
    truth = {frozenset(): registrants}
    for t in tables:
        base = frozenset(t.condition)
        for combo, count in t.counts.items():
            truth[base | set(zip(t.dimensions, combo, strict=True))] = count
        for axis, dim in enumerate(t.dimensions):
            for category in t.categories[axis]:
                truth.setdefault(base | {(dim, category)}, 0)
                if len(t.dimensions) > 1:
                    truth[base | {(dim, category)}] = sum(v for c, v in t.counts.items() if c[axis] == category)
        if t.condition:
            truth[base] = sum(t.counts.values())
    return truth


def violations(aggregates: dict, truth: dict[frozenset, int], min_cell: int, protection: int) -> list[str]:
    bad = exposed(aggregates, min_cell)
    for key, (_, hi) in attack(aggregates).items():
        value = truth.get(key, 0)
        if 0 < value < min_cell and hi < max(min_cell, value + protection) - 1e-6:
            bad.append(f"{sorted(key)} = {value} known to be at most {hi}")
    return bad


_small_population = st.lists(
    st.fixed_dictionaries(
        {
            "residence_country": st.sampled_from(["DE", "DE", "DE", "CH", "CH", "IT", "IS", "LU"]),
            "status": st.sampled_from(STATUSES[:4]),
            "education_level": st.sampled_from(["isced3", "isced6", "isced7"]) | st.none(),
            "origin_country": st.sampled_from(["XK", "XK", "AL"]),
            "sex": st.sampled_from(["female", "male", "male", "undisclosed"]),
        }
    ),
    min_size=25,
    max_size=120,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=_small_population, min_cell=st.sampled_from([3, 5, 10]))
def test_attacker_cannot_pin_down_a_suppressed_cell(people: list[dict], min_cell: int) -> None:
    rows = [_record(**{k: v for k, v in p.items() if v is not None}) for p in people]
    n, tables = count_tables(rows, ON)
    aggregates = protect(tables, min_cell, None, ON)
    protection = aggregates["disclosure"]["protection_level"]
    assert violations(aggregates, _truth(tables, n), min_cell, protection) == []


def test_the_attacker_finds_a_weakened_publication() -> None:
    rows = [
        _record(residence_country=c, status=s)
        for c, s, k in [
            ("DE", "employed", 40),
            ("DE", "student", 25),
            ("CH", "employed", 30),
            ("CH", "student", 3),
            ("IT", "employed", 12),
            ("IT", "student", 14),
        ]
        for _ in range(k)
    ]
    n, tables = count_tables(rows, ON)
    aggregates = protect(tables, 10, None, ON)
    truth = _truth(tables, n)
    assert violations(aggregates, truth, 10, 5) == []
    # Publish one complementary cell again: the small one is recomputable.
    cross = next(t for t in aggregates["tables"] if t["name"] == "residence_country_by_status")
    secondary = [
        c
        for c in cross["cells"]
        if c["count"] is None
        and truth[frozenset({("residence_country", c["residence_country"]), ("status", c["status"])})] >= 10
    ]
    assert secondary
    cell = secondary[0]
    cell["count"] = truth[frozenset({("residence_country", cell["residence_country"]), ("status", cell["status"])})]
    assert violations(aggregates, truth, 10, 5)


@pytest.fixture(scope="module")
def simulated() -> tuple[int, list[Table], dict]:
    pop = generate(2000, 11, repeat_rate=0.0)
    n, tables = count_tables((s["record"] for s in pop.submissions), ON)
    return n, tables, protect(tables, 10, None, ON)


def test_simulated_publication_is_safe_and_valid(simulated: tuple[int, list[Table], dict]) -> None:
    n, tables, aggregates = simulated
    jsonschema.validate(
        aggregates,
        schemas.load("aggregates.schema.json"),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    assert aggregates["registrants"] == n == 2000
    counts = [c["count"] for t in aggregates["tables"] for c in t["cells"]]
    assert not [c for c in counts if c is not None and 0 < c < 10]
    assert aggregates["disclosure"]["primary_suppressed"] > 0
    assert violations(aggregates, _truth(tables, n), 10, 5) == []


def test_published_margins_agree_with_published_cells(simulated: tuple[int, list[Table], dict]) -> None:
    _, _, aggregates = simulated
    checked = 0
    for table in aggregates["tables"]:
        counts = [c["count"] for c in table["cells"]]
        if table["additive"] and None not in counts and table["margins"]["total"] is not None:
            assert sum(counts) == table["margins"]["total"], table["name"]
            checked += 1
    assert checked >= 5


def test_fewer_registrants_than_min_cell_publishes_no_breakdown() -> None:
    for people in (1, 3, 8, 9):
        _, tables = count_tables([_record()] * people, ON)
        aggregates = protect(tables, 10, None, ON)
        assert aggregates["registrants"] == people
        assert aggregates["tables"] == []
        assert aggregates["disclosure"]["withheld_tables"] == [t.name for t in tables]
        assert "fewer than 10" in aggregates["disclosure"]["withheld"]
        jsonschema.validate(aggregates, schemas.load("aggregates.schema.json"))


# ---------------------------------------------------------------- tiny populations, 1 to 30 people

_COUNTRIES = ["DE", "CH", "IT", "IS", "LU", "AT", "SE"]
_BORN = ["1950-03-03", "1970-01-01", "1990-05-05", "2001-09-09", "2010-02-02"]
_ENGAGE = ["investment", "knowledge_transfer", "volunteering", "mentoring", "business_partnership", "return"]


def _skewed(options: list, common: int = 4) -> st.SearchStrategy:
    """Mostly the first option, sometimes a rare one."""
    return st.sampled_from([options[0]] * common + options)


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy  # an optional answer left out


@st.composite
def _tiny_population(draw: st.DrawFn) -> list[dict]:
    countries = draw(st.lists(st.sampled_from(_COUNTRIES), min_size=1, max_size=4, unique=True))
    person = st.fixed_dictionaries(
        {
            "residence_country": _skewed(countries, 6),
            "origin_country": _skewed(["XK", "AL", "MK"]),
            "origin_municipality": _maybe(_skewed(["prishtine", "prizren", "peje"])),
            "status": _skewed(STATUSES),
            "sex": _skewed(["male", "female", "undisclosed"], 2),
            "birth_date": _skewed(_BORN, 2),
            "education_level": _maybe(_skewed(["isced6", "isced3", "isced8"])),
            "field_of_study": _maybe(st.sampled_from(["04", "06", "09"])),
            "occupation": _maybe(st.sampled_from(["2", "5", "7"])),
            "emigration_reason": _maybe(_skewed(["work", "family", "political"])),
            "engagement": _maybe(st.lists(_skewed(_ENGAGE, 2), unique=True, max_size=3)),
        }
    )
    size = draw(st.integers(1, 30))
    people = draw(st.lists(person, min_size=size, max_size=size))
    return [_record(**{k: v for k, v in p.items() if v is not None}) for p in people]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=_tiny_population(), min_cell=st.sampled_from([10, 10, 5, 3]))
def test_no_small_population_is_given_away(rows: list[dict], min_cell: int) -> None:
    """1 to 30 people, skewed: every table, cross-tables and engagement included, from everything published."""
    n, tables = count_tables(rows, ON)
    aggregates = protect(tables, min_cell, None, ON)
    jsonschema.validate(aggregates, schemas.load("aggregates.schema.json"))
    assert aggregates["registrants"] == n
    if n < min_cell:
        assert aggregates["tables"] == []
    assert violations(aggregates, _truth(tables, n), min_cell, aggregates["disclosure"]["protection_level"]) == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=_tiny_population(), min_cell=st.sampled_from([10, 5]), epsilon=st.sampled_from([1.0, 5.0]))
def test_no_small_noisy_population_is_given_away(rows: list[dict], min_cell: int, epsilon: float) -> None:
    """With differential privacy the published counts are noisy, and suppression runs on
    the noisy counts: the same attacker, from the publication alone, learns no noisy
    count below min_cell, and the noisy tables are consistent (the LP is feasible)."""
    _, tables = count_tables(rows, ON)
    aggregates = protect(tables, min_cell, epsilon, ON)
    jsonschema.validate(aggregates, schemas.load("aggregates.schema.json"))
    if aggregates["registrants"] < min_cell:
        assert aggregates["tables"] == []
    assert exposed(aggregates, min_cell) == []


def test_one_person_gives_nothing_away() -> None:
    """One registrant: before, every one-way table showed zeros around one null, which is that person's answer."""
    _, tables = count_tables([_record(residence_country="IS", status="retired")], ON)
    aggregates = protect(tables, 10, None, ON)
    assert aggregates["registrants"] == 1
    assert aggregates["tables"] == []
    assert exposed(aggregates, 10) == []


def test_a_multi_response_table_bounds_none_by_the_options() -> None:
    """12 people, 10 of whom tick mentoring, 2 nothing: `none` ≤ 12 - 10, so it must not be published as null alone."""
    rows = [_record(engagement=["mentoring"])] * 10 + [_record()] * 2
    n, tables = count_tables(rows, ON)
    aggregates = protect(tables, 10, None, ON)
    assert violations(aggregates, _truth(tables, n), 10, 5) == []
    engagement = [t for t in aggregates["tables"] if t["name"] == "engagement"]
    if engagement:
        cells = {c["engagement"]: c["count"] for c in engagement[0]["cells"]}
        assert cells["mentoring"] is None, cells


@pytest.mark.parametrize("bad", [{"min_cell": 0}, {"epsilon": 0.0}, {"epsilon": float("nan")}, {"protection": 0}])
def test_bad_parameters_are_refused(bad: dict) -> None:
    _, tables = count_tables([_record()] * 20, ON)
    args = {"min_cell": 10, "epsilon": None} | bad
    protection = args.pop("protection", None)
    with pytest.raises(ValueError):
        protect(tables, args["min_cell"], args["epsilon"], ON, protection=protection)
