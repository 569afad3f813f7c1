"""The package's house rules: no import cycle, data flowing one way, modules of a readable size, old import
paths still working with a FutureWarning."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ns1nwb"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the ns1nwb modules it imports (at any depth of its code, lazy imports included)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found.update(c for c in candidates if c in modules and c != name)
        graph[name] = found
    return graph


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges into a package's ``__init__`` stand for the module it re-exports from; drop the init's own
    re-export edges so that ``a -> pkg -> pkg.b`` is not mistaken for a cycle through ``pkg``."""
    packages = {name for name in graph if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()}
    return {name: (edges if name not in packages else set()) for name, edges in graph.items()}


def test_no_import_cycle():
    graph = _without_packages(_imports())
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize("lower, upper", [
    ("ns1nwb.release", ("ns1nwb.nwb", "ns1nwb.write", "ns1nwb.conversion", "ns1nwb.dandi", "ns1nwb.cli",
                        "ns1nwb.read")),
    ("ns1nwb.nwb", ("ns1nwb.write", "ns1nwb.conversion", "ns1nwb.dandi", "ns1nwb.cli", "ns1nwb.read")),
    ("ns1nwb.read", ("ns1nwb.release", "ns1nwb.nwb", "ns1nwb.write", "ns1nwb.conversion", "ns1nwb.dandi",
                     "ns1nwb.cli")),
])
def test_data_flows_one_way(lower, upper):
    """A room never imports a room above it; the reader imports nothing of the writer."""
    graph = _imports()
    offending = sorted((module, target) for module, targets in graph.items()
                       if module == lower or module.startswith(lower + ".")
                       for target in targets if any(target == u or target.startswith(u + ".") for u in upper))
    assert offending == []


def test_no_module_over_the_size_budget():
    sizes = {_module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_public_names_importable_from_the_package():
    ns1nwb = importlib.import_module("ns1nwb")
    for name in ns1nwb.__all__:
        assert hasattr(ns1nwb, name), name
    for name in ("open", "Recording", "read_raw_tree", "RawRelease", "convert", "build_nwbfile", "write_nwbfile"):
        assert name in ns1nwb.__all__
