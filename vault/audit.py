"""The keyholder's audit log and the manifest of what it published.

A namespace of the vault's public API: `from vault import audit` or
`from vault.audit import verify_log`. The hash chain, its signed head and
the manifest live in auditlog.py and manifest.py; this module is what
callers may rely on.
"""

from .auditlog import AuditEntry, AuditLogError, VerifiedLog, append_entry, verify_head, verify_log
from .manifest import MANIFEST_NAME, InvalidManifest, Manifest, make_manifest, sha256_hex, verify_manifest

__all__ = [
    "MANIFEST_NAME",
    "AuditEntry",
    "AuditLogError",
    "InvalidManifest",
    "Manifest",
    "VerifiedLog",
    "append_entry",
    "make_manifest",
    "sha256_hex",
    "verify_head",
    "verify_log",
    "verify_manifest",
]
