"""The hazardous layer: every call into a cryptographic library lives here.

Nothing outside `vault` imports this module. The public modules choose the
suite from the format version; no caller passes algorithm parameters.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# FORMATS.md section 2: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
_SUITE_V1 = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
HPKE_ENC_LEN = 32
AEAD_TAG_LEN = 16

# docs/formats.md, envelope v2: MLKEM768-X25519 (X-Wing, KEM 0x647A), HKDF-SHA256,
# ChaCha20-Poly1305 (AEAD 0x0003): the suite of the hpke-pq draft's test vector.
_SUITE_V2 = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
XWingPrivateKey = hpke.MLKEM768X25519PrivateKey
XWING_ENC_LEN = 1120
XWING_PUBLIC_LEN = 1216
XWING_SEED_LEN = 32
_MLKEM768_PUBLIC_LEN = 1184


class OpenFailed(Exception):
    """HPKE decryption failed (any reason)."""


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hkdf_sha256(ikm: bytes, label: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(ikm)


def x25519_private(raw: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(raw)


def x25519_public(raw: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(raw)


def x25519_public_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def hpke_seal_v1(plaintext: bytes, public_key: X25519PublicKey, info: bytes) -> bytes:
    return _SUITE_V1.encrypt(plaintext, public_key, info=info)


def hpke_open_v1(ciphertext: bytes, private_key: X25519PrivateKey, info: bytes) -> bytes:
    try:
        return _SUITE_V1.decrypt(ciphertext, private_key, info=info)
    except (InvalidTag, ValueError) as exc:
        raise OpenFailed from exc


def xwing_private(seed: bytes) -> tuple[hpke.MLKEM768X25519PrivateKey, bytes]:
    """The X-Wing key pair of a 32-byte seed: the private key and the 1,216
    raw public key bytes (ML-KEM-768 encapsulation key, then X25519 key).

    The seed is expanded as the X-Wing draft's expandDecapsulationKey does:
    SHAKE256(seed) to 96 bytes, the first 64 the ML-KEM-768 seed (d, z), the
    last 32 the X25519 private key. The test vectors check it.
    """
    if len(seed) != XWING_SEED_LEN:
        raise ValueError("an X-Wing seed is 32 bytes")
    digest = hashes.Hash(hashes.SHAKE256(digest_size=96))
    digest.update(seed)
    expanded = digest.finalize()
    mlkem_key = MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    x25519_key = X25519PrivateKey.from_private_bytes(expanded[64:])
    public = mlkem_key.public_key().public_bytes_raw() + x25519_public_bytes(x25519_key)
    return hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key), public


def xwing_public(raw: bytes) -> hpke.MLKEM768X25519PublicKey:
    """An X-Wing public key from its 1,216 raw bytes; ValueError if either half is not a key."""
    if len(raw) != XWING_PUBLIC_LEN:
        raise ValueError("an X-Wing public key is 1216 bytes")
    return hpke.MLKEM768X25519PublicKey(
        MLKEM768PublicKey.from_public_bytes(raw[:_MLKEM768_PUBLIC_LEN]),
        X25519PublicKey.from_public_bytes(raw[_MLKEM768_PUBLIC_LEN:]),
    )


def hpke_seal_v2(plaintext: bytes, public_key: hpke.MLKEM768X25519PublicKey, info: bytes) -> bytes:
    return _SUITE_V2.encrypt(plaintext, public_key, info=info)


def hpke_open_v2(ciphertext: bytes, private_key: hpke.MLKEM768X25519PrivateKey, info: bytes) -> bytes:
    try:
        return _SUITE_V2.decrypt(ciphertext, private_key, info=info)
    except (InvalidTag, ValueError) as exc:
        raise OpenFailed from exc


def ed25519_from_seed(seed: bytes) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(seed)


Signer = Callable[[bytes], bytes]


def ed25519_signer(seed: bytes) -> Signer:
    """Sign many messages with one key, deriving its key pair once."""
    key = nacl.signing.SigningKey(seed)
    return lambda message: key.sign(message).signature


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return ed25519_signer(seed)(message)


def ed25519_public(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True


ARGON2_SALT_LEN = nacl.pwhash.argon2id.SALTBYTES
ARGON2_OPS_MODERATE = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
ARGON2_MEM_MODERATE = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
ARGON2_OPS_MIN = nacl.pwhash.argon2id.OPSLIMIT_MIN
ARGON2_MEM_MIN = nacl.pwhash.argon2id.MEMLIMIT_MIN
ARGON2_OPS_MAX = nacl.pwhash.argon2id.OPSLIMIT_MAX
ARGON2_MEM_MAX = nacl.pwhash.argon2id.MEMLIMIT_MAX


def argon2id(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=opslimit, memlimit=memlimit
    )


def secretbox_seal(key: bytes, plaintext: bytes) -> bytes:
    return bytes(nacl.secret.SecretBox(key).encrypt(plaintext))


def secretbox_open(key: bytes, sealed: bytes) -> bytes:
    try:
        return nacl.secret.SecretBox(key).decrypt(sealed)
    except nacl.exceptions.CryptoError as exc:
        raise OpenFailed from exc
