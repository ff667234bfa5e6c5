"""The two installs (pyproject's [intake] and [keyholder] extras): the intake serves with
the statistics stack made unimportable, as on a server that installed only '.[intake]'.
(The keyholder without the web server is installed for real by tests/test_offline_bundle.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STATISTICS = (
    "pandas",
    "scipy",
    "matplotlib",
    "highspy",
    "opendp",
    "numpy",
    "rapidfuzz",
    "cyrtranslit",
    "jsonschema_rs",
)

SCRIPT = """
import importlib.abc, json, sys
BLOCKED = set(sys.argv[1].split(","))
class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Uninstalled())
import intake.wsgi
client = intake.wsgi.from_environ().test_client()
print(json.dumps({
    "healthz": client.get("/healthz").status_code,
    "page": client.get("/").status_code,
    "loaded": sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED),
}))
"""


def serve_without(blocked: tuple[str, ...], data: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DVR_INTAKE_DATA": str(data), "DVR_INTAKE_ALLOW_NO_KEY": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(blocked)], capture_output=True, text=True, timeout=120, env=env
    )


def test_the_intake_serves_without_the_statistics_stack(tmp_path):
    proc = serve_without(STATISTICS, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"healthz": 200, "page": 200, "loaded": []}


def test_the_check_sees_a_missing_package_the_intake_needs(tmp_path):
    """The same check with Flask uninstalled fails, so the one above can fail."""
    proc = serve_without((*STATISTICS, "flask"), tmp_path)
    assert proc.returncode == 1
    assert "No module named 'flask'" in proc.stderr
