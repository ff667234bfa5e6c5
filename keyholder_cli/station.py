"""The workstation's directory, `Station` (the `--vault DIR` of every command;
not to be confused with the `vault` package, the cryptographic core), as in
docs/formats.md:

    V/key-bundle.json            the current public key bundle (to carry to the intake)
    V/key-bundle-v1.json         its version 1 companion, when the current key is of version 2
    V/epochs/<kid>/bundle.json   every key epoch's public bundle
    V/epochs/<kid>/bundle-v1.json  a version 2 epoch's version 1 companion (docs/formats.md)
    V/epochs/<kid>/keyfile.json  passphrase custody of that epoch's master secret
    V/envelopes.sqlite           imported envelopes, still sealed, and the import history
    V/audit.log                  the signed, hash-chained log of every key use

Nothing in it is plaintext registration data.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import KeyBundle, UnlockedKey, derive_keys, load_bundle
from vault.canonical import strict_json

from .errors import KeyholderError, VaultNotFound
from .files import atomic_write

__all__ = [
    "COMPANION_NAME",
    "NEW_KEY_VERSION",
    "ROTATION_NAME",
    "Station",
    "atomic_write",
    "epoch_bundles",
    "write_json",
]

ROTATION_NAME = "rotation.json"  # an epoch's rotation statement, in its directory
# A version 2 (X-Wing) epoch also publishes the version 1 (X25519) key of the
# same master secret, signed by the same signing key: the page seals to it,
# with a notice, in a browser without X-Wing (docs/registrant-page.md).
COMPANION_NAME = "bundle-v1.json"
NEW_KEY_VERSION = 2  # new epochs (init, ceremony, rotate) unless --key-version says otherwise


def epoch_bundles(master: bytes, key: UnlockedKey) -> dict[str, KeyBundle]:
    """The public bundles an epoch's directory holds, by file name: its own,
    and for a version 2 key the version 1 companion."""
    out = {"bundle.json": key.bundle()}
    if key.version == 2:
        out[COMPANION_NAME] = derive_keys(master, 1).bundle()
    return out


_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    seq INTEGER PRIMARY KEY,
    received_on TEXT NOT NULL,
    kid TEXT NOT NULL,
    ct BLOB NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY,
    batch_sha256 TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    new_envelopes INTEGER NOT NULL,
    imported_on TEXT NOT NULL
);
"""


def write_json(dest: Path, obj: Any, mode: int = 0o644) -> None:
    with atomic_write(dest, mode) as out:
        out.write(json.dumps(obj, indent=1, ensure_ascii=False).encode("utf-8") + b"\n")


def _read_json(path: Path) -> Any:
    try:
        return strict_json(path.read_bytes())
    except ValueError as exc:
        raise KeyholderError(f"{path} is not a readable JSON file ({exc}): it was damaged or altered") from None


@dataclass(frozen=True)
class Station:
    root: Path

    @property
    def bundle_path(self) -> Path:
        return self.root / "key-bundle.json"

    @property
    def db_path(self) -> Path:
        return self.root / "envelopes.sqlite"

    @property
    def audit_path(self) -> Path:
        return self.root / "audit.log"

    @property
    def audit_head_path(self) -> Path:
        """The signed head of the audit log (its last signed entry)."""
        return self.root / "audit.head"

    @property
    def companion_path(self) -> Path:
        """The current epoch's version 1 companion bundle, carried to the intake with the bundle."""
        return self.root / "key-bundle-v1.json"

    def make_current(self, bundle: KeyBundle) -> None:
        """Write `bundle` as the current one, with its epoch's companion beside it (or none)."""
        companion = self.epoch_dir(bundle.kid) / COMPANION_NAME
        if companion.exists():
            write_json(self.companion_path, _read_json(companion))
        else:
            self.companion_path.unlink(missing_ok=True)
        write_json(self.bundle_path, bundle.to_json())

    @property
    def rotation_path(self) -> Path:
        """The latest rotation statement's copy, carried to the intake with the bundle."""
        return self.root / "key-rotation.json"

    def epoch_dir(self, kid: str) -> Path:
        return self.root / "epochs" / kid

    def exists(self) -> bool:
        return self.bundle_path.exists()

    @contextmanager
    def making(self, kid: str) -> Iterator[None]:
        """Around the writes of `init` and `ceremony`, which make a vault in a
        directory that holds none: if one fails part-way (a full disk), remove
        what the command wrote, so that it can simply be run again."""
        if self.exists() or (self.audit_path.exists() and self.audit_path.stat().st_size > 0):
            raise KeyholderError(f"{self.root} already holds a vault; refusing to overwrite it")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            yield
        except BaseException as exc:
            for path in (self.bundle_path, self.companion_path, self.audit_path, self.audit_head_path):
                path.unlink(missing_ok=True)
            shutil.rmtree(self.epoch_dir(kid), ignore_errors=True)
            with suppress(OSError):
                (self.root / "epochs").rmdir()  # only if no other epoch is there
            if isinstance(exc, OSError):
                raise KeyholderError(
                    f"could not write the new vault in {self.root} ({exc.strerror or exc}); nothing of it was kept"
                ) from None
            raise

    def require(self) -> Station:
        if not self.exists():
            raise VaultNotFound(
                f"{self.root} is not a vault (no key-bundle.json); run `keyholder init` or `keyholder ceremony`"
            )
        return self

    def current_bundle(self) -> KeyBundle:
        return load_bundle(_read_json(self.require().bundle_path))

    def bundles(self) -> dict[str, KeyBundle]:
        """Every key epoch's bundle, and every companion bundle, by kid."""
        out = {}
        for name in ("bundle.json", COMPANION_NAME):
            for path in sorted((self.root / "epochs").glob(f"*/{name}")):
                bundle = load_bundle(_read_json(path))
                out[bundle.kid] = bundle
        return out

    def companion_key(self, master: bytes, key: UnlockedKey) -> UnlockedKey | None:
        """The version 1 companion of the epoch of `key` (its master secret
        `master`), if the epoch has one; KeyholderError if it does not match."""
        path = self.epoch_dir(key.kid) / COMPANION_NAME
        if not path.exists():
            return None
        companion = derive_keys(master, 1)
        bundle = load_bundle(_read_json(path), require_signature=True)
        if bundle.public_key != companion.public_key or bundle.signing_key != key.signing_key:
            raise KeyholderError(f"the companion bundle {path} is not that of epoch {key.kid}")
        return companion

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        # Large pages for a new database (a no-op for an existing one): the
        # vault is written in whole batches and read in seq order, and 64 KiB
        # pages make a 100k-envelope import write a sixteenth of the WAL
        # frames (docs/performance.md: import 12% faster, publish 5%).
        conn.execute("PRAGMA page_size=65536")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        return conn

    def connect_read_only(self) -> sqlite3.Connection:
        """The database for reading only (verification): no schema, no pragma,
        and SQLite refuses any write. Without a write-ahead log beside it (a
        database closed cleanly) the file is the whole database, opened as
        immutable so that not even SQLite's shared-memory index is made."""
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        return sqlite3.connect(f"{self.db_path.resolve().as_uri()}?{flags}", uri=True, check_same_thread=False)

    def arrivals_by_day(self) -> dict[str, int]:
        """How many envelopes arrived on each day (the only time the intake keeps)."""
        if not self.db_path.exists():
            return {}
        conn = self.connect()
        try:
            rows = conn.execute("SELECT received_on, COUNT(*) FROM envelopes GROUP BY received_on").fetchall()
        finally:
            conn.close()
        return {str(day): int(n) for day, n in rows}

    def envelope_count(self) -> int:
        if not self.db_path.exists():
            return 0
        conn = self.connect()
        try:
            # Seqs run from 1 without a gap: the highest is the count, read
            # from the rowid index instead of scanning every ciphertext.
            return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM envelopes").fetchone()[0])
        finally:
            conn.close()
