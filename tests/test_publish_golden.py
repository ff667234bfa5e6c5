"""The aggregates of a fixed, seeded batch do not change when the publish
pipeline's internals do: opening, de-duplication, counting and disclosure
control on 2,330 submissions (repeat registrations, typos, Cyrillic names)
give exactly the committed `aggregates.json` objects (DP off), with every
count visible (min_cell 1) and with the default suppression (min_cell 10).

Regenerate (only when a change of the *results* is intended and reviewed):
DVR_WRITE_GOLDEN=1 pytest tests/test_publish_golden.py
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import date
from pathlib import Path

import pytest

import vault
from keyholder_cli.publishing.aggregates import build_aggregates
from keyholder_cli.publishing.opening import open_all
from simulate.population import generate

GOLDEN = Path(__file__).parent / "vectors" / "publish_golden.json"
ON = date(2026, 12, 1)


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory):
    key = vault.derive_keys(bytes(range(32)))
    subs = generate(2000, seed=21).submissions
    db = tmp_path_factory.mktemp("golden") / "vault.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE envelopes (seq INTEGER PRIMARY KEY, received_on TEXT, kid TEXT, ct BLOB, sha256 TEXT)"
        )
        rows = []
        for seq, sub in enumerate(subs, start=1):
            env = vault.seal(json.dumps(sub, ensure_ascii=False).encode("utf-8"), key.public_key)
            rows.append((seq, "2026-11-26", env.kid, env.ct, ""))
        # Two that do not count: an envelope that does not open, a submission that is not valid.
        bad = vault.seal(b'{"schema": "dvr-registration/1", "lang": "sq", "record": {}}', key.public_key)
        rows.append((len(rows) + 1, "2026-11-26", bad.kid, bad.ct, ""))
        rows.append((len(rows) + 1, "2026-11-26", bad.kid, bytes(len(bad.ct)), ""))
        conn.executemany("INSERT INTO envelopes VALUES (?, ?, ?, ?, ?)", rows)
    return open_all(db, {key.kid: key}, ON, processes=2)


def _results(opened) -> dict[str, object]:
    out: dict[str, object] = {
        "envelopes": opened.envelopes,
        "failed": opened.failed,
        "invalid": opened.invalid,
    }
    for min_cell in (1, 10):
        aggregates, duplicates = build_aggregates(opened, ON, min_cell)
        out[f"min_cell_{min_cell}"] = {"duplicates": duplicates, "aggregates": aggregates}
    return out


def test_aggregates_match_the_golden(opened):
    got = json.loads(json.dumps(_results(opened)))  # tuples → lists, as the golden file has them
    if os.environ.get("DVR_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=None, sort_keys=True, ensure_ascii=False) + "\n")
        pytest.skip("golden written")
    want = json.loads(GOLDEN.read_text())
    assert got["envelopes"] == 2332 and got["failed"] == 1 and got["invalid"] == 1
    for part in ("min_cell_1", "min_cell_10"):
        g, w = got[part], want[part]
        assert g["duplicates"] == w["duplicates"]
        assert g["aggregates"]["registrants"] == w["aggregates"]["registrants"]
        assert g["aggregates"]["disclosure"] == w["aggregates"]["disclosure"]
        for gt, wt in zip(g["aggregates"]["tables"], w["aggregates"]["tables"], strict=True):
            assert gt == wt, gt["name"]
    assert got == want


def test_golden_is_not_trivial():
    """The golden has duplicates found, suppressed cells and every table (so it guards them)."""
    want = json.loads(GOLDEN.read_text())
    assert want["min_cell_1"]["duplicates"] > 100
    assert want["min_cell_10"]["aggregates"]["disclosure"]["primary_suppressed"] > 0
    names = {t["name"] for t in want["min_cell_1"]["aggregates"]["tables"]}
    assert len(names) == 13
