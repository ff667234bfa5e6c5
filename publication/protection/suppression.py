"""Cell suppression for linked frequency tables: primary, complementary, audit.

The published tables are one linear system. Every number that is published
anywhere — a cell, a row or column total, a one-way table cell, the grand
total — is one *quantity*, named by the set of (dimension, category) pairs
it counts: `(("residence_country", "DE"),)` is at once the DE cell of the
one-way residence table and the DE row total of both cross-tables, so it is
published everywhere or suppressed everywhere. `()` is the number of
registrants, always published. Each table contributes equations
"total = sum of its parts".

**What an attacker knows**: every published number, every equation, and that
a suppressed quantity is at least 1 (zeros are always published). A
multi-response table (`engagement`: a person may tick several options, and
`none` counts those who ticked nothing) adds no equation of its own, but
the attacker still knows that an option counts at most the people outside
`none`, and that those people ticked at least one option each. These
inequalities enter the system through *hidden* quantities, never published
and known only to be ≥ 0 (the people outside `none` who did not tick an
option; the ticks beyond one per person), so they are equations too. The
feasible interval of a suppressed quantity is its minimum and maximum over
all real solutions of that system (a linear programme; integer solutions lie
within it).

**Protection criterion**: for a primary cell (0 < v < min_cell) the feasible
interval [lo, hi] must reach `hi ≥ max(min_cell, v + protection)`: nobody can
tell from the publication that the group is small, and the interval is at
least `protection` wide. Every other suppressed quantity must not be pinned
(hi > lo).

**Complementary suppression** (the smallest correct solver): primaries are
suppressed first; then, for each primary that the attacker can show to be
small, a linear programme (HiGHS) chooses the cheapest further quantities to
suppress such that a *witness* exists — a change d of the table, zero on
every published quantity, satisfying every equation, keeping every
suppressed quantity ≥ 1, that raises the primary to its target. A witness is
exactly a feasible table the attacker cannot exclude, so the criterion
holds, and it keeps holding as more is suppressed. The cost of suppressing a
quantity is its value times the number of tables showing it (plus one), as
Tau-Argus does for frequency tables, charged per unit of change (a
min-cost flow; on these tables the optimum is one cycle of cells).

**Audit**: every suppressed quantity must be shown protected, either by a
table the attacker cannot rule out (verified here, whoever found it) that
lifts it far enough, or by the linear programme for the end of its feasible
interval. The LPs run on one HiGHS model (`highspy`) kept between solves, so
each re-solve starts from the previous basis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy.sparse import coo_matrix, csr_matrix, hstack

from ..tables import NONE_TICKED, Table

# highspy's stub declares its methods on Highs; _solver() returns the bare base class _Highs
# (same methods), which the stub does not name.
_Solver = highspy.Highs

__all__ = ["Key", "Lattice", "ProtectionError", "audit", "build_lattice", "key_of", "suppress"]

Key = tuple[tuple[str, str], ...]

_INF = highspy.kHighsInf
_TOL = 1e-6  # slack allowed in real-valued bounds and equations
_MOVED = 1e-9  # a witness change smaller than this is solver noise, not a change


class ProtectionError(RuntimeError):
    """The suppression pattern does not meet the protection criterion."""


@dataclass
class Lattice:
    """Quantities (published numbers) and the equations that link them."""

    keys: list[Key] = field(default_factory=list)
    index: dict[Key, int] = field(default_factory=dict)
    values: list[int] = field(default_factory=list)
    appearances: list[int] = field(default_factory=list)
    equations: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    hidden: list[bool] = field(default_factory=list)  # never published, known only to be ≥ 0

    def add(self, key: Key, value: int, *, hidden: bool = False) -> int:
        if hidden and value < 0:
            raise ValueError(f"inconsistent counts: {key} would be {value}")
        if key in self.index:
            i = self.index[key]
            if self.values[i] != value:
                raise ValueError(f"inconsistent counts for {key}: {self.values[i]} and {value}")
            self.appearances[i] += 1
            return i
        self.index[key] = len(self.keys)
        self.keys.append(key)
        self.values.append(int(value))
        self.appearances.append(0 if hidden else 1)
        self.hidden.append(hidden)
        return self.index[key]

    def equation(self, total: int, parts: Sequence[int]) -> None:
        entry = (total, tuple(sorted(parts)))
        if entry not in self.equations:
            self.equations.append(entry)


def key_of(pairs: Sequence[tuple[str, str]]) -> Key:
    return tuple(sorted(pairs))


def build_lattice(registrants: int, tables: Sequence[Table]) -> Lattice:
    """Every published quantity of `tables` and the equations between them."""
    lat = Lattice()
    lat.add((), registrants)
    for table in tables:
        base = list(table.condition)
        dims = table.dimensions
        cells: dict[tuple[str, ...], int] = {}
        for combo in _combinations(table.categories):
            cells[combo] = table.counts.get(combo, 0)
            lat.add(key_of(base + list(zip(dims, combo, strict=True))), cells[combo])
        if not table.additive:
            _multi_response(lat, base, dims, cells)
            continue
        base_total = sum(cells.values())
        total = lat.add(key_of(base), base_total) if base else lat.index[()]
        if base and lat.appearances[total] > 1:
            lat.appearances[total] -= 1  # the condition's own count is not shown again here
        cell_id = {c: lat.index[key_of(base + list(zip(dims, c, strict=True)))] for c in cells}
        if len(dims) == 1:
            lat.equation(total, list(cell_id.values()))
            continue
        for axis, dim in enumerate(dims):
            margin_ids = []
            for category in table.categories[axis]:
                members = [c for c in cells if c[axis] == category]
                margin = lat.add(key_of([*base, (dim, category)]), sum(cells[c] for c in members))
                margin_ids.append(margin)
                lat.equation(margin, [cell_id[c] for c in members])
            lat.equation(total, margin_ids)
    if lat.values[0] != registrants:
        raise ValueError("tables and registrants disagree")
    return lat


def _multi_response(
    lat: Lattice, base: list[tuple[str, str]], dims: tuple[str, ...], cells: dict[tuple[str, ...], int]
) -> None:
    """What the attacker knows of a multi-response table with a `none` option (a
    person counts in every option ticked; `none` counts who ticked nothing):
    every option + none + not_k = registrants, where not_k (hidden) counts
    the people who ticked something but not option k; and the ticks plus
    none, `responses` (hidden), = registrants + extra, where extra (hidden)
    counts the ticks beyond one per person. Integer counts meet these
    exactly when some set of people has them (fill options person by person)."""
    if base or len(dims) != 1 or (NONE_TICKED,) not in cells:
        raise ValueError(f"no rule for the non-additive table over {dims}")
    dim = dims[0]
    n, none = lat.values[lat.index[()]], cells[(NONE_TICKED,)]
    none_id = lat.index[key_of([(dim, NONE_TICKED)])]
    options = [(c[0], v) for c, v in cells.items() if c[0] != NONE_TICKED]
    ids = []
    for option, v in options:
        ids.append(lat.index[key_of([(dim, option)])])
        rest = lat.add(((f"{dim}:not", option),), n - none - v, hidden=True)
        lat.equation(lat.index[()], [ids[-1], rest, none_id])
    ticks = sum(v for _, v in options) + none
    responses = lat.add(((f"{dim}:responses", ""),), ticks, hidden=True)
    lat.equation(responses, [*ids, none_id])
    extra = lat.add(((f"{dim}:extra", ""),), ticks - n, hidden=True)
    lat.equation(responses, [lat.index[()], extra])


def _combinations(categories: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    combos: list[tuple[str, ...]] = [()]
    for values in categories:
        combos = [c + (v,) for c in combos for v in values]
    return combos


def _matrix(lat: Lattice) -> csr_matrix:
    rows, cols, data = [], [], []
    for r, (total, parts) in enumerate(lat.equations):
        rows.append(r)
        cols.append(total)
        data.append(-1.0)
        for p in parts:
            rows.append(r)
            cols.append(p)
            data.append(1.0)
    shape = (len(lat.equations), len(lat.keys))
    return coo_matrix((data, (rows, cols)), shape=shape).tocsr()


def _solver() -> _Solver:
    """A silent HiGHS instance. The bare binding `_Highs` rather than `highspy.Highs`, whose
    Python callbacks print HiGHS's banner to stdout when they are set up (older highspy
    releases do not export `_Highs`; there the banner is printed once)."""
    h = getattr(highspy, "_Highs", highspy.Highs)()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # every run after the first starts from the previous basis
    return h


def _add_equations(h: _Solver, matrix: csr_matrix) -> None:
    """Add each row of `matrix` as an equation `row · x = 0`."""
    zeros = np.zeros(matrix.shape[0])
    starts = matrix.indptr[:-1].astype(np.int32)
    h.addRows(matrix.shape[0], zeros, zeros, matrix.nnz, starts, matrix.indices.astype(np.int32), matrix.data)


def _solve(h: _Solver) -> tuple[highspy.HighsModelStatus, np.ndarray, float]:
    """Run HiGHS; its status, solution and objective value, read before the model changes again."""
    h.run()
    return h.getModelStatus(), np.array(h.getSolution().col_value), float(h.getInfo().objective_function_value)


class _Attacker:
    """The attacker's linear system as one HiGHS model, kept between questions.

    One column per quantity (published: fixed at its value; suppressed: ≥ 1),
    one row per equation (= 0: the true table satisfies them all). Every
    question changes one bound or one cost and re-runs the simplex from the
    previous basis, so it costs a few pivots, not a new model. Quantities of
    other connected components share the model but cannot affect the answer."""

    def __init__(self, matrix: csr_matrix, values: np.ndarray, suppressed: np.ndarray, hidden: np.ndarray) -> None:
        self.h = _solver()
        lower = np.where(hidden, 0.0, np.where(suppressed, 1.0, values))
        self.h.addVars(len(values), lower, np.where(suppressed | hidden, _INF, values))
        _add_equations(self.h, matrix)

    def hide(self, cols: np.ndarray) -> None:
        """Suppress `cols`: the attacker now only knows they are ≥ 1."""
        k = len(cols)
        self.h.changeColsBounds(k, cols.astype(np.int32), np.ones(k), np.full(k, _INF))

    def show(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Publish `cols` again at their `values`."""
        self.h.changeColsBounds(len(cols), cols.astype(np.int32), values, values)

    def reaching(self, q: int, level: float) -> np.ndarray | None:
        """A real-valued table consistent with the publication in which suppressed
        quantity q is ≥ `level`, or None if there is none (then its maximum is below)."""
        self.h.changeColBounds(q, level, _INF)
        try:
            status, table, _ = _solve(self.h)
        finally:
            self.h.changeColBounds(q, 1.0, _INF)
        if status == highspy.HighsModelStatus.kOptimal:
            return table
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        raise ProtectionError(f"audit LP failed: {self.h.modelStatusToString(status)}")

    def bound(self, q: int, sense: float) -> float:
        """Minimum (sense=1) or maximum (sense=-1) of suppressed quantity q: its feasible interval's end."""
        self.h.changeColCost(q, sense)
        try:
            status, _, objective = _solve(self.h)
        finally:
            self.h.changeColCost(q, 0.0)
        if status == highspy.HighsModelStatus.kOptimal:
            return objective * sense
        if status == highspy.HighsModelStatus.kUnbounded:
            return float("inf") * -sense
        raise ProtectionError(f"audit LP failed: {self.h.modelStatusToString(status)}")


class _Witnesses:
    """Cheapest further suppressions that let a primary quantity rise: a min-cost-flow LP.

    Two columns per quantity, up and down, give a witness change d = up - down;
    the rows make d satisfy every equation. Only quantities > 0 may change, by
    at most v - 1 downwards (a suppressed count stays ≥ 1); a hidden one
    may change down to 0. A suppressed or hidden quantity changes for free;
    a published one costs `cost` per unit of change, and every published quantity that changes gets suppressed. On
    these tables the optimum moves one cycle of cells by `rise` (the fixed
    charges of a mixed-integer programme, priced per unit); any optimum is a
    witness, so the pattern is safe whatever it costs."""

    def __init__(
        self, matrix: csr_matrix, values: np.ndarray, movable: np.ndarray, cost: np.ndarray, hidden: np.ndarray
    ) -> None:
        self.n = n = len(values)
        self.down = np.where(hidden, values, np.where(movable, values - 1.0, 0.0))
        movable = movable | hidden
        cost = np.where(hidden, 0.0, cost)
        self.h = _solver()
        self.h.addVars(2 * n, np.zeros(2 * n), np.concatenate([np.where(movable, _INF, 0.0), self.down]))
        self.h.changeColsCost(2 * n, np.arange(2 * n, dtype=np.int32), np.concatenate([cost, cost]))
        _add_equations(self.h, hstack([matrix, -matrix]).tocsr())

    def hide(self, cols: np.ndarray) -> None:
        both = np.concatenate([cols, cols + self.n]).astype(np.int32)
        self.h.changeColsCost(len(both), both, np.zeros(len(both)))

    def change(self, q: int, rise: float) -> np.ndarray:
        """A change d of the table with d[q] = rise: zero on equations, ≥ 1 - v where v > 0, and zero elsewhere."""
        self.h.changeColBounds(q, rise, rise)
        self.h.changeColBounds(q + self.n, 0.0, 0.0)
        try:
            status, x, _ = _solve(self.h)
        finally:
            self.h.changeColBounds(q, 0.0, _INF)
            self.h.changeColBounds(q + self.n, 0.0, float(self.down[q]))
        if status != highspy.HighsModelStatus.kOptimal:
            raise ProtectionError(
                f"no complementary suppression can protect quantity {q}: {self.h.modelStatusToString(status)}"
            )
        return np.asarray(x[: self.n] - x[self.n :])


def _tables(
    matrix: csr_matrix, values: np.ndarray, suppressed: np.ndarray, points: np.ndarray, hidden: np.ndarray
) -> np.ndarray:
    """Which rows of `points` are tables the attacker cannot rule out (to `_TOL`):
    published quantities at their values, suppressed ones ≥ 1, hidden ones ≥ 0,
    every equation met. This is the whole proof behind a point, whoever computed it."""
    fixed = ~suppressed & ~hidden
    snapped = points.copy()
    snapped[:, fixed] = values[fixed]
    ok = np.all(np.abs(points[:, fixed] - values[fixed]) <= _TOL, axis=1)
    ok &= np.all(snapped[:, suppressed] >= 1.0 - _TOL, axis=1)
    ok &= np.all(snapped[:, hidden] >= -_TOL, axis=1)
    ok &= np.all(np.abs(matrix @ snapped.T) <= _TOL, axis=0)
    return np.asarray(ok)


def audit(lat: Lattice, suppressed: np.ndarray) -> dict[int, tuple[float, float]]:
    """The attacker's feasible interval of every suppressed quantity (two LPs each)."""
    values = np.asarray(lat.values, dtype=float)
    attacker = _Attacker(_matrix(lat), values, suppressed, np.asarray(lat.hidden, dtype=bool))
    return {int(i): (attacker.bound(int(i), 1.0), attacker.bound(int(i), -1.0)) for i in np.nonzero(suppressed)[0]}


def _complement(
    attacker: _Attacker,
    witnesses: _Witnesses,
    values: np.ndarray,
    candidates: np.ndarray,
    cost: np.ndarray,
    q: int,
    target: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Published quantities (among `candidates`) to suppress so that q can reach
    `target`, and the table that shows it; `attacker` is left with them hidden.

    The witness LP prices change per unit, so it may spread the change over
    several quantities where one would do (what counts is the cost of
    suppressing each): then each of them alone, cheapest first, is tried."""
    d = witnesses.change(q, target - values[q])
    new = np.nonzero(candidates & (np.abs(d) > _MOVED))[0]
    if len(new) > 1:
        for j in new[np.argsort(cost[new], kind="stable")]:
            one = np.array([j])
            attacker.hide(one)
            alone = attacker.reaching(q, target)
            if alone is not None:
                return one, alone
            attacker.show(one, values[one])
    attacker.hide(new)
    unchanged = candidates.copy()
    unchanged[new] = False
    return new, values + np.where(unchanged, 0.0, d)


def suppress(lat: Lattice, min_cell: int, protection: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(suppressed, primary, tables): masks over `lat.keys` meeting the criterion, and
    (one per row) tables the attacker cannot rule out that `check` can use as evidence.

    Each primary in turn: if a table found so far already lifts it to its
    target, or the attacker's LP finds one, it is protected; otherwise a
    witness says which published quantities to suppress. Suppressing more
    only widens the attacker's options, so earlier tables stay valid."""
    values = np.asarray(lat.values, dtype=float)
    hidden = np.asarray(lat.hidden, dtype=bool)
    primary = (values > 0) & (values < min_cell) & ~hidden
    primary[lat.index[()]] = False
    suppressed = primary.copy()
    found = [values]
    if not primary.any():
        return suppressed, primary, np.array(found)
    matrix = _matrix(lat)
    movable = (values > 0) & ~hidden
    movable[lat.index[()]] = False
    attacker = _Attacker(matrix, values, suppressed, hidden)
    cost = values * np.asarray(lat.appearances, dtype=float) + 1.0
    witnesses: _Witnesses | None = None
    highest = values.copy()  # per quantity, the largest value in a valid table found so far
    for q in np.nonzero(primary)[0]:
        target = max(min_cell, values[q] + protection)
        if highest[q] >= target - _TOL:
            continue
        table = attacker.reaching(int(q), target)
        if table is None:
            if witnesses is None:
                witnesses = _Witnesses(matrix, values, movable, np.where(suppressed, 0.0, cost), hidden)
            new, table = _complement(attacker, witnesses, values, movable & ~suppressed, cost, int(q), target)
            suppressed[new] = True
            witnesses.hide(new)
        if _tables(matrix, values, suppressed, table[None, :], hidden)[0]:
            found.append(table)
            np.maximum(highest, table, out=highest)
    return suppressed, primary, np.array(found)


def check(
    lat: Lattice,
    suppressed: np.ndarray,
    primary: np.ndarray,
    min_cell: int,
    protection: int,
    tables: np.ndarray | None = None,
) -> None:
    """Raise ProtectionError unless every suppressed quantity is protected.

    The test of `audit`, with fewer LPs: a table the attacker cannot rule
    out (checked here against the final pattern, so `tables` from `suppress`
    need not be trusted) shows that the feasible interval reaches its value.
    The true table is one; an LP is solved only for an end of an interval
    that the tables do not already show wide enough."""
    matrix, values = _matrix(lat), np.asarray(lat.values, dtype=float)
    hidden = np.asarray(lat.hidden, dtype=bool)
    if (suppressed & hidden).any():
        raise ProtectionError("a hidden quantity is marked suppressed")
    points = values[None, :] if tables is None else np.vstack([values, tables])
    points = points[_tables(matrix, values, suppressed, points, hidden)]
    hi = points.max(axis=0) if len(points) else np.full(len(values), -np.inf)
    lo = points.min(axis=0) if len(points) else np.full(len(values), np.inf)
    attacker: _Attacker | None = None
    for i in map(int, np.nonzero(suppressed)[0]):
        need = max(min_cell, values[i] + protection) if primary[i] else -np.inf
        if hi[i] < need - _TOL or hi[i] - lo[i] < _TOL:
            attacker = attacker or _Attacker(matrix, values, suppressed, hidden)
            hi[i] = attacker.bound(i, -1.0)
            if hi[i] < need - _TOL:
                raise ProtectionError(f"suppressed quantity {lat.keys[i]} is known to be small")
            if hi[i] - lo[i] < _TOL and hi[i] - attacker.bound(i, 1.0) < _TOL:
                raise ProtectionError(f"suppressed quantity {lat.keys[i]} can be recomputed")
