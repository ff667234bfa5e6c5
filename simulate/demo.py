"""The whole journey on a generated population, with the real commands.

    python -m simulate.demo [--people 3000] [--out demo-output]

A ministry key is made (`keyholder init`), installed on an intake server
(`intake keys add`) that runs on loopback (`intake serve`); generated
registrations are sealed and submitted over HTTP as a browser would; the
envelopes are exported (`intake export`), imported offline (`keyholder
import`) and published (`keyholder publish`). The population mixes version 1
and version 2 envelopes and every record kind (households, businesses,
associations, corrections and withdrawals; `--v1-only` for version 1
individuals alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import vault

from .population import generate

BIN = Path(sys.executable).parent


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def sh(*args: object) -> None:
    cmd = [str(a) for a in args]
    print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: `{' '.join(cmd)}` failed (exit {proc.returncode})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback URL built here
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"demo: the intake server did not come up at {url}")


def submit_all(base: str, submissions: list[dict[str, object]]) -> int:
    """Seal each submission to the current key from /api/v1/keys and POST it."""
    with urllib.request.urlopen(base + "/api/v1/keys") as resp:  # noqa: S310
        keys = json.load(resp)
    bundle = vault.load_bundle(next(k for k in keys["keys"] if k["kid"] == keys["current"]))

    def post(sub: dict[str, object]) -> int:
        envelope = vault.seal(json.dumps(sub, ensure_ascii=False).encode("utf-8"), bundle.public_key)
        req = urllib.request.Request(  # noqa: S310
            base + "/api/v1/submissions",
            data=json.dumps(envelope.to_json()).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return int(resp.status)

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, submissions))
    elapsed = time.perf_counter() - started
    ok = statuses.count(201)
    print(f"submitted {ok}/{len(submissions)} sealed registrations in {elapsed:.1f} s ({ok / elapsed:.0f}/s)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--v1-only", action="store_true", help="version 1 individuals only, as before issue 22")
    args = parser.parse_args()

    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    vault_dir, data_dir = out / "vault", out / "intake-data"
    passphrase = out / "passphrase.txt"
    passphrase.write_text("demo passphrase: never use one like this\n")
    os.chmod(passphrase, 0o600)

    step("1. The data officers make the ministry key on the offline workstation")
    sh("keyholder", "init", "--vault", vault_dir, "--passphrase-file", passphrase)

    step("2. The operator installs the public key bundle on the intake server and starts it")
    sh("intake", "keys", "add", "--data", data_dir, vault_dir / "key-bundle.json")
    sh("intake", "keys", "add", "--data", data_dir, vault_dir / "key-bundle-v1.json")  # for browsers without X-Wing
    port = free_port()
    # Every registration comes from this one loopback client in a few seconds:
    # a trusted channel, so the flood defences are off (docs/operations.md, section 8).
    trusted = ["--no-proof-of-work", "--no-rate-limit"]
    print(f"$ intake serve --data {data_dir} --host 127.0.0.1 --port {port} {' '.join(trusted)} &", flush=True)
    server = subprocess.Popen([str(BIN / "intake"), "serve", "--data", str(data_dir), "--port", str(port), *trusted])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/healthz")
        population = generate(args.people, seed=args.seed, kinds=not args.v1_only)
        kinds = Counter(population.kind_of)
        step(
            f"3. {args.people} people register ({len(population.submissions)} submissions, some twice; "
            f"{kinds['household']} households, {kinds['business']} businesses, {kinds['association']} associations, "
            f"{kinds['correction']} corrections, {kinds['withdrawal']} withdrawals)"
        )
        submit_all(base, population.submissions)
    finally:
        server.terminate()
        server.wait(timeout=10)

    step("4. The operator exports the envelopes as a batch file for transfer")
    batch = out / "batch-0001.dvrb"
    sh("intake", "export", "--data", data_dir, "--out", batch)

    step("5. Offline: import the batch, then publish protected aggregates")
    sh("keyholder", "import", "--vault", vault_dir, batch)
    publication = out / "publication"
    sh("keyholder", "publish", "--vault", vault_dir, "--passphrase-file", passphrase, "--out", publication)

    aggregates = json.loads((publication / "aggregates.json").read_text(encoding="utf-8"))
    truth = population.truth()
    true_people = truth["registrants"][()]
    error = abs(aggregates["registrants"] - true_people) / max(true_people, 1)
    step("Done")
    print(
        f"registrants published: {aggregates['registrants']} (true number of people: {true_people}; error {error:.2%})"
    )
    totals = {t["name"]: t["margins"]["total"] for t in aggregates["tables"]}
    kinds_tables = (
        ("households", "household_size"),
        ("businesses", "business_size"),
        ("associations", "association_members"),
    )
    for what, table in kinds_tables:
        if true := sum(truth[table].values()):
            print(f"{what} published: {totals.get(table, 'withheld')} (true number: {true})")
    report = publication / "report.html"
    print(f"publication: {publication}")
    if report.exists():
        print(f"report: {report}")


if __name__ == "__main__":
    main()
