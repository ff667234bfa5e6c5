"""Writing files so that a crash leaves either the old file or the new one.

Private plumbing of the audit log; it touches only paths it is given. The
intake (intake/files.py) and the keyholder (keyholder_cli/files.py) keep
their own copies, so that neither reaches into the vault for file handling."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "fsync_dir"]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(dest: Path, mode: int = 0o644) -> Iterator[IO[bytes]]:
    """Yield a temp file beside `dest`; on success fsync it and rename it into
    place; on any exception remove it, leaving `dest` untouched."""
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(dest.parent)
