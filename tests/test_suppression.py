"""The suppression solver's shortcuts agree with the attacker's linear programmes.

`suppress` hands `check` tables the attacker cannot rule out, and `check`
solves an LP only where those tables do not already show a count protected.
Here the verdicts are compared with intervals computed independently (scipy's
`linprog` on the lattice), for the solver's own patterns, for weakened ones,
and with forged evidence."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from publication.protection import suppression as S
from publication.tables import count_tables

ON = date(2026, 11, 26)
_people = st.lists(
    st.fixed_dictionaries(
        {
            "residence_country": st.sampled_from(["DE", "DE", "DE", "CH", "CH", "IT", "IS"]),
            "status": st.sampled_from(["employed", "student", "unemployed", "retired"]),
            "education_level": st.sampled_from(["isced3", "isced6", "isced7"]),
            "origin_country": st.sampled_from(["XK", "XK", "AL"]),
            "sex": st.sampled_from(["female", "male", "male"]),
            "birth_date": st.sampled_from(["1970-01-01", "1990-05-05", "2001-09-09"]),
            "engagement": st.lists(st.sampled_from(["mentoring", "mentoring", "return", "investment"]), unique=True),
        }
    ),
    min_size=30,
    max_size=150,
)


def _lattice(people: list[dict]) -> S.Lattice:
    n, tables = count_tables(people, ON)
    return S.build_lattice(n, tables)


def _people_in(cells: list[tuple[str, str, int]]) -> list[dict]:
    """`k` people living in country c with status s, for each (c, s, k)."""
    person = {"birth_date": "1990-05-05", "sex": "female", "origin_country": "XK"}
    return [person | {"residence_country": c, "status": s} for c, s, k in cells for _ in range(k)]


def _intervals(lat: S.Lattice, suppressed: np.ndarray) -> dict[int, tuple[float, float]]:
    """Feasible interval of every suppressed quantity, straight from the definition."""
    values = np.asarray(lat.values, dtype=float)
    hidden = np.asarray(lat.hidden, dtype=bool)  # never published, known to be ≥ 0
    unknown = suppressed | hidden
    matrix = S._matrix(lat).toarray()
    a, b = matrix[:, unknown], -matrix[:, ~unknown] @ values[~unknown]
    cols = np.nonzero(unknown)[0]
    bounds = [(0 if hidden[i] else 1, None) for i in cols]
    out = {}
    for k, i in enumerate(cols):
        if hidden[i]:
            continue
        ends = []
        for sense in (1.0, -1.0):
            c = np.zeros(len(cols))
            c[k] = sense
            res = linprog(c, A_eq=a, b_eq=b, bounds=bounds, method="highs")
            assert res.status in (0, 3), res.message
            ends.append(np.inf * -sense if res.status == 3 else sense * res.fun)
        out[int(i)] = (ends[0], ends[1])
    return out


def _protected(lat: S.Lattice, suppressed: np.ndarray, primary: np.ndarray, min_cell: int, level: int) -> bool:
    values = np.asarray(lat.values, dtype=float)
    for i, (lo, hi) in _intervals(lat, suppressed).items():
        if primary[i] and hi < max(min_cell, values[i] + level) - 1e-6:
            return False
        if hi - lo < 1e-6:
            return False
    return True


def _verdict(lat: S.Lattice, suppressed: np.ndarray, primary: np.ndarray, min_cell: int, evidence: np.ndarray) -> bool:
    try:
        S.check(lat, suppressed, primary, min_cell, 5, evidence)
    except S.ProtectionError:
        return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=_people, min_cell=st.sampled_from([3, 5, 10]), data=st.data())
def test_check_agrees_with_the_lp_audit(people: list[dict], min_cell: int, data: st.DataObject) -> None:
    lat = _lattice(people)
    try:
        suppressed, primary, evidence = S.suppress(lat, min_cell, 5)
    except S.ProtectionError:
        assume(False)
    assume(primary.any())
    # The solver's pattern is protected, and its evidence lies inside the true intervals.
    assert _protected(lat, suppressed, primary, min_cell, 5)
    assert _verdict(lat, suppressed, primary, min_cell, evidence)
    for i, (lo, hi) in _intervals(lat, suppressed).items():
        assert np.all(evidence[:, i] >= lo - 1e-6) and np.all(evidence[:, i] <= hi + 1e-6)
    # Publish some suppressed counts again: the old evidence must not carry the verdict.
    hidden = [int(i) for i in np.nonzero(suppressed)[0]]
    shown = data.draw(st.sets(st.sampled_from(hidden), min_size=1, max_size=4))
    weaker = suppressed.copy()
    weaker[list(shown)] = False
    expected = _protected(lat, weaker, primary & weaker, min_cell, 5)
    assert _verdict(lat, weaker, primary & weaker, min_cell, evidence) == expected
    # Forged evidence (every count moved upwards, equations broken) changes nothing either.
    forged = evidence + data.draw(st.floats(0.5, 20.0))
    assert _verdict(lat, weaker, primary & weaker, min_cell, forged) == expected
    assert _verdict(lat, suppressed, primary, min_cell, forged)


def test_forged_evidence_is_rejected() -> None:
    """A table that moves a published count, or breaks an equation, proves nothing."""
    lat = _lattice(_people_in([("DE", "employed", 40), ("DE", "student", 3)]))
    values = np.asarray(lat.values, dtype=float)
    small = lat.index[(("residence_country", "DE"), ("status", "student"))]
    suppressed = np.zeros(len(values), dtype=bool)
    suppressed[small] = True
    matrix = S._matrix(lat)
    lifted = values.copy()
    lifted[small] = 10.0  # breaks "DE = employed + student"
    hidden = np.asarray(lat.hidden, dtype=bool)
    assert not S._tables(matrix, values, suppressed, lifted[None, :], hidden)[0]
    assert S._tables(matrix, values, suppressed, values[None, :], hidden)[0]
    with pytest.raises(S.ProtectionError, match="known to be small"):
        S.check(lat, suppressed, suppressed, 10, 5, lifted[None, :])


def test_the_witness_is_the_cheapest_rectangle() -> None:
    """DE's 3 students must be able to be 10: the cheapest cycle through them is hidden."""
    rows = [("DE", "employed", 40), ("DE", "student", 3), ("DE", "retired", 30), ("CH", "employed", 30)]
    rows += [("CH", "student", 12), ("CH", "retired", 20)]
    lat = _lattice(_people_in(rows))
    suppressed, primary, evidence = S.suppress(lat, 10, 5)
    extra = {lat.keys[i] for i in np.nonzero(suppressed & ~primary)[0]}
    # +5 DE/student, -5 DE/retired (cheaper than employed), -5 CH/student, +5 CH/retired (cheaper than employed)
    assert extra == {
        (("residence_country", "DE"), ("status", "retired")),
        (("residence_country", "CH"), ("status", "student")),
        (("residence_country", "CH"), ("status", "retired")),
    }
    assert _protected(lat, suppressed, primary, 10, 5)
    assert len(evidence) == 2  # the true table and the witness
