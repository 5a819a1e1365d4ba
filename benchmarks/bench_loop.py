"""Benchmark: the learner's loop, before and after, measured in one run.

Run: ``python benchmarks/bench_loop.py [--baseline REF] [--repeat N] [--pytest]``. For the
working tree, and for ``REF`` (a git commit, extracted with ``git archive`` to a temporary
folder) when given, it prints the load average, then per tree: ``import tutorial_utils``
and the first ``load_dataset("sample")`` in a fresh process (best of ``N``), every notebook
executed once with nbclient (as nbval and the real-format test do), and with ``--pytest``
the wall time of the whole ``pytest`` run as each tree's ``make test`` runs it (its
pytest arguments, one BLAS thread); ``--one-thread`` adds this tree
run with one BLAS thread (as ``make test`` and ``make book`` now run). Trees are timed
alternately so that all see the same load on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
COLD_LOAD = (
    "import time; t0 = time.perf_counter()\n"
    "import tutorial_utils; t1 = time.perf_counter()\n"
    "tutorial_utils.load_dataset('sample'); t2 = time.perf_counter()\n"
    "print(t1 - t0, t2 - t1)\n"
)


def _extract(ref: str, into: Path) -> Path:
    """The tree of commit ``ref`` in a fresh folder (no build outputs, no caches)."""
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_EXTRA_ENV: dict[Path, dict[str, str]] = {}


def _env(tree: Path) -> dict[str, str]:
    extra = _EXTRA_ENV.get(tree, {})
    return {**os.environ, "PYTHONPATH": str(tree), "PYDEVD_DISABLE_FILE_VALIDATION": "1", **extra}


def cold_load(tree: Path, repeat: int) -> tuple[float, float]:
    """Best (import, first load) seconds over ``repeat`` fresh interpreters."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", COLD_LOAD],
            env=_env(tree),
            cwd=tree,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(tuple(float(x) for x in out.split()))
    return min(r[0] for r in runs), min(r[1] for r in runs)


def run_notebook(tree: Path, name: str) -> float:
    """Seconds to execute one notebook of ``tree`` in a fresh kernel (kernel start included)."""
    path = tree / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(_env(tree))
    try:
        start = time.perf_counter()
        NotebookClient(
            notebook,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": path.parent}},
        ).execute()
        return time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(saved)


def make_test_arguments(tree: Path) -> list[str]:
    """The pytest arguments of ``tree``'s ``make test`` (e.g. ``-n 2 --dist loadfile``)."""
    makefile = (tree / "Makefile").read_text()
    workers = re.search(r"^TEST_WORKERS \?= (\S+)", makefile, flags=re.MULTILINE)
    line = re.search(r"^test: venv\n\t.*-m pytest(.*)$", makefile, flags=re.MULTILINE)
    arguments = line.group(1) if line else ""
    return arguments.replace("$(TEST_WORKERS)", workers.group(1) if workers else "2").split()


def run_pytest(tree: Path) -> float:
    """Wall seconds of the whole test suite of ``tree``, run as its ``make test`` runs it."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    subprocess.run(
        [*command, *make_test_arguments(tree)],
        env={**_env(tree), **ONE_THREAD},
        cwd=tree,
        check=False,
        capture_output=True,
    )
    return time.perf_counter() - start


def _row(label: str, values: dict[str, float]) -> str:
    return f"{label:<42}" + "".join(f"{v:>10.2f}" for v in values.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git ref to compare with (e.g. a commit before)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per cold load")
    parser.add_argument("--pytest", action="store_true", help="also time the whole test suite")
    parser.add_argument(
        "--one-thread", action="store_true", help="add a column: this tree with one BLAS thread"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": ROOT}
        if args.baseline:
            trees = {args.baseline[:10]: _extract(args.baseline, Path(tmp)), **trees}
        if args.one_thread:
            # A symlinked path to the same tree, so that its environment can differ.
            (Path(tmp) / "one").symlink_to(ROOT)
            trees["1 thread"] = Path(tmp) / "one"
            _EXTRA_ENV[trees["1 thread"]] = ONE_THREAD
        print(f"load average at start: {os.getloadavg()}   cpus: {os.cpu_count()}")
        print(f"{'seconds':<42}" + "".join(f"{name:>10}" for name in trees))
        loads = {name: cold_load(tree, args.repeat) for name, tree in trees.items()}
        print(_row("import tutorial_utils (fresh process)", {n: v[0] for n, v in loads.items()}))
        print(_row("first load_dataset('sample')", {n: v[1] for n, v in loads.items()}))
        for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            times = {  # nan: the tree has no such notebook (e.g. a chapter added since)
                name: run_notebook(tree, path.name)
                if (tree / "notebooks" / path.name).is_file()
                else float("nan")
                for name, tree in trees.items()
            }
            print(_row(f"notebook {path.stem}", times))
        if args.pytest:
            print(_row("pytest (make test)", {n: run_pytest(t) for n, t in trees.items()}))
        print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
