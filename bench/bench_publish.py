"""Keyholder throughput: import and publish N envelopes, against the raw rate
of HPKE opens on one core measured in the same run.

    .venv/bin/python bench/bench_publish.py [--n 100000]

Target (issue 2): records/s from import to aggregates >= 0.7 x (raw opens/s
on one core x cores), and peak memory for 100k envelopes <= 500 MB.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
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
