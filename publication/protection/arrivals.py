"""Envelopes by day of arrival, protected, with the days of a flood marked.

The day of arrival is the only time the intake keeps, so counting envelopes
per day is how the ministry sees a flood of fakes and can explain it.
These are counts of envelopes (every one the intake receipted, opened or
not, duplicates included), not of people.

Protection: a day with fewer than `min_cell` envelopes (but some) is
suppressed. The intake's public checkpoints give the total number of
envelopes, so the suppressed days' sum is known to anyone: while it is below
`min_cell`, the smallest published days are suppressed too, so that no
suppressed day can be bounded below `min_cell`.

A day is unusual when it is far above the usual range: more than
`UNUSUAL_Z` robust deviations (1.4826 × the median absolute deviation)
above the median day, and more than twice the median. With fewer than
`MIN_DAYS` days there is no usual range yet, and nothing is marked.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

__all__ = ["MIN_DAYS", "UNUSUAL_Z", "protect_arrivals"]

UNUSUAL_Z = 6.0
MIN_DAYS = 5


def _unusual(counts: Mapping[str, int]) -> set[str]:
    if len(counts) < MIN_DAYS:
        return set()
    values = list(counts.values())
    median = statistics.median(values)
    spread = 1.4826 * statistics.median(abs(v - median) for v in values)
    floor = median + UNUSUAL_Z * max(spread, 1.0)
    return {day for day, n in counts.items() if n > floor and n > 2 * median}


def protect_arrivals(counts: Mapping[str, int], min_cell: int) -> dict[str, Any]:
    """{"days": [{"day", "count" (None when suppressed), "unusual"}...] in day order,
    "suppressed": how many days are, "median": the usual day's count (None if suppressed days
    would make it telling)}."""
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    hidden = {day for day, n in counts.items() if 0 < n < min_cell}
    published = sorted((n, day) for day, n in counts.items() if day not in hidden and n > 0)
    while hidden and sum(counts[d] for d in hidden) < min_cell and published:
        hidden.add(published.pop(0)[1])
    marked = _unusual(counts) - hidden
    return {
        "days": [
            {"day": day, "count": None if day in hidden else counts[day], "unusual": day in marked}
            for day in sorted(counts)
        ],
        "suppressed": len(hidden),
    }
