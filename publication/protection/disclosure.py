"""Disclosure control: from raw counts to the publishable `aggregates.json` object.

    registrants, tables = count_tables(kept_records, generated_on)
    aggregates = protect(tables, min_cell=10, epsilon=None, generated_on=generated_on)

`protect` applies, in order:

1. optionally (`epsilon` given) differential privacy (`dp.privatise`): OpenDP
   discrete-Laplace noise on every count, the budget split recorded, then
   post-processing to non-negative integers whose margins agree;
2. below min_cell registrants (noisy ones, with DP): no table at all, only
   `registrants`: zeros and totals around a handful of people would give
   them away;
3. per group of linked tables (`_GROUPS`: the residence, status and
   education tables with their cross-tables; origin country with
   municipality; each other table alone — the groups share only
   `registrants`), primary suppression of every count in 1 … min_cell-1
   and complementary suppression (`suppression.suppress`), so that no
   suppressed count can be recomputed or shown to be small;
4. an audit (`suppression.check`) that shows every suppressed count
   protected from the published numbers alone — by tables the attacker
   cannot rule out (each re-verified) or else by the linear programme for
   its feasible interval. A group that fails is split into its fallback
   (the one-way tables alone); a table that still fails is left out of
   the publication and named in `disclosure.withheld_tables`.

Households, businesses and associations (`populations`, from
`publication.kinds.count_kinds`) are counted things of their own: each is
protected like the registrants, with its own number in place of
`registrants` (below min_cell of them none of its tables is published),
each of its tables alone. Without DP a population of none is left out;
with DP each is released, noisy, whatever its size, so that which tables
appear reveals nothing, and the budget is split over every release.

The result follows FORMATS §5 (`format`, `generated_on`, `registrants`,
`disclosure`, `tables` with `cells` whose `count` is null when suppressed)
and adds `margins` (row totals, column totals, grand total) to every table.
Its JSON Schema is `schemas/aggregates.schema.json`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from importlib import metadata
from typing import Any

import numpy as np

from ..kinds import Population
from ..tables import NOT_STATED, Table, count_tables
from . import suppression
from .suppression import Lattice, build_lattice, key_of
from .withdrawals import protect_withdrawals

__all__ = ["AGGREGATES_FORMAT", "Table", "count_tables", "protect", "protect_with_withdrawals"]

AGGREGATES_FORMAT = "dvr-aggregates/1"
CRITERION = (
    "Below min_cell registrants only their number is published. Otherwise zeros are published, every count "
    "from 1 to min_cell-1 is suppressed, and so are enough other counts that, from all published numbers "
    "together (cells, margins, one-way tables, registrants, and that an engagement option counts at most the "
    "people outside 'none', who ticked one option at least), the feasible range of each suppressed count is "
    "never a single value, and for a small count reaches at least max(min_cell, count + protection_level). "
    "A table for which no such pattern exists is not published."
)


def _registrants(tables: Sequence[Table]) -> int:
    sex = next(t for t in tables if t.name == "sex")
    return int(sum(sex.counts.values()))


def _count(lat: Lattice, suppressed: np.ndarray, pairs: list[tuple[str, str]]) -> int | None:
    i = lat.index[key_of(pairs)]
    return None if suppressed[i] else int(lat.values[i])


def _table_json(table: Table, lat: Lattice, suppressed: np.ndarray, population: str) -> dict[str, Any]:
    base = list(table.condition)
    dims = table.dimensions
    combos: list[tuple[str, ...]] = [()]
    for values in table.categories:
        combos = [c + (v,) for c in combos for v in values]
    cells = []
    for combo in combos:
        pairs = list(zip(dims, combo, strict=True))
        cells.append({**dict(pairs), "count": _count(lat, suppressed, base + pairs)})
    margins: dict[str, object] = {"total": _count(lat, suppressed, base)}
    if len(dims) > 1:
        for axis, dim in enumerate(dims):
            margins[dim] = [
                {dim: v, "count": _count(lat, suppressed, [*base, (dim, v)])} for v in table.categories[axis]
            ]
    out: dict[str, object] = {"name": table.name, "dimensions": list(dims), "cells": cells, "margins": margins}
    out["population"] = " and ".join(f"{d} = {v}" for d, v in base) if base else population
    out["additive"] = table.additive
    return out


# Tables linked by equations (margins), published or withheld together; the
# groups share only `registrants`, which is always published, so each is
# protected on its own. If a group cannot be protected, its fallback (smaller
# groups) is tried; a single table that cannot be protected is withheld.
_GROUPS: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...] = (
    (
        (
            "residence_country",
            "status",
            "education_level",
            "residence_country_by_status",
            "residence_country_by_education_level",
        ),
        (("residence_country",), ("status",), ("education_level",)),  # without the cross-tables
    ),
    (("origin_country", "origin_municipality"), (("origin_country",),)),
)


def _groups(tables: Sequence[Table]) -> list[tuple[list[Table], list[list[Table]]]]:
    """Each linked group of `tables` with its fallback groups."""
    by_name = {t.name: t for t in tables}
    grouped: set[str] = set()
    out = []
    for names, fallback in _GROUPS:
        members = [by_name[x] for x in names if x in by_name]
        grouped.update(names)
        if members:
            out.append((members, [[by_name[x] for x in f if x in by_name] for f in fallback]))
    out += [([t], []) for t in tables if t.name not in grouped]
    return out


def _protected(
    n: int, group: tuple[list[Table], list[list[Table]]], min_cell: int, level: int
) -> list[tuple[list[Table], Lattice, np.ndarray, np.ndarray]]:
    """The parts of `group` that can be published: (tables, lattice, suppressed, primary) each."""
    tables, fallback = group
    lat = build_lattice(n, tables)
    try:
        suppressed, primary, evidence = suppression.suppress(lat, min_cell, level)
        suppression.check(lat, suppressed, primary, min_cell, level, evidence)
    except suppression.ProtectionError:
        # Some small count cannot be hidden among the published numbers (e.g.
        # 12 people in 4 age bands, where no band can plausibly hold 10, or
        # 11 people from Kosovo in 38 municipalities): fall back to fewer,
        # unlinked tables, and withhold a table that still cannot be protected.
        return [part for f in fallback for part in _protected(n, (f, []), min_cell, level)]
    return [(tables, lat, suppressed, primary)]


def protect(
    tables: list[Table],
    min_cell: int,
    epsilon: float | None,
    generated_on: date,
    *,
    registrants: int | None = None,
    protection: int | None = None,
    populations: Sequence[Population] = (),
) -> dict[str, Any]:
    """The complete `aggregates.json` object for `tables` (from `count_tables`),
    and for the tables of `populations` (households, businesses, associations).

    `protection` (default ⌈min_cell / 2⌉) is how wide a small count's
    feasible range must at least be. Raises `suppression.ProtectionError` if
    the audit finds a suppressed count that is not protected (never expected)."""
    aggregates, _ = protect_with_withdrawals(
        tables,
        min_cell,
        epsilon,
        generated_on,
        None,
        registrants=registrants,
        protection=protection,
        populations=populations,
    )
    return aggregates


def protect_with_withdrawals(
    tables: list[Table],
    min_cell: int,
    epsilon: float | None,
    generated_on: date,
    withdrawals: int | None,
    *,
    registrants: int | None = None,
    protection: int | None = None,
    populations: Sequence[Population] = (),
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`protect`, and the number of people `withdrawals` protected like the
    other counts (`withdrawals.protect_withdrawals`: its own DP release, then
    suppressed below min_cell; None below min_cell registrants or if not given)."""
    if min_cell < 1:
        raise ValueError("min_cell must be ≥ 1")
    if epsilon is not None and not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError("epsilon must be a positive number")
    level = math.ceil(min_cell / 2) if protection is None else protection
    if level < 1:
        raise ValueError("protection must be ≥ 1")
    n = _registrants(tables) if registrants is None else registrants
    disclosure: dict[str, object] = {
        "min_cell": min_cell,
        "protection_level": level,
        "method": "cell_suppression",
        "criterion": CRITERION,
        "epsilon": None,
        "budget": [],
        "missing_values": f"counted as '{NOT_STATED}'; engagement counts people who ticked nothing as 'none'",
    }
    if epsilon is not None:
        from .dp import privatise_population, privatise_with_withdrawals  # OpenDP loads slowly; only this mode

        elsewhere = sum(1 + len(p.tables) for p in populations)
        n, tables, budget, withdrawals = privatise_with_withdrawals(
            n, tables, epsilon, withdrawals, elsewhere=elsewhere
        )
        noisy = [privatise_population(p, budget[0].epsilon) for p in populations]
        populations = [p for p, _ in noisy]
        budget += [r for _, spent in noisy for r in spent]
        disclosure["method"] = "differential_privacy+cell_suppression"
        disclosure["epsilon"] = epsilon
        disclosure["budget"] = [
            {
                "release": r.name,
                "epsilon": r.epsilon,
                "sensitivity": r.sensitivity,
                "scale": r.scale,
                "mechanism": r.mechanism,
            }
            for r in budget
        ]
        disclosure["opendp_version"] = metadata.version("opendp")
        disclosure["neighbouring"] = "add or remove one registrant (after de-duplication)" + (
            "; in the tables of households, businesses and associations, one of them" if populations else ""
        )
    else:
        populations = [p for p in populations if p.n > 0]  # none of a kind: no table (a zero says the same)
    published: list[tuple[Table, Lattice, np.ndarray, str]] = []
    primaries = complementaries = 0
    every = [(n, "registrants", _groups(tables), tables)]
    every += [(p.n, p.name, [([t], []) for t in p.tables], p.tables) for p in populations]
    reasons = []
    for size, population, groups, members in every:
        if size >= min_cell:  # below min_cell of them no breakdown at all
            for group in groups:
                for part, lat, suppressed, primary in _protected(size, group, min_cell, level):
                    published += [(t, lat, suppressed, population) for t in part]
                    primaries += int(primary.sum())
                    complementaries += int((suppressed & ~primary).sum())
        shown = {id(p[0]) for p in published}
        if any(id(t) not in shown for t in members):
            if population == "registrants":
                reasons.append(
                    f"every breakdown: fewer than {min_cell} registrants"
                    if size < min_cell
                    else "some breakdowns: too small to protect their small counts"
                )
            elif size < min_cell:
                reasons.append(f"the tables of {population}: fewer than {min_cell} {population}")
            else:
                reasons.append(f"some tables of {population}: too small to protect their small counts")
    every_table = [t for _, _, _, members in every for t in members]
    shown = {id(p[0]) for p in published}
    withheld = [t.name for t in every_table if id(t) not in shown]
    if withheld:
        disclosure["withheld"] = "; ".join(reasons)
        disclosure["withheld_tables"] = withheld
    disclosure["primary_suppressed"] = primaries
    disclosure["complementary_suppressed"] = complementaries
    order = {t.name: i for i, t in enumerate(every_table)}
    published.sort(key=lambda p: order[p[0].name])
    aggregates = {
        "format": AGGREGATES_FORMAT,
        "generated_on": generated_on.isoformat(),
        "registrants": int(n),
        "disclosure": disclosure,
        "tables": [_table_json(t, lat, suppressed, population) for t, lat, suppressed, population in published],
    }
    return aggregates, None if withdrawals is None else protect_withdrawals(withdrawals, int(n), min_cell)
