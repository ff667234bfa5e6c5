"""Load benchmark: N concurrent registrants for T seconds against the
production intake (gunicorn with intake/gunicorn_conf.py) on loopback,
driven by locust (headless). Reports throughput, p50/p99 latency and
errors, then checks that every 201 is in the signed transparency log:
the receipt's envelope is stored at its seq, its inclusion proof verifies
against its checkpoint, and the final checkpoint's root is recomputed over
every stored envelope.

    .venv/bin/pip install locust     # once (the `bench` extra)
    .venv/bin/python bench/bench_load.py --users 50 --seconds 20

Bounded: at most 500 users and 120 s; traffic goes to 127.0.0.1 only.
Exit status 1 if any 201 is missing from the log.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import vault
from intake.keyring import add_bundle
from intake.tlog import load_log_key
from vault import transparency as tl

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile_intake.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    # The flood defences off: one client sends everything, unsolved (bench_pow.py measures them).
    off = {"DVR_INTAKE_PROOF_OF_WORK": "off", "DVR_INTAKE_RATE_LIMIT": "off"}
    env = {**os.environ, "DVR_INTAKE_DATA": str(data), **off}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-c",
                "python:intake.gunicorn_conf",
                "-b",
                f"127.0.0.1:{port}",
                "intake.wsgi:from_environ()",
            ],
            env=env,
            stdout=out,
            stderr=out,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start; see " + str(log))


def seal_pool(path: Path, public_key: bytes, n: int) -> None:
    body = json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": {"bench": True}}).encode()
    with open(path, "wb") as out:
        for i in range(n):
            out.write(vault.seal(body + b" " * (i % 64) + str(i).encode(), public_key).canonical() + b"\n")


def _percentile(histogram: dict[str, int], fraction: float) -> float:
    """From locust's response-time histogram (rounded ms -> count)."""
    total = sum(histogram.values())
    seen = 0
    for ms, n in sorted((float(k), v) for k, v in histogram.items()):
        seen += n
        if seen >= fraction * total:
            return ms
    return float("nan")


def read_stats(path: Path) -> dict[str, float]:
    """Locust's final stats (--json-file; its CSV lags the last second)."""
    [entry] = json.loads(path.read_text(encoding="utf-8"))
    elapsed = max(entry["last_request_timestamp"] - entry["start_time"], 1e-9)
    return {
        "requests": int(entry["num_requests"]),
        "failures": int(entry["num_failures"]),
        "rps": entry["num_requests"] / elapsed,
        "p50_ms": _percentile(entry["response_times"], 0.50),
        "p99_ms": _percentile(entry["response_times"], 0.99),
    }


def check_log(data: Path, receipts: list[dict[str, Any]]) -> tuple[int, int]:
    """Return (log size, receipts missing from the log)."""
    verifier = load_log_key(data).verifier()
    conn = sqlite3.connect(data / "intake.sqlite")
    try:
        note = conn.execute("SELECT note FROM tlog_checkpoint").fetchone()[0]
        head = tl.open_checkpoint(note, verifier)
        rows = {int(s): (str(h), bytes(e)) for s, h, e in conn.execute("SELECT seq, sha256, envelope FROM envelopes")}
    finally:
        conn.close()
    if sorted(rows) != list(range(1, len(rows) + 1)) or head.size != len(rows):
        raise SystemExit("the store's seqs and the log's size disagree")
    if tl.root_of(tl.leaf_hash(rows[s][1]) for s in range(1, len(rows) + 1)) != head.root_hash:
        raise SystemExit("the signed checkpoint's root does not match the stored envelopes")
    missing = 0
    for receipt in receipts:
        held = rows.get(receipt["seq"])
        try:
            if held is None or held[0] != receipt["envelope_sha256"]:
                raise tl.InvalidProof("not stored at its seq")
            cp = tl.open_checkpoint(receipt["checkpoint"], verifier)
            proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
            tl.verify_inclusion(tl.leaf_hash(held[1]), receipt["leaf_index"], cp.size, proof, cp.root_hash)
        except (vault.VaultError, KeyError, ValueError):
            missing += 1
    return head.size, missing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50, help="concurrent registrants (1..500)")
    ap.add_argument("--seconds", type=int, default=20, help="duration (1..120)")
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds a registrant waits between submissions")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object too")
    args = ap.parse_args()
    if not 1 <= args.users <= 500 or not 1 <= args.seconds <= 120:
        ap.error("--users must be 1..500 and --seconds 1..120")
    if shutil.which("locust", path=str(BIN)) is None:
        raise SystemExit("locust is not installed: .venv/bin/pip install locust (the `bench` extra)")

    work = Path(tempfile.mkdtemp(prefix="dvr-bench-load-"))
    data = work / "intake"
    data.mkdir()
    key = vault.derive_keys(vault.new_master_secret())
    add_bundle(data / "keys.json", key.bundle().to_json())
    pool_size = min(1200 * args.seconds, 100_000)
    print(f"sealing {pool_size} distinct envelopes ...", file=sys.stderr)
    seal_pool(work / "pool.jsonl", key.public_key, pool_size)

    port = free_port()
    server = start_gunicorn(data, port, work / "gunicorn.log")
    env = {
        **os.environ,
        "DVR_BENCH_POOL": str(work / "pool.jsonl"),
        "DVR_BENCH_RECEIPTS": str(work / "receipts.json"),
        "DVR_BENCH_THINK": str(args.think),
    }
    try:
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.users),
                "-t",
                f"{args.seconds}s",
                "--host",
                f"http://127.0.0.1:{port}",
                "--json-file",
                str(work / "stats"),
                "--only-summary",
                "--skip-log",
                "--stop-timeout",
                "5",
                "--loglevel",
                "WARNING",
                "--exit-code-on-error",
                "0",
            ],
            env=env,
            cwd=work,
            check=True,
            timeout=args.seconds + 90,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    stats = read_stats(work / "stats.json")
    receipts = json.loads((work / "receipts.json").read_text())
    size, missing = check_log(data, receipts)
    result = {
        "users": args.users,
        "seconds": args.seconds,
        **stats,
        "receipts": len(receipts),
        "log_size": size,
        "receipts_missing_from_log": missing,
    }
    print(
        f"{args.users} registrants for {args.seconds} s against gunicorn (intake/gunicorn_conf.py) on loopback:\n"
        f"  {stats['requests']} requests, {len(receipts)} receipts (201), {stats['failures']} errors\n"
        f"  throughput {stats['rps']:.0f} submissions/s;"
        f" latency p50 {stats['p50_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms\n"
        f"  log: size {size}, checkpoint root recomputed over every stored envelope;"
        f" {len(receipts) - missing} of {len(receipts)} receipts verified in it ({missing} missing)"
    )
    if args.json:
        print(json.dumps(result))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
