"""The package's shape: imports point one way, without cycles; `import tutorial_utils` is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tutorial_utils"


def module_names() -> set[str]:
    """Dotted names of every module of the package (``__main__`` excluded: it runs the CLI)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] != "__main__":
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = module_names()


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
            found = {f"{target}.{a.name}" for a in node.names} & MODULES or {target} & MODULES
        elif isinstance(node, ast.Import):
            found = {alias.name for alias in node.names} & MODULES
        else:
            continue
        (top if node in tree.body else nested).update(found - {name})
    return top, nested


def group(name: str) -> str:
    """The layer a module belongs to (see ARCHITECTURE.md's rules of thumb)."""
    part = (name.split(".") + ["package"])[1]
    return part if part in {*ALLOWED, "package"} - {"chapter"} else "chapter"


# What each layer may import (besides itself). Learner chapter modules may use anything below.
ALLOWED = {"frames": set(), "cka": set(), "rsa": {"cka"}, "scale": {"cka"}, "io": {"frames"},
           "sample": {"frames"}, "dataset": {"io", "sample", "frames"}, "plots": {"frames"},
           "chapter": {"chapter", "cka", "rsa", "frames", "dataset", "io", "sample"},
           "package": {"cka", "dataset", "rsa"}}  # fmt: skip
LAZY = {("tutorial_utils.cka", "scale")}
"""Package imports allowed inside a function: loading an optional heavy route on first use."""


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_one_way(name):
    top, nested = package_imports(name)
    wrong = {t for t in top if group(t) != group(name) and group(t) not in ALLOWED[group(name)]}
    assert wrong == set(), f"{name} imports upward or sideways: {sorted(wrong)}"
    hidden = {t for t in nested if (name, group(t)) not in LAZY}
    assert hidden == set(), f"{name} hides package imports inside functions: {sorted(hidden)}"


def test_imports_have_no_cycle():
    graph = {name: {t for t in package_imports(name)[0] if not name.startswith(t + ".")}
             for name in MODULES}  # fmt: skip
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, node, target]))
            if target not in state:
                visit(target, [*path, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


HEAVY = ("sklearn", "seaborn", "matplotlib", "IPython", "scipy.stats", "librosa", "pandas",
         "torch", "dask", "tutorial_utils.scale", "tutorial_utils.io")  # fmt: skip


def test_importing_the_package_loads_no_heavy_library():
    code = "import sys, tutorial_utils; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert {m for m in loaded if m.startswith(HEAVY)} == set()
