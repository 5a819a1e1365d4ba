"""The conda environment and pyproject list the same packages."""

from __future__ import annotations

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the PyPI names.
CONDA_TO_PYPI = {"pysoundfile": "soundfile"}
NOT_PACKAGES = {"python", "pip"}


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
