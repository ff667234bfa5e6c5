"""The audit side of `keyholder publish`: the signed manifest and the
`publish` entry, fsynced before any file of the publication is written, and
a `publish_failed` entry for a publish that stops after its unlock.

The manifest (`vault.manifest`) lists the SHA-256 of every other file and
names the log position of the publish entry (its seq, and its `prev`); the
publish entry lists the SHA-256 of every file written, the manifest
included. Neither can be swapped without the other failing to verify.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import UnlockedKey
from vault.audit import MANIFEST_NAME, make_manifest, sha256_hex

from .. import audit
from ..errors import KeyholderError
from ..station import Station

__all__ = ["Attempt", "logged_publication", "publication_attempt", "refuse_unusable_target"]


@dataclass
class Attempt:
    """One run of `publish` after its unlock; `logged` once its `publish` entry is written."""

    logged: bool = False


@contextmanager
def publication_attempt(vault: Station, state: audit.AuditResult, key: UnlockedKey, out_dir: Path) -> Iterator[Attempt]:
    """Around everything `publish` does after its unlock. If it stops before
    the files are written (an error, a worker killed, a full disk, Ctrl-C), a
    signed `publish_failed` entry says so, and whether the publication had
    been logged: the log then explains every unlock for `publish` by itself."""
    attempt = Attempt()
    try:
        yield attempt
    except BaseException as exc:
        details = {"out": str(out_dir), "error": type(exc).__name__, "logged": attempt.logged}
        with suppress(Exception):  # a log that cannot take it (a full disk): the first error is the one to report
            audit.append(vault, state, "publish_failed", details, key)
        raise


def refuse_unusable_target(out_dir: Path) -> None:
    """Refuse a publication target before anyone unlocks anything."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise KeyholderError(f"{out_dir} exists and is not empty; publish into a new directory")


def logged_publication(
    vault: Station,
    state: audit.AuditResult,
    key: UnlockedKey,
    out_dir: Path,
    files: Mapping[str, bytes],
    *,
    counts: Mapping[str, int],
    disclosure: Mapping[str, Any],
    generated_on: str,
    write: Callable[[Path, dict[str, bytes]], dict[str, str]],
    attempt: Attempt,
) -> dict[str, str]:
    """Add the signed manifest, log the publication, then `write` the files
    (inside `publication_attempt`, which logs a failure)."""
    last = state.log.last  # the log this command verified at its start, and extended since
    if last is None:
        raise KeyholderError("the vault's audit log is empty")
    manifest = make_manifest(files, key, generated_on=generated_on, audit_seq=last.seq + 1, audit_prev=last.sha256)
    everything = {**files, MANIFEST_NAME: json.dumps(manifest, indent=1).encode("utf-8") + b"\n"}
    details = {
        "out": str(out_dir),
        "counts": dict(counts),
        "disclosure": dict(disclosure),
        "generated_on": generated_on,
        "files": {name: sha256_hex(data) for name, data in sorted(everything.items())},
    }
    entry = audit.append(vault, state, "publish", details, key)
    attempt.logged = True
    if entry.seq != manifest["audit"]["seq"]:
        raise KeyholderError("the audit log moved while the publication was prepared; nothing was written")
    return write(out_dir, everything)
