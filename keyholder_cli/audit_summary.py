"""A readable account of a verified audit log: who did what, when, with which key."""

from __future__ import annotations

from typing import Any

from vault.audit import AuditEntry, VerifiedLog

__all__ = ["summarise"]


def _n(count: object, word: str) -> str:
    """`1 envelope`, `2 envelopes` (and a missing count as it is)."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _names(officers: dict[int, str], numbers: Any) -> str:
    if not isinstance(numbers, list):
        return "?"
    return ", ".join(f"{n} ({officers[n]})" if n in officers else str(n) for n in numbers)


def _custody(d: dict[str, Any]) -> str:
    if d.get("custody") == "shares":
        names = ", ".join(map(str, d.get("officer_names") or []))
        ident = d.get("slip39_identifier")
        return f"{d.get('threshold')} of {d.get('officers')} officers ({names}), SLIP-39 id {ident}"
    return "passphrase key file"


def _describe(entry: AuditEntry, officers: dict[str, dict[int, str]]) -> str:
    d = entry.details
    kind = entry.kind
    if kind in ("ceremony", "init"):
        return f"key {d.get('kid')} created; custody: {_custody(d)}"
    if kind == "rotation":
        statement = d.get("statement") or {}
        return f"key rotated from {statement.get('previous_kid')} to {entry.kid}; custody: {_custody(d)}"
    if kind == "unlock":
        epoch = officers.get(str(d.get("kid")), {})
        how = f"shares {_names(epoch, d.get('shares'))}" if d.get("custody") == "shares" else "the passphrase key file"
        return f"key unlocked with {how} for `{d.get('command')}`; epochs open: {len(d.get('epochs') or [])}"
    if kind == "import":
        return (
            f"batch {d.get('batch')} imported: seq {d.get('first_seq')}..{d.get('last_seq')}, {d.get('new')} new"
            f" (sha256 {str(d.get('batch_sha256'))[:16]}…)"
        )
    if kind == "publish":
        counts = d.get("counts") or {}
        files = d.get("files") or {}
        return (
            f"published {_n(counts.get('registrants'), 'registrant')} to {d.get('out')}:"
            f" {_n(counts.get('envelopes'), 'envelope')},"
            f" {counts.get('opened')} opened, {counts.get('failed')} failed, {counts.get('invalid')} invalid,"
            f" {_n(counts.get('duplicates'), 'duplicate')}; {_n(len(files), 'file')}; disclosure {d.get('disclosure')}"
        )
    if kind == "rotation_failed":
        return f"rotation stopped before it was logged: {d.get('error')}; key {entry.kid} is still current"
    if kind == "unlock_failed":
        return f"unlock for {d.get('command')} failed: {d.get('reason')}"
    if kind == "publish_failed":
        when = "failed after it was logged" if d.get("logged", True) else "stopped before it was logged"
        return f"publication to {d.get('out')} {when}: {d.get('error')}"
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items())) or "(no details)"


def summarise(log: VerifiedLog) -> list[str]:
    """One line per entry."""
    officers: dict[str, dict[int, str]] = {}
    lines = []
    for entry in log.entries:
        d = entry.details
        if entry.kind in ("ceremony", "init", "rotation") and isinstance(d.get("officer_names"), list):
            officers[str(entry.kid)] = {i + 1: str(n) for i, n in enumerate(d["officer_names"])}
        signer = f"signed {entry.kid[:8]}" if entry.kid else "UNSIGNED"
        lines.append(f"{entry.seq:>4}  {entry.time}  {entry.kind:<9} {signer:<15} {_describe(entry, officers)}")
    return lines
