"""Turn the opened set into a publication directory, all or nothing.

The files are written into a staging directory beside the destination and
the directory is renamed into place only when every file is complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from . import _interim
from .errors import KeyholderError
from .publish import FIELDS, OpenedSet

__all__ = ["PublishSummary", "build_aggregates", "write_publication"]

_IDENTITY = ("given_name", "family_name", "birth_date", "origin_country")


@dataclass(frozen=True)
class PublishSummary:
    envelopes: int
    opened: int
    failed: int
    invalid: int
    duplicates: int
    registrants: int
    files: dict[str, str]


def build_aggregates(opened: OpenedSet, generated_on: date, min_cell: int) -> tuple[dict[str, Any], int]:
    """De-duplicate and aggregate; return aggregates.json's object and the duplicate count."""
    idx = {name: i for i, name in enumerate(FIELDS)}
    people = [(seq, *(vals[idx[f]] for f in _IDENTITY)) for seq, vals in opened.rows]
    rep = _interim.representatives(people)  # type: ignore[arg-type]
    kept = [dict(zip(FIELDS, opened.rows[i][1], strict=True)) for i in range(len(rep)) if rep[i] == i]
    aggregates = _interim.tables(kept, generated_on, min_cell)
    return aggregates, len(rep) - len(kept)


def _csv_bytes(table: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    dims = table["dimensions"]
    writer.writerow([*dims, "count"])
    for cell in table["cells"]:
        writer.writerow([*(cell[d] for d in dims), "" if cell["count"] is None else cell["count"]])
    return buf.getvalue().encode("utf-8")


def render_files(aggregates: dict[str, Any]) -> dict[str, bytes]:
    files = {"aggregates.json": json.dumps(aggregates, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"}
    for table in aggregates["tables"]:
        files[f"{table['name']}.csv"] = _csv_bytes(table)
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
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return hashes
