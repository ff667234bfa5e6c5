"""No import cycle in any package of the repository (grimp, which import-linter installs).

A cycle hides behind a late import until the day someone moves it; this test
sees function-level imports too (only `if TYPE_CHECKING:` imports are left out).
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def _packages() -> list[str]:
    """The repository's importable top-level packages (vault, intake, keyholder_cli, publication, schemas...)."""
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in ("tests", "bench"))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), plus any module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_the_cycle_finder_finds_a_cycle_and_nothing_else():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_package_has_an_import_cycle(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    packages = _packages()
    assert {"vault", "intake", "keyholder_cli"} <= set(packages)
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True)
    ours = {m for m in graph.modules if m.split(".")[0] in packages}
    edges = {m: {x for x in graph.find_modules_directly_imported_by(m) if x in ours} for m in ours}
    assert cycles(edges) == []


NAMESPACES = {
    "vault.audit",
    "vault.canonical",
    "vault.custody",
    "vault.pagetrust",
    "vault.shares",
    "vault.transparency",
}


def reaches_into_vault(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """The imports from outside the vault of one of its modules other than its public namespaces."""
    return sorted(
        (m, x)
        for m, imported in edges.items()
        if m.split(".")[0] != "vault"
        for x in imported
        if x.startswith("vault.") and x not in NAMESPACES
    )


def test_the_namespaces_are_the_vaults_public_modules():
    """Every namespace the test allows is in vault.__all__, and the root stays small."""
    import vault

    assert {
        f"vault.{n}" for n in vault.__all__ if not n[0].isupper() and hasattr(getattr(vault, n), "__all__")
    } == NAMESPACES
    assert len(vault.__all__) <= 25


def test_the_vault_check_finds_a_submodule_import_and_nothing_else():
    edges = {
        "intake.tlog": {"vault", "vault.merkle", "vault.transparency"},
        "vault.note": {"vault.merkle"},
        "intake.api": {"vault"},
    }
    assert reaches_into_vault(edges) == [("intake.tlog", "vault.merkle")]


def test_outside_the_vault_only_its_public_names_are_imported(monkeypatch):
    """The intake and the keyholder import `vault` and its namespaces (`vault.transparency`),
    never `vault.merkle` or `vault._fsutil`: __all__ is the whole contract, the modules behind it may move."""
    monkeypatch.syspath_prepend(str(ROOT))
    packages = _packages()
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=False)
    ours = {m for m in graph.modules if m.split(".")[0] in packages}
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in ours}
    assert reaches_into_vault(edges) == []
