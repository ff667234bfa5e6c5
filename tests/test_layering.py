"""The architecture's layering, checked by import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_the_intake_source_never_mentions_client_addresses_or_agents():
    words = ("remote_addr", "X-Forwarded-For", "X-Real-IP", "user_agent", "User-Agent")
    hits = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in (ROOT / "intake").rglob("*.py")
        for word in words
        if word in path.read_text(encoding="utf-8")
    ]
    assert hits == []
