"""Helpers shared by the tests (import as `from support import ...`)."""

from __future__ import annotations

import json
from typing import Any

VALID_RECORD: dict[str, Any] = {
    "given_name": "Arbër",
    "family_name": "Krasniqi",
    "birth_date": "1988-04-12",
    "sex": "female",
    "origin_country": "XK",
    "origin_municipality": "prizren",
    "residence_country": "DE",
    "status": "employed",
    "consent": {"processing": True, "contact": False},
}


def submission(record: dict[str, Any] | None = None, lang: str = "sq") -> bytes:
    body = {"schema": "dvr-registration/1", "lang": lang, "record": record or VALID_RECORD}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def run(*args: str | Any, cwd: Any = None, input: str | None = None, disk_full_at: int | None = None) -> Any:  # noqa: A002
    """Run a console script of this project (intake, keyholder) and return the CompletedProcess.

    `disk_full_at` (bytes) makes every write past that offset of any file
    fail, as on a full disk: the kernel's file-size limit (RLIMIT_FSIZE),
    with SIGXFSZ ignored so that the write returns an error (EFBIG) instead
    of killing the process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    def cap_file_size() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (disk_full_at, disk_full_at))

    exe = Path(sys.executable).parent / str(args[0])
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1"}
    return subprocess.run(
        [str(exe), *map(str, args[1:])],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=cap_file_size if disk_full_at is not None else None,  # noqa: PLW1509 - no threads here
    )


def one_line_error(proc: Any) -> str:
    """Assert the command failed with exactly one line on stderr and no traceback; return it."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def log_members(envelopes: list[bytes], name: str = "dvr-intake/test", seed: bytes = bytes(32)) -> dict[str, str]:
    """The batch-header members an intake adds (docs/transparency.md): its log key and
    the signed checkpoint over `envelopes` (canonical bytes, seq 1.. in order)."""
    from vault.merkle import leaf_hash, root_of
    from vault.note import Checkpoint, NoteSigner, sign_checkpoint

    signer = NoteSigner(name, seed)
    checkpoint = Checkpoint(name, len(envelopes), root_of(leaf_hash(e) for e in envelopes))
    return {"log_key": signer.verifier().encode(), "checkpoint": sign_checkpoint(checkpoint, signer)}


def write_batch_file(path: Any, envelopes: list[bytes], first: int = 1) -> None:
    """A batch of canonical `envelopes` from seq `first`, dated 2026-11-26,
    signed by the test intake's log key (log_members). Its checkpoint covers
    `envelopes` from seq 1: right for a first batch (a later one is refused
    for its gap first)."""
    import io

    from vault.batch import BatchHeader, write_batch
    from vault.note import NoteSigner

    out = io.BytesIO()
    n = len(envelopes)
    write_batch(
        out,
        BatchHeader(first, first + n - 1, n, "2026-11-26", log_members(envelopes)),
        [(first + i, "2026-11-26", e) for i, e in enumerate(envelopes)],
        NoteSigner("dvr-intake/test", bytes(32)),
    )
    path.write_bytes(out.getvalue())


def fill_store(config: Any, public_key: bytes, n: int) -> None:
    """Seal `n` valid submissions to `public_key` straight into the intake
    store of `config` (SQLite or PostgreSQL), from many threads at once, so
    that they are committed in groups, as a busy intake commits them."""
    from concurrent.futures import ThreadPoolExecutor

    import vault
    from intake.store import open_store

    config.data_dir.mkdir(parents=True, exist_ok=True)
    envelopes = [vault.seal(submission(), public_key) for _ in range(n)]
    store = open_store(config)
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            assert len(list(pool.map(store.append, envelopes))) == n
    finally:
        store.close()


def full_disk_for(monkeypatch: Any, fails: Any) -> None:
    """Make the keyholder's atomic writes (vault files, the log's head) raise
    ENOSPC, as on a full disk, for every destination path `fails` accepts."""
    import errno

    import keyholder_cli.station as station

    real_atomic_write = station.atomic_write

    def full_disk(dest: Any, mode: int = 0o644) -> Any:
        if fails(dest):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_atomic_write(dest, mode)

    monkeypatch.setattr(station, "atomic_write", full_disk)
    monkeypatch.setattr("vault.auditlog.atomic_write", full_disk)


def public_key(vault_dir) -> bytes:
    """The public key of the vault made by the `vault_dir` fixture."""
    import vault

    return vault.load_bundle(json.loads((vault_dir / "key-bundle.json").read_text())).public_key
