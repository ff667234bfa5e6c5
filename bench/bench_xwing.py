"""Envelope v2 (X-Wing) against v1 (X25519), measured side by side in one run.

    .venv/bin/python bench/bench_xwing.py [--n 100000] [--rounds 3] [--seals 200] [--skip-publish]

1. Raw opens per second on one core (vault.open_envelope), v1 and v2
   alternating, medians and their ratio; the same for seals.
2. In Chromium (/usr/bin/chromium with --enable-features=WebCryptoPQC, the
   switch that gives WebCrypto its MLKEM768-X25519 and ChaCha20-Poly1305):
   `sealSubmission` of the same record to a v1 and a v2 key, in alternating
   blocks (goal: v2 median <= 5 ms).
3. Page weight of every language: the page and the assets it loads to
   register (as tests/test_pages.py counts it; budget 100 KB), and with
   verify.js too.
4. `keyholder import` + `keyholder publish` of N envelopes into a fresh
   vault made by `keyholder init`: a `--key-version 1` vault with v1
   envelopes, and a default (X-Wing) vault with v2 envelopes, the same
   submissions, alternating for `--rounds` rounds.

The machine is small and shared: read the medians and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_publish as bp  # noqa: E402
from procmem import run_measured  # noqa: E402

import vault  # noqa: E402
from vault import transparency as tl  # noqa: E402
from vault._workers import forked_workers  # noqa: E402
from vault.batch import BatchHeader, write_batch  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PQC_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--headless",
    "--enable-features=WebCryptoPQC",
]
SEAL_GOAL_MS = 5.0
WEIGHT_BUDGET = 100_000

TIME_SEALS = """async ({bundles, submission, n, blocks}) => {
  const seal = await import("/assets/seal.js");
  const keys = [];
  for (const b of bundles) keys.push(await seal.checkBundle(b));
  for (const key of keys) await seal.sealSubmission(submission, key);  // warm up
  const times = keys.map(() => []);
  for (let block = 0; block < blocks; block++) {
    for (const [i, key] of keys.entries()) {
      for (let j = 0; j < n / blocks; j++) {
        const t0 = performance.now();
        await seal.sealSubmission(submission, key);
        times[i].push(performance.now() - t0);
      }
    }
  }
  return times;
}"""


def summary(values: list[float], unit: str) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(values):.2f} {unit}, p95 {p95:.2f} {unit} (n={len(values)})"


def raw_rates(subs: list[bytes], rounds: int) -> None:
    master = os.urandom(32)
    keys = {v: vault.derive_keys(master, v) for v in (1, 2)}
    sealed = {v: [vault.seal(s, k.public_key) for s in subs] for v, k in keys.items()}
    opens: dict[int, list[float]] = {1: [], 2: []}
    seals: dict[int, list[float]] = {1: [], 2: []}
    for r in range(rounds * 2):
        for v in (1, 2) if r % 2 == 0 else (2, 1):
            opens[v].append(bp.raw_open_rate(keys[v], sealed[v], rounds=1))
            t = time.perf_counter()
            for s in subs:
                vault.seal(s, keys[v].public_key)
            seals[v].append(len(subs) / (time.perf_counter() - t))
    o1, o2 = statistics.median(opens[1]), statistics.median(opens[2])
    s1, s2 = statistics.median(seals[1]), statistics.median(seals[2])
    print(f"1. one core, {len(subs)} envelopes, {rounds * 2} alternating rounds (medians):")
    print(f"   opens/s  v1 {o1:,.0f}   v2 {o2:,.0f}   v2/v1 {o2 / o1:.2f}")
    print(f"   seals/s  v1 {s1:,.0f}   v2 {s2:,.0f}   v2/v1 {s2 / s1:.2f}")


def browser_and_weight(seals: int) -> None:
    from bench_page import RECORD, _Quiet
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from intake import IntakeConfig, create_app
    from intake.keyring import add_bundle
    from intake.pages import MANIFEST_PATH

    master = os.urandom(32)
    v1, v2 = vault.derive_keys(master, 1), vault.derive_keys(master, 2)
    with tempfile.TemporaryDirectory(prefix="dvr-bench-xwing-") as tmp:
        data = Path(tmp)
        add_bundle(IntakeConfig(data_dir=data).keys_path, v2.bundle().to_json())
        add_bundle(IntakeConfig(data_dir=data).keys_path, v1.bundle().to_json())
        app = create_app(IntakeConfig(data_dir=data))
        client = app.test_client()
        listed = client.get(MANIFEST_PATH).get_json()["assets"]
        sizes = {url: len(client.get(url).data) for url in listed}
        register = sum(n for url, n in sizes.items() if url != "/assets/verify.js")
        weights = {p: len(client.get(p).data) for p in ("/", "/en/", "/sr/", "/de/")}
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        origin = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=PQC_ARGS)
                page = browser.new_page()
                page.goto(origin + "/")
                assert page.evaluate("async () => (await import('/assets/hpke.js')).supportsXWing()") is True
                submission = {"schema": "dvr-registration/1", "lang": "sq", "record": RECORD}
                arg = {"bundles": [v1.bundle().to_json(), v2.bundle().to_json()], "submission": submission}
                t1, t2 = page.evaluate(TIME_SEALS, {**arg, "n": seals, "blocks": 10})
                version = browser.version
                browser.close()
        finally:
            server.shutdown()
            app.extensions["dvr_store"].close()
    flag = "ok" if statistics.median(t2) <= SEAL_GOAL_MS else "OVER GOAL"
    print(f"2. Chromium {version} (WebCryptoPQC), sealSubmission (pad + HPKE + envelope), alternating blocks:")
    print(f"   v1 X25519/AES-128-GCM:           {summary(t1, 'ms')}")
    print(f"   v2 X-Wing/ChaCha20-Poly1305:     {summary(t2, 'ms')}  {flag}")
    print(f"   v2/v1 medians {statistics.median(t2) / statistics.median(t1):.2f}")
    print("3. page weight (page + assets to register, uncompressed; budget 100 KB; and with verify.js):")
    for path, html in weights.items():
        total = html + register
        flag = "ok" if total <= WEIGHT_BUDGET else "OVER BUDGET"
        with_verify = (total + sizes["/assets/verify.js"]) / 1000
        print(f"   {path:5} {total / 1000:6.1f} KB  {flag}   (+ verify.js {with_verify:.1f} KB)")
    print("   assets: " + ", ".join(f"{u.removeprefix('/assets/')} {n / 1000:.1f}" for u, n in sizes.items()))


def _seal_block(args: tuple[bytes, list[bytes]]) -> list[bytes]:
    pk, subs = args
    return [vault.seal(s, pk).canonical() for s in subs]


def make_cache(root: Path, version: int, subs: list[bytes], env: dict[str, str]) -> Path:
    """A fresh vault (`keyholder init --key-version V`) and a batch of `subs` sealed to its current key."""
    cache = root / f"v{version}"
    cache.mkdir(parents=True)
    (cache / "pp").write_text("bench\n")
    init = [str(bp.BIN / "keyholder"), "init", "--vault", str(cache / "V0"), "--passphrase-file", str(cache / "pp")]
    proc, *_ = run_measured([*init, "--key-version", str(version)], env=env)
    assert proc.returncode == 0, proc.stderr
    bundle = vault.load_bundle(json.loads((cache / "V0" / "key-bundle.json").read_text()))
    assert bundle.version == version
    chunks = [(bundle.public_key, subs[i : i + 2000]) for i in range(0, len(subs), 2000)]
    with forked_workers(os.cpu_count() or 1) as pool:
        sealed = [e for block in pool.map(_seal_block, chunks) for e in block]
    signer = tl.NoteSigner.generate("dvr-intake/bench")
    head = tl.Checkpoint(signer.name, len(sealed), tl.root_of(tl.leaf_hash(e) for e in sealed))
    log = {"log_key": signer.verifier().encode(), "checkpoint": tl.sign_checkpoint(head, signer)}
    with open(cache / "batch", "wb") as fp:
        rows = ((i + 1, "2026-11-26", e) for i, e in enumerate(sealed))
        write_batch(fp, BatchHeader(1, len(sealed), len(sealed), "2026-11-26", log), rows, signer)
    return cache


def publish_side_by_side(n: int, rounds: int) -> None:
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    root = Path(tempfile.mkdtemp(prefix="dvr-bench-xwing-publish-"))
    try:
        subs = bp._submissions(n, 7)
        caches = {v: make_cache(root, v, subs, env) for v in (1, 2)}
        sizes = {v: (c / "batch").stat().st_size for v, c in caches.items()}
        results: dict[int, list[tuple[float, float, int]]] = {1: [], 2: []}
        outputs: dict[int, str] = {}
        for r in range(rounds):
            for v in (1, 2) if r % 2 == 0 else (2, 1):
                t_i, t_p, _m_i, m_p, out = bp.import_and_publish(caches[v], root, env)
                results[v].append((t_i, t_p, m_p))
                outputs[v] = out.splitlines()[0]
                print(f"   round {r + 1} v{v}: import {t_i:.2f} s, publish {t_p:.2f} s, peak PSS {m_p / 2**20:.0f} MiB")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"4. import + publish of {n:,} envelopes, {rounds} alternating rounds (medians):")
    med: dict[int, dict[str, float]] = {}
    for v, rows in results.items():
        med[v] = {k: statistics.median(r[i] for r in rows) for i, k in enumerate(("import", "publish", "pss"))}
        m = med[v]
        print(
            f"   v{v}: batch {sizes[v] / 2**20:.0f} MiB, import {m['import']:.2f} s, publish {m['publish']:.2f} s,"
            f" {n / (m['import'] + m['publish']):,.0f} records/s, peak PSS {m['pss'] / 2**20:.0f} MiB | {outputs[v]}"
        )
    ratio = {k: med[2][k] / med[1][k] for k in ("import", "publish")}
    size = sizes[2] / sizes[1]
    print(f"   v2/v1: import {ratio['import']:.2f}, publish {ratio['publish']:.2f}, batch size {size:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="envelopes for import + publish")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seals", type=int, default=200, help="seals per version in Chromium")
    parser.add_argument("--skip-publish", action="store_true")
    args = parser.parse_args()
    subs = bp._submissions(2000, 11)
    raw_rates(subs, args.rounds)
    browser_and_weight(args.seals)
    if not args.skip_publish:
        publish_side_by_side(args.n, args.rounds)


if __name__ == "__main__":
    main()
