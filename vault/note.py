"""Signed notes (c2sp.org/signed-note) with Ed25519, and transparency-log
checkpoints (c2sp.org/tlog-checkpoint), byte-compatible with the Go
`golang.org/x/mod/sumdb/note` package and the tlog tools built on it.

    note        = text "\\n" signature-line+
    signature   = "\u2014 " key-name " " base64(key-id[4] || ed25519-signature[64]) "\\n"
    key-id      = SHA-256(key-name || 0x0A || 0x01 || public-key)[:4]
    verifier    = key-name "+" hex(key-id) "+" base64(0x01 || public-key)
    signer key  = "PRIVATE+KEY+" key-name "+" hex(key-id) "+" base64(0x01 || seed)
    checkpoint  = origin "\\n" tree-size "\\n" base64(root-hash) "\\n" extension-line*
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from functools import cached_property

from . import _primitives as p
from .errors import InvalidSignature, VaultError

__all__ = [
    "Checkpoint",
    "InvalidNote",
    "NoteSigner",
    "NoteVerifier",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
]

ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "
_MAX_SIGNATURES = 100
_MAX_NOTE = 1 << 20
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class InvalidNote(VaultError):
    """A signed note, key or checkpoint that is malformed."""


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4) with padding; one text per value."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InvalidNote("not standard base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidNote("not the canonical base64 encoding")
    return data


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise TypeError("a key name must be a str")
    if not name or "+" in name or any(c.isspace() or ord(c) < 0x20 for c in name):
        raise InvalidNote(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    _check_name(name)
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return p.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key)[:4]


def _split_key(text: str, parts: int, what: str) -> list[str]:
    if not isinstance(text, str):
        raise TypeError(f"a {what} must be a str")
    fields = text.split("+", parts - 1)
    if len(fields) != parts:
        raise InvalidNote(f"malformed {what}")
    return fields


def _key_material(name: str, hex_id: str, encoded: str, what: str) -> bytes:
    _check_name(name)
    if not _HEX8.fullmatch(hex_id):
        raise InvalidNote(f"malformed {what}: the key ID is not 8 lowercase hex digits")
    raw = _b64decode(encoded)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise InvalidNote(f"malformed {what}: not an Ed25519 key")
    return raw[1:]


@dataclass(frozen=True)
class NoteVerifier:
    """A public key that verifies notes: its name, key ID and Ed25519 key."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Parse `<name>+<hex key ID>+<base64(0x01 || key)>`."""
        name, hex_id, encoded = _split_key(text, 3, "verifier key")
        public = _key_material(name, hex_id, encoded, "verifier key")
        verifier = cls(name, public)
        if verifier.key_id.hex() != hex_id:
            raise InvalidNote("malformed verifier key: its key ID does not match its name and key")
        return verifier

    def encode(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def __str__(self) -> str:
        return self.encode()


@dataclass(frozen=True)
class NoteSigner:
    """A private key that signs notes. Its text form is for a 0600 file only."""

    name: str
    _seed: bytes = field(repr=False)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        _check_name(name)
        return cls(name, p.random_bytes(32))

    @classmethod
    def parse(cls, text: str) -> NoteSigner:
        """Parse `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`."""
        private, key, name, hex_id, encoded = _split_key(text.strip(), 5, "signer key")
        if (private, key) != ("PRIVATE", "KEY"):
            raise InvalidNote("malformed signer key: it does not start with PRIVATE+KEY+")
        signer = cls(name, _key_material(name, hex_id, encoded, "signer key"))
        if signer.verifier().key_id.hex() != hex_id:
            raise InvalidNote("malformed signer key: its key ID does not match its name and key")
        return signer

    def encode(self) -> str:
        v = self.verifier()
        return f"PRIVATE+KEY+{self.name}+{v.key_id.hex()}+{_b64encode(bytes([ALG_ED25519]) + self._seed)}"

    def verifier(self) -> NoteVerifier:
        return self._verifier

    # Derived once: the intake signs a checkpoint per group commit, inside
    # the commit, and each derivation is a scalar multiplication.
    @cached_property
    def _verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, p.ed25519_public(self._seed))

    @cached_property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    @cached_property
    def _sign(self) -> p.Signer:
        return p.ed25519_signer(self._seed)

    def sign(self, message: bytes) -> bytes:
        return self._sign(message)


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"a {what} must be a str")
    if len(text) > _MAX_NOTE:
        raise InvalidNote(f"the {what} is too long")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise InvalidNote(f"the {what} contains a control character")


def sign_note(text: str, signer: NoteSigner) -> str:
    """Return the signed note: `text`, a blank line, and one signature line."""
    _check_text(text, "note text")
    if not text.endswith("\n"):
        raise InvalidNote("a note's text must end in a newline")
    signature = signer.key_id + signer.sign(text.encode("utf-8"))
    return f"{text}\n{_SIG_PREFIX}{signer.name} {_b64encode(signature)}\n"


def open_note(note: str, verifier: NoteVerifier) -> str:
    """Return the text of `note` once `verifier`'s signature on it checks out.

    Signatures by other keys are ignored, as the spec requires; a note with
    no valid signature by `verifier` raises InvalidSignature, a malformed
    one InvalidNote.
    """
    _check_text(note, "signed note")
    if not note.endswith("\n"):
        raise InvalidNote("a signed note must end in a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise InvalidNote("the note has no blank line before its signatures")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    if not lines:
        raise InvalidNote("the note has no signature lines")
    if len(lines) > _MAX_SIGNATURES:
        raise InvalidNote("the note has too many signatures")
    verified = False
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise InvalidNote("a signature line does not start with an em dash and a space")
        name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or " " in encoded:
            raise InvalidNote("a signature line is not '\u2014 <name> <base64>'")
        _check_name(name)
        blob = _b64decode(encoded)
        if len(blob) < 5:
            raise InvalidNote("a signature is too short")
        if name != verifier.name or blob[:4] != verifier.key_id:
            continue  # someone else's signature: ignored, as the spec requires
        if len(blob) != 68 or not p.ed25519_verify(verifier.public_key, text.encode("utf-8"), blob[4:]):
            raise InvalidSignature(f"the note's signature by {verifier.name} does not verify")
        verified = True
    if not verified:
        raise InvalidSignature(f"the note is not signed by the key {verifier.name}+{verifier.key_id.hex()}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its RFC 6962 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        if type(self.size) is not int or self.size < 0:
            raise ValueError("a checkpoint's size is a non-negative int")
        if len(self.root_hash) != 32:
            raise ValueError("a checkpoint's root hash is 32 bytes")
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        if any(not line or "\n" in line for line in lines):
            raise ValueError("checkpoint lines must be non-empty and single-line")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse the (already verified) text of a checkpoint note."""
        if not text.endswith("\n"):
            raise InvalidNote("a checkpoint must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise InvalidNote("a checkpoint has an origin, a size and a root hash, each on a non-empty line")
        origin, size, root = lines[:3]
        if not _DECIMAL.fullmatch(size):
            raise InvalidNote("the checkpoint's tree size is not a decimal number")
        root_hash = _b64decode(root)
        if len(root_hash) != 32:
            raise InvalidNote("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size), root_hash, tuple(lines[3:]))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed note of `checkpoint`; the key name must be its origin."""
    if checkpoint.origin != signer.name:
        raise ValueError("a log signs its checkpoints with a key named after its origin")
    return sign_note(checkpoint.text(), signer)


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify a checkpoint note signed by `verifier` and parse it. The origin
    must be the verifier's name, so one log's checkpoint never passes for
    another's."""
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if checkpoint.origin != verifier.name:
        raise InvalidNote(f"the checkpoint's origin {checkpoint.origin!r} is not the log {verifier.name!r}")
    return checkpoint
