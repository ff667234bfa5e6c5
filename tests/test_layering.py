"""The architecture's layering, checked by import-linter (contracts in pyproject.toml)."""

from __future__ import annotations

import os
import re
import shutil
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


def test_a_forbidden_import_breaks_its_contract(tmp_path):
    """The contracts can fail: the same tree with one forbidden import (click in the intake's
    store, the vault in the publication) reports exactly those two contracts broken."""
    for part in ("vault", "intake", "keyholder_cli", "publication", "schemas", "pyproject.toml"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(
                src, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "static", "translations")
            )
        else:
            shutil.copy(src, tmp_path / part)
    with open(tmp_path / "intake" / "store" / "base.py", "a", encoding="utf-8") as f:
        f.write("\nimport click  # noqa\n")
    with open(tmp_path / "publication" / "tables.py", "a", encoding="utf-8") as f:
        f.write("\nimport vault  # noqa\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    broken = sorted(m[1] for m in re.finditer(r"^(.+) BROKEN\b", proc.stdout, re.MULTILINE))
    assert broken == ["The publication is pure statistics", "Within the intake, only the commands use click"]
