"""Keyholder throughput: import and publish N envelopes, against the raw rate
of HPKE opens on one core measured in the same run.

    .venv/bin/python bench/bench_publish.py [--n 100000] [--cache DIR] [--base TREE] [--rounds R]

Targets (issue 21): records/s from import to aggregates >= 0.5 x (raw opens/s
on one core x cores) at 100k; 1M in <= 90 s at <= 1 GB peak; 10M in <= 20 min
at <= 4 GB peak.

`--cache DIR` keeps the sealed batch (and the freshly made vault it is sealed
to) in DIR/n<N>-s<seed>/, outside the repository, so later runs skip the
sealing. `--base TREE` also runs import and publish with TREE first on
PYTHONPATH (a worktree of main before a change), alternating with this tree
for `--rounds` rounds, and prints medians and the ratios of the two.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procmem import run_measured  # noqa: E402

import vault  # noqa: E402
from vault import transparency as tl  # noqa: E402
from vault._workers import forked_workers  # noqa: E402
from vault.batch import BatchHeader, write_batch  # noqa: E402

BIN = Path(sys.executable).parent


def _submissions(n: int, seed: int) -> list[bytes]:
    from simulate.population import generate

    people = max(1, int(n / 1.15))
    subs = generate(people, seed=seed).submissions
    while len(subs) < n:
        subs = subs + subs[: n - len(subs)]
    return [json.dumps(s, ensure_ascii=False).encode("utf-8") for s in subs[:n]]


_pk = b""


def _seal_init(pk: bytes) -> None:
    global _pk
    _pk = pk


def _seal(sub: bytes) -> bytes:
    return vault.seal(sub, _pk).canonical()


def raw_open_rate(key: vault.UnlockedKey, envelopes: list[vault.Envelope], rounds: int = 5) -> float:
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for env in envelopes:
            vault.open_envelope(env, key)
        rates.append(len(envelopes) / (time.perf_counter() - started))
    return statistics.median(rates)


def prepare(cache: Path, n: int, seed: int, env: dict[str, str]) -> list[bytes]:
    """Make (or find) cache/{pp, V0, batch}: a new vault and a batch of `n`
    sealed submissions to it. Returns a sample of the submissions."""
    subs = _submissions(min(n, 3000), seed)
    if (cache / "batch").exists():
        return subs
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pp").write_text("bench\n")
    for stale in (cache / "V0", cache / "V0.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    proc, *_ = run_measured(
        [str(BIN / "keyholder"), "init", "--vault", str(cache / "V0.partial"), "--passphrase-file", str(cache / "pp")],
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    bundle = vault.load_bundle(json.loads((cache / "V0.partial" / "key-bundle.json").read_text()))
    t = time.perf_counter()
    subs = _submissions(n, seed)
    with forked_workers(os.cpu_count() or 1, _seal_init, (bundle.public_key,)) as pool:
        sealed = list(pool.map(_seal, subs, chunksize=500))
    signer = tl.NoteSigner.generate("dvr-intake/bench")  # the intake's log, as an export signs it
    head = tl.Checkpoint(signer.name, len(sealed), tl.root_of(tl.leaf_hash(e) for e in sealed))
    log = {"log_key": signer.verifier().encode(), "checkpoint": tl.sign_checkpoint(head, signer)}
    with open(cache / "batch.partial", "wb") as fp:
        write_batch(
            fp,
            BatchHeader(1, len(sealed), len(sealed), "2026-11-26", log),
            ((i + 1, "2026-11-26", e) for i, e in enumerate(sealed)),
            signer,
        )
    os.replace(cache / "V0.partial", cache / "V0")
    os.replace(cache / "batch.partial", cache / "batch")
    print(f"prepared {len(sealed)} envelopes in {time.perf_counter() - t:.1f} s into {cache}")
    return subs[:3000]


def import_and_publish(cache: Path, tmp: Path, env: dict[str, str]) -> tuple[float, float, int, int, str]:
    """One import of the cached batch into a copy of the new vault, then one publish:
    (import s, publish s, import peak PSS, publish peak PSS, publish's output)."""
    vault_dir, out = tmp / "V", tmp / "O"
    shutil.rmtree(vault_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(cache / "V0", vault_dir)
    imp, t_import, _, pss_import = run_measured(
        [str(BIN / "keyholder"), "import", "--vault", str(vault_dir), str(cache / "batch")], env=env
    )
    assert imp.returncode == 0, imp.stderr
    pp = str(cache / "pp")
    pub, t_publish, _, pss_publish = run_measured(
        [str(BIN / "keyholder"), "publish", "--vault", str(vault_dir), "--passphrase-file", pp, "--out", str(out)],
        env=env,
    )
    assert pub.returncode == 0, pub.stderr
    aggregates = (out / "aggregates.json").read_bytes()
    shutil.rmtree(vault_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return t_import, t_publish, pss_import, pss_publish, pub.stdout.strip() + f"\n{len(aggregates)} bytes of aggregates"


def compare(args: argparse.Namespace) -> None:
    """This tree against `--base`, alternating, with the raw rate between rounds."""
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    cache = Path(args.cache) / f"n{args.n}-s{args.seed}"
    subs = prepare(cache, args.n, args.seed, env)
    key = vault.derive_keys(os.urandom(32))
    sample = [vault.seal(s, key.public_key) for s in subs[:3000]]
    trees = {"base": str(Path(args.base).resolve()), "this": str(Path(__file__).resolve().parent.parent)}
    results: dict[str, list[tuple[float, float, int, int]]] = {name: [] for name in trees}
    raws = [raw_open_rate(key, sample)]
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="dvr-bench-publish-"))
    try:
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                run_env = {**env, "PYTHONPATH": trees[name]}
                t_i, t_p, m_i, m_p, out = import_and_publish(cache, tmp, run_env)
                results[name].append((t_i, t_p, m_i, m_p))
                rate = args.n / (t_i + t_p) / (raws[-1] * cores)
                print(
                    f"round {r + 1} {name}: import {t_i:.2f} s, publish {t_p:.2f} s, peak PSS publish"
                    f" {m_p / 2**20:.0f} MiB, ratio {rate:.3f} | {out.splitlines()[-1]}",
                    flush=True,
                )
            raws.append(raw_open_rate(key, sample))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = statistics.median(raws)
    print(f"raw HPKE opens, one core: median {raw:.0f}/s ({', '.join(f'{x:.0f}' for x in raws)})")
    med: dict[str, dict[str, float]] = {}
    for name, rows in results.items():
        med[name] = {
            "import": statistics.median(r[0] for r in rows),
            "publish": statistics.median(r[1] for r in rows),
            "total": statistics.median(r[0] + r[1] for r in rows),
            "pss": statistics.median(r[3] for r in rows),
        }
        m = med[name]
        print(
            f"{name}: import {m['import']:.2f} s, publish {m['publish']:.2f} s, import+publish {m['total']:.2f} s"
            f" ({args.n / m['total']:,.0f} records/s,"
            f" ratio to raw x {cores} cores {args.n / m['total'] / (raw * cores):.3f});"
            f" publish peak PSS {m['pss'] / 2**20:.0f} MiB = {m['pss'] / args.n:,.0f} B per record"
            f" ({len(rows)} rounds, medians)"
        )
    b, t = med["base"], med["this"]
    print(
        f"this / base: publish {t['publish'] / b['publish']:.2f}, import+publish {t['total'] / b['total']:.2f},"
        f" peak PSS {t['pss'] / b['pss']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", help="keep the sealed batch here between runs (outside the repository)")
    parser.add_argument("--base", help="a tree to compare with (alternating rounds); needs --cache")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prepare-only", action="store_true", help="fill --cache and stop")
    args = parser.parse_args()
    if args.cache and args.prepare_only:
        prepare(
            Path(args.cache) / f"n{args.n}-s{args.seed}",
            args.n,
            args.seed,
            {**os.environ, "DVR_INSECURE_FAST_KDF": "1"},
        )
        return
    if args.base:
        if not args.cache:
            parser.error("--base needs --cache")
        compare(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="dvr-bench-publish-"))
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    try:
        (tmp / "pp").write_text("bench\n")
        vault_dir = tmp / "V"
        proc, *_ = run_measured(
            [str(BIN / "keyholder"), "init", "--vault", str(vault_dir), "--passphrase-file", str(tmp / "pp")], env=env
        )
        assert proc.returncode == 0, proc.stderr
        bundle = vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text()))

        t = time.perf_counter()
        subs = _submissions(args.n, args.seed)
        with forked_workers(os.cpu_count() or 1, _seal_init, (bundle.public_key,)) as pool:
            sealed = list(pool.map(_seal, subs, chunksize=500))
        buf = io.BytesIO()
        signer = tl.NoteSigner.generate("dvr-intake/bench")  # the intake's log, as an export signs it
        head = tl.Checkpoint(signer.name, len(sealed), tl.root_of(tl.leaf_hash(e) for e in sealed))
        log = {"log_key": signer.verifier().encode(), "checkpoint": tl.sign_checkpoint(head, signer)}
        write_batch(
            buf,
            BatchHeader(1, len(sealed), len(sealed), "2026-11-26", log),
            ((i + 1, "2026-11-26", e) for i, e in enumerate(sealed)),
            signer,
        )
        (tmp / "batch").write_bytes(buf.getvalue())
        print(f"prepared {len(sealed)} envelopes in {time.perf_counter() - t:.1f} s")

        # Raw HPKE opens on one core, same run (a fresh key; same suite and sizes).
        key = vault.derive_keys(os.urandom(32))
        sample = [vault.seal(s, key.public_key) for s in subs[:3000]]
        raw = raw_open_rate(key, sample)

        imp, t_import, mem_import, pss_import = run_measured(
            [str(BIN / "keyholder"), "import", "--vault", str(vault_dir), str(tmp / "batch")], env=env
        )
        assert imp.returncode == 0, imp.stderr
        pub, t_publish, mem_publish, pss_publish = run_measured(
            [
                str(BIN / "keyholder"),
                "publish",
                "--vault",
                str(vault_dir),
                "--passphrase-file",
                str(tmp / "pp"),
                "--out",
                str(tmp / "O"),
            ],
            env=env,
        )
        assert pub.returncode == 0, pub.stderr
        raw2 = raw_open_rate(key, sample)
        cores = os.cpu_count() or 1
        raw_med = statistics.median([raw, raw2])
        rate = args.n / (t_import + t_publish)
        print(pub.stdout.strip())
        print(f"raw HPKE opens, one core:        {raw_med:9.0f} /s (before {raw:.0f}, after {raw2:.0f})")
        print(
            f"import:                          {t_import:9.2f} s  peak PSS {pss_import / 2**20:.0f} MiB"
            f" (RSS summed {mem_import / 2**20:.0f} MiB)"
        )
        print(
            f"publish:                         {t_publish:9.2f} s  peak PSS {pss_publish / 2**20:.0f} MiB,"
            f" all processes (RSS summed, shared pages counted per process: {mem_publish / 2**20:.0f} MiB)"
        )
        print(f"import -> aggregates:            {rate:9.0f} records/s")
        print(f"ratio to raw x {cores} cores:          {rate / (raw_med * cores):9.2f}  (target >= 0.7)")
        # The same, for publish alone: imported envelopes -> aggregates.
        rate_pub = args.n / t_publish
        print(f"publish alone:                   {rate_pub:9.0f} records/s")
        print(f"ratio to raw x {cores} cores:          {rate_pub / (raw_med * cores):9.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
