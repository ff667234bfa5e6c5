"""Everything `keyholder publish` does once the keys are unlocked, in order:
open every envelope (workers), de-duplicate and protect the aggregates,
render the files, log the publication (signed manifest, `publish` entry),
then write the directory. A stop after the unlock logs `publish_failed`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..audit import AuditResult
from ..erasure import erase_envelopes
from ..station import Station
from ..unlock import Unlocked
from .audit import logged_publication, publication_attempt, refuse_unusable_target
from .opening import open_all

__all__ = ["ProgressBar", "PublishSummary", "publish", "refuse_unusable_target"]

# A progress bar for (total, label, unit): a context manager whose value has `update(n)`.
ProgressBar = Callable[[int | None, str, str], AbstractContextManager[Any]]


@dataclass(frozen=True)
class PublishSummary:
    envelopes: int
    opened: int
    failed: int
    invalid: int
    duplicates: int
    registrants: int
    corrections: int
    withdrawals: int
    unmatched: int
    erased: int
    files: dict[str, str]


def _load_statistics() -> None:
    from . import aggregates  # noqa: F401 - loaded for its side effect: warm imports


def publish(
    station: Station,
    state: AuditResult,
    unlocked: Unlocked,
    out_dir: Path,
    min_cell: int,
    epsilon: float | None,
    bar: ProgressBar,
    report_languages: Sequence[str] = (),
) -> PublishSummary:
    """Publish the protected aggregates of every envelope into `out_dir`
    (with a report in each of `report_languages` beside the bilingual one)."""
    with publication_attempt(station, state, unlocked.current, out_dir) as attempt:
        today = date.today()
        with bar(station.envelope_count(), "opening", "env") as progress:
            # The statistics stack (numpy, scipy, pandas, matplotlib) takes a second
            # or more to load: the other commands never pay for it, and publish
            # loads it while the workers open envelopes.
            opened = open_all(
                station.db_path, unlocked.keys, today, progress=progress.update, meanwhile=_load_statistics
            )
        # A withdrawn registrant's envelopes are erased now (logged first), before anything is published.
        erased = opened.erased + erase_envelopes(station, state, unlocked.current, opened.erase_seqs)
        from publication.protection.arrivals import protect_arrivals

        from .aggregates import deduplicate, render_files, tabulate, write_publication

        with bar(opened.records.n, "de-duplicating", "rec") as progress:
            kept = deduplicate(opened, progress=progress.update)
        # The steps after de-duplication take about the same time whatever the number of
        # records (counting is a few bincounts; the tables have a fixed size): one bar, by step.
        with bar(3, "tables, protection, report", "step") as progress:
            aggregates, withdrawals = tabulate(opened, kept, today, min_cell, epsilon)
            arrivals = protect_arrivals(station.arrivals_by_day(), min_cell)
            progress.update(1)
            counts = {
                "envelopes": opened.envelopes,
                "opened": opened.envelopes - opened.failed,
                "failed": opened.failed,
                "invalid": opened.invalid,
                "duplicates": opened.records.n - len(kept),
                "registrants": aggregates["registrants"],
                "corrections": opened.corrections,
                "withdrawals": opened.withdrawals,
                "unmatched": opened.unmatched,
                "erased": erased,
            }
            # The opened records are no longer needed: dropped before the report's
            # chart workers are forked, so they neither inherit nor touch them.
            del opened, kept
            files = render_files(aggregates, report_languages, arrivals, withdrawals)
            progress.update(1)
            hashes = logged_publication(
                station,
                state,
                unlocked.current,
                out_dir,
                files,
                counts=counts,
                disclosure=aggregates["disclosure"],
                generated_on=aggregates["generated_on"],
                write=write_publication,
                attempt=attempt,
            )
            progress.update(1)
    return PublishSummary(**counts, files=hashes)
