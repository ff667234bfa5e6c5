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
from keyholder_cli.disclosure import count_tables, protect
from keyholder_cli.dp import privatise, project, round_to
from keyholder_cli.tables import Table
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


def _keyed(aggregates: dict) -> tuple[dict[frozenset, list], list[tuple[frozenset, list[frozenset]]]]:
    """Every published quantity by the set of (dimension, category) it counts, and the equations."""
    seen: dict[frozenset, list] = {frozenset(): [aggregates["registrants"]]}
    equations = []
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
    return seen, equations


def attack(aggregates: dict) -> dict[frozenset, tuple[float, float]]:
    """The feasible interval of every suppressed quantity, from the publication alone."""
    seen, equations = _keyed(aggregates)
    for key, values in seen.items():
        published = {v for v in values if v is not None}
        assert len(published) <= 1, f"{key} published with different values"
        assert not (published and None in values), f"{key} suppressed in one place, published in another"
    unknown = sorted((k for k, v in seen.items() if v[0] is None), key=sorted)
    col = {k: i for i, k in enumerate(unknown)}
    rows, rhs = [], []
    for total, parts in equations:
        row = np.zeros(len(unknown))
        b = 0.0
        for key, sign in [(total, -1.0)] + [(p, 1.0) for p in parts]:
            if key in col:
                row[col[key]] += sign
            else:
                b -= sign * seen[key][0]
        if row.any():
            rows.append(row)
            rhs.append(b)
    out = {}
    upper = aggregates["registrants"]
    # Zeros are published, so a suppressed count is at least 1 — unless every
    # breakdown was withheld, zeros included.
    lowest = 0 if "withheld" in aggregates["disclosure"] else 1
    for key, i in col.items():
        c = np.zeros(len(unknown))
        c[i] = 1.0
        bounds = []
        for sense in (1.0, -1.0):
            res = linprog(
                sense * c,
                A_eq=np.array(rows) if rows else None,
                b_eq=np.array(rhs) if rows else None,
                bounds=(lowest, upper),
                method="highs",
            )
            assert res.status == 0, res.message
            bounds.append(sense * res.fun)
        out[key] = (bounds[0], bounds[1])
    return out


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
    bad = []
    withheld = "withheld" in aggregates["disclosure"]
    for key, (lo, hi) in attack(aggregates).items():
        value = truth.get(key, 0)
        # When every breakdown is withheld, large counts and zeros may be
        # implied by the total; only a small count must stay hidden.
        if hi - lo < 1 - 1e-6 and not (withheld and not 0 < value < min_cell):
            bad.append(f"{sorted(key)} pinned at {lo}")
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
    _, tables = count_tables([_record()] * 4, ON)
    aggregates = protect(tables, 10, None, ON)
    assert aggregates["registrants"] == 4
    assert all(c["count"] in (0, None) for t in aggregates["tables"] for c in t["cells"])


@pytest.mark.parametrize("bad", [{"min_cell": 0}, {"epsilon": 0.0}, {"epsilon": float("nan")}, {"protection": 0}])
def test_bad_parameters_are_refused(bad: dict) -> None:
    _, tables = count_tables([_record()] * 20, ON)
    args = {"min_cell": 10, "epsilon": None} | bad
    protection = args.pop("protection", None)
    with pytest.raises(ValueError):
        protect(tables, args["min_cell"], args["epsilon"], ON, protection=protection)


# ---------------------------------------------------------------- differential privacy


def test_projection_and_rounding_keep_totals() -> None:
    x = project(np.array([5.0, -3.0, 40.0, 0.5]), 30)
    assert np.all(x >= 0) and abs(x.sum() - 30) < 1e-9
    r = round_to(x, 30)
    assert r.sum() == 30 and np.all(r >= 0)


def test_dp_tables_are_consistent_non_negative_integers() -> None:
    pop = generate(2000, 8, repeat_rate=0.0)
    n, tables = count_tables((s["record"] for s in pop.submissions), ON)
    n_hat, noisy, budget = privatise(n, tables, 2.0)
    assert abs(sum(r.epsilon for r in budget) - 2.0) < 1e-9
    assert {r.name for r in budget} >= {"registrants", "residence_country_by_status", "engagement"}
    assert next(r for r in budget if r.name == "engagement").sensitivity == 6
    by = {t.name: t for t in noisy}
    residence = by["residence_country"].counts
    assert sum(residence.values()) == n_hat
    for cross, column in (
        ("residence_country_by_status", "status"),
        ("residence_country_by_education_level", "education_level"),
    ):
        cells = by[cross].counts
        for (country,), total in residence.items():
            assert sum(v for (r, _), v in cells.items() if r == country) == total
        for (category,), total in by[column].counts.items():
            assert sum(v for (_, c), v in cells.items() if c == category) == total
    xk = by["origin_country"].counts.get(("XK",), 0)
    assert sum(by["origin_municipality"].counts.values()) == xk
    for t in noisy:
        assert all(isinstance(v, int) and v > 0 for v in t.counts.values())


def test_dp_publication_records_the_budget_and_validates() -> None:
    pop = generate(1500, 4, repeat_rate=0.0)
    _, tables = count_tables((s["record"] for s in pop.submissions), ON)
    aggregates = protect(tables, 10, 1.0, ON)
    jsonschema.validate(aggregates, schemas.load("aggregates.schema.json"))
    d = aggregates["disclosure"]
    assert d["method"] == "differential_privacy+cell_suppression"
    assert d["epsilon"] == 1.0
    assert abs(sum(b["epsilon"] for b in d["budget"]) - 1.0) < 1e-9
    assert all(b["scale"] == pytest.approx(b["sensitivity"] / b["epsilon"]) for b in d["budget"])
    counts = [c["count"] for t in aggregates["tables"] for c in t["cells"]]
    assert not [c for c in counts if c is not None and 0 < c < 10]
