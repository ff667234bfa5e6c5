"""Where `keyholder publish` spends its time, phase by phase, in one process.

    .venv/bin/python bench/bench_phases.py --cache /work/cache/scale --n 100000 [--runs 2]

Uses the batch `bench_publish.py --cache` keeps (imports it into a fresh
copy of its vault first), unlocks with the bench's passphrase (the tests'
fast KDF), then times each step of publish as the pipeline runs it: opening
(workers), de-duplication, counting, disclosure control, the report. Prints
wall and CPU seconds (this process; the workers' CPU is not in it) and the
peak RSS of this process after each step. Nothing is written but a
throwaway publication directory.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DVR_INSECURE_FAST_KDF", "1")


class _Prompter:
    """Unused: the passphrase comes from a file."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    cache = Path(args.cache) / f"n{args.n}-s{args.seed}"
    tmp = Path(tempfile.mkdtemp(prefix="dvr-bench-phases-"))
    try:
        shutil.copytree(cache / "V0", tmp / "V")
        keyholder = str(Path(sys.executable).parent / "keyholder")
        subprocess.run([keyholder, "import", "--vault", str(tmp / "V"), str(cache / "batch")], check=True)
        from keyholder_cli.audit import resume
        from keyholder_cli.publishing.opening import open_all
        from keyholder_cli.station import Station
        from keyholder_cli.unlock import unlock_vault

        station = Station(tmp / "V").require()
        state = resume(station)
        unlocked = unlock_vault(station, "publish", _Prompter(), state, passphrase_file=cache / "pp")  # type: ignore[arg-type]
        for run in range(args.runs):
            marks: list[tuple[str, float, float, int]] = []
            t0, c0 = time.perf_counter(), time.process_time()

            def mark(name: str, marks: list[tuple[str, float, float, int]] = marks) -> None:
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                marks.append((name, time.perf_counter(), time.process_time(), rss))

            def load() -> None:
                from keyholder_cli.publishing import aggregates  # noqa: F401

            today = date.today()
            opened = open_all(station.db_path, unlocked.keys, today, meanwhile=load)
            mark("open + validate + columns (workers)")
            from keyholder_cli.publishing.aggregates import render_files
            from publication.linkage.dedup import find_duplicates_in
            from publication.protection.disclosure import protect
            from publication.tables import count_records

            result = find_duplicates_in(opened.records)
            mark("de-duplication")
            registrants, tables = count_records(opened.records, today, result.kept)
            mark("counting")
            aggregates = protect(tables, 10, None, today, registrants=registrants)
            mark("disclosure control")
            files = render_files(aggregates)
            mark("report and CSVs")
            prev_t, prev_c = t0, c0
            print(f"run {run + 1}: {opened.records.n} records, {result.registrants} registrants, {len(files)} files")
            for name, t, c, rss in marks:
                print(
                    f"  {name:40s} {t - prev_t:6.2f} s wall {c - prev_c:6.2f} s CPU (parent)"
                    f"  peak RSS {rss / 2**20:5.0f} MiB"
                )
                prev_t, prev_c = t, c
            print(f"  {'total':40s} {marks[-1][1] - t0:6.2f} s")
            del opened, result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
