"""The package's shape: no import cycles, and a `gitops --help` that imports no command."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from gitops import cli
from tests.helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "tools" / "gitops"


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    names = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports(tree: ast.AST, module: str, skip: set[tuple[str, str]]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, top level or inside functions, except in the skipped functions."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (module, node.name) in skip:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node, module, skip)


def import_graph(package: Path = PACKAGE, skip: frozenset[tuple[str, str]] = frozenset()) -> dict[str, set[str]]:
    """module -> the package modules it imports. `from pkg import sub` is an edge to pkg.sub alone: the
    parent package's __init__ runs first either way, which is not a dependency the module chose."""
    names = module_names(package)
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), name, skip):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in names)
            elif node.module and node.level == 0:
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & names.keys()
                if submodules:
                    edges.update(submodules)
                if node.module in names and len(submodules) < len(node.names):
                    edges.add(node.module)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_lazy_imports_and_submodules(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub import leaf\n")
    (package / "sub" / "leaf.py").write_text("from pkg import sub\n")  # the package, not a submodule
    (package / "core.py").write_text("from pkg.sub import leaf\n\ndef later():\n    import pkg.lazy\n")
    (package / "lazy.py").write_text("from pkg.core import later\n")
    graph = import_graph(package, skip=set())
    assert graph["pkg.core"] == {"pkg.sub.leaf", "pkg.lazy"} and graph["pkg.lazy"] == {"pkg.core"}
    assert cycles(graph) == [["pkg.core", "pkg.lazy"], ["pkg.sub", "pkg.sub.leaf"]]
    assert cycles(import_graph(package, skip={("pkg.core", "later")})) == [["pkg.sub", "pkg.sub.leaf"]]


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    assert cycles(import_graph()) == []


def test_help_lists_every_command_without_importing_any() -> None:
    code = (
        "import sys\nfrom gitops.cli import main\nsys.argv = ['gitops', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('gitops.commands')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1] == "[]"
    for name in cli.COMMANDS:
        assert f"  {name} " in proc.stdout


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    command = cli.cli.get_command(click.Context(cli.cli), name)
    assert command is not None and command.help is not None
    assert command.help.split("\n\n")[0].strip() == cli.COMMANDS[name][1]
