"""What lets a registrant's page, and an auditor, trust the ministry's key
rather than the intake's operator (docs/registrant-page.md, docs/formats.md
section 9).

- The pin asset, `/assets/ministry-key.js`: an ES module naming the
  ministry's Ed25519 signing key the page trusts. It is a pure function of
  the key, so the ministry can compute the very bytes the intake must serve.
- The signed static manifest, `dvr-static-manifest/1`: a signed note
  (c2sp.org/signed-note, `vault.note`) whose text lists the SHA-256 of every
  page and asset the intake serves, signed with the ministry signing key.
- The fingerprint of a signing key, which the ministry publishes out of band:
  hex SHA-256 of the raw 32-byte key, first 16 bytes, in groups of four.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode
from .errors import InvalidKeyBundle
from .keys import UnlockedKey
from .note import InvalidNote, NoteSigner, NoteVerifier, open_note, sign_note
from .rotation import verify_rotation

__all__ = [
    "PAGE_MANIFEST_FORMAT",
    "PAGE_NOTE_KEY_NAME",
    "PIN_PATH",
    "open_page_manifest",
    "page_manifest_text",
    "parse_page_manifest",
    "pin_asset",
    "pinned_key_from_asset",
    "pinned_signing_key",
    "sign_page_manifest",
    "signing_key_fingerprint",
]

PAGE_MANIFEST_FORMAT = "dvr-static-manifest/1"
PAGE_NOTE_KEY_NAME = "dvr-ministry"  # the signed note's key name (its key is the ministry signing key)
PIN_PATH = "/assets/ministry-key.js"
_ENTRY = re.compile(r"([0-9a-f]{64}) (/[\x21-\x7e]*)")


def signing_key_fingerprint(signing_key: bytes) -> str:
    """`xxxx xxxx …`: hex SHA-256 of the raw key, first 16 bytes, in eight groups of four."""
    _check_key(signing_key)
    digest = p.sha256(signing_key)[:16].hex()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def _check_key(signing_key: bytes) -> None:
    if not isinstance(signing_key, bytes):
        raise TypeError("a signing key is bytes")
    if len(signing_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")


def pin_asset(signing_key: bytes | None) -> bytes:
    """The bytes of `/assets/ministry-key.js` for `signing_key` (None: no key installed)."""
    if signing_key is None:
        return (
            b"// No ministry key was installed when this intake started: the page trusts no key and seals nothing.\n"
            b"export const MINISTRY_SIGNING_KEY = null;\n"
        )
    _check_key(signing_key)
    return (
        f"// The ministry signing key this page trusts; fingerprint {signing_key_fingerprint(signing_key)}\n"
        f'export const MINISTRY_SIGNING_KEY = "{b64u_encode(signing_key)}";\n'
    ).encode("ascii")


def pinned_signing_key(root_signing_key: bytes | None, rotations: Iterable[Any]) -> bytes | None:
    """The newest signing key reached from `root_signing_key` through the
    rotation statements that verify (each under the key before it)."""
    if root_signing_key is None:
        return None
    pool = list(rotations)
    current, seen = root_signing_key, {root_signing_key}
    while True:
        for statement in pool:
            try:
                rotation = verify_rotation(statement, current)
            except InvalidKeyBundle:
                continue
            if rotation.signing_key not in seen:
                current = rotation.signing_key
                seen.add(current)
                break
        else:
            return current


def page_manifest_text(files: Mapping[str, str]) -> str:
    """The note text: the format line, then `<sha256 hex> <path>` per file, sorted by path."""
    if not files:
        raise ValueError("a static manifest lists at least one file")
    lines = [f"{digest} {path}" for path, digest in sorted(files.items())]
    for line in lines:
        if not _ENTRY.fullmatch(line):
            raise ValueError(f"not a manifest entry (64 hex, a space, an absolute ASCII path): {line!r}")
    return PAGE_MANIFEST_FORMAT + "\n" + "".join(line + "\n" for line in lines)


def parse_page_manifest(text: str) -> dict[str, str]:
    """The files of a manifest text, path -> hex SHA-256; raise InvalidNote."""
    if not isinstance(text, str):
        raise TypeError("a manifest is a str")
    if not text.endswith("\n"):
        raise InvalidNote("a static manifest ends in a newline")
    first, *lines = text[:-1].split("\n")
    if first != PAGE_MANIFEST_FORMAT:
        raise InvalidNote(f"not a {PAGE_MANIFEST_FORMAT} manifest")
    if not lines:
        raise InvalidNote("the static manifest lists no file")
    files: dict[str, str] = {}
    for line in lines:
        match = _ENTRY.fullmatch(line)
        if not match:
            raise InvalidNote(f"the static manifest has a malformed line: {line[:80]!r}")
        digest, path = match.groups()
        if path in files:
            raise InvalidNote(f"the static manifest lists {path} twice")
        files[path] = digest
    if list(files) != sorted(files):
        raise InvalidNote("the static manifest's lines are not sorted by path")
    return files


def _verifier(signing_key: bytes) -> NoteVerifier:
    _check_key(signing_key)
    return NoteVerifier(PAGE_NOTE_KEY_NAME, signing_key)


def sign_page_manifest(text: str, key: UnlockedKey) -> str:
    """The signed note of a manifest text, signed with `key`'s signing key."""
    parse_page_manifest(text)
    _hpke, seed = key.private_bytes()
    return sign_note(text, NoteSigner(PAGE_NOTE_KEY_NAME, seed))


def open_page_manifest(note: str, signing_key: bytes) -> dict[str, str]:
    """Verify a signed manifest under `signing_key` and return its files.

    Raises InvalidSignature if it is not signed by that key, InvalidNote if malformed."""
    return parse_page_manifest(open_note(note, _verifier(signing_key)))


def pinned_key_from_asset(data: bytes) -> bytes | None:
    """Read the key back out of a pin asset, only if the bytes are exactly `pin_asset`'s."""
    match = re.search(rb'MINISTRY_SIGNING_KEY = "([A-Za-z0-9_-]{43})";', data)
    if match is None:
        return None
    try:
        key = b64u_decode(match.group(1).decode("ascii"))
    except ValueError:
        return None
    return key if len(key) == 32 and pin_asset(key) == data else None
