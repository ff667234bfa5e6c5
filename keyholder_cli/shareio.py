"""Share files, share prompts, and the custody descriptor of a share-held epoch.

A share file (`--shares-out`, drills and tests only) is text: comment lines
starting with `#`, then the share's words. The custody descriptor
`V/epochs/<kid>/custody.json` (`dvr-custody/1`) records how an epoch's master
secret is split — N, M, the SLIP-39 identifier, the officers — and never any
share content.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vault.canonical import strict_json
from vault.shares import InvalidShare, SplitSecret, describe_share

from .errors import KeyholderError
from .prompter import Prompter
from .station import Station, atomic_write, write_json

__all__ = [
    "CUSTODY_FORMAT",
    "CUSTODY_NAME",
    "prompt_shares",
    "read_custody",
    "read_json",
    "read_share_file",
    "share_file_name",
    "write_custody",
    "write_share_files",
]

CUSTODY_FORMAT = "dvr-custody/1"
CUSTODY_NAME = "custody.json"


def share_file_name(kid: str, number: int, count: int) -> str:
    return f"{kid[:8]}-share-{number}-of-{count}.txt"


def write_share_files(out_dir: Path, split: SplitSecret, officers: list[str], kid: str) -> list[Path]:
    """Write one file per share (mode 0600); refuse to overwrite any file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    count = len(split.shares)
    paths = [out_dir / share_file_name(kid, i + 1, count) for i in range(count)]
    clash = [p.name for p in paths if p.exists()]
    if clash:
        raise KeyholderError(f"{out_dir / clash[0]} already exists; refusing to overwrite a share file")
    for i, (path, share) in enumerate(zip(paths, split.shares, strict=True)):
        text = (
            f"# Diaspora Registry key share {i + 1} of {count} (threshold {split.threshold})\n"
            f"# key {kid}, SLIP-39 identifier {split.identifier}, officer: {officers[i]}\n"
            "# DRILL ONLY: a share kept on a disk defeats the point of splitting the key.\n"
            f"{share}\n"
        )
        with atomic_write(path, mode=0o600) as out:
            out.write(text.encode("utf-8"))
    return paths


def read_share_file(path: Path) -> str:
    """The share words of a share file (comment lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KeyholderError(f"share file {path.name} is not text") from None
    return " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def prompt_shares(threshold: int, identifier: int | None, ui: Prompter) -> list[str]:
    """Ask for `threshold` shares with hidden input, re-asking (three tries) for
    one that does not check out. Never echoes a share."""
    shares: list[str] = []
    ui.say(f"This key needs {threshold} shares. Each officer types their share; nothing is shown.", err=True)
    while len(shares) < threshold:
        for attempt in range(3):
            text = ui.ask(f"Share {len(shares) + 1} of {threshold}", hidden=True, err=True)
            try:
                info = describe_share(text)
            except InvalidShare as exc:
                problem = exc.reason
            else:
                if identifier is not None and info.identifier != identifier:
                    problem = f"comes from another ceremony (SLIP-39 identifier {info.identifier}, not {identifier})"
                else:
                    shares.append(text)
                    break
            if attempt == 2:
                raise KeyholderError(f"share {len(shares) + 1} typed at the prompt {problem}")
            ui.say(f"That share {problem}; type it again.", err=True)
    return shares


def write_custody(vault: Station, kid: str, split: SplitSecret, officers: list[str]) -> dict[str, Any]:
    descriptor = {
        "format": CUSTODY_FORMAT,
        "kid": kid,
        "scheme": "slip39",
        "officers": len(split.shares),
        "threshold": split.threshold,
        "slip39_identifier": split.identifier,
        "officer_names": officers,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    epoch = vault.epoch_dir(kid)
    epoch.mkdir(parents=True, exist_ok=True)
    write_json(epoch / CUSTODY_NAME, descriptor)
    return descriptor


def read_json(path: Path) -> Any:
    """A JSON file of the vault; a damaged one is one clear error."""
    try:
        return strict_json(path.read_bytes())
    except ValueError as exc:
        raise KeyholderError(f"{path} is not a readable JSON file ({exc}): it was damaged or altered") from None


def read_custody(vault: Station, kid: str) -> dict[str, Any] | None:
    """The epoch's custody descriptor, or None for a passphrase-held epoch."""
    path = vault.epoch_dir(kid) / CUSTODY_NAME
    if not path.exists():
        return None
    obj = read_json(path)
    if not isinstance(obj, dict) or obj.get("format") != CUSTODY_FORMAT or obj.get("kid") != kid:
        raise KeyholderError(f"{path} is not a {CUSTODY_FORMAT} file for epoch {kid}")
    return obj
