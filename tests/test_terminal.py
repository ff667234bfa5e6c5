"""On a terminal, the long commands show a progress bar that reaches the end;
piped, they print none (the one-line-error tests check that stderr stays clean)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from support import fill_store, run

import vault
from intake import IntakeConfig

BIN = Path(sys.executable).parent


def in_terminal(*args: str | Path) -> tuple[int, str]:
    """Run a console script with a 100-column terminal as stdin, stdout and
    stderr; return its exit code and everything it drew."""
    try:
        main, child = pty.openpty()
    except OSError as exc:  # a sandbox without /dev/ptmx
        pytest.skip(f"no pseudo-terminal here: {exc}")
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    # Draw on every update (no minimum interval or step), so the last state is drawn however fast the machine.
    env = {**os.environ, "DVR_INSECURE_FAST_KDF": "1", "TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1"}
    proc = subprocess.Popen(
        [str(BIN / str(args[0])), *map(str, args[1:])], stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    out = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: every copy of the terminal's other end is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    return proc.wait(timeout=120), out.decode("utf-8", "replace")


def test_export_import_and_publish_show_their_progress(tmp_path):
    (tmp_path / "pp").write_text("correct horse battery\n")
    assert run("keyholder", "init", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp").returncode == 0
    bundle = vault.load_bundle(json.loads((tmp_path / "V" / "key-bundle.json").read_text()))
    config = IntakeConfig(data_dir=tmp_path / "D")
    fill_store(config, bundle.public_key, 4500)  # enough for import to check the rows in worker processes

    code, drawn = in_terminal("intake", "export", "--data", config.data_dir, "--out", tmp_path / "B1")
    assert code == 0, drawn
    assert "exporting: 100%" in drawn and "4500/4500" in drawn
    assert "exported 4500 envelopes" in drawn

    code, drawn = in_terminal("keyholder", "import", "--vault", tmp_path / "V", tmp_path / "B1")
    assert code == 0, drawn
    assert "checking B1: 100%" in drawn and "4500/4500" in drawn
    assert "imported 4500 new envelopes" in drawn

    code, drawn = in_terminal(
        "keyholder", "publish", "--vault", tmp_path / "V", "--passphrase-file", tmp_path / "pp", "--out", tmp_path / "O"
    )
    assert code == 0, drawn
    assert "opening: 100%" in drawn and "4500/4500" in drawn
    # Every phase after opening is named, and reaches its end.
    assert "de-duplicating: 100%" in drawn
    assert "tables, protection, report: 100%" in drawn and "3/3" in drawn
    assert "published 1 registrant" in drawn
