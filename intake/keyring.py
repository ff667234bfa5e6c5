"""The public key bundles an intake accepts envelopes for (`keys.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vault import InvalidKeyBundle, KeyBundle, load_bundle
from vault.custody import verify_rotation
from vault.pagetrust import pinned_signing_key

from .files import atomic_write

__all__ = ["KEYRING_FORMAT", "Keyring", "add_bundle", "load_keyring"]

KEYRING_FORMAT = "dvr-intake-keys/1"


class Keyring:
    def __init__(self, bundles: list[KeyBundle], current: str | None, rotations: list[Any] | None = None) -> None:
        self.bundles = bundles
        self.current = current
        self.kids = frozenset(b.kid for b in bundles)
        self.versions = {b.kid: b.version for b in bundles}  # the envelope version each key takes
        self.rotations = rotations or []  # the rotation statements that admitted new signing keys

    def to_api(self) -> dict[str, Any]:
        """GET /api/v1/keys: `current` and `keys` (FORMATS.md section 4), and
        `rotations`, the statements the page follows from its pinned key."""
        return {"current": self.current, "keys": [b.to_json() for b in self.bundles], "rotations": self.rotations}

    def is_companion(self, bundle: KeyBundle) -> bool:
        """Is `bundle` the version 1 companion of the current version 2 key:
        an X25519 bundle of the same epoch (the same signing key), which the
        page seals to in a browser without X-Wing (docs/registrant-page.md)?"""
        current = next((b for b in self.bundles if b.kid == self.current), None)
        return (
            current is not None
            and current.version == 2
            and bundle.version == 1
            and bundle.signing_key is not None
            and bundle.signing_key == current.signing_key
        )

    def pinned_signing_key(self) -> bytes | None:
        """The ministry signing key the page pins: from the first (root)
        bundle's signing key, through the rotation statements that verify,
        to the newest key of that chain. None when no signed key is installed."""
        root = self.bundles[0].signing_key if self.bundles else None
        return pinned_signing_key(root, self.rotations)


def load_keyring(path: Path) -> Keyring:
    if not path.exists():
        return Keyring([], None)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ValueError(f"{path} is damaged: it is not JSON") from None
    if not isinstance(obj, dict) or obj.get("format") != KEYRING_FORMAT:
        raise ValueError(f"{path} is not a {KEYRING_FORMAT} file")
    try:
        return Keyring([load_bundle(b) for b in obj["keys"]], obj["current"], obj.get("rotations", []))
    except (KeyError, TypeError):
        raise ValueError(f"{path} is damaged: a {KEYRING_FORMAT} file without its keys") from None


def _check_rotation(ring: Keyring, bundle: KeyBundle, rotation: Any) -> dict[str, Any]:
    """A rotation statement endorsed by an installed signing key, naming exactly `bundle`'s keys."""
    statement = verify_rotation(rotation)
    # An installed bundle with that kid and signing key (an epoch's companion shares its signing key).
    endorsers = {(b.signing_key, b.kid) for b in ring.bundles}
    if (statement.previous_signing_key, statement.previous_kid) not in endorsers:
        raise InvalidKeyBundle("the rotation statement is not endorsed by an installed ministry key")
    if not statement.matches(bundle):
        raise InvalidKeyBundle("the rotation statement is for another key than this bundle")
    return statement.raw


def add_bundle(
    path: Path, bundle_obj: Any, *, make_current: bool = True, rotation: Any = None
) -> tuple[KeyBundle, bool]:
    """Check a signed bundle and add it; return it and whether it was new.

    The version 1 companion of the current version 2 key (the same signing
    key) is added beside it and does not become current.

    The first bundle pins the ministry's signing key. A bundle signed by
    another signing key is accepted only with a rotation statement
    (`keyholder rotate` writes it) signed by an installed signing key; the
    statement is kept in keys.json and the new signing key is pinned too.
    """
    bundle = load_bundle(bundle_obj, require_signature=True)
    ring = load_keyring(path)
    pinned = {b.signing_key for b in ring.bundles if b.signing_key is not None}
    rotations = list(ring.rotations)
    if rotation is not None:
        statement = _check_rotation(ring, bundle, rotation)
        if statement not in rotations:
            rotations.append(statement)
    elif pinned and bundle.signing_key not in pinned:
        raise InvalidKeyBundle(
            "the key bundle is signed by a different ministry signing key than the installed keys;"
            " a rotated key needs its rotation statement (--rotation)"
        )
    existing = {b.kid: b for b in ring.bundles}
    new = bundle.kid not in existing
    if not new and existing[bundle.kid].raw != bundle.raw:
        raise InvalidKeyBundle(f"a different bundle for kid {bundle.kid} is already installed")
    bundles = ring.bundles + ([bundle] if new else [])
    make_current = make_current and not ring.is_companion(bundle)
    current = bundle.kid if make_current or ring.current is None else ring.current
    body: dict[str, Any] = {"format": KEYRING_FORMAT, "current": current, "keys": [b.to_json() for b in bundles]}
    if rotations:
        body["rotations"] = rotations
    with atomic_write(path) as out:
        out.write(json.dumps(body, indent=1).encode() + b"\n")
    return bundle, new
