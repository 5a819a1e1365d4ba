# Two main commands: `make book` and `make test`. Each creates or reuses .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*.py)

.PHONY: help venv test book book-check lab sync lint sample clean

help:
	@echo "make test    run the unit tests and execute every notebook (nbval)"
	@echo "make book    build the Jupyter Book (HTML) on the offline sample"
	@echo "make lab     open the notebooks in JupyterLab"
	@echo "make sync    regenerate notebooks/*.ipynb from the percent .py sources"
	@echo "make lint    ruff"
	@echo "make sample  regenerate the offline sample with VocalTractLab (maintainers)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tutorial_utils tests benchmarks tools data_download.py

sync: venv
	$(BIN)/jupytext --to ipynb --update $(NOTEBOOKS)

lab: venv
	$(BIN)/python -m pip install --quiet jupyterlab
	$(BIN)/jupyter lab notebooks/

# Strict Jupyter Book build from the repo root (book/_config.yml, book/_toc.yml; any warning
# fails it), MathJax copied in from npm; prints the path of index.html.
book: venv
	$(BIN)/python -m tools.check_book --build-only

# Build, then open every chapter in headless Chromium (Selenium driving Debian's chromium through
# chromium-driver): screenshots in book/_build/screenshots/, fails on missing figures, error
# outputs, blank widget boxes or untypeset math.
book-check: venv
	$(BIN)/python -m tools.check_book

sample:
	test -x .venv-sample/bin/python || $(PYTHON) -m venv .venv-sample
	.venv-sample/bin/python -m pip install --quiet -e '.[sample]'
	.venv-sample/bin/python -m tools.make_sample

clean:
	rm -rf book/_build .pytest_cache
