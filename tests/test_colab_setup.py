"""The notebooks' setup cell: the same short, hidden install step everywhere, one repository URL,
and what it does when the package is present, missing, or cannot be installed (pip mocked; the
real install into a Colab-pinned venv is `make colab-check`)."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
FIND_SPEC = importlib.util.find_spec


def setup_cell(source: Path):
    return next(c for c in jupytext.read(source).cells if c.cell_type == "code")


def book_url() -> str:
    return yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["repository"]["url"]


def test_every_notebook_starts_with_the_same_short_hidden_setup_cell():
    cells = [setup_cell(source) for source in SOURCES]
    assert len({cell.source for cell in cells}) == 1, "setup cells differ"
    assert all(cell.metadata.get("tags") == ["remove-input"] for cell in cells)
    assert len(cells[0].source.splitlines()) <= 14
    assert f'REPO_URL = "{book_url()}"' in cells[0].source
    for source in SOURCES:
        assert source.read_text().count("https://github.com/") == 1, "one address, in REPO_URL"


def test_setup_cell_is_standalone():
    """Colab runs nothing before it: only the standard library, no notebook state."""
    tree = ast.parse(setup_cell(SOURCES[0]).source)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"importlib.util", "os", "subprocess", "sys"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]


def run_cell(monkeypatch, returncode=0, missing=True, lands=True, pip=True) -> list:
    """Run the setup cell with pip mocked (absent unless ``pip``): ``missing`` before it, found
    after it if ``lands``."""
    calls, cp = [], subprocess.CompletedProcess  # pip's call, and what it returns
    monkeypatch.setattr(subprocess, "run", lambda c, **k: calls.append((c, k)) or cp(c, returncode))

    def find_spec(name, *args):
        hidden = name == "tutorial_utils" and missing and not (calls and lands)
        return None if hidden or name == "pip" and not pip else FIND_SPEC(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    exec(compile(setup_cell(SOURCES[0]).source, "setup-cell", "exec"), {})
    return calls


def test_missing_package_is_installed_quietly_without_upgrades_or_a_login_prompt(monkeypatch):
    ((command, kwargs),) = run_cell(monkeypatch)
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and "-q" in command
    assert command[-1] == f"git+{book_url()}"
    assert not {"-U", "--upgrade", "--no-deps", "--force-reinstall"} & set(command)
    assert kwargs["env"]["GIT_TERMINAL_PROMPT"] == "0" and kwargs["env"]["PATH"]  # no prompt


def test_an_install_that_fails_or_lands_elsewhere_stops_saying_what_to_try(monkeypatch):
    hint = "check the address and the network, or install from a local copy: pip install /"
    with pytest.raises(RuntimeError, match=hint):
        run_cell(monkeypatch, returncode=1)
    with pytest.raises(RuntimeError, match="where this kernel .* does not import from"):
        run_cell(monkeypatch, lands=False)


def test_a_kernel_without_pip_is_told_to_run_ensurepip_or_uv_not_to_check_the_network(monkeypatch):
    hint = r"no pip: run `python -m ensurepip`, or install with uv \(`uv pip install --python "
    with pytest.raises(RuntimeError, match=hint + re.escape(sys.executable)):
        run_cell(monkeypatch, pip=False)  # a uv venv: `python -m pip` is "No module named pip"


def test_a_present_package_even_half_installed_is_left_alone(monkeypatch, tmp_path):
    (tmp_path / "tutorial_utils").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0] == "tutorial_utils"]:
        monkeypatch.delitem(sys.modules, name)
    for init, error in [("from . import gone\n", ImportError), ("def (:\n", SyntaxError)]:
        (tmp_path / "tutorial_utils" / "__init__.py").write_text(init)
        assert run_cell(monkeypatch, missing=False) == []  # nothing reinstalled over it
        with pytest.raises(error):
            importlib.import_module("tutorial_utils")


def test_data_tour_has_an_optional_colab_data_cell_that_is_off():
    source = ROOT / "notebooks" / "00_data_tour.py"
    text = source.read_text()
    assert text.count("GET_REAL_DATA = False") == 1 and "if GET_REAL_DATA:" in text
    assert "--data-dir" in text and "/content/drive/MyDrive/" in text
    assert "survives the end of the session" in " ".join(text.split())
    namespace: dict = {}
    cell = text.split("# %%\nGET_REAL_DATA = False", 1)[1].split("\n# %%", 1)[0]
    exec(compile("GET_REAL_DATA = False" + cell, "optional-cell", "exec"), namespace)
    assert "drive" not in namespace  # nothing ran: no Colab import, no mount, no download
