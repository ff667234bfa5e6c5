"""From the opened set to a publication's files: de-duplicate, count,
protect (the `publication` library), render, and write the directory all or
nothing (a staging directory beside the destination, renamed into place only
when every file is complete). This module loads the statistics stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from publication import report
from publication.kinds import count_kinds, standing
from publication.linkage.dedup import find_duplicates_in
from publication.protection.disclosure import protect_with_withdrawals
from publication.report.page import withdrawals_csv
from publication.tables import count_records

from ..errors import KeyholderError
from .opening import OpenedSet

__all__ = ["build_aggregates", "deduplicate", "render_files", "tabulate", "write_publication"]


def deduplicate(opened: OpenedSet, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The rows of `opened.records` that stand for a person each (the latest registration)."""
    return find_duplicates_in(opened.records, progress=progress).kept


def tabulate(
    opened: OpenedSet, kept: np.ndarray, generated_on: date, min_cell: int, epsilon: float | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Count the `kept` rows (persons) and the households, businesses and associations
    that stand, and protect the counts: aggregates.json's object, and the people
    withdrawn, protected (withdrawals.csv's; None below min_cell registrants)."""
    registrants, tables = count_records(opened.records, generated_on, kept)
    populations = count_kinds(opened.kinds.take(standing(opened.kinds)))
    return protect_with_withdrawals(
        tables,
        min_cell,
        epsilon,
        generated_on,
        opened.withdrawn_people,
        registrants=registrants,
        populations=populations,
    )


def build_aggregates(
    opened: OpenedSet,
    generated_on: date,
    min_cell: int,
    epsilon: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], int]:
    """De-duplicate and aggregate; return aggregates.json's object and the duplicate count."""
    kept = deduplicate(opened, progress)
    return tabulate(opened, kept, generated_on, min_cell, epsilon)[0], opened.records.n - len(kept)


def render_files(
    aggregates: dict[str, Any],
    report_languages: Sequence[str] = (),
    arrivals: dict[str, Any] | None = None,
    withdrawals: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """Every file of a publication but the manifest, as bytes by name: the aggregates,
    a CSV per table, report.html and a report.<lang>.html for each of `report_languages`.
    `arrivals` (envelopes by day, protected) adds arrival_day.csv and a section of the report,
    `withdrawals` (the people withdrawn, protected) withdrawals.csv and a sentence,
    unless the population is too small for any table."""
    if not aggregates["tables"]:
        arrivals = withdrawals = None
    files = {"aggregates.json": json.dumps(aggregates, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"}
    files.update(report.render_csvs(aggregates))
    if arrivals is not None:
        files["arrival_day.csv"] = report.arrivals_csv(arrivals)
    if withdrawals is not None:
        files["withdrawals.csv"] = withdrawals_csv(withdrawals)
    files.update(report.report_files(aggregates, report_languages, arrivals, withdrawals))
    return files


def write_publication(out_dir: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write `files` as the directory `out_dir`; return their SHA-256 by name."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise KeyholderError(f"{out_dir} exists and is not empty; publish into a new directory")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial"))
    hashes = {}
    try:
        for name, data in files.items():
            with open(staging / name, "wb") as fp:
                fp.write(data)
                fp.flush()
                os.fsync(fp.fileno())
            hashes[name] = hashlib.sha256(data).hexdigest()
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except OSError as exc:  # a full disk, most likely
        shutil.rmtree(staging, ignore_errors=True)
        raise KeyholderError(
            f"could not write the publication into {out_dir} ({exc.strerror or exc}); nothing was published"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return hashes
