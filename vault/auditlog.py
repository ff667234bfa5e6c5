"""The audit log, `dvr-audit/1`: append-only JSON lines, hash-chained and
signed with the ministry signing key (docs/formats.md, docs/key-ceremony.md).

Each line is the RFC 8785 canonical JSON of one entry:

    {"details": {...}, "format": "dvr-audit/1", "kid": "<32 hex>" | null,
     "kind": "...", "prev": "<64 hex>", "seq": n, "sig": "<b64u>" | null,
     "time": "YYYY-MM-DDTHH:MM:SSZ"}

`seq` counts from 1. `prev` is the hex SHA-256 of the previous line's bytes
(without its newline); the first entry's `prev` is 64 zeros. `sig` is an
Ed25519 signature by the signing key of epoch `kid` over the canonical JSON
of the entry without `sig`.

Trust runs forward from the first entry (`ceremony` or `init`), which names
its kid and signing key and is signed by it. From then on every signed entry
must be signed by the current key; a `rotation` entry carries the rotation
statement signed by the current key and is itself signed by the new key,
which becomes current. Entries that record a use of the key (SIGNED_KINDS)
must be signed. Others (`import`) may be written by commands that hold no
key: they are chained but unsigned, and covered by the next signed entry,
whose `prev` fixes every byte before it.

The head file, `dvr-audit-head/1`, holds the seq and hash of the last signed
entry, signed: cutting entries off the end of the log is then detected.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _primitives as p
from ._fsutil import atomic_write, fsync_dir
from .canonical import b64u_decode, b64u_encode, canonical_json, strict_json
from .errors import InvalidKeyBundle, VaultError
from .keys import KeyBundle, UnlockedKey
from .rotation import verify_rotation

__all__ = [
    "AUDIT_FORMAT",
    "GENESIS_KINDS",
    "HEAD_FORMAT",
    "SIGNED_KINDS",
    "AuditEntry",
    "AuditLogError",
    "VerifiedLog",
    "append_entry",
    "make_head",
    "new_entry",
    "verify_head",
    "verify_log",
]

AUDIT_FORMAT = "dvr-audit/1"
HEAD_FORMAT = "dvr-audit-head/1"
GENESIS_PREV = "0" * 64
GENESIS_KINDS = frozenset({"ceremony", "init"})
SIGNED_KINDS = GENESIS_KINDS | {"unlock", "publish", "publish_failed", "rotation", "rotation_failed", "sign_page"}
_MEMBERS = frozenset({"format", "seq", "time", "kind", "details", "prev", "kid", "sig"})
_HEAD_MEMBERS = frozenset({"format", "seq", "entry_sha256", "kid", "sig"})
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_KID = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")


class AuditLogError(VaultError):
    """The log (or its head) fails verification. `entry` is the 1-based
    number of the first bad entry (= its line number)."""

    def __init__(self, entry: int, message: str) -> None:
        super().__init__(f"audit log entry {entry}: {message}")
        self.entry = entry


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: str
    kind: str
    details: dict[str, Any]
    prev: str
    kid: str | None
    sig: str | None

    @property
    def signed(self) -> bool:
        return self.sig is not None

    def body(self) -> dict[str, Any]:
        """The entry without `sig`: what the signature covers."""
        return {
            "format": AUDIT_FORMAT,
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "details": self.details,
            "prev": self.prev,
            "kid": self.kid,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "sig": self.sig}

    def line(self) -> bytes:
        """The canonical JSON bytes of the entry, without the newline."""
        return canonical_json(self.to_json())

    @property
    def sha256(self) -> str:
        return p.sha256(self.line()).hex()


def _instant(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_entry(
    previous: AuditEntry | None,
    kind: str,
    details: Mapping[str, Any],
    key: UnlockedKey | None,
    *,
    now: datetime | None = None,
) -> AuditEntry:
    """The entry that follows `previous`, signed by `key` when one is given.

    The first entry must be a signed `ceremony` or `init`; its details get
    the `kid` and `signing_key` that anchor the log.
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError("an audit entry kind is a short lower-case slug")
    body = dict(details)
    canonical_json(body)  # raises on values JSON cannot carry
    if previous is None:
        if kind not in GENESIS_KINDS or key is None:
            raise ValueError("the first audit entry must be a signed ceremony or init entry")
        body = {**body, "kid": key.kid, "signing_key": b64u_encode(key.signing_key)}
    elif kind in SIGNED_KINDS and key is None:
        raise ValueError(f"a {kind} entry must be signed")
    seq = 1 if previous is None else previous.seq + 1
    prev = GENESIS_PREV if previous is None else previous.sha256
    unsigned = AuditEntry(seq, _instant(now), kind, body, prev, key.kid if key else None, None)
    if key is None:
        return unsigned
    return replace(unsigned, sig=key.sign_json(unsigned.body()))


@dataclass
class VerifiedLog:
    """A log whose every entry checked out. `signing_keys` holds each key the
    log established, by kid; `current_kid` signs the next entry."""

    entries: list[AuditEntry] = field(default_factory=list)
    signing_keys: dict[str, bytes] = field(default_factory=dict)
    current_kid: str = ""
    last_signed: int = 0

    @property
    def last(self) -> AuditEntry | None:
        return self.entries[-1] if self.entries else None

    @property
    def unsigned_tail(self) -> list[AuditEntry]:
        """Entries after the last signed one: chained, but not yet covered by any signature."""
        return self.entries[self.last_signed :]

    def add(self, entry: AuditEntry) -> None:
        """Check `entry` as the next one and keep it; raise AuditLogError."""
        n = len(self.entries) + 1
        if entry.seq != n:
            raise AuditLogError(n, f"has seq {entry.seq} where {n} was expected: entries were removed, added or moved")
        expected_prev = self.entries[-1].sha256 if self.entries else GENESIS_PREV
        if entry.prev != expected_prev:
            raise AuditLogError(
                n, "does not chain to the entry before it: an earlier entry was changed, removed or moved"
            )
        if n == 1:
            self._genesis(entry)
        elif entry.kind in GENESIS_KINDS:
            raise AuditLogError(n, f"is a second {entry.kind} entry; only the first entry may start a log")
        elif not entry.signed:
            if entry.kind in SIGNED_KINDS:
                raise AuditLogError(n, f"records a use of the key ({entry.kind}) but is not signed")
        elif entry.kind == "rotation":
            self._rotation(entry)
        else:
            self._check_sig(entry, self.current_kid)
        if entry.signed:
            self.last_signed = n
        self.entries.append(entry)

    def _check_sig(self, entry: AuditEntry, kid: str) -> None:
        if entry.kid != kid:
            raise AuditLogError(entry.seq, f"is signed by key {entry.kid}, not by the log's current key {kid}")
        try:
            signature = b64u_decode(entry.sig or "")
        except ValueError:
            raise AuditLogError(entry.seq, "has a signature that is not base64url") from None
        if not p.ed25519_verify(self.signing_keys[kid], canonical_json(entry.body()), signature):
            raise AuditLogError(entry.seq, "has a signature that does not verify: the entry was altered or forged")

    def _genesis(self, entry: AuditEntry) -> None:
        if entry.kind not in GENESIS_KINDS or not entry.signed:
            raise AuditLogError(1, "is not a signed ceremony or init entry, so the log has no anchor")
        kid, signing_key = entry.details.get("kid"), entry.details.get("signing_key")
        try:
            raw = b64u_decode(signing_key) if isinstance(signing_key, str) else b""
        except ValueError:
            raw = b""
        if not isinstance(kid, str) or kid != entry.kid or len(raw) != 32:
            raise AuditLogError(1, "does not name the kid and signing key that sign it")
        self.signing_keys[kid] = raw
        self.current_kid = kid
        self._check_sig(entry, kid)

    def _rotation(self, entry: AuditEntry) -> None:
        try:
            rotation = verify_rotation(entry.details.get("statement"), self.signing_keys[self.current_kid])
        except InvalidKeyBundle as exc:
            raise AuditLogError(entry.seq, f"is a rotation whose statement fails: {exc}") from None
        if rotation.previous_kid != self.current_kid or rotation.kid in self.signing_keys:
            raise AuditLogError(entry.seq, "is a rotation that does not start from the current key to a new one")
        self.signing_keys[rotation.kid] = rotation.signing_key
        try:
            self._check_sig(entry, rotation.kid)
        except AuditLogError:
            del self.signing_keys[rotation.kid]
            raise
        self.current_kid = rotation.kid


def _parse_line(n: int, line: bytes) -> AuditEntry:
    try:
        obj = strict_json(line)
    except ValueError as exc:
        raise AuditLogError(n, f"is not JSON ({exc}): the line was altered or damaged") from None
    if not isinstance(obj, dict) or set(obj) != _MEMBERS or obj.get("format") != AUDIT_FORMAT:
        raise AuditLogError(n, f"is not a {AUDIT_FORMAT} entry")
    try:
        canonical = canonical_json(obj)
    except ValueError:  # a number outside the range RFC 8785 can encode
        canonical = b""
    if canonical != line:
        raise AuditLogError(n, "is not in canonical form: the line was altered")
    seq, time, kind, details = obj["seq"], obj["time"], obj["kind"], obj["details"]
    prev, kid, sig = obj["prev"], obj["kid"], obj["sig"]
    if type(seq) is not int or not isinstance(time, str) or not _INSTANT.fullmatch(time):
        raise AuditLogError(n, "has a malformed seq or time")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind) or not isinstance(details, dict):
        raise AuditLogError(n, "has a malformed kind or details")
    if not isinstance(prev, str) or not _HEX64.fullmatch(prev):
        raise AuditLogError(n, "has a malformed prev hash")
    if (kid is None) != (sig is None) or (kid is not None and (not isinstance(kid, str) or not _KID.fullmatch(kid))):
        raise AuditLogError(n, "has a malformed kid or sig")
    if sig is not None and not isinstance(sig, str):
        raise AuditLogError(n, "has a malformed sig")
    return AuditEntry(seq, time, kind, details, prev, kid, sig)


def verify_log(data: bytes, *, anchor: KeyBundle | None = None) -> VerifiedLog:
    """Check every entry of a log file's bytes; raise AuditLogError at the first bad one.

    With `anchor` (a signed key bundle the verifier trusts), the log must
    establish that bundle's kid with that signing key, so a log made up from
    scratch under another key fails.
    """
    if not isinstance(data, bytes):
        raise TypeError("the log must be bytes")
    if not data:
        raise AuditLogError(1, "is missing: the log is empty")
    lines = data.split(b"\n")
    if lines[-1] != b"":
        raise AuditLogError(len(lines), "is incomplete (no final newline): the log was cut or a write was torn")
    log = VerifiedLog()
    for n, line in enumerate(lines[:-1], start=1):
        log.add(_parse_line(n, line))
    if anchor is not None:
        if anchor.signing_key is None:
            raise InvalidKeyBundle("the trusted key bundle is not signed")
        if log.signing_keys.get(anchor.kid) != anchor.signing_key:
            raise AuditLogError(
                len(log.entries) + 1,
                f"is missing: the log ends without establishing the trusted key {anchor.kid}; it was cut short"
                " before the rotation to that key, or it was written under another key",
            )
    return log


def make_head(entry: AuditEntry, key: UnlockedKey) -> dict[str, Any]:
    """The signed head naming `entry` as the log's last signed entry."""
    unsigned = {"format": HEAD_FORMAT, "seq": entry.seq, "entry_sha256": entry.sha256, "kid": key.kid}
    return {**unsigned, "sig": key.sign_json(unsigned)}


def verify_head(head: Any, log: VerifiedLog) -> int:
    """Check the head against the verified log; return the seq it names.

    Raises AuditLogError if the head is forged or if the log lacks or
    changed the entry it names (the log was truncated or rolled back).
    """
    if not isinstance(head, dict) or set(head) != _HEAD_MEMBERS or head.get("format") != HEAD_FORMAT:
        raise AuditLogError(len(log.entries) + 1, f"the log's head file is not a {HEAD_FORMAT} object")
    seq, kid = head["seq"], head["kid"]
    if type(seq) is not int or seq < 1 or not isinstance(kid, str) or kid not in log.signing_keys:
        raise AuditLogError(len(log.entries) + 1, "the log's head file names an unknown key or a bad seq")
    unsigned = {k: v for k, v in head.items() if k != "sig"}
    try:
        signature = b64u_decode(head["sig"])
    except (TypeError, ValueError):
        signature = b""
    if not p.ed25519_verify(log.signing_keys[kid], canonical_json(unsigned), signature):
        raise AuditLogError(min(seq, len(log.entries) + 1), "the log's head file has a signature that does not verify")
    if seq > len(log.entries):
        raise AuditLogError(
            len(log.entries) + 1,
            f"is missing: the signed head records {seq} entries but the log ends after {len(log.entries)} (truncated)",
        )
    if log.entries[seq - 1].sha256 != head["entry_sha256"]:
        raise AuditLogError(seq, "differs from the entry the signed head records: the log was rewritten")
    return seq


def append_entry(
    path: Path,
    kind: str,
    details: Mapping[str, Any],
    key: UnlockedKey | None,
    *,
    head_path: Path | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Verify the log at `path`, append one entry, and flush and fsync the
    file and its directory before returning. A signed entry also rewrites
    the head file at `head_path`. The first entry creates the log.

    Refuses (AuditLogError) to extend a log that does not verify.
    """
    path = Path(path)
    create = os.O_CREAT if kind in GENESIS_KINDS else 0
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | create, 0o644)
    except FileNotFoundError:
        raise AuditLogError(1, f"is missing: there is no audit log at {path}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as src:
            data = src.read()
        log = verify_log(data) if data else VerifiedLog()
        entry = new_entry(log.last, kind, details, key, now=now)
        log.add(entry)  # the same checks a verifier will make
        line = entry.line() + b"\n"
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError:
            # A full disk can take part of the line: cut the log back to its
            # last whole entry, so it still verifies, and report the error.
            os.ftruncate(fd, len(data))
            with suppress(OSError):
                os.fsync(fd)
            raise
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    if head_path is not None and key is not None:
        with atomic_write(Path(head_path)) as out:
            out.write(json.dumps(make_head(entry, key), indent=1).encode("utf-8") + b"\n")
    return entry
