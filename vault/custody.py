"""How the master secret is kept between uses: a passphrase key file, and a
rotation to a new key endorsed by the old one.

A namespace of the vault's public API (`from vault.custody import open_keyfile`).
Shares (M-of-N among officers) are their own namespace, `vault.shares`.
"""

from .errors import InvalidKeyFile, WrongPassphrase
from .keyfile import Argon2Cost, open_keyfile, seal_keyfile
from .keys import epoch_key
from .rotation import Rotation, rotation_statement, unwrap_master, verify_rotation, wrap_master

__all__ = [
    "Argon2Cost",
    "InvalidKeyFile",
    "Rotation",
    "WrongPassphrase",
    "epoch_key",
    "open_keyfile",
    "rotation_statement",
    "seal_keyfile",
    "unwrap_master",
    "verify_rotation",
    "wrap_master",
]
