"""The two installs: the intake's and the keyholder's extras match what each side imports.

pyproject.toml splits the dependencies in three: the base (what both sides import), the
`[intake]` extra (the web server) and the `[keyholder]` extra (the statistics stack). This
reads every import of each side with grimp (function-level imports included, `if
TYPE_CHECKING:` ones left out, since they never run), maps each third-party module to the
distribution that provides it, and checks that

- the intake reaches nothing that only the keyholder's extra installs, and the reverse;
- each side's base plus extra lists every distribution the side imports;
- every base dependency is imported by both sides, and every extra's entry by its side.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vault", "intake", "keyholder_cli", "publication", "schemas")
SIDES = {"intake": "intake", "keyholder": "keyholder_cli"}


def _norm(name: str) -> str:
    """A distribution's name as PEP 503 compares them (Flask-Babel, flask_babel -> flask-babel)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    """The distribution a requirement string names ("psycopg[binary]>=3.2" -> "psycopg")."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return _norm(match.group(1))


def declared(pyproject: dict[str, Any]) -> tuple[set[str], dict[str, set[str]]]:
    """The base dependencies and each side's extra, as normalised distribution names."""
    project = pyproject["project"]
    base = {_requirement_name(r) for r in project["dependencies"]}
    extras = {side: {_requirement_name(r) for r in project["optional-dependencies"][side]} for side in SIDES}
    return base, extras


def side_imports() -> dict[str, set[str]]:
    """For each side, the third-party distributions its modules (and the project modules they reach) import."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=True, exclude_type_checking_imports=True)
    providers = importlib.metadata.packages_distributions()
    result: dict[str, set[str]] = {}
    for side, package in SIDES.items():
        own = {m for m in graph.modules if m.split(".")[0] == package}
        reached = set(own)
        for module in own:
            reached |= graph.find_upstream_modules(module)
        external = {m.split(".")[0] for m in reached if m.split(".")[0] not in PACKAGES}
        third_party = {m for m in external if m not in sys.stdlib_module_names and m != "__future__"}
        dists: set[str] = set()
        for name in third_party:
            assert name in providers, f"{side} imports {name}, which no installed distribution provides"
            dists |= {_norm(d) for d in providers[name]}
        result[side] = dists
    return result


def violations(imports: dict[str, set[str]], base: set[str], extras: dict[str, set[str]]) -> list[str]:
    """What is wrong with the split, one line each (empty when the extras match the imports)."""
    problems = []
    for side, other in (("intake", "keyholder"), ("keyholder", "intake")):
        only_other = extras[other] - extras[side] - base
        for dist in sorted(imports[side] & only_other):
            problems.append(f"the {side} imports {dist}, which only the [{other}] extra installs")
        for dist in sorted(imports[side] - base - extras[side] - only_other):
            problems.append(f"the {side} imports {dist}, which neither the base nor [{side}] lists")
        for dist in sorted(extras[side] - imports[side]):
            problems.append(f"[{side}] lists {dist}, which the {side} never imports")
    for dist in sorted(base - (imports["intake"] & imports["keyholder"])):
        problems.append(f"the base lists {dist}, which is not imported by both sides")
    return problems


@pytest.fixture(scope="module")
def imports() -> dict[str, set[str]]:
    return side_imports()


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def test_each_side_imports_only_its_own_extra_and_the_base(imports: dict[str, set[str]]) -> None:
    base, extras = declared(_pyproject())
    assert violations(imports, base, extras) == []
    # The libraries the issue names are where they belong.
    assert {"numpy", "pandas", "scipy", "matplotlib", "highspy", "opendp"} <= extras["keyholder"] - imports["intake"]
    assert {"flask", "gunicorn", "gevent", "psycopg"} <= extras["intake"] - imports["keyholder"]


def test_the_test_extra_still_installs_both_sides() -> None:
    """scripts/setup-venv and CI install '.[test]': it must pull both extras."""
    test = _pyproject()["project"]["optional-dependencies"]["test"]
    assert any(
        re.fullmatch(r"diaspora-registry\[(intake,keyholder|keyholder,intake)\]", r.split("#")[0].strip()) for r in test
    )


def test_a_misplaced_dependency_is_reported(imports: dict[str, set[str]]) -> None:
    """The check can fail: numpy moved to the intake's extra, Flask dropped, a stray entry in the base."""
    base, extras = declared(_pyproject())
    extras = {"intake": (extras["intake"] - {"flask"}) | {"numpy"}, "keyholder": extras["keyholder"] - {"numpy"}}
    problems = violations(imports, base | {"requests"}, extras)
    assert "the keyholder imports numpy, which only the [intake] extra installs" in problems
    assert "the intake imports flask, which neither the base nor [intake] lists" in problems
    assert "[intake] lists numpy, which the intake never imports" in problems
    assert "the base lists requests, which is not imported by both sides" in problems
    # The forbidden direction, on the imports: a keyholder library reached from the intake.
    base, extras = declared(_pyproject())
    polluted = {"intake": imports["intake"] | {"pandas"}, "keyholder": imports["keyholder"]}
    assert "the intake imports pandas, which only the [keyholder] extra installs" in violations(polluted, base, extras)
