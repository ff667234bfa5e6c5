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
a suppressed quantity is at least 1 (zeros are always published). The
feasible interval of a suppressed quantity is its minimum and maximum over
all real solutions of that system (a linear programme; integer solutions lie
within it).

**Protection criterion**: for a primary cell (0 < v < min_cell) the feasible
interval [lo, hi] must reach `hi ≥ max(min_cell, v + protection)`: nobody can
tell from the publication that the group is small, and the interval is at
least `protection` wide. Every other suppressed quantity must not be pinned
(hi > lo).

**Complementary suppression** (the smallest correct solver): primaries are
suppressed first; then, for each primary that the audit finds unprotected,
a mixed-integer programme (scipy's HiGHS) chooses the cheapest further
quantities to suppress such that a *witness* exists — a change d of the
table, zero on every published quantity, satisfying every equation, keeping
every suppressed quantity ≥ 1, that raises the primary to its target. A
witness is exactly a feasible table the attacker cannot exclude, so the
criterion holds, and it keeps holding as more is suppressed. The cost of
suppressing a quantity is its value times the number of tables showing it
(plus one), as Tau-Argus does for frequency tables. A final audit checks
every suppressed quantity with two linear programmes each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csr_matrix, hstack, identity, vstack
from scipy.sparse.csgraph import connected_components

from .tables import Table

__all__ = ["Key", "Lattice", "ProtectionError", "audit", "build_lattice", "key_of", "suppress"]

Key = tuple[tuple[str, str], ...]


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

    def add(self, key: Key, value: int) -> int:
        if key in self.index:
            i = self.index[key]
            if self.values[i] != value:
                raise ValueError(f"inconsistent counts for {key}: {self.values[i]} and {value}")
            self.appearances[i] += 1
            return i
        self.index[key] = len(self.keys)
        self.keys.append(key)
        self.values.append(int(value))
        self.appearances.append(1)
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


def _components(lat: Lattice, matrix: csr_matrix, movable: np.ndarray) -> np.ndarray:
    """Quantities that can change together share a label (fixed ones don't link)."""
    incidence = matrix[:, movable].tocsc() if movable.any() else None
    n = len(lat.keys)
    if incidence is None:
        return np.arange(n)
    cols = np.nonzero(movable)[0]
    coo = incidence.tocoo()
    eq_nodes = coo.row + n
    graph = coo_matrix((np.ones(len(coo.row)), (cols[coo.col], eq_nodes)), shape=(n + matrix.shape[0],) * 2)
    return connected_components(graph, directed=False)[1][:n]


def _bound(matrix: csr_matrix, values: np.ndarray, suppressed: np.ndarray, target: int, sense: float) -> float:
    """min (sense=1) or max (sense=-1) of quantity `target` given the publication.

    `suppressed` may be narrowed to the target's connected component among
    the suppressed quantities: published numbers are constants, so the other
    components cannot constrain it and the bound is the same."""
    cols = np.nonzero(suppressed)[0]
    sub = matrix[:, cols]
    used = np.unique(sub.nonzero()[0])
    c = np.zeros(len(cols))
    c[np.searchsorted(cols, target)] = sense
    if len(used) == 0:  # linked to nothing: only "at least 1" is known
        return 1.0 if sense > 0 else float("inf")
    a_eq = sub[used]
    res = linprog(c, A_eq=a_eq, b_eq=a_eq @ values[cols], bounds=(1, None), method="highs")
    if res.status == 3:  # unbounded above
        return float("inf") * -sense
    if res.status != 0:
        raise ProtectionError(f"audit LP failed: {res.message}")
    return float(res.fun * sense)


def _component_mask(lat: Lattice, matrix: csr_matrix, suppressed: np.ndarray) -> Callable[[int], np.ndarray]:
    """For a quantity, the suppressed quantities linked to it through equations."""
    labels = _components(lat, matrix, suppressed)
    return lambda q: suppressed & (labels == labels[q])


def audit(lat: Lattice, suppressed: np.ndarray) -> dict[int, tuple[float, float]]:
    """The attacker's feasible interval of every suppressed quantity."""
    matrix, values = _matrix(lat), np.asarray(lat.values, dtype=float)
    linked = _component_mask(lat, matrix, suppressed)
    out = {}
    for i in np.nonzero(suppressed)[0]:
        group = linked(int(i))
        out[int(i)] = (_bound(matrix, values, group, int(i), 1.0), _bound(matrix, values, group, int(i), -1.0))
    return out


def _witness(
    matrix: csr_matrix,
    values: np.ndarray,
    suppressed: np.ndarray,
    members: np.ndarray,
    q: int,
    rise: float,
    cost: np.ndarray,
) -> np.ndarray:
    """Cheapest extra suppressions that let quantity q rise by `rise`.

    Variables: d (the witness change, one per quantity of q's component) and
    x (1 = suppress). Published quantities cannot change (x = 0 ⇒ d = 0); a
    suppressed quantity may go down to 1 and up to the largest total."""
    cols = members[values[members] > 0]
    k = len(cols)
    sub = matrix[:, cols]
    a = sub[np.unique(sub.nonzero()[0])]
    free = ~suppressed[cols]
    fi = np.nonzero(free)[0]
    big = float(values.max())
    pick = identity(k, format="csr")[fi]
    rows = [
        hstack([a, csr_matrix((a.shape[0], k))]),
        hstack([pick, -big * pick]),  # d - big·x ≤ 0
        hstack([pick, pick.multiply((values[cols] - 1)[None, :])]),  # d + (v-1)·x ≥ 0
    ]
    lower = np.concatenate([np.zeros(a.shape[0]), np.full(len(fi), -np.inf), np.zeros(len(fi))])
    upper = np.concatenate([np.zeros(a.shape[0]), np.zeros(len(fi)), np.full(len(fi), np.inf)])
    d_lo = np.where(free, -np.inf, 1 - values[cols])
    d_hi = np.where(free, np.inf, big)
    pos = int(np.searchsorted(cols, q))
    d_lo[pos] = d_hi[pos] = rise
    res = milp(
        c=np.concatenate([np.zeros(k), cost[cols] * free]),
        constraints=LinearConstraint(vstack(rows).tocsr(), lower, upper),
        integrality=np.concatenate([np.zeros(k), np.ones(k)]),
        bounds=Bounds(np.concatenate([d_lo, np.zeros(k)]), np.concatenate([d_hi, free.astype(float)])),
        options={"time_limit": 60.0},
    )
    if res.x is None:
        raise ProtectionError(f"no complementary suppression can protect quantity {q}: {res.message}")
    return cols[(res.x[k:] > 0.5) & free]


def suppress(lat: Lattice, min_cell: int, protection: int) -> tuple[np.ndarray, np.ndarray]:
    """(suppressed, primary) masks over `lat.keys` meeting the criterion."""
    values = np.asarray(lat.values, dtype=float)
    primary = (values > 0) & (values < min_cell)
    primary[lat.index[()]] = False
    suppressed = primary.copy()
    if not primary.any():
        return suppressed, primary
    matrix = _matrix(lat)
    movable = values > 0
    movable[lat.index[()]] = False
    labels = _components(lat, matrix, movable)
    cost = values * np.asarray(lat.appearances, dtype=float) + 1.0
    for q in np.nonzero(primary)[0]:
        target = max(min_cell, values[q] + protection)
        group = _component_mask(lat, matrix, suppressed)(int(q))
        if _bound(matrix, values, group, int(q), -1.0) >= target:
            continue
        members = np.nonzero((labels == labels[q]) & movable)[0]
        suppressed[_witness(matrix, values, suppressed, members, int(q), target - values[q], cost)] = True
    return suppressed, primary


def check(lat: Lattice, suppressed: np.ndarray, primary: np.ndarray, min_cell: int, protection: int) -> None:
    """Raise ProtectionError unless every suppressed quantity is protected.

    The same test as `audit` gives, with fewer LPs: the true value is always
    feasible, so a maximum above it already shows the range is not a single
    value, and the minimum is solved only when the maximum equals the value."""
    matrix, values = _matrix(lat), np.asarray(lat.values, dtype=float)
    linked = _component_mask(lat, matrix, suppressed)
    for i in np.nonzero(suppressed)[0]:
        group = linked(int(i))
        hi = _bound(matrix, values, group, int(i), -1.0)
        if primary[i] and hi < max(min_cell, values[i] + protection) - 1e-6:
            raise ProtectionError(f"suppressed quantity {lat.keys[i]} is known to be small")
        if hi - values[i] < 1e-6 and hi - _bound(matrix, values, group, int(i), 1.0) < 1e-6:
            raise ProtectionError(f"suppressed quantity {lat.keys[i]} can be recomputed")
