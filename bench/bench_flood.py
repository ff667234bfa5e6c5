"""A flood on loopback against the production intake (gunicorn, two workers,
proof of work on), bounded in count and time, while registrants use the
real page in Chromium.

    .venv/bin/python bench/bench_flood.py [--seconds 20] [--solvers 2]

Three clients at once, each from its own loopback address (127.0.0.2-4,
so the rate limiter tells them apart):

- a flooder without solutions: envelopes as fast as one connection goes;
  it should store nothing;
- a flooder with a solver (`--solvers` processes, CPython's hashlib): it
  fetches a challenge, solves it, submits; it is held to what the
  difficulty allows (the rate limits are off unless --rate-limit, so
  that the proof of work alone holds it);
- registrants in Chromium (127.0.0.1) filling the page and sending it, one
  after another: each should get a receipt; their time from "send" to the
  receipt is printed.

Prints what each stored, the difficulty the server reached, and the
registrants' times.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import vault
from intake.keyring import add_bundle
from intake.pow import solve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_page import FILL, RECORD  # noqa: E402 - the page benchmark's registrant and its form filler

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect(port: int, source: str) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    conn.connect()
    return conn


def post(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> int:
    conn.request("POST", "/api/v1/submissions", body=body, headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    response.read()
    return response.status


def flood_unsolved(port: int, public_key: bytes, until: float, out: Any) -> None:
    conn, statuses = connect(port, "127.0.0.2"), {}
    body = json.dumps(vault.seal(b'{"x": 1}', public_key).to_json()).encode()
    while time.monotonic() < until:
        status = post(conn, body, {})
        statuses[status] = statuses.get(status, 0) + 1
    out.put(("unsolved", statuses))


def flood_solved(port: int, public_key: bytes, until: float, out: Any) -> None:
    conn, statuses, levels = connect(port, "127.0.0.3"), {}, []
    while time.monotonic() < until:
        conn.request("GET", "/api/v1/challenge")
        challenge = json.loads(conn.getresponse().read())
        levels.append(challenge["maxNumber"])
        header = solve(challenge)
        body = json.dumps(vault.seal(os.urandom(8).hex().encode(), public_key).to_json()).encode()
        status = post(conn, body, {"X-Altcha": header})
        statuses[status] = statuses.get(status, 0) + 1
    out.put(("solved", statuses, max(levels, default=0)))


def registrants(origin: str, until: float) -> list[float]:
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        while time.monotonic() < until:
            page = browser.new_page()
            page.goto(origin + "/en/")
            page.wait_for_selector("#submit:not([disabled])")
            page.evaluate(FILL, RECORD)
            started = time.monotonic()
            page.click("#submit")
            page.wait_for_selector("[data-testid=receipt]", state="visible", timeout=60_000)
            times.append(time.monotonic() - started)
            page.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--solvers", type=int, default=2)
    parser.add_argument("--rate-limit", action="store_true", help="rate limits on too (the production setting)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dvr-bench-flood-"))
    key = vault.derive_keys(os.urandom(32))
    data = tmp / "data"
    data.mkdir()
    add_bundle(data / "keys.json", key.bundle().to_json())
    port = free_port()
    env = {
        **os.environ,
        "DVR_INTAKE_DATA": str(data),
        "DVR_INTAKE_PROOF_OF_WORK": "on",
        "DVR_INTAKE_RATE_LIMIT": "on" if args.rate_limit else "off",
    }
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    gunicorn = [str(Path(sys.executable).parent / "gunicorn"), "-c", "python:intake.gunicorn_conf"]
    server = subprocess.Popen(
        [*gunicorn, "-b", f"127.0.0.1:{port}", "intake.wsgi:from_environ()"], env=env, cwd=ROOT, stderr=log
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                connect(port, "127.0.0.1").close()
                break
            except OSError:
                time.sleep(0.1)
        until = time.monotonic() + args.seconds
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        workers = [ctx.Process(target=flood_unsolved, args=(port, key.public_key, until, out))]
        workers += [
            ctx.Process(target=flood_solved, args=(port, key.public_key, until, out)) for _ in range(args.solvers)
        ]
        for worker in workers:
            worker.start()
        times: list[float] = []
        browser = threading.Thread(target=lambda: times.extend(registrants(origin, until)))
        browser.start()
        results = [out.get(timeout=args.seconds + 120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        browser.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    conn = sqlite3.connect(data / "intake.sqlite")
    stored = conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0]
    conn.close()

    unsolved = [r[1] for r in results if r[0] == "unsolved"][0]
    solved = [r for r in results if r[0] == "solved"]
    accepted = sum(r[1].get(201, 0) for r in solved)
    limits = "on" if args.rate_limit else "off"
    print(f"flood of {args.seconds:.0f} s on loopback, gunicorn (2 workers), proof of work on, rate limits {limits}")
    print(f"  without solutions: {sum(unsolved.values())} requests, answers {unsolved}; stored 0 of them")
    print(
        f"  with a solver ({args.solvers} processes, CPython hashlib): {accepted} stored,"
        f" {accepted / args.seconds:.1f}/s; answers {[r[1] for r in solved]};"
        f" highest maxNumber it was given {max(r[2] for r in solved):,}"
    )
    if times:
        print(
            f"  registrants in Chromium meanwhile: {len(times)} receipts, send -> receipt median"
            f" {statistics.median(times):.2f} s, max {max(times):.2f} s"
        )
    else:
        print("  registrants in Chromium meanwhile: no receipt")
    print(f"  envelopes stored in all: {stored} (= solver's {accepted} + registrants' {len(times)})")


if __name__ == "__main__":
    main()
