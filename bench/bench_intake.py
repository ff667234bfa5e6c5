"""Intake throughput over real HTTP with the documented production server.

Starts gunicorn with intake/gunicorn_conf.py on loopback, then drives it with
wrk (Debian package `wrk`): first GET /healthz (the framework's ceiling),
then POST /api/v1/submissions with distinct pre-sealed envelopes, each
answered 201 only after its group commit (synchronous=FULL). Prints medians
of several rounds and the ratio. Run: .venv/bin/python bench/bench_intake.py
(--connections N for another concurrency, --prefill N to start from a store
that already holds N envelopes). With --proof-of-work, the same rounds
again against a second server that asks for proof of work (each request
carrying its own solution of a challenge that server issued, at maxNumber 1
so that making them costs the benchmark nothing): the server's cost of
checking them, as the two ratios side by side.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import vault
from intake import IntakeConfig, create_app, gunicorn_conf
from intake.keyring import add_bundle

ROOT = Path(__file__).resolve().parent.parent
CONF = f"{gunicorn_conf.workers} {gunicorn_conf.worker_class} workers"
LUA = r"""
local requests = {}
local i = 0
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("id", counter)
end
init = function(args)
  -- Each thread of each round takes its own slice of distinct envelopes and
  -- formats those requests here, before the clock starts: during the run wrk
  -- only sends prepared bytes, as it does for GET /healthz. (Formatting a
  -- 1.5 kB request in Lua per send cost wrk about 50 us of a shared core per
  -- request, taken from the server.)
  local first = (tonumber(args[2]) * 2 + id - 1) * SLICE
  local n = 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n > first + SLICE then break end
    if n > first then
      -- A line is the envelope, or a proof-of-work solution, a tab, and the envelope.
      local headers = {["Content-Type"] = "application/json"}
      local solution, body = line:match("^([^\t]+)\t(.*)$")
      if solution then headers["X-Altcha"] = solution else body = line end
      requests[#requests + 1] = wrk.format("POST", "/api/v1/submissions", headers, body)
    end
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


SLICE = 20_000  # envelopes per wrk thread and round: more than a 5 s round sends


def server_cpu_seconds(master: int) -> float:
    """User and system CPU time so far of the gunicorn master and its workers
    (every thread, the committers included), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        children = []
    total = 0
    for pid in [str(master), *children]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def prefill(data: Path, count: int, submission: bytes, public_key: bytes) -> None:
    """Store `count` envelopes through the intake's own store and log (the
    app the server builds, without HTTP), so that the rounds run against a
    store of that size: each new envelope's cost grows with the index."""
    app = create_app(IntakeConfig(data_dir=data))
    store = app.extensions["dvr_store"]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(64) as pool:  # 64 at a time: groups, as under load
        for start in range(0, count, 10_000):
            batch = [vault.seal(submission, public_key) for _ in range(min(10_000, count - start))]
            list(pool.map(store.append, batch))
            print(f"prefill: {start + len(batch)}/{count} stored", file=sys.stderr)
    store.close()
    app.extensions["dvr_log"].close()
    print(f"prefill: {count} envelopes stored in {time.monotonic() - started:.0f} s", file=sys.stderr)


def pow_app(data_dir: str) -> Any:
    """For gunicorn (`bench_intake:pow_app('D')`, --pythonpath bench): the
    intake with proof of work on at a fixed maxNumber of 1, rate limits off."""
    from intake.pow import Difficulty

    return create_app(IntakeConfig(data_dir=Path(data_dir), proof_of_work=True, difficulty=Difficulty(((0.0, 1),))))


def solved_lines(base: str, bodies: Path, out: Path) -> None:
    """`bodies` with a fresh solution of the server's own challenge before each line."""
    import http.client

    from intake.pow import solve

    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    with open(bodies) as src, open(out, "w") as dst:
        for line in src:
            conn.request("GET", "/api/v1/challenge")
            challenge = json.loads(conn.getresponse().read())
            dst.write(f"{solve(challenge)}\t{line}")
    conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_latencies(
    url: str, seconds: int, connections: int, script: Path | None = None, arg: Path | None = None, offset: int = 0
) -> tuple[float, dict[str, str]]:
    """One wrk run: requests/s and wrk's latency distribution ({"50%": "1.2ms", ...})."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if arg:
        cmd += ["--", str(arg), str(offset)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    if "Non-2xx" in out:
        raise SystemExit("bench: the server answered errors:\n" + out)
    return rate, dict(re.findall(r"^\s+(\d+%)\s+(\S+)", out, re.M))  # the latency distribution lines


def wrk(
    url: str, seconds: int, connections: int, script: Path | None = None, arg: Path | None = None, offset: int = 0
) -> tuple[float, str]:
    rate, latencies = wrk_latencies(url, seconds, connections, script, arg, offset)
    return rate, latencies["50%"]


def one_server(args: Any, tmp: Path, data: Path, app: str, bodies: Path, script: Path) -> float:
    """Start gunicorn on `app`, run the rounds, print them; the median ratio submissions/healthz."""
    port = free_port()
    # The flood defences off: one client sends everything (bench_pow.py measures them); pow_app turns proof of work on.
    off = {"DVR_INTAKE_PROOF_OF_WORK": "off", "DVR_INTAKE_RATE_LIMIT": "off"}
    env = {**os.environ, "DVR_INTAKE_DATA": str(data), **off}
    gunicorn = [
        str(Path(sys.executable).parent / "gunicorn"),
        "-c",
        "python:intake.gunicorn_conf",
        "-b",
        f"127.0.0.1:{port}",
        "--pythonpath",
        str(Path(__file__).resolve().parent),
        *args.gunicorn_arg,
        app,
    ]
    server = subprocess.Popen(gunicorn, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        if not app.startswith("intake."):
            solved = tmp / "solved.jsonl"
            solved_lines(base, bodies, solved)
            bodies = solved
        health, posts = [], []
        cpu = {"GET": 0.0, "POST": 0.0}  # server CPU seconds per kind of round
        for r in range(args.rounds):
            before = server_cpu_seconds(server.pid)
            health.append(wrk(base + "/healthz", args.seconds, args.connections))
            middle = server_cpu_seconds(server.pid)
            posts.append(wrk(base + "/", args.seconds, args.connections, script, bodies, offset=r))
            cpu["GET"] += middle - before
            cpu["POST"] += server_cpu_seconds(server.pid) - middle
    finally:
        server.terminate()
        server.wait(timeout=20)
    conn = sqlite3.connect(data / "intake.sqlite")
    stored = conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0]
    conn.close()
    h = statistics.median(r for r, _ in health)
    p = statistics.median(r for r, _ in posts)
    print(f"{app}:")
    print(
        f"GET /healthz              median {h:8.0f} req/s   rounds {[round(r) for r, _ in health]}"
        f"  p50 {[x for _, x in health]}"
    )
    print(
        f"POST /api/v1/submissions  median {p:8.0f} req/s   rounds {[round(r) for r, _ in posts]}"
        f"  p50 {[x for _, x in posts]}"
    )
    pairs = [post / get for (post, _), (get, _) in zip(posts, health, strict=True)]
    print(
        f"ratio submissions/healthz: {p / h:.2f}  (target >= 0.5); round by round {[round(x, 2) for x in pairs]},"
        f" median {statistics.median(pairs):.2f}"
    )
    print(
        "  (/healthz goes through Flask; the submission route is answered in front of it, by"
        " intake.api.SubmissionHandler: docs/performance.md has the ratio against a bare WSGI answer)"
    )
    per_get = 1e6 * cpu["GET"] / sum(rate * args.seconds for rate, _ in health)
    per_post = 1e6 * cpu["POST"] / sum(rate * args.seconds for rate, _ in posts)
    print(
        f"server CPU per request: GET /healthz {per_get:.0f} us, POST {per_post:.0f} us"
        f" (their ratio {per_get / per_post:.2f}: what the rates would show if nothing else used the cores)"
    )
    print(f"envelopes durably stored: {stored}")
    return statistics.median(pairs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--gunicorn-arg", action="append", default=[], help="extra gunicorn flag, e.g. --workers=1")
    parser.add_argument("--prefill", type=int, default=0, help="envelopes stored before the first round")
    parser.add_argument("--proof-of-work", action="store_true", help="also run against a server asking for it")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: needs wrk (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="dvr-bench-intake-"))
    key = vault.derive_keys(os.urandom(32))
    data = tmp / "data"
    data.mkdir()
    add_bundle(data / "keys.json", key.bundle().to_json())
    sub = json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": {"given_name": "x" * 300}}).encode()
    n_bodies = 2 * SLICE * args.rounds  # a slice per wrk thread per round
    bodies = tmp / "bodies.jsonl"
    with open(bodies, "w") as fp:
        for _ in range(n_bodies):
            fp.write(json.dumps(vault.seal(sub, key.public_key).to_json()) + "\n")
    pow_data = tmp / "data-pow"
    if args.proof_of_work:
        pow_data.mkdir()
        add_bundle(pow_data / "keys.json", key.bundle().to_json())
    if args.prefill:
        for each in [data, pow_data] if args.proof_of_work else [data]:
            prefill(each, args.prefill, sub, key.public_key)
    script = tmp / "post.lua"
    script.write_text(LUA.replace("SLICE", str(SLICE)))

    servers = [("proof of work off", "intake.wsgi:from_environ()", data)]
    if args.proof_of_work:
        servers.append(("proof of work on", f"bench_intake:pow_app({str(pow_data)!r})", pow_data))
    overrides = f", overridden by {' '.join(args.gunicorn_arg)}" if args.gunicorn_arg else ""
    conf = f"gunicorn per intake/gunicorn_conf.py ({CONF}{overrides})"
    print(f"machine: {os.cpu_count()} cores; {conf}; wrk -c{args.connections}")
    ratios = {}
    for name, app, where in servers:
        ratios[name] = one_server(args, tmp, where, app, bodies, script)
        print(f"  ({name}: envelopes available to the rounds: {n_bodies}, {args.prefill} stored before them)")
    if len(ratios) == 2:
        off, on = ratios.values()
        print(f"ratio submissions/healthz, proof of work off {off:.2f}, on {on:.2f}: on/off {on / off:.2f} (same run)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
