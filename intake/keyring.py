"""The public key bundles an intake accepts envelopes for (`keys.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vault import InvalidKeyBundle, KeyBundle, load_bundle

from vault.fsutil import atomic_write

__all__ = ["KEYRING_FORMAT", "Keyring", "add_bundle", "load_keyring"]

KEYRING_FORMAT = "dvr-intake-keys/1"


class Keyring:
    def __init__(self, bundles: list[KeyBundle], current: str | None) -> None:
        self.bundles = bundles
        self.current = current
        self.kids = frozenset(b.kid for b in bundles)

    def to_api(self) -> dict[str, Any]:
        return {"current": self.current, "keys": [b.to_json() for b in self.bundles]}


def load_keyring(path: Path) -> Keyring:
    if not path.exists():
        return Keyring([], None)
    obj = json.loads(path.read_text(encoding="utf-8"))
    if obj.get("format") != KEYRING_FORMAT:
        raise ValueError(f"{path} is not a {KEYRING_FORMAT} file")
    return Keyring([load_bundle(b) for b in obj["keys"]], obj["current"])


def add_bundle(path: Path, bundle_obj: Any, *, make_current: bool = True) -> tuple[KeyBundle, bool]:
    """Check a bundle and add it; return it and whether it was new.

    A bundle signed by a different signing key than the bundles already
    installed is refused: the first signed bundle pins the ministry's key.
    """
    bundle = load_bundle(bundle_obj)
    ring = load_keyring(path)
    pinned = {b.signing_key for b in ring.bundles if b.signing_key is not None}
    if bundle.signing_key is not None and pinned and bundle.signing_key not in pinned:
        raise InvalidKeyBundle("the key bundle is signed by a different ministry signing key than the installed keys")
    existing = {b.kid: b for b in ring.bundles}
    new = bundle.kid not in existing
    if not new and existing[bundle.kid].raw != bundle.raw:
        raise InvalidKeyBundle(f"a different bundle for kid {bundle.kid} is already installed")
    bundles = ring.bundles + ([bundle] if new else [])
    current = bundle.kid if make_current or ring.current is None else ring.current
    body = {"format": KEYRING_FORMAT, "current": current, "keys": [b.to_json() for b in bundles]}
    with atomic_write(path) as out:
        out.write(json.dumps(body, indent=1).encode() + b"\n")
    return bundle, new
