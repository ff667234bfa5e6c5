"""The vault's audit log on the workstation: appending entries, verifying
the log with its signed head, and checking a publication against it.

Verification never writes. A command verifies once, at its start
(`resume`, which also finishes a rotation a stop left half-done: the one
repair, and an explicit step), and hands the verified state (`AuditResult`)
to every `append`, which extends it.

The log format and its rules are `vault.auditlog`'s; this module adds what
depends on the vault directory: the head file `V/audit.head`, the current
key bundle as the trust anchor, and the import history in the database that
unsigned `import` entries must agree with before a signature covers them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault import InvalidSignature, KeyBundle, UnlockedKey, load_bundle
from vault.audit import (
    MANIFEST_NAME,
    AuditEntry,
    AuditLogError,
    InvalidManifest,
    VerifiedLog,
    verify_head,
    verify_log,
    verify_manifest,
)
from vault.audit import append_entry as _append
from vault.canonical import strict_json

from .errors import KeyholderError
from .shareio import read_json
from .station import ROTATION_NAME, Station, write_json

__all__ = [
    "AuditResult",
    "PublicationMismatch",
    "append",
    "check_publication",
    "finish_rotation",
    "finished_rotation_message",
    "resume",
    "start_log",
    "verify_copies",
    "verify_vault",
]


class PublicationMismatch(KeyholderError):
    """A publication whose files or manifest disagree with the audit log."""


@dataclass
class AuditResult:
    """A verified log, the bundle it was checked against, and what to tell the officer."""

    log: VerifiedLog
    anchor: KeyBundle
    warnings: list[str] = field(default_factory=list)
    pending_rotation: KeyBundle | None = None  # logged, but its bundle is not yet the vault's current one
    finished_rotation: str | None = None  # the kid `finish_rotation` made current


def start_log(vault: Station, kind: str, key: UnlockedKey, details: Mapping[str, Any]) -> AuditEntry:
    """Write the first, signed entry of a new vault's log (`ceremony` or `init`)."""
    if vault.audit_path.exists() and vault.audit_path.stat().st_size > 0:
        raise KeyholderError(f"{vault.audit_path} already exists; refusing to start a second log")
    return _append(vault.audit_path, kind, details, key, head_path=vault.audit_head_path)


def append(
    vault: Station, state: AuditResult, kind: str, details: Mapping[str, Any], key: UnlockedKey | None = None
) -> AuditEntry:
    """Append an entry to the vault's log, fsynced before this returns, and add it to `state`.

    `state` is the command's verified log (`resume`): a log that changed
    since is refused (the entry would not follow `state`'s last one). Before
    a signed entry covers the unsigned ones before it, each unsigned
    `import` entry must match the vault's import history.
    """
    if state.pending_rotation is not None:
        raise KeyholderError("the vault's last rotation is not finished; `audit.resume` finishes it first")
    if key is not None:
        if key.kid != state.log.current_kid and kind != "rotation":
            raise KeyholderError(f"the audit log's current key is {state.log.current_kid}, not {key.kid}")
        _check_unsigned_imports(vault, state.log)
    last = state.log.last
    if last is None or _last_line_sha256(vault.audit_path) != last.sha256:
        moved = "was written by another command since this one verified the log"
        raise AuditLogError(len(state.log.entries) + 1, moved)
    entry = _append(vault.audit_path, kind, details, key, head_path=vault.audit_head_path if key else None)
    state.log.add(entry)
    return entry


def _last_line_sha256(path: Path) -> str:
    """The SHA-256 of the log file's last line, as `AuditEntry.sha256` (no verification)."""
    return hashlib.sha256(_read_log(path).rstrip(b"\n").rsplit(b"\n", 1)[-1]).hexdigest()


def _import_rows(vault: Station) -> set[tuple[str, int, int, int]]:
    if not vault.db_path.exists():
        return set()
    conn = vault.connect_read_only()
    try:
        rows = conn.execute("SELECT batch_sha256, first_seq, last_seq, new_envelopes FROM imports").fetchall()
    finally:
        conn.close()
    return {(str(a), int(b), int(c), int(d)) for a, b, c, d in rows}


def _import_key(entry: AuditEntry) -> tuple[str, int, int, int] | None:
    d = entry.details
    try:
        return (str(d["batch_sha256"]), int(d["first_seq"]), int(d["last_seq"]), int(d["new"]))
    except (KeyError, TypeError, ValueError):
        return None


def _check_unsigned_imports(vault: Station, log: VerifiedLog) -> None:
    rows = _import_rows(vault)
    for entry in log.unsigned_tail:
        if entry.kind == "import" and _import_key(entry) not in rows:
            raise AuditLogError(
                entry.seq,
                "is an unsigned import entry that matches no import in the vault's history; refusing to sign over it",
            )


def _read_log(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AuditLogError(1, f"is missing: there is no audit log at {path}") from None


def verify_vault(vault: Station) -> AuditResult:
    """Verify the vault's log against its current bundle and its signed head; write nothing.

    A rotation whose signed entry reached the log but whose bundle never
    became current (`keyholder rotate` stopped between the two) verifies
    against the new epoch's bundle and is left in `pending_rotation`, for
    `finish_rotation`; any other disagreement between log and bundle is refused."""
    anchor = load_bundle(read_json(vault.require().bundle_path), require_signature=True)
    data = _read_log(vault.audit_path)
    log = verify_log(data, anchor=anchor)
    pending = _pending_rotation(vault, log) if log.current_kid != anchor.kid else None
    result = AuditResult(log, pending or anchor, pending_rotation=pending)
    try:
        head = strict_json(vault.audit_head_path.read_bytes())
    except FileNotFoundError:
        raise AuditLogError(len(log.entries) + 1, "the log's signed head file audit.head is missing") from None
    except ValueError:
        head = None
    seq = verify_head(head, log)
    if seq < log.last_signed:
        result.warnings.append(f"the signed head names entry {seq}, not the last signed entry {log.last_signed}")
    if log.current_kid != result.anchor.kid:
        raise AuditLogError(
            len(log.entries),
            f"the log's current key is {log.current_kid}, but the vault's current bundle is {anchor.kid}",
        )
    logged = {k for e in log.entries if e.kind == "import" and (k := _import_key(e)) is not None}
    for row in sorted(_import_rows(vault) - logged):
        if row[3] > 0:
            result.warnings.append(f"the vault holds an import (seq {row[1]}..{row[2]}) that the log does not record")
    _warn_unsigned_tail(result)
    return result


def resume(vault: Station) -> AuditResult:
    """The start of every command that uses the vault's log: verify it once,
    and finish a rotation a stop left half-done (`finish_rotation`)."""
    result = verify_vault(vault)
    if result.pending_rotation is not None:
        finish_rotation(vault, result)
    return result


def finished_rotation_message(vault: Station, kid: str) -> str:
    return (
        f"finished the rotation to key {kid}, which was logged but stopped before its bundle became"
        f" current; carry {vault.bundle_path} and {vault.rotation_path} to the intake server"
    )


def _pending_rotation(vault: Station, log: VerifiedLog) -> KeyBundle | None:
    """The bundle of a logged rotation that never became current, or None.

    `keyholder rotate` logs the signed `rotation` entry, then writes the
    statement's copy and the new bundle. A full disk or a power cut between
    the two leaves a log whose current key is not the vault's bundle. When
    the log's last entry is that rotation, and the new epoch's files are the
    ones it names (the log verified the old key's signature over the
    hand-over and establishes this bundle's signing key), the rotation can
    be finished."""
    last = log.entries[-1]
    if last.kind != "rotation" or last.kid != log.current_kid:
        return None
    epoch = vault.epoch_dir(log.current_kid)
    try:
        bundle = load_bundle(read_json(epoch / "bundle.json"), require_signature=True)
        statement = read_json(epoch / ROTATION_NAME)
    except (OSError, ValueError, KeyholderError):
        return None
    if bundle.kid != log.current_kid or statement != last.details.get("statement"):
        return None
    if log.signing_keys.get(bundle.kid) != bundle.signing_key:
        return None
    return bundle


def finish_rotation(vault: Station, result: AuditResult) -> None:
    """Write the statement's copy and the bundle of `result.pending_rotation`,
    as the rotation would have written them, and record it in `result`."""
    bundle = result.pending_rotation
    if bundle is None:
        return
    write_json(vault.rotation_path, read_json(vault.epoch_dir(bundle.kid) / ROTATION_NAME))
    vault.make_current(bundle)
    result.pending_rotation = None
    result.finished_rotation = bundle.kid
    result.warnings.insert(0, finished_rotation_message(vault, bundle.kid))


def verify_copies(log_path: Path, bundle_path: Path, head_file: Path | None = None) -> AuditResult:
    """Verify a copy of a log against a copy of a key bundle the auditor trusts."""
    try:
        anchor = load_bundle(strict_json(bundle_path.read_bytes()), require_signature=True)
    except ValueError as exc:
        raise KeyholderError(f"{bundle_path} is not a signed key bundle: {exc}") from None
    log = verify_log(_read_log(log_path), anchor=anchor)
    result = AuditResult(log, anchor)
    if head_file is not None:
        try:
            head = strict_json(head_file.read_bytes())
        except ValueError:
            head = None
        verify_head(head, log)
    _warn_unsigned_tail(result)
    return result


def _warn_unsigned_tail(result: AuditResult) -> None:
    tail = result.log.unsigned_tail
    if tail:
        kinds = ", ".join(sorted({e.kind for e in tail}))
        result.warnings.append(
            f"entries {tail[0].seq}..{tail[-1].seq} ({kinds}) are not yet covered by a signature: they are chained but"
            " anyone with write access could have written them; the next unlock signs over them"
        )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_publication(log: VerifiedLog, pub_dir: Path) -> AuditEntry:
    """Check a publication directory against the log: the manifest's
    signature, the publish entry it names, and every file's SHA-256.
    Return the publish entry; raise PublicationMismatch or AuditLogError."""
    try:
        obj = strict_json((pub_dir / MANIFEST_NAME).read_bytes())
    except FileNotFoundError:
        raise PublicationMismatch(f"{pub_dir} has no {MANIFEST_NAME}") from None
    except ValueError:
        raise PublicationMismatch(f"{pub_dir / MANIFEST_NAME} is not JSON") from None
    kid = obj.get("kid") if isinstance(obj, dict) else None
    if not isinstance(kid, str) or kid not in log.signing_keys:
        raise PublicationMismatch(f"{MANIFEST_NAME} is signed by a key the audit log does not know")
    try:
        manifest = verify_manifest(obj, log.signing_keys[kid])
    except (InvalidManifest, InvalidSignature) as exc:
        raise PublicationMismatch(f"{MANIFEST_NAME}: {exc}") from None
    if not 1 <= manifest.audit_seq <= len(log.entries):
        raise AuditLogError(
            len(log.entries) + 1,
            f"is missing: the publication's manifest names entry {manifest.audit_seq} but the log ends after"
            f" {len(log.entries)} (truncated)",
        )
    entry = log.entries[manifest.audit_seq - 1]
    if entry.kind != "publish" or entry.prev != manifest.audit_prev or entry.kid != manifest.kid:
        raise AuditLogError(entry.seq, "is not the publish entry the publication's manifest names")
    logged = entry.details.get("files")
    if not isinstance(logged, dict):
        raise AuditLogError(entry.seq, "is a publish entry without its file hashes")
    on_disk = {p.name for p in pub_dir.iterdir() if p.is_file()}
    where = f"audit entry {entry.seq}"
    for name in sorted(on_disk | set(logged)):
        if name not in logged:
            raise PublicationMismatch(f"publication file {name} is not among the files logged in {where}")
        if name not in on_disk:
            raise PublicationMismatch(f"publication file {name}, logged in {where}, is missing")
        if _sha256_file(pub_dir / name) != logged[name]:
            raise PublicationMismatch(f"publication file {name} does not match the SHA-256 logged in {where}")
    if manifest.files != {k: v for k, v in logged.items() if k != MANIFEST_NAME}:
        raise PublicationMismatch(f"{MANIFEST_NAME} lists other files than audit entry {entry.seq} logged")
    return entry
