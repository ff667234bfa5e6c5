"""The hashed locks (requirements/*.txt, written by scripts/lock) agree with constraints.txt.

scripts/setup-venv installs with -c constraints.txt and the offline bundle from
requirements/keyholder.txt: a lock regenerated without the constraints, or constraints
bumped without regenerating the locks, would install other versions on the workstation than
the ones the tests ran with. Each side's lock also holds nothing of the other side's stack.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = {"flask", "werkzeug", "gunicorn", "gevent", "psycopg", "altcha"}
STATISTICS = {"numpy", "pandas", "scipy", "matplotlib", "highspy", "opendp"}


def pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line, names normalised as PEP 503 compares them."""
    return {
        re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", text, re.MULTILINE)
    }


def unhashed(text: str) -> list[str]:
    """The requirements of a lock that carry no sha256 (pip --require-hashes would refuse the file)."""
    entries = re.split(r"^(?=[A-Za-z0-9])", text, flags=re.MULTILINE)
    return [e.splitlines()[0] for e in entries if "==" in e and not re.search(r"--hash=sha256:[0-9a-f]{64}", e)]


@pytest.mark.parametrize(("lock", "present", "absent"), [("keyholder", STATISTICS, WEB), ("intake", WEB, STATISTICS)])
def test_each_lock_pins_what_constraints_pins_with_hashes(lock: str, present: set[str], absent: set[str]) -> None:
    text = (ROOT / "requirements" / f"{lock}.txt").read_text()
    locked = pins(text)
    constraints = pins((ROOT / "constraints.txt").read_text())
    assert present <= locked.keys()
    assert not absent & locked.keys(), f"the {lock} lock carries the other side's stack"
    assert {name: constraints.get(name) for name in locked} == locked
    assert unhashed(text) == []


def test_a_drifted_or_unhashed_lock_is_seen() -> None:
    """The checks can fail: a version other than the constraint's, and a line without its hash."""
    text = "numpy==2.0.0 \\\n    --hash=sha256:" + "a" * 64 + "\nscipy==1.17.1\n    # via x\n"
    assert pins(text) == {"numpy": "2.0.0", "scipy": "1.17.1"}
    assert pins(text)["numpy"] != pins((ROOT / "constraints.txt").read_text())["numpy"]
    assert unhashed(text) == ["scipy==1.17.1"]
