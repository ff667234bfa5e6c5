"""Passphrase custody: the master secret sealed under a key from Argon2id.

File format `dvr-keyfile/1` (docs/formats.md). The Argon2id parameters are
recorded in the file, so they can be raised for new files while old files
still open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _primitives as p
from .canonical import b64u_decode, b64u_encode
from .errors import InvalidKeyFile, WrongPassphrase
from .keys import UnlockedKey, derive_keys, epoch_key

__all__ = ["KEYFILE_FORMAT", "Argon2Cost", "open_keyfile", "seal_keyfile"]

KEYFILE_FORMAT = "dvr-keyfile/1"


@dataclass(frozen=True)
class Argon2Cost:
    opslimit: int
    memlimit: int

    @classmethod
    def production(cls) -> Argon2Cost:
        """libsodium's MODERATE profile: 3 passes, 256 MiB."""
        return cls(p.ARGON2_OPS_MODERATE, p.ARGON2_MEM_MODERATE)

    @classmethod
    def insecure_for_tests(cls) -> Argon2Cost:
        return cls(p.ARGON2_OPS_MIN, p.ARGON2_MEM_MIN)


def seal_keyfile(master_secret: bytes, passphrase: bytes, cost: Argon2Cost, kid: str | None = None) -> dict[str, Any]:
    """Return the key file object holding `master_secret` under `passphrase`.

    `kid` names the epoch's key (version 1 or 2 of the secret); without it,
    the version 1 key."""
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    key = derive_keys(master_secret) if kid is None else epoch_key(master_secret, kid)
    if key is None:
        raise ValueError("the kid is not a key of this master secret")
    salt = p.random_bytes(p.ARGON2_SALT_LEN)
    box_key = p.argon2id(passphrase, salt, cost.opslimit, cost.memlimit)
    return {
        "format": KEYFILE_FORMAT,
        "kid": key.kid,
        "kdf": {"name": "argon2id13", "opslimit": cost.opslimit, "memlimit": cost.memlimit, "salt": b64u_encode(salt)},
        "sealed_master_secret": b64u_encode(p.secretbox_seal(box_key, master_secret)),
    }


def open_keyfile(obj: Any, passphrase: bytes) -> tuple[bytes, UnlockedKey]:
    """Open a key file: return the master secret and the keys derived from it."""
    try:
        if obj["format"] != KEYFILE_FORMAT or obj["kdf"]["name"] != "argon2id13":
            raise InvalidKeyFile(f"unknown key file format; expected {KEYFILE_FORMAT}")
        salt = b64u_decode(obj["kdf"]["salt"])
        sealed = b64u_decode(obj["sealed_master_secret"])
        ops, mem = obj["kdf"]["opslimit"], obj["kdf"]["memlimit"]
        kid = obj["kid"]
        if type(ops) is not int or type(mem) is not int:
            raise TypeError("the Argon2id costs are not integers")
    except (KeyError, TypeError, ValueError):
        raise InvalidKeyFile("the key file is malformed") from None
    if not (
        len(salt) == p.ARGON2_SALT_LEN
        and p.ARGON2_OPS_MIN <= ops <= p.ARGON2_OPS_MAX
        and p.ARGON2_MEM_MIN <= mem <= p.ARGON2_MEM_MAX
        and mem % 1024 == 0  # libsodium rounds down to whole KiB: another value would be an alias
    ):
        raise InvalidKeyFile("the key file has invalid Argon2id parameters")
    try:
        master = p.secretbox_open(p.argon2id(passphrase, salt, ops, mem), sealed)
    except p.OpenFailed:
        raise WrongPassphrase() from None
    key = epoch_key(master, kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidKeyFile("the key file's secret does not match its kid")
    return master, key
