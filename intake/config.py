"""The intake's configuration: built by the caller, frozen, nothing read at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .pow import Difficulty
from .ratelimit import RateLimits

__all__ = ["POW_LEVELS_ENV", "STORE_ENV", "IntakeConfig"]

STORE_ENV = "DVR_INTAKE_STORE"
POW_LEVELS_ENV = "DVR_INTAKE_POW_LEVELS"  # proof-of-work levels, Difficulty.parse

_SWITCH = {"on": True, "off": False}


def _switch(name: str) -> bool:
    value = os.environ.get(name, "on")
    if value not in _SWITCH:
        raise ValueError(f"{name} must be on or off, not {value!r}")
    return _SWITCH[value]


def _difficulty() -> Difficulty:
    text = os.environ.get(POW_LEVELS_ENV)
    if not text:
        return Difficulty()
    try:
        return Difficulty.parse(text)
    except ValueError as exc:
        raise ValueError(f"{POW_LEVELS_ENV}: {exc}") from None


@dataclass(frozen=True)
class IntakeConfig:
    """A built config has the defences off (tests build their own); the
    production entry point (`from_environ`) and `intake serve` turn both on
    unless the operator turns them off (docs/operations.md, section 8)."""

    data_dir: Path
    max_body: int = 32 * 1024
    # Tests only: cap the SQLite database at this many pages, which SQLite
    # reports exactly as it reports a full disk (PRAGMA max_page_count).
    max_pages: int | None = None
    # Ask every submission for a solved challenge (intake/pow.py).
    proof_of_work: bool = False
    difficulty: Difficulty = field(default_factory=Difficulty)
    # Per-client limits (intake/ratelimit.py); None: no limit.
    rate_limits: RateLimits | None = None
    # The request header a trusted reverse proxy puts the client's address
    # in (deploy/nginx sets X-Dvr-Client); None: the socket's peer address.
    client_address_header: str | None = None
    # A postgresql:// URL (libpq's syntax, which may name several hosts): the
    # envelopes, exports and log live there, shared with other intake
    # processes; None keeps them in DATA/intake.sqlite.
    store_url: str | None = None

    def __post_init__(self) -> None:
        if self.store_url is not None and not self.store_url.startswith(("postgresql://", "postgres://")):
            raise ValueError("the intake store must be a postgresql:// URL (or none, for SQLite in the data directory)")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "intake.sqlite"

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.json"

    @classmethod
    def from_environ(cls) -> IntakeConfig:
        """For the production entry point: `DVR_INTAKE_DATA` names the data
        directory, `DVR_INTAKE_STORE` (if set) the PostgreSQL store;
        `DVR_INTAKE_PROOF_OF_WORK` and `DVR_INTAKE_RATE_LIMIT` (`on`, the
        default, or `off`) and `DVR_INTAKE_CLIENT_ADDRESS_HEADER` set the
        defences, `DVR_INTAKE_POW_LEVELS` the proof of work's levels."""
        data = os.environ.get("DVR_INTAKE_DATA")
        if not data:
            raise RuntimeError("set DVR_INTAKE_DATA to the intake data directory")
        header = os.environ.get("DVR_INTAKE_CLIENT_ADDRESS_HEADER") or None
        return cls(
            data_dir=Path(data),
            store_url=os.environ.get(STORE_ENV) or None,
            proof_of_work=_switch("DVR_INTAKE_PROOF_OF_WORK"),
            rate_limits=RateLimits() if _switch("DVR_INTAKE_RATE_LIMIT") else None,
            client_address_header=header,
            difficulty=_difficulty(),
        )
