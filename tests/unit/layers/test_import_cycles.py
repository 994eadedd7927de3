"""No import cycle among the project's modules, counting imports inside functions.

A lazy import is still an import: a circle hidden in a function body is a circle (the import
contracts see them too, but allow nothing here to rely on them). The graph is read with ``ast``
from every ``import`` and ``from ... import`` anywhere in a module, relative ones resolved; its
strongly connected components of more than one module are the cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[3]
#: Package roots: the shared package and every service's package (the gateway, each worker).
PACKAGES = [ROOT / "shared" / "imagestudio", *sorted((ROOT / "services").glob("*/*/__init__.py"))]


def modules(packages: Iterable[Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under each package's folder."""
    found: dict[str, Path] = {}
    for package in packages:
        folder = package.parent if package.is_file() else package
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports, at module level or inside a function or class."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up ``level - 1`` packages from this module's own
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(found: dict[str, Path]) -> nx.DiGraph:
    """Module -> the modules of the tree it imports (the longest known module prefixing each name)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(found)
    for module, path in found.items():
        for name in imported_names(module, path):
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                target = ".".join(parts[:end])
                if target in found:
                    # A package's face importing its own submodules is no edge back into it.
                    if target != module and not target.startswith(module + "."):
                        graph.add_edge(module, target)
                    break
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted."""
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)


def test_the_project_has_no_import_cycle_even_inside_functions() -> None:
    found = modules(PACKAGES)
    assert "imagestudio.jobs.service" in found and "gateway.app" in found  # the tree was read

    assert cycles(import_graph(found)) == []


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import a  # a face: no edge back\n")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    # Relative, and only inside a function: still an import of pkg.a.
    (package / "sub" / "b.py").write_text("def late():\n    from .. import a\n    return a\n")
    (package / "c.py").write_text("import pkg.a\n")

    assert cycles(import_graph(modules([package]))) == [["pkg.a", "pkg.sub.b"]]


def test_imports_of_modules_outside_the_tree_make_no_edge(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import json\n\ndef f():\n    from pkg import b\n")
    (package / "b.py").write_text("import os.path\nfrom typing import Any\n")

    # ``from pkg import b`` imports the package and its module b; json, os and typing are not ours.
    assert sorted(import_graph(modules([package])).edges) == [("pkg.a", "pkg"), ("pkg.a", "pkg.b")]
