"""The conda environment and pyproject list the same packages, and both install as written."""

from __future__ import annotations

import os
import re
import subprocess

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI names.
CONDA_TO_PYPI = {"pysoundfile": "soundfile"}
NOT_PACKAGES = {"python", "pip", "jupyterlab"}  # jupyterlab: conda's notebook server


def package_name(requirement: str) -> str:
    name = re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {package_name(r) for r in wanted}


def conda_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for entry in env["dependencies"]:
        if isinstance(entry, str):
            name = package_name(entry)
            names.add(CONDA_TO_PYPI.get(name, name))
    return names - NOT_PACKAGES


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert conda_packages() == pyproject_packages()


def test_heavy_extras_stay_optional():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {package_name(r) for r in project["dependencies"]}
    assert not runtime & {"torch", "transformers", "vocaltractlab-cython"}


def test_pip_entries_of_environment_yml_parse_as_a_requirements_file(tmp_path):
    """conda hands its `pip:` entries to pip as a requirements file (`--no-deps` is refused)."""
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    lines = next(entry["pip"] for entry in env["dependencies"] if isinstance(entry, dict))
    (tmp_path / "condaenv.requirements.txt").write_text("\n".join(lines) + "\n")
    parsed = list(parse_requirements(str(tmp_path / "condaenv.requirements.txt"), PipSession()))
    assert [(r.requirement, r.is_editable) for r in parsed] == [(".", True)]


def test_licence_is_an_spdx_string():
    """setuptools refuses the `{ text = ... }` table from 2027-02-18 (it warns until then)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]  # the first to read it


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="as root only")
def test_make_lab_starts_jupyter_as_root():
    make = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True)
    assert "jupyter lab notebooks/ --allow-root" in make.stdout
