"""The number of people who withdrew, protected like any other count (issue 18).

`keyholder publish` removes every registrant whose withdrawal it finds and
erases their envelopes, so a withdrawal is applied, and counted, by one
publication only: the count is of the people this publication removed
(those who withdrew since the previous one). It is published in
`withdrawals.csv` and a sentence of the report, never in aggregates.json
(FORMATS.md section 5 fixes its members).

Protection (docs/disclosure.md section 6):

- below `min_cell` registrants nothing about withdrawals is published, as
  no table is;
- with differential privacy the count is its own release (sensitivity 1),
  noised with the others' share of ε before this rule;
- a count below `min_cell` is suppressed, **zero included** (unless
  min_cell is 1, when nothing is suppressed anywhere): a table's
  suppressed cell hides among the others of its table, a lone count has
  nothing to hide among, so a suppressed count says only "fewer than
  min_cell, perhaps none". Were zero published, a suppressed count would
  tell that someone withdrew since the previous publication.
"""

from __future__ import annotations

from typing import Any

__all__ = ["protect_withdrawals"]


def protect_withdrawals(withdrawn: int, registrants: int, min_cell: int) -> dict[str, Any] | None:
    """{"count": the people withdrawn, or None when suppressed (fewer than `min_cell`,
    perhaps none)}; None, nothing to publish, below `min_cell` `registrants` (both counts
    after any noise)."""
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    if withdrawn < 0:
        raise ValueError("a count of people is never negative")
    if registrants < min_cell:
        return None
    return {"count": withdrawn if withdrawn >= min_cell or min_cell == 1 else None}
