"""The notebooks' setup cell: the same install step everywhere, one repository URL, and what
it does when the package is present, missing, or cannot be installed (pip mocked).

The real install into a Colab-pinned venv is `make colab-check`.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
END = "    import tutorial_utils  # noqa: F401\n"


def first_code_cell(source: Path) -> str:
    pieces = re.split(r"^(# %%.*)$", source.read_text(), flags=re.MULTILINE)
    return next(
        body
        for head, body in zip(pieces[1::2], pieces[2::2], strict=True)
        if "[markdown]" not in head
    )


def install_step(source: Path) -> str:
    """The setup cell's install step: from its first line to the re-import after installing."""
    cell = first_code_cell(source).lstrip("\n")
    assert cell.startswith("# Setup:"), f"{source.name}: the first code cell must be the setup"
    return cell[: cell.rindex(END) + len(END)]


def book_url() -> str:
    return yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["repository"]["url"]


def test_every_notebook_has_the_same_install_step():
    steps = {source.name: install_step(source) for source in SOURCES}
    assert len(set(steps.values())) == 1, f"setup cells differ: {sorted(steps)}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_repository_url_is_written_once_and_matches_the_book(source):
    text = source.read_text()
    assert text.count("REPO_URL = ") == 1
    assert f'REPO_URL = "{book_url()}"' in text
    assert text.count("https://github.com/") == 1, "use REPO_URL, do not repeat the address"


def test_install_step_is_standalone():
    """Colab runs nothing before it: only the standard library, no notebook state."""
    tree = ast.parse(install_step(SOURCES[0]))
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert imported <= {"importlib", "json", "subprocess", "sys", "tutorial_utils"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]


class FakePip:
    """Stands in for ``subprocess.run`` of pip; records the command."""

    def __init__(self, returncode: int = 0, installed: tuple[str, ...] = ()):
        self.returncode, self.installed, self.commands = returncode, installed, []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        report = {"install": [{"metadata": {"name": n, "version": "1.0"}} for n in self.installed]}
        out = json.dumps(report) if self.returncode == 0 else ""
        return subprocess.CompletedProcess(command, self.returncode, out, "ERROR: no network")


def run_step(monkeypatch, fake: FakePip, missing: bool) -> None:
    monkeypatch.setattr(subprocess, "run", fake)
    if missing:  # tutorial_utils cannot be imported until "pip" has run
        monkeypatch.setitem(sys.modules, "tutorial_utils", None)

        def installed(*args, **kwargs):
            monkeypatch.delitem(sys.modules, "tutorial_utils")
            return fake(*args, **kwargs)

        monkeypatch.setattr(subprocess, "run", installed)
    exec(compile(install_step(SOURCES[0]), "setup-cell", "exec"), {})


def test_present_package_installs_nothing(monkeypatch, capsys):
    fake = FakePip()
    run_step(monkeypatch, fake, missing=False)
    assert fake.commands == [] and capsys.readouterr().out == ""


def test_missing_package_is_installed_quietly_without_upgrades(monkeypatch, capsys):
    fake = FakePip(installed=("speech-cka-tutorial", "jedi"))
    run_step(monkeypatch, fake, missing=True)
    (command,) = fake.commands
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and "--quiet" in command
    assert command[-1] == f"speech-cka-tutorial @ git+{book_url()}"
    assert not {"-U", "--upgrade", "--no-deps", "--force-reinstall"} & set(command)
    assert capsys.readouterr().out == "Installed: speech-cka-tutorial 1.0, jedi 1.0\n"


def test_failed_install_shows_pip_error(monkeypatch):
    with pytest.raises(RuntimeError, match="no network"):
        run_step(monkeypatch, FakePip(returncode=1), missing=True)


def test_data_tour_has_an_optional_colab_data_cell_that_is_off():
    source = ROOT / "notebooks" / "00_data_tour.py"
    text = source.read_text()
    assert text.count("GET_REAL_DATA = False") == 1 and "if GET_REAL_DATA:" in text
    assert "--data-dir" in text and "/content/drive/MyDrive/" in text
    assert "wipes the runtime's disk between sessions" in " ".join(text.split())
    namespace: dict = {}
    cell = text.split("# %%\nGET_REAL_DATA = False", 1)[1].split("\n# %%", 1)[0]
    exec(compile("GET_REAL_DATA = False" + cell, "optional-cell", "exec"), namespace)
    assert "drive" not in namespace  # nothing ran: no Colab import, no mount, no download
