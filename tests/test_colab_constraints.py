"""Colab's pins and the install check's logic, offline (pip's dry run itself runs in
`make colab-check`)."""

from __future__ import annotations

import importlib.util

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check", ROOT / "tools" / "check_colab_install.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

PINS = check.read_pins(ROOT / "ci" / "colab-constraints.txt")
RUNTIME = [
    Requirement(r)
    for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
]


def test_constraint_list_names_its_source():
    header = (ROOT / "ci" / "colab-constraints.txt").read_text().split("\n\n")[0]
    assert "googlecolab/backend-info" in header and "a724079" in header
    assert "2026-08-19" in header and "read on" in header


@pytest.mark.parametrize("requirement", RUNTIME, ids=str)
def test_colab_satisfies_every_runtime_floor(requirement):
    name = check.canonical(requirement.name)
    assert name in PINS, f"{name} is a runtime dependency but not in ci/colab-constraints.txt"
    assert requirement.specifier.contains(PINS[name]), f"Colab has {name}=={PINS[name]}"


def test_the_pins_issue_14_names():
    wanted = {"ipython": "7.34.0", "ipywidgets": "7.7.1", "traitlets": "5.7.1", "gdown": "5.2.2"}
    wanted |= {"numpy": "2.1.3", "scikit-learn": "1.6.1", "ipykernel": "6.17.1"}
    assert {name: PINS.get(name) for name in wanted} == wanted


def test_read_pins_skips_comments_and_markers(tmp_path):
    path = tmp_path / "c.txt"
    lines = ["# x==1", "NumPy==2.1.3  # c", "audioop_lts==0.2.2; python_version>='3.13'", "foo>=1"]
    path.write_text("\n".join(lines))
    assert check.read_pins(path) == {"numpy": "2.1.3", "audioop-lts": "0.2.2"}


def test_classify_flags_changes_and_strangers():
    pairs = "NumPy 2.1.3, ipython 9.18.1, speech_cka_tutorial 0.1.0, jedi 0.20.1, comm 0.2.3"
    resolved = [dict(zip(("name", "version"), p.split(), strict=True)) for p in pairs.split(", ")]
    groups = check.classify(resolved, {"numpy": "2.1.3", "ipython": "7.34.0"})
    assert groups["kept"] == ["numpy 2.1.3"]
    assert groups["changed"] == ["ipython 9.18.1 != 7.34.0"]
    assert [g.split()[0] for g in groups["new"]] == ["speech-cka-tutorial", "jedi"]
    assert groups["unexpected"] == ["comm 0.2.3"]
    assert check.report_groups(groups, "resolved") == 1


def test_setup_cell_is_pointed_at_a_checkout():
    code = check.setup_cell_code(ROOT / "notebooks" / "00_data_tour.py", "file:///tmp/x")
    assert "REPO_URL = 'file:///tmp/x'" in code and "github.com" not in code
    assert "git+{REPO_URL}" in code
