"""Differential privacy (publication.protection.dp): OpenDP noise, the budget,
and post-processing into consistent, non-negative integer tables."""

from __future__ import annotations

import math
from datetime import date

import jsonschema
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from publication.protection.disclosure import count_tables, protect
from publication.protection.dp import multi_response, privatise, project, round_to
from simulate import generate

ON = date(2026, 11, 26)

_values = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=40)


@given(values=_values, total=st.integers(0, 10_000))
def test_projection_is_non_negative_adds_up_and_fixes_points_already_on_it(values: list[float], total: int) -> None:
    x = project(np.array(values), total)
    assert np.all(x >= 0)
    assert math.isclose(x.sum(), total, abs_tol=1e-6 * max(total, 1)) or total == 0 and x.sum() == 0
    again = project(x, total)  # a point already non-negative with the right sum stays put
    assert np.allclose(again, x, atol=1e-6 * max(total, 1))


@given(values=_values, total=st.integers(0, 10_000))
def test_rounding_keeps_the_total_and_moves_each_count_by_less_than_one(values: list[float], total: int) -> None:
    x = project(np.array(values), total)
    r = round_to(x, total)
    assert r.sum() == total and np.all(r >= 0)
    assert np.all(np.abs(r - x) < 1 + 1e-6)


@given(
    values=st.lists(st.floats(-50, 500, allow_nan=False), min_size=3, max_size=8),
    total=st.integers(0, 300),
    data=st.data(),
)
def test_multi_response_is_a_table_some_people_could_have_ticked(values: list[float], total: int, data) -> None:
    none = data.draw(st.integers(0, len(values) - 1))
    fitted = multi_response(np.array(values), total, none)
    ticking = total - int(fitted[none])  # people who ticked at least one option
    options = [int(v) for i, v in enumerate(fitted) if i != none]
    assert 0 <= fitted[none] <= total
    assert all(0 <= v <= ticking for v in options)
    assert sum(options) >= ticking  # each of them ticked one at least
    assert sum(options) <= ticking * len(options)


def test_the_noise_comes_from_opendp_at_the_scale_the_budget_records() -> None:
    # A population of one country: over many releases the published count moves
    # around the true one with the discrete Laplace's spread for scale = 1/ε_i.
    pop = generate(400, 3, repeat_rate=0.0)
    n, tables = count_tables((s["record"] for s in pop.submissions), ON)
    draws = []
    for _ in range(60):
        n_hat, _, budget = privatise(n, tables, 1.0)
        draws.append(n_hat - n)
    scale = next(r for r in budget if r.name == "registrants").scale
    assert scale == pytest.approx(1 / next(r for r in budget if r.name == "registrants").epsilon)
    q = math.exp(-1 / scale)
    expected_sd = math.sqrt(2 * q) / (1 - q)  # discrete Laplace standard deviation
    sd = float(np.std(draws))
    assert len(set(draws)) > 5, "the count barely moves: no noise is being added"
    assert 0.5 * expected_sd < sd < 2 * expected_sd, (sd, expected_sd)


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("nan")])
def test_a_budget_that_is_not_positive_is_refused(epsilon: float) -> None:
    _, tables = count_tables([], ON)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        privatise(0, tables, epsilon)


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
