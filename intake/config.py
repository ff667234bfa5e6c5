"""The intake's configuration: built by the caller, frozen, nothing read at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IntakeConfig"]


@dataclass(frozen=True)
class IntakeConfig:
    data_dir: Path
    max_body: int = 32 * 1024
    # Tests only: cap the SQLite database at this many pages, which SQLite
    # reports exactly as it reports a full disk (PRAGMA max_page_count).
    max_pages: int | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "intake.sqlite"

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.json"

    @classmethod
    def from_environ(cls) -> IntakeConfig:
        """For the production entry point: `DVR_INTAKE_DATA` names the data directory."""
        data = os.environ.get("DVR_INTAKE_DATA")
        if not data:
            raise RuntimeError("set DVR_INTAKE_DATA to the intake data directory")
        return cls(data_dir=Path(data))
