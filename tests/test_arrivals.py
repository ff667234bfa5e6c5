"""Envelopes by day of arrival: small days hidden (and their sum not telling), a flood marked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from publication.protection.arrivals import protect_arrivals

DAYS = [f"2026-11-{d:02d}" for d in range(1, 29)]


def test_a_flood_day_is_marked_and_ordinary_days_are_not():
    counts = {day: 40 + (i % 7) * 3 for i, day in enumerate(DAYS)}
    counts["2026-11-17"] = 1900  # a flood of fakes
    out = protect_arrivals(counts, 10)
    assert [d["day"] for d in out["days"] if d["unusual"]] == ["2026-11-17"]
    assert [d["day"] for d in out["days"]] == sorted(counts)
    assert all(d["count"] == counts[d["day"]] for d in out["days"])


def test_a_busy_campaign_week_is_not_a_flood():
    counts = {day: 40 + (i % 7) * 3 for i, day in enumerate(DAYS)}
    counts["2026-11-20"] = 95  # the deadline: busier, but inside a plausible range
    assert not any(d["unusual"] for d in protect_arrivals(counts, 10)["days"])


def test_too_few_days_have_no_usual_range():
    assert not any(d["unusual"] for d in protect_arrivals({"2026-11-01": 5, "2026-11-02": 900}, 1)["days"])


def test_a_small_day_is_suppressed_and_cannot_be_recomputed_from_the_total():
    """The intake's checkpoints publish the total: one day of 3 beside published days would be
    total minus the rest, so the smallest published day is hidden with it until the hidden sum
    reaches min_cell."""
    counts = {"2026-11-01": 50, "2026-11-02": 3, "2026-11-03": 12, "2026-11-04": 80}
    out = protect_arrivals(counts, 10)
    hidden = [d["day"] for d in out["days"] if d["count"] is None]
    assert hidden == ["2026-11-02", "2026-11-03"]
    assert out["suppressed"] == 2


@given(st.dictionaries(st.sampled_from(DAYS), st.integers(0, 60), min_size=1), st.integers(1, 20))
def test_no_published_day_is_small_and_the_hidden_sum_is_never_telling(counts, min_cell):
    out = protect_arrivals(counts, min_cell)
    shown = [d["count"] for d in out["days"] if d["count"] is not None]
    assert all(n == 0 or n >= min_cell for n in shown)
    hidden = sum(counts[d["day"]] for d in out["days"] if d["count"] is None)
    assert hidden == 0 or hidden >= min_cell or not shown or all(n == 0 for n in shown)
    assert sum(shown) + hidden == sum(counts.values())
