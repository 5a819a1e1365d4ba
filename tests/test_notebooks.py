"""The notebooks are paired, clean and follow the tutorial's structure (execution itself is
tested by nbval: ``pytest --nbval-lax`` collects notebooks/*.ipynb)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
EXPECTED = [
    "00_data_tour",
    "01_gram_matrices",
    "02_cka_acoustic_articulatory",
    "03_layer_comparisons",
    "04_sanity_checks",
    "05_other_measures",
    "06_fitted_measures",
]


def test_the_chapters_exist():
    assert [p.stem for p in SOURCES] == EXPECTED


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_the_pair_of_the_py_source(source):
    paired = source.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.name} is missing: run `make sync`"
    from_py = [(c.cell_type, c.source.strip()) for c in jupytext.read(source).cells]
    ipynb = json.loads(paired.read_text())
    from_ipynb = [(c["cell_type"], "".join(c["source"]).strip()) for c in ipynb["cells"]]
    assert from_py == from_ipynb, f"{paired.name} differs from {source.name}: run `make sync`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_committed_without_outputs(source):
    cells = json.loads(source.with_suffix(".ipynb").read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], "clear the outputs before committing"
            assert cell.get("execution_count") is None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_story_structure_and_data_notice(source):
    text = source.read_text()
    headings = re.findall(r"^# ## (.+)$", text, flags=re.MULTILINE)
    for wanted in ("Overview", "Summary", "Exercises"):
        assert any(h.startswith(wanted) for h in headings), f"{source.name}: no '{wanted}'"
    assert headings[0] == "Overview"
    assert re.search(r"^# (## |\*\*)Prerequisites", text, flags=re.MULTILINE), source.name
    assert headings[-1].startswith("Exercises")
    # Core sections, the summary, then "Going further: ..." sections, then the exercises.
    summary = next(i for i, h in enumerate(headings) if h.startswith("Summary"))
    further = [i for i, h in enumerate(headings) if h.startswith("Going further")]
    assert all(i > summary for i in further), "Going further sections come after the summary"
    assert "load_dataset(" in text
    # One voice: the full callout in chapter 00, the one-line notice.data_line elsewhere.
    if source.name.startswith("00"):
        assert "data_notice(" in text
    else:
        assert "data_line(" in text and "data_notice(" not in text
    # The whole solution cell folds, its "Answer:" output included.
    assert 'tags=["hide-cell"]' in text and 'tags=["hide-input"]' not in text


def test_no_helper_is_defined_in_two_notebooks():
    seen: dict[str, str] = {}
    for source in SOURCES:
        for name in re.findall(r"^def (\w+)\(", source.read_text(), flags=re.MULTILINE):
            assert name not in seen, f"{name} is defined in {seen[name]} and {source.name}"
            seen[name] = source.name
