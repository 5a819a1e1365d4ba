"""How ``make test`` shares the suite between its pytest-xdist workers.

``make test`` runs ``pytest -n 2 --dist loadfile``: each file is one unit of work, so a
notebook's nbval cells stay on one worker, in order, in one kernel. Two changes balance the
workers (measured in ``benchmarks/bench_loop.py``):

- each test of ``tests/test_notebooks_real_format.py`` is its own unit: that file executes
  every notebook (about 45 s) and would otherwise be one worker's long tail;
- the slow units go first (with ``--no-loadscope-reorder``, xdist keeps the collection order):
  the real-format runs, then the notebooks, then the unit tests.

The scheduler changes only ``--dist loadfile``; a run without workers keeps pytest's order.

xdist's own ``--dist loadgroup`` cannot do this here: under pytest 9.2 it no longer groups
anything (pytest-dev/pytest-xdist#1386, open), because pytest's ``nodeid`` no longer reads
the ``_nodeid`` that xdist 3.8 rewrites.
"""

from __future__ import annotations

import pytest

PER_TEST_FILES = ("tests/test_notebooks_real_format.py",)


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _unit_of_work(nodeid: str) -> str:
    """The file, or the test itself for the files in ``PER_TEST_FILES``."""
    return nodeid if _file(nodeid) in PER_TEST_FILES else _file(nodeid)


def _slowest_first(item: pytest.Item) -> int:
    path = _file(item.nodeid)
    if path in PER_TEST_FILES:
        return 0
    return 1 if path.endswith(".ipynb") else 2


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, slow units first (a stable sort: a notebook's cells keep their order)."""
    if hasattr(config, "workerinput"):
        items.sort(key=_slowest_first)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: no error where xdist is missing
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile``, except that ``PER_TEST_FILES`` are split test by test."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class BalancedFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit_of_work(nodeid)

    return BalancedFileScheduling(config, log)
