"""Differentially private counts with OpenDP, post-processed to consistent tables.

Releases (each a vector of integer counts over a category domain fixed in
advance, so that which categories exist reveals nothing):

- the number of registrants (sensitivity 1),
- residence_country over every country code (sensitivity 1); the countries
  left after post-processing become the rows of
- residence_country × status and residence_country × education_level
  (sensitivity 1 each: a person is in exactly one cell; choosing the rows
  from an earlier noisy release is adaptive composition, allowed),
- the other one-way tables except status and education_level, which are the
  column totals of the cross-tables (sensitivity 1),
- engagement (sensitivity 6: a person may tick all six options; `none` excludes them),
- in a publication, the number of people withdrawn (sensitivity 1;
  `privatise_with_withdrawals`, publication.protection.withdrawals);
- for each population of households, businesses and associations
  (`privatise_population`): their number, then each of their tables over
  its whole domain (every country × every sector, ...), sensitivity 1 each.

Noise is OpenDP's `make_laplace` on integers, which samples the discrete
Laplace (geometric) distribution; no noise is generated here. The total ε is
split equally across the releases (basic composition); each release's scale
is sensitivity / ε_i, and OpenDP's privacy map confirms the ε it spends.

Post-processing (free under differential privacy): the registrant count is
clamped at 0; each table is projected onto "non-negative, adds up to its
total" (Euclidean projection onto the simplex — it shrinks noise-only cells
to 0) and rounded to integers keeping the sum (largest remainders);
engagement is rounded and made a table some set of people could have
ticked (`multi_response`: no option above the people outside `none`, and
those people tick one option at least), since the attacker's system uses that. The
row totals of residence_country × status become the residence_country table
and fix the row totals of residence_country × education_level, so every
margin agrees everywhere; origin_municipality adds up to the XK count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import opendp.prelude as dp

from ..kinds import Population, kinds_domain
from ..tables import CROSS, NONE_TICKED, Table, domain

__all__ = ["Release", "privatise", "privatise_with_withdrawals"]

dp.enable_features("contrib")  # OpenDP gates its mechanisms behind this flag

_DERIVED = frozenset({"status", "education_level"})  # column margins of the cross-tables


@dataclass(frozen=True)
class Release:
    name: str
    epsilon: float
    sensitivity: int
    scale: float
    mechanism: str = "discrete_laplace (opendp.measurements.make_laplace on integers)"


def _laplace(counts: Sequence[int], sensitivity: int, epsilon: float) -> tuple[np.ndarray, float]:
    scale = sensitivity / epsilon
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    meas = dp.m.make_laplace(*space, scale=scale)
    spent = meas.map(sensitivity)  # type: ignore[no-untyped-call]  # OpenDP's map has no annotations
    if spent > epsilon * (1 + 1e-9):
        raise ValueError(f"OpenDP reports ε={spent} > budget {epsilon}")
    return np.asarray(meas([int(c) for c in counts]), dtype=float), scale


def project(values: np.ndarray, total: float) -> np.ndarray:
    """Closest non-negative vector adding up to `total` (simplex projection)."""
    if total <= 0 or len(values) == 0:
        return np.zeros(len(values))
    u = np.sort(values)[::-1]
    excess = np.cumsum(u) - total
    ranks = np.arange(1, len(u) + 1)
    rho = ranks[u - excess / ranks > 0][-1]
    theta = excess[rho - 1] / rho
    return np.asarray(np.maximum(values - theta, 0.0))


def round_to(values: np.ndarray, total: int) -> np.ndarray:
    """Integers ≥ 0 adding up to `total`, nearest to `values` (largest remainders)."""
    floor = np.floor(values).astype(np.int64)
    short = int(total - floor.sum())
    if short > 0:
        order = np.argsort(-(values - floor), kind="stable")[:short]
        floor[order] += 1
    return np.asarray(floor)


def multi_response(values: np.ndarray, total: int, none: int) -> np.ndarray:
    """Integers for a multi-response table (engagement) that some `total` people could
    have ticked: `none` (who ticked nothing) in 0 … total, every option at most the
    m = total - none others, and the options adding up to at least m (each of them
    ticked one at least). Shortfalls go to the options with the largest noisy counts."""
    fitted = np.clip(np.rint(values), 0, total).astype(np.int64)
    m = int(total - fitted[none])
    options = [i for i in range(len(fitted)) if i != none]
    fitted[options] = np.minimum(fitted[options], m)
    short = m - int(fitted[options].sum())
    for i in sorted(options, key=lambda i: -values[i]):
        if short <= 0:
            break
        rise = min(short, m - int(fitted[i]))
        fitted[i] += rise
        short -= rise
    return np.asarray(fitted)


def _consistent(values: np.ndarray, total: int) -> np.ndarray:
    return round_to(project(values, float(total)), total)


def _counts(table: Table, combos: list[tuple[str, ...]]) -> list[int]:
    return [table.counts.get(c, 0) for c in combos]


def _as_table(template: Table, categories: tuple[tuple[str, ...], ...], counts: dict[tuple[str, ...], int]) -> Table:
    kept = {k: int(v) for k, v in counts.items() if v > 0}
    return replace(template, categories=categories, counts=kept)


def privatise(
    registrants: int, tables: Sequence[Table], epsilon: float, *, elsewhere: int = 0
) -> tuple[int, list[Table], list[Release]]:
    """Noisy, consistent versions of `tables`; returns (registrants, tables, budget).
    `elsewhere` releases (`privatise_population`) share `epsilon` too, each as much as one here."""
    n_hat, noisy, budget, _ = privatise_with_withdrawals(registrants, tables, epsilon, None, elsewhere=elsewhere)
    return n_hat, noisy, budget


def privatise_with_withdrawals(
    registrants: int, tables: Sequence[Table], epsilon: float, withdrawals: int | None, *, elsewhere: int = 0
) -> tuple[int, list[Table], list[Release], int | None]:
    """`privatise`, and the number of people withdrawn as one more release of the
    budget (sensitivity 1, clamped at 0) unless `withdrawals` is None."""
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    by_name = {t.name: t for t in tables}
    one_way = [t for t in tables if len(t.dimensions) == 1 and t.dimensions[0] not in _DERIVED]
    cross = [by_name["_by_".join(dims)] for dims in CROSS]
    # registrants, the cross-tables, the one-way tables (and the withdrawals), and the releases elsewhere
    share = epsilon / (1 + len(cross) + len(one_way) + (withdrawals is not None) + elsewhere)
    budget: list[Release] = []

    def release(name: str, counts: Sequence[int], sensitivity: int = 1) -> np.ndarray:
        noisy, scale = _laplace(counts, sensitivity, share)
        budget.append(Release(name, share, sensitivity, scale))
        return noisy

    n_hat = max(int(release("registrants", [registrants])[0]), 0)
    out: dict[str, Table] = {}
    # Where people live: its own release, then the rows of both cross-tables.
    countries = domain("residence_country")
    residence = by_name["residence_country"]
    rows = _consistent(release("residence_country", _counts(residence, [(c,) for c in countries])), n_hat)
    present = tuple(c for c, total in zip(countries, rows, strict=True) if total > 0)
    row_total = {c: int(t) for c, t in zip(countries, rows, strict=True) if t > 0}
    out["residence_country"] = _as_table(residence, (present,), {(c,): t for c, t in row_total.items()})
    for table in cross:
        dim = table.dimensions[1]
        cols = domain(dim)
        noisy = release(table.name, _counts(table, [(r, c) for r in present for c in cols]))
        grid = noisy.reshape(len(present), len(cols))
        counts: dict[tuple[str, ...], int] = {}
        for i, r in enumerate(present):
            for c, v in zip(cols, _consistent(grid[i], row_total[r]), strict=True):
                counts[(r, c)] = int(v)
        out[table.name] = _as_table(table, (present, cols), counts)
        margin: dict[tuple[str, ...], int] = {(c,): sum(counts[(r, c)] for r in present) for c in cols}
        out[dim] = _as_table(by_name[dim], (cols,), margin)
    # The other one-way tables, each its own release.
    xk = n_hat
    for table in one_way:
        if table.name == "residence_country":
            continue
        cats = domain(table.dimensions[0])
        sensitivity = 1 if table.additive else len(cats) - 1  # engagement: every option but `none`
        noisy = release(table.name, _counts(table, [(c,) for c in cats]), sensitivity)
        if table.additive:
            fitted = _consistent(noisy, xk if table.condition else n_hat)
        else:
            fitted = multi_response(noisy, n_hat, cats.index(NONE_TICKED))
        if table.name == "origin_country":
            xk = int(fitted[cats.index("XK")])
            cats_out = tuple(c for c, v in zip(cats, fitted, strict=True) if v > 0)
        else:
            cats_out = cats
        out[table.name] = _as_table(table, (cats_out,), {(c,): v for c, v in zip(cats, fitted, strict=True)})
    w_hat = None if withdrawals is None else max(int(release("withdrawals", [withdrawals])[0]), 0)
    return n_hat, [out[t.name] for t in tables], budget, w_hat


def privatise_population(population: Population, share: float) -> tuple[Population, list[Release]]:
    """A noisy, consistent version of a population's number and tables, `share` of ε each:
    every table over its whole domain, projected onto the noisy number; a country is
    listed where its noisy count is above 0."""
    noisy, scale = _laplace([population.n], 1, share)
    budget = [Release(population.name, share, 1, scale)]
    n_hat = max(int(noisy[0]), 0)
    out = []
    for table in population.tables:
        full = [kinds_domain(d) for d in table.dimensions]
        combos = list(product(*full))
        released, scale = _laplace(_counts(table, combos), 1, share)
        budget.append(Release(table.name, share, 1, scale))
        fitted = _consistent(released, n_hat)
        counts = {c: int(v) for c, v in zip(combos, fitted, strict=True)}
        grid = fitted.reshape([len(values) for values in full])
        categories = []
        for axis, (dim, values) in enumerate(zip(table.dimensions, full, strict=True)):
            if dim.endswith("_country"):
                held = grid.sum(axis=tuple(i for i in range(grid.ndim) if i != axis))
                values = tuple(v for v, k in zip(values, held, strict=True) if k > 0)
            categories.append(values)
        out.append(_as_table(table, tuple(categories), counts))
    return Population(population.name, n_hat, out), budget
