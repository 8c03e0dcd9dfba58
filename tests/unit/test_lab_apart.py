"""The lab (sandboxes, demo, benches, corpus and prompt tools) stays out of the runtime: no
runtime module imports it, the engine and the CLI load without it, and the image leaves it out."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pbx_engine.cli import main

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "pbx_engine"
LAB = PACKAGE / "lab"
RUNTIME_ROOTS = (PACKAGE, ROOT / "ari_apps")
# The CLI keeps the lab's commands; it may import the lab inside them, never at module level.
LAZY_IMPORTS_ALLOWED = PACKAGE / "cli.py"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, *, module_level_only: bool) -> list[tuple[int, str]]:
    """Every module an import statement in `path` names, relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    return names_in(path.read_text(encoding="utf-8"), package, module_level_only)


def names_in(source: str, package: list[str], module_level_only: bool) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    skipped: set[int] = set()
    if module_level_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                skipped |= {id(inner) for inner in ast.walk(node) if inner is not node}
    names = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.append((node.lineno, module))
            # `from pbx_engine import lab` names the lab through the alias.
            names += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return names


def runtime_modules() -> list[Path]:
    return sorted(
        path
        for root in RUNTIME_ROOTS
        for path in root.rglob("*.py")
        if not path.is_relative_to(LAB)
    )


def is_lab(name: str) -> bool:
    return name == "pbx_engine.lab" or name.startswith("pbx_engine.lab.")


def test_the_walk_sees_the_runtime_and_every_way_to_name_the_lab():
    names = {module_name(path) for path in runtime_modules()}
    assert {"pbx_engine.engine", "pbx_engine.cli", "ari_apps.outbound_call"} <= names
    assert not any(is_lab(name) for name in names)
    source = (
        "import pbx_engine.lab.demo\n"
        "from ..lab.sandbox import audio\n"
        "from .. import lab\n"
        "def later():\n"
        "    from pbx_engine.lab.amd import bench\n"
    )
    package = ["pbx_engine", "routing"]
    found = [name for _, name in names_in(source, package, module_level_only=False)]
    assert {"pbx_engine.lab.demo", "pbx_engine.lab.sandbox", "pbx_engine.lab"} <= set(found)
    assert "pbx_engine.lab.amd" in found
    module_level = [name for _, name in names_in(source, package, module_level_only=True)]
    assert "pbx_engine.lab.amd" not in module_level


def test_no_runtime_module_imports_the_lab():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in runtime_modules()
        for line, name in imported_names(path, module_level_only=path == LAZY_IMPORTS_ALLOWED)
        if is_lab(name)
    ]
    assert offenders == []


def test_the_cli_imports_the_lab_only_inside_its_commands():
    lazy = [
        name
        for _, name in imported_names(LAZY_IMPORTS_ALLOWED, module_level_only=False)
        if is_lab(name)
    ]
    assert lazy, "the lab's commands import it when they run"


def test_importing_the_engine_and_the_cli_loads_nothing_of_the_lab():
    script = (
        "import sys\n"
        "import pbx_engine.engine, pbx_engine.cli\n"
        "pbx_engine.cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('pbx_engine.lab')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["demo"], "pbx_engine.lab.demo"),
        (["prompts", "/tmp/unused-prompts"], "pbx_engine.lab.prompts"),
        (["bench", "pacing", "unused.toml"], "pbx_engine.lab.pacing.bench"),
    ],
)
def test_given_an_install_without_the_lab_when_a_lab_command_runs_then_it_says_so(
    argv, missing, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, missing, None)  # import of it fails as if not installed
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert f"`pbx-engine {argv[0]}` needs the lab (pbx_engine.lab)" in error


def test_the_engine_image_leaves_the_lab_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "pbx_engine/lab" in ignored
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "COPY pbx_engine ./pbx_engine" in dockerfile
