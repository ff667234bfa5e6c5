"""Peak memory of a process tree, sampled from /proc (Linux).

Two sums over the tree: RSS, which counts a page shared by forked workers
once per process that maps it, and PSS (proportional set size), which
splits each shared page among its sharers, so it adds up to the physical
memory the tree really holds. Forked workers share most of the parent's
pages, which RSS would count two or three times over.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) summed over `pid` and its descendants, in bytes."""
    rss = pss = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return rss, pss


def run_measured(cmd: list[str], **kwargs) -> tuple[subprocess.CompletedProcess[str], float, int, int]:
    """Run `cmd`; return the completed process, wall seconds, and the peaks
    of the tree's summed RSS and summed PSS in bytes."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    peak_rss = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        while not done.is_set():
            rss, pss = _tree_memory(proc.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), seconds, peak_rss, peak_pss
