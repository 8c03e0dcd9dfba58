"""The web tier's seam, read from the source with `ast`: handlers ask services, and only
`build_app`'s wiring touches the engine's storage (to build the services the API alone uses)."""

from __future__ import annotations

import ast
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parents[2] / "pbx_engine" / "web"
WIRING = {"install_services", "build_app"}


def _storage_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, enclosing function) of every `.storage` attribute read."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else None
            )
            if isinstance(child, ast.Attribute) and child.attr == "storage":
                found.append((child.lineno, function))
            visit(child, inner or function)

    visit(tree, "<module>")
    return found


def test_given_the_web_modules_then_only_the_wiring_touches_the_storage():
    outside = [
        f"{path.name}:{line} in {function}"
        for path in sorted(WEB_DIR.glob("*.py"))
        for line, function in _storage_uses(ast.parse(path.read_text(encoding="utf-8")))
        if function not in WIRING
    ]
    assert outside == []


def test_given_a_handler_reaching_the_storage_then_it_is_found():
    source = "async def handler(request):\n    return request.app[X].storage.cases\n"
    assert _storage_uses(ast.parse(source)) == [(2, "handler")]
