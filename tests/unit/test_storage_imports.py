"""The storage package sits low: its modules import only each other, the case models and
input types, the database config and the package's files; never the dialer, the web layer
or anything above."""

import ast
from pathlib import Path

import pbx_engine

PACKAGE = Path(pbx_engine.__file__).parent
ALLOWED = (
    "pbx_engine.storage",
    "pbx_engine.cases.models",
    "pbx_engine.cases.dispositions",
    "pbx_engine.cases.importer",
    "pbx_engine.messaging.consent",  # the ledger's entry type: pure, imports nothing above
    "pbx_engine.lookups.provider",  # a number look-up's answer type: pure, the same
    "pbx_engine.config",
    "pbx_engine.resources",  # where the migrations are found
)


def _engine_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "pbx_engine"}


def test_given_the_storage_modules_then_none_imports_above_storage():
    modules = sorted((PACKAGE / "storage").glob("*.py"))
    assert len(modules) > 10
    upward = {
        path.name: sorted(n for n in _engine_imports(path) if not n.startswith(ALLOWED))
        for path in modules
    }
    assert {name: found for name, found in upward.items() if found} == {}


def test_given_the_case_models_then_they_import_nothing_of_the_engine():
    assert _engine_imports(PACKAGE / "cases" / "models.py") == set()
