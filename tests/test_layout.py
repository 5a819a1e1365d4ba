"""The package's shape: every module imports on its own, and imports point one way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tutorial_utils"


def module_names() -> list[str]:
    """Dotted names of every module of the package (``__main__`` excluded: it runs the CLI)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def package_imports(name: str) -> tuple[set[str], set[str]]:
    """Package modules imported by ``name``: (at module level, inside functions)."""
    path = PACKAGE.parent / Path(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top, nested = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            targets = {target} | {f"{target}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            targets = {alias.name for alias in node.names}
        else:
            continue
        found = {t for t in targets if t in MODULES}
        (top if node in tree.body else nested).update(found)
    return top, nested


MODULES = set(module_names())


def _import_fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def imported_by_the_package() -> set[str]:
    """Package modules that ``import tutorial_utils`` loads in a fresh interpreter."""
    result = _import_fresh(
        "import sys, tutorial_utils\n"
        "print(*(m for m in sys.modules if m.partition('.')[0] == 'tutorial_utils'))"
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_imports_alone_in_a_fresh_interpreter(name, imported_by_the_package):
    # ``import tutorial_utils.x`` first runs ``tutorial_utils/__init__`` in full; a module
    # that this already imported is imported alone exactly as in that one fresh interpreter,
    # so only the others need an interpreter of their own (16 instead of 48 starts).
    if name in imported_by_the_package:
        return
    result = _import_fresh(f"import {name}")
    assert result.returncode == 0, result.stderr


def test_no_package_import_is_hidden_inside_a_function():
    hidden = {name: package_imports(name)[1] for name in MODULES}
    assert {name: found for name, found in hidden.items() if found} == {}


def test_imports_have_no_cycle():
    graph = {name: package_imports(name)[0] - {name} for name in MODULES}
    # A package's __init__ re-exporting its own modules is not a cycle of the design.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".") and t != name}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, node, target]))
            if target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


# ------------------------------------------------------------------ the learner's package is small

MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40


def package_modules() -> list[Path]:
    """Every module of the package: the learner's flat modules, ``sample/``, ``plots/``, ``io/``
    and the private helpers of the CKA engine."""
    return sorted(PACKAGE.rglob("*.py"))


def _function_lengths(path: Path) -> dict[str, int]:
    """Lines of every function (signature and body), its docstring excluded."""
    lengths = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if isinstance(first.value.value, str):
                length -= first.end_lineno - first.lineno + 1
        lengths[f"{node.name} (line {node.lineno})"] = length
    return lengths


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_short(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{path.name} has {n_lines} lines"


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_are_short(path):
    long = {k: n for k, n in _function_lengths(path).items() if n > MAX_FUNCTION_LINES}
    assert long == {}


def test_plots_import_no_analysis_module():
    allowed = {"tutorial_utils.frames"}
    for name in sorted(n for n in MODULES if n.startswith("tutorial_utils.plots")):
        imported = package_imports(name)[0]
        assert {t for t in imported if not t.startswith("tutorial_utils.plots")} <= allowed, name
