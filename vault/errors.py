"""One error tree for the vault. Callers map these to HTTP codes or exit codes."""

from __future__ import annotations


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""


class MalformedEnvelope(VaultError):
    """An envelope that is not well formed; checked before any decryption.

    `code` is a short slug ("not_an_envelope", "unknown_format", "unknown_kid",
    "wrong_length") that the intake API returns to clients.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidEnvelope(VaultError):
    """A well-formed envelope that does not open. Deliberately says no more
    (not whether the tag, the key or the padding was wrong)."""

    def __init__(self) -> None:
        super().__init__("the envelope does not open with this key")


class InvalidKeyBundle(VaultError):
    """A key bundle that is malformed, inconsistent or badly signed."""


class InvalidSignature(VaultError):
    """A signature that does not verify."""


class WrongPassphrase(VaultError):
    """The key file does not open with this passphrase."""

    def __init__(self) -> None:
        super().__init__("wrong passphrase: the key file does not open with it")


class InvalidKeyFile(VaultError):
    """A key file that is malformed or of an unknown format."""


class InvalidBatch(VaultError):
    """A batch file that is malformed, altered or truncated."""
