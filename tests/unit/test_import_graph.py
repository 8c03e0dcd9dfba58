"""The import graph of `pbx_engine`, read from the source with `ast`: no cycle among the web
modules. Imports inside functions count (deferring an import hides a cycle, it does not remove
it); imports under `if TYPE_CHECKING:` do not (they never run), except in the check that the
web tier never names the engine (the composition root), not even for types.

Run as a script to print the cycles of the whole package, per module and per package:
    python tests/unit/test_import_graph.py [path/to/pbx_engine]
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "pbx_engine"


def _module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, type_checking: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if not type_checking and isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(other)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _imports(child, type_checking)


def import_graph(root: Path = PACKAGE_DIR, *, type_checking: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports at run time (with
    `type_checking`, also those it imports for type hints only)."""
    paths = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), type_checking):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in paths else base)
        graph[module] = {t for t in targets if t in paths and t != module}
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between the top-level packages (`pbx_engine.web`, `pbx_engine.dialer`,
    ...; a module right under `pbx_engine` stands for itself)."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = packages.setdefault(package(module), set())
        mine.update(package(t) for t in targets if package(t) != package(module))
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_given_the_web_modules_then_none_imports_another_that_imports_it_back():
    graph = import_graph()
    web = {m: {t for t in ts if t.startswith("pbx_engine.web")} for m, ts in graph.items()}
    web = {m: ts for m, ts in web.items() if m.startswith("pbx_engine.web")}
    assert "pbx_engine.web.api" in web and web["pbx_engine.web.api"]  # the graph was read
    assert cycles(web) == []


def test_given_the_web_modules_then_none_names_the_engine_even_for_type_hints():
    # Handlers take the services they use from the app's keys (`web.api.build_app`); the
    # engine builds the app, so a web module naming it would close a circle.
    graph = import_graph(type_checking=True)
    naming = sorted(
        m
        for m, ts in graph.items()
        if m.startswith("pbx_engine.web") and ts & {"pbx_engine.engine"}
    )
    assert naming == []


def test_given_a_small_graph_when_looking_for_cycles_then_each_component_is_found_once():
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}, "e": {"a"}}
    assert cycles(graph) == [["a", "b"], ["c", "d"]]


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PACKAGE_DIR
    modules = import_graph(root)
    typed = import_graph(root, type_checking=True)
    for title, graph in (
        ("module", modules),
        ("package", package_graph(modules)),
        ("module (type hints too)", typed),
        ("package (type hints too)", package_graph(typed)),
    ):
        found = cycles(graph)
        print(f"{title} cycles: {len(found)}")
        for component in found:
            print(f"  {len(component)}: {' '.join(component)}")
