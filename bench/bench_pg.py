"""The intake on PostgreSQL against the intake on SQLite, in one run.

Four production servers side by side (gunicorn with intake/gunicorn_conf.py,
gevent workers; an intake process is one worker, with its own store and
committer): one and two processes on SQLite (one data directory), one and
two on PostgreSQL (a throwaway server from tests/pg_support.py: fsync and
synchronous_commit on, a Unix socket). Round by round, each server in turn
is driven by wrk (bench_intake.py's script: distinct pre-sealed envelopes,
formatted before the clock starts): GET /healthz, then POST
/api/v1/submissions. Printed: the medians of submissions/s and of
/healthz/s, their ratio for each server (and round by round), p50 and p99
latency of the submissions, and the commit-group size (submissions per
committed group, from each worker's store: `GroupCommitStore.group_stats`).

    .venv/bin/python bench/bench_pg.py            # needs wrk (apt-get install wrk) and PostgreSQL's binaries

`--before` adds two servers with the PostgreSQL store as it was before it
pipelined a group's statements (`PostgresStore.pipelined = False`: one
round trip per statement), for the before/after in the same run.
`--rounds`, `--seconds`, `--connections`. Loopback and a temporary
directory only; everything is removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # pg_support: the tests' throwaway PostgreSQL

from bench_intake import LUA, free_port, wrk_latencies  # noqa: E402 - after the path
from pg_support import PgCluster  # noqa: E402

import vault  # noqa: E402
from intake.keyring import add_bundle  # noqa: E402

SUBMISSION = json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": {"given_name": "x" * 300}}).encode()


def counted_app() -> Any:
    """For gunicorn (`bench_pg:counted_app()`, --pythonpath bench): the
    production application (intake.wsgi:from_environ()) with one more route,
    /bench/commit-groups, which answers this worker's pid and its store's
    group counts. Submissions are answered in front of Flask as in
    production; the route is only this benchmark's."""
    from flask import jsonify

    from intake.store.postgres import PostgresStore
    from intake.wsgi import from_environ

    if os.environ.get("BENCH_PG_PIPELINED") == "0":  # the store as before: one round trip per statement
        PostgresStore.pipelined = False
    app = from_environ()
    store = app.extensions["dvr_store"]

    @app.get("/bench/commit-groups")
    def commit_groups() -> Any:
        stats = store.group_stats()
        return jsonify(
            pid=os.getpid(),
            groups=stats.groups,
            submissions=stats.submissions,
            largest=stats.largest,
            turn=stats.turn_seconds,
        )

    return app


def _seal(n: int) -> list[str]:
    key = vault.load_bundle(json.loads(os.environ["BENCH_BUNDLE"])).public_key
    return [json.dumps(vault.seal(SUBMISSION, key).to_json()) for _ in range(n)]


def ms(text: str) -> float:
    """wrk's latency ("812.00us", "3.41ms", "1.02s") in milliseconds."""
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(text)


@dataclass
class Server:
    name: str
    workers: int
    data: Path
    store_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: Any = None
    health: list[float] = field(default_factory=list)
    posts: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    # per POST round: groups, submissions, largest, seconds holding the commit turn
    groups: list[tuple[int, int, int, float]] = field(default_factory=list)

    def start(self) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DVR_INTAKE_DATA": str(self.data),
            "DVR_INTAKE_PROOF_OF_WORK": "off",  # one client sends everything (bench_pow.py measures the defences)
            "DVR_INTAKE_RATE_LIMIT": "off",
        }
        if self.store_url:
            env["DVR_INTAKE_STORE"] = self.store_url
        env.update(self.env)
        argv = [str(Path(sys.executable).parent / "gunicorn"), "-c", "python:intake.gunicorn_conf"]
        argv += ["-b", f"127.0.0.1:{self.port}", "--pythonpath", str(ROOT / "bench"), f"--workers={self.workers}"]
        self.proc = subprocess.Popen([*argv, "bench_pg:counted_app()"], env=env, cwd=ROOT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: {self.name}: gunicorn exited with {self.proc.returncode}")
            if len(self.worker_pids()) == self.workers:
                try:
                    self.get("/healthz")
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        raise SystemExit(f"bench: {self.name}: gunicorn did not become ready")

    def worker_pids(self) -> set[int]:
        try:
            return {int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()}
        except OSError:
            return set()

    def get(self, path: str) -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            return conn.getresponse().read()
        finally:
            conn.close()

    def group_counts(self) -> dict[int, tuple[int, int, int, float]]:
        """Each worker's (groups, submissions, largest, turn seconds), asked over new
        connections until every worker has answered."""
        want, seen = self.worker_pids(), {}
        for _ in range(500):
            answer = json.loads(self.get("/bench/commit-groups"))
            seen[answer["pid"]] = (answer["groups"], answer["submissions"], answer["largest"], answer["turn"])
            if want <= set(seen):
                return seen
        raise SystemExit(f"bench: {self.name}: not every worker answered /bench/commit-groups")

    def round(self, args: Any, script: Path, bodies: Path, r: int) -> None:
        rate, _ = wrk_latencies(f"http://127.0.0.1:{self.port}/healthz", args.seconds, args.connections)
        self.health.append(rate)
        before = self.group_counts()
        rate, lat = wrk_latencies(f"http://127.0.0.1:{self.port}/", args.seconds, args.connections, script, bodies, r)
        after = self.group_counts()
        self.posts.append(rate)
        self.p50.append(ms(lat["50%"]))
        self.p99.append(ms(lat["99%"]))
        delta = [[a - b for a, b in zip(after[p], before.get(p, (0, 0, 0, 0.0)), strict=True)] for p in after]
        groups, subs, turn = (sum(d[i] for d in delta) for i in (0, 1, 3))
        self.groups.append((int(groups), int(subs), max(a[2] for a in after.values()), turn))
        if rate * args.seconds / 2 > args.slice:
            print(f"  warning: {self.name} sent more than {args.slice} per wrk thread: repeats were sent", flush=True)

    def stored(self, pg: PgCluster) -> int:
        if self.store_url is None:
            with sqlite3.connect(self.data / "intake.sqlite") as conn:
                return int(conn.execute("SELECT COUNT(*) FROM envelopes").fetchone()[0])
        dbname = self.store_url.split("///", 1)[1].split("?", 1)[0]
        return int(pg.sql("SELECT COUNT(*) FROM envelopes", dbname)[0][0])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--slice", type=int, default=8000, help="distinct envelopes per wrk thread and round")
    parser.add_argument(
        "--before", action="store_true", help="also the PostgreSQL store unpipelined (a statement per round trip)"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: needs wrk (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="dvr-bench-pg-"))
    key = vault.derive_keys(os.urandom(32))
    os.environ["BENCH_BUNDLE"] = json.dumps(key.bundle().to_json())
    n = 2 * args.slice * args.rounds  # a slice per wrk thread and round; every server gets the same ones
    started = time.monotonic()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        chunks = list(pool.map(_seal, [1000] * (n // 1000) + [n % 1000]))
    bodies = tmp / "bodies.jsonl"
    bodies.write_text("".join(line + "\n" for chunk in chunks for line in chunk))
    print(f"sealed {n} envelopes in {time.monotonic() - started:.0f} s", flush=True)
    script = tmp / "post.lua"
    script.write_text(LUA.replace("SLICE", str(args.slice)))

    pg = PgCluster("bench").start()
    servers = [
        Server("SQLite, 1 process", 1, tmp / "lite-1", None),
        Server("SQLite, 2 processes", 2, tmp / "lite-2", None),
        Server("PostgreSQL, 1 process", 1, tmp / "pg-1", pg.new_database()),
        Server("PostgreSQL, 2 processes", 2, tmp / "pg-2", pg.new_database()),
    ]
    if args.before:
        before = {"BENCH_PG_PIPELINED": "0"}
        servers += [
            Server("PostgreSQL, 1 process, unpipelined", 1, tmp / "pg-1u", pg.new_database(), before),
            Server("PostgreSQL, 2 processes, unpipelined", 2, tmp / "pg-2u", pg.new_database(), before),
        ]
    try:
        for s in servers:
            s.data.mkdir()
            add_bundle(s.data / "keys.json", key.bundle().to_json())
            s.start()
        for s in servers:
            s.wait_ready()
        for r in range(args.rounds):  # round by round, every server in turn: the machine's noise falls on all
            for s in servers:
                s.round(args, script, bodies, r)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
        stored = {s.name: s.stored(pg) for s in servers}
    finally:
        for s in servers:
            s.stop()
        pg.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, servers, stored)


def report(args: Any, servers: list[Server], stored: dict[str, int]) -> None:
    med = statistics.median
    print(
        f"\nmachine: {os.cpu_count()} cores, shared by wrk, the servers and PostgreSQL (and whatever else runs);"
        f" wrk -t2 -c{args.connections}, {args.rounds} rounds of {args.seconds} s, servers in turn each round"
    )
    print(
        "| server | /healthz/s | submissions/s | ratio of medians (round by round) | p50 / p99 ms"
        " | group size: mean (largest) | turn held per group, ms | stored |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in servers:
        pairs = [p / h for p, h in zip(s.posts, s.health, strict=True)]
        groups = sum(g[0] for g in s.groups)
        subs = sum(g[1] for g in s.groups)
        turn = 1e3 * sum(g[3] for g in s.groups) / max(groups, 1)
        print(
            f"| {s.name} | {med(s.health):,.0f} | {med(s.posts):,.0f} | {med(s.posts) / med(s.health):.2f}"
            f" ({', '.join(f'{x:.2f}' for x in pairs)}) | {med(s.p50):.1f} / {med(s.p99):.1f}"
            f" | {subs / max(groups, 1):.1f} ({max(g[2] for g in s.groups)}) | {turn:.1f} | {stored[s.name]:,} |"
        )
    by = {s.name: s for s in servers}

    def ratio(a: str, b: str) -> str:
        x, y = by[a], by[b]
        rounds = [p / q for p, q in zip(x.posts, y.posts, strict=True)]
        return f"{med(x.posts) / med(y.posts):.2f} (rounds {', '.join(f'{v:.2f}' for v in rounds)})"

    print(f"\nsubmissions/s, 2 processes / 1, SQLite: {ratio('SQLite, 2 processes', 'SQLite, 1 process')}")
    print(f"submissions/s, 2 processes / 1, PostgreSQL: {ratio('PostgreSQL, 2 processes', 'PostgreSQL, 1 process')}")
    print(f"submissions/s, PostgreSQL / SQLite, 1 process: {ratio('PostgreSQL, 1 process', 'SQLite, 1 process')}")
    print(f"submissions/s, PostgreSQL / SQLite, 2 processes: {ratio('PostgreSQL, 2 processes', 'SQLite, 2 processes')}")
    if "PostgreSQL, 1 process, unpipelined" in by:
        for n in ("1 process", "2 processes"):
            after, before = f"PostgreSQL, {n}", f"PostgreSQL, {n}, unpipelined"
            print(f"submissions/s, PostgreSQL pipelined / unpipelined, {n}: {ratio(after, before)}")
        print(
            "submissions/s, 2 processes / 1, PostgreSQL unpipelined:"
            f" {ratio('PostgreSQL, 2 processes, unpipelined', 'PostgreSQL, 1 process, unpipelined')}"
        )


if __name__ == "__main__":
    main()
