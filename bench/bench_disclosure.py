"""Benchmark of publication.protection.disclosure: time, suppressions and information loss.

Run: .venv/bin/python bench/bench_disclosure.py [--people 200000] [--epsilon 1.0]

Counts the simulated population's tables, protects them (cell suppression,
and optionally differential privacy first) and prints how many counts were
suppressed, the share of people in suppressed cells of each table, and how
long counting, protection (including the final audit) and the report took.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from publication.protection.disclosure import count_tables, protect  # noqa: E402
from publication.report import write_csvs, write_report  # noqa: E402
from simulate import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-cell", type=int, default=10)
    parser.add_argument("--epsilon", type=float, default=None)
    args = parser.parse_args()
    on = date(2026, 11, 26)
    pop = generate(args.people, args.seed, repeat_rate=0.0)
    start = time.perf_counter()
    n, tables = count_tables((s["record"] for s in pop.submissions), on)
    counted = time.perf_counter()
    aggregates = protect(tables, args.min_cell, args.epsilon, on)
    protected = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_report(aggregates, Path(out))
        write_csvs(aggregates, Path(out))
    reported = time.perf_counter()
    d = aggregates["disclosure"]
    print(f"{n} registrants, method {d['method']}, min_cell {d['min_cell']}, protection level {d['protection_level']}")
    print(
        f"suppressed: {d['primary_suppressed']} primary, {d['complementary_suppressed']} complementary "
        "(all passed the audit)"
    )
    truth = {t.name: t for t in tables}
    for table in aggregates["tables"]:
        hidden = [c for c in table["cells"] if c["count"] is None]
        raw = truth[table["name"]].counts
        people = sum(raw.get(tuple(c[d] for d in table["dimensions"]), 0) for c in hidden)
        total = max(sum(raw.values()), 1)
        print(
            f"  {table['name']:40s} {len(table['cells']):5d} cells, {len(hidden):4d} suppressed, "
            f"{100 * people / total:5.2f} % of counts hidden"
        )
    print(
        f"time: count {counted - start:.2f} s, protect+audit {protected - counted:.2f} s, "
        f"report+CSV {reported - protected:.2f} s"
    )


if __name__ == "__main__":
    main()
