"""The package's shape: every module imports on its own, and imports point one way."""

from __future__ import annotations

import ast
import json
import os
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


# One interpreter loads the third-party libraries the package uses (never the package), then
# forks a child per module that imports just that module: each child starts with no
# ``tutorial_utils`` module loaded, as a fresh interpreter does, in ~0.3 s instead of ~2.5 s.
_FORK_IMPORTS = r"""
import gc, json, os, sys, traceback

def in_child(work):
    read, write = os.pipe()
    if os.fork() == 0:
        os.close(read)
        try:
            message = work()
        except BaseException:
            message = traceback.format_exc()
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.wait()
    return text

def libraries():
    for name in sys.argv[1:]:
        try:
            __import__(name)
        except BaseException:
            pass
    return "\n".join(m for m in sys.modules if not m.startswith(("tutorial_utils", "__main__")))

for library in in_child(libraries).splitlines():
    try:
        __import__(library)
    except BaseException:
        pass
assert not [m for m in sys.modules if m.startswith("tutorial_utils")]
gc.freeze()  # the libraries' objects are never collected: children skip scanning them
errors = {name: in_child(lambda: __import__(name) and "") for name in sys.argv[1:]}
print(json.dumps(errors))
"""


def _import_fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def import_errors() -> dict[str, str]:
    """``{module: traceback or ""}``: each module imported alone, before any other of ours."""
    if not hasattr(os, "fork"):  # one fresh interpreter per module
        return {name: _import_fresh(f"import {name}").stderr for name in sorted(MODULES)}
    result = subprocess.run(
        [sys.executable, "-c", _FORK_IMPORTS, *sorted(MODULES)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_imports_alone_in_a_fresh_interpreter(name, import_errors):
    assert import_errors[name] == ""


def test_a_module_that_cannot_import_is_reported(tmp_path):
    (tmp_path / "broken_module.py").write_text("import json\nraise ImportError('no')\n")
    (tmp_path / "good_module.py").write_text("import json\n")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + _FORK_IMPORTS
    result = subprocess.run(
        [sys.executable, "-c", code, "broken_module", "good_module"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    errors = json.loads(result.stdout)
    assert "ImportError: no" in errors["broken_module"] and errors["good_module"] == ""


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
