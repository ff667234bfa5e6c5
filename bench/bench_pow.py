"""Proof-of-work benchmark: the server's cost per verification, and the
registrant's solve time in real Chromium at each difficulty.

    .venv/bin/python bench/bench_pow.py [--verifications 5000] [--solves 20]

- server: CPU time (process time) per `ProofOfWork.verify` of a fresh,
  valid solution (the HMAC, the SHA-256, the base64 and JSON, the claim in
  the shared table), per challenge issued, and, as the baseline measured in
  the same run, per submission through the whole WSGI handler with proof
  of work off and on (a real envelope stored in SQLite, durably): the ratio
  on/off is what proof of work costs the intake (goal: verification <= 30 us);
- browser: the page's own worker (intake/static/pow.js) solving challenges
  the intake issued at each level of the difficulty rule (docs/operations.md,
  section 8), median and p95 (goal: the default level <= 1 s); and, for
  scale, CPython's hashlib solving the default level (a flooder's cost).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from intake import IntakeConfig, create_app
from intake.keyring import add_bundle
from intake.pow import Difficulty, ProofOfWork, SharedState, solve
from vault import derive_keys, new_master_secret, seal

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--headless"]
VERIFY_GOAL_US = 30.0
SOLVE_GOAL_S = 1.0
SUBMISSION = json.dumps({"schema": "dvr-registration/1", "lang": "sq", "record": {"given_name": "A"}}).encode()

# Solve one challenge as the page does (intake/static/form.js solveProof): one
# worker per core (at most 4), each trying its share of the numbers; resolves to seconds.
SOLVE_JS = """async (challenge) => {
  const step = Math.min(navigator.hardwareConcurrency || 1, 4);
  const workers = Array.from({ length: step }, () => new Worker("/assets/pow.js"));
  const started = performance.now();
  const number = await new Promise((resolve) => {
    let left = step;
    workers.forEach((worker, from) => {
      worker.onmessage = ({ data }) => (data !== null || !--left) && resolve(data);
      worker.postMessage({ ...challenge, from, step });
    });
  });
  workers.forEach((worker) => worker.terminate());
  if (number === null) throw new Error("no solution");
  return (performance.now() - started) / 1000;
}"""


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        return


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def verify_cost(n: int) -> tuple[float, float]:
    """CPU microseconds per verification and per challenge issued (median of 5 rounds)."""
    proof = ProofOfWork(Difficulty(levels=((0.0, 100),)), state=SharedState(slots=1 << 18))
    rounds_verify, rounds_issue = [], []
    for _ in range(5):
        started = time.process_time()
        challenges = [proof.challenge() for _ in range(n)]
        rounds_issue.append((time.process_time() - started) / n * 1e6)
        environs = [{"HTTP_X_ALTCHA": solve(c)} for c in challenges]
        started = time.process_time()
        for environ in environs:
            proof.verify(environ)
        rounds_verify.append((time.process_time() - started) / n * 1e6)
    return statistics.median(rounds_verify), statistics.median(rounds_issue)


def handler_cost(n: int, proof_of_work: bool) -> float:
    """CPU microseconds per stored submission through the WSGI handler (durable SQLite commit included)."""
    with tempfile.TemporaryDirectory(prefix="dvr-bench-pow-") as tmp:
        key = derive_keys(new_master_secret())
        config = IntakeConfig(data_dir=Path(tmp), proof_of_work=proof_of_work, difficulty=Difficulty(((0.0, 100),)))
        add_bundle(config.keys_path, key.bundle().to_json())
        app = create_app(config)
        bodies = [json.dumps(seal(SUBMISSION, key.public_key).to_json()).encode() for _ in range(n)]
        headers = [solve(app.wsgi_app.proof.challenge()) if proof_of_work else None for _ in range(n)]
        statuses: list[str] = []

        def start_response(status: str, _headers: Any) -> None:
            statuses.append(status)

        started = time.process_time()
        for body, header in zip(bodies, headers, strict=True):
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/api/v1/submissions",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            }
            if header:
                environ["HTTP_X_ALTCHA"] = header
            app.wsgi_app(environ, start_response)
        cost = (time.process_time() - started) / n * 1e6
        app.extensions["dvr_store"].close()
        assert statuses == ["201 CREATED"] * n, set(statuses)
        return cost


def browser_solves(levels: list[int], solves: int) -> dict[int, list[float]]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="dvr-bench-pow-") as tmp:
        key = derive_keys(new_master_secret())
        config = IntakeConfig(data_dir=Path(tmp))
        add_bundle(config.keys_path, key.bundle().to_json())
        app = create_app(config)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        times: dict[int, list[float]] = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page()
                cores = page.evaluate("navigator.hardwareConcurrency")
                print(f"Chromium {browser.version}, {cores} cores: {min(cores, 4)} workers per solve", flush=True)
                page.goto(f"http://127.0.0.1:{server.server_port}/en/")
                for level in levels:
                    proof = ProofOfWork(Difficulty(levels=((0.0, level),)))
                    runs = solves if level <= 200_000 else max(5, solves // 2)
                    times[level] = [page.evaluate(SOLVE_JS, proof.challenge()) for _ in range(runs)]
                    print(f"  solved {runs} at maxNumber {level:,}", flush=True)
                browser.close()
        finally:
            server.shutdown()
            app.extensions["dvr_store"].close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verifications", type=int, default=5000)
    parser.add_argument("--submissions", type=int, default=1500)
    parser.add_argument("--solves", type=int, default=20, help="browser solves per level (half past 200,000)")
    args = parser.parse_args()

    verify_us, issue_us = verify_cost(args.verifications)
    rounds = [(handler_cost(args.submissions, False), handler_cost(args.submissions, True)) for _ in range(3)]
    off, on = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    rule = Difficulty()
    default = rule.levels[0][1]
    started = time.process_time()
    python_solves = 20
    for _ in range(python_solves):
        solve(ProofOfWork(rule).challenge())
    python_s = (time.process_time() - started) / python_solves
    browser = browser_solves([n for _rate, n in rule.levels], args.solves)

    flag = "ok" if verify_us <= VERIFY_GOAL_US else "OVER GOAL"
    print(f"server, CPU per verification: {verify_us:.1f} us (goal <= {VERIFY_GOAL_US:.0f} us)  {flag}")
    print(f"server, CPU per challenge issued: {issue_us:.1f} us")
    print(
        f"server, CPU per stored submission through the handler: off {off:.0f} us, on {on:.0f} us;"
        f" ratio off/on {off / on:.2f} (same run, off and on alternating, medians of 3 x {args.submissions})"
    )
    print(f"CPython hashlib, one core, solving the default level ({default:,}): {python_s * 1000:.0f} ms mean")
    print("Chromium, the page's worker (intake/static/pow.js), solve time by difficulty:")
    for rate, level in rule.levels:
        times = browser[level]
        goal = f"  (goal <= {SOLVE_GOAL_S:.0f} s: {'ok' if statistics.median(times) <= SOLVE_GOAL_S else 'OVER'})"
        print(
            f"  from {rate:>5.0f}/s  maxNumber {level:>9,}: median {statistics.median(times):.2f} s,"
            f" p95 {pct(times, 0.95):.2f} s, max {max(times):.2f} s (n={len(times)})"
            + (goal if level == default else "")
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
