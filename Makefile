# Two main commands: `make book` and `make test`. Each creates or reuses .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*.py)

.PHONY: help venv test book book-check lab sync lint sample clean colab-check

help:
	@echo "make test    run the unit tests and execute every notebook (nbval)"
	@echo "make book    build the Jupyter Book (HTML) on the offline sample"
	@echo "make lab     open the notebooks in JupyterLab"
	@echo "make sync    regenerate notebooks/*.ipynb from the percent .py sources"
	@echo "make lint    ruff"
	@echo "make sample  regenerate the offline sample with VocalTractLab (maintainers)"
	@echo "make colab-check  install + run every notebook in a venv pinned like Google Colab"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The first MFCC compiles librosa's numba kernels into numba's on-disk cache, once per
	# environment (16 s here), like pip's bytecode compilation; without this the first
	# notebook or test process of a new venv pays it (later ones load them in about 1 s).
	$(BIN)/python -c 'import numpy; from tutorial_utils.frames import mfcc_frames; \
	  mfcc_frames(numpy.zeros(16000, numpy.float32))'
	touch $(STAMP)

venv: $(STAMP)

# One BLAS thread for the tests and the book build: their products are small, and on a shared
# 2-core machine OpenBLAS's threads wait for each other (chapter 02: 43 s -> 8 s; see
# benchmarks/bench_loop.py). Same printed numbers.
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

# Two pytest-xdist workers; each notebook's nbval cells stay on one worker. The root conftest.py
# splits the real-format notebook runs test by test and sends the slow units first.
TEST_WORKERS ?= 2

test: venv
	$(ONE_THREAD) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tutorial_utils tests benchmarks tools data_download.py

sync: venv
	$(BIN)/jupytext --to ipynb --update $(NOTEBOOKS)

lab: venv
	$(BIN)/python -m pip install --quiet jupyterlab
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# Strict Jupyter Book build from the repo root (book/_config.yml, book/_toc.yml; any warning
# fails it), MathJax copied in from npm; prints the path of index.html.
book: venv
	$(ONE_THREAD) $(BIN)/python -m tools.check_book --build-only

# Build, then open every chapter in headless Chromium (Selenium driving Debian's chromium through
# chromium-driver): screenshots in book/_build/screenshots/, fails on missing figures, error
# outputs, blank widget boxes or untypeset math.
book-check: venv
	$(ONE_THREAD) $(BIN)/python -m tools.check_book

sample:
	test -x .venv-sample/bin/python || $(PYTHON) -m venv .venv-sample
	.venv-sample/bin/python -m pip install --quiet -e '.[sample]'
	.venv-sample/bin/python -m tools.make_sample

# Google Colab as it is today (ci/colab-constraints.txt, Python 3.13): pip's dry run must change
# no preinstalled package; then a fresh venv with exactly Colab's versions gets the package the
# way the notebooks' setup cell installs it (from this checkout's committed HEAD), and runs the
# version-sensitive unit tests and every notebook, on the sample and on a cache in the real
# data's format (the notebooks' real-data branches). Takes a few minutes (downloads ~120 wheels
# once into pip's cache; no CUDA, no torch).
COLAB_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
                            $(shell command -v python3.13 2>/dev/null))
COLAB_VENV := .venv-colab
COLAB_BIN := $(COLAB_VENV)/bin

colab-check:
	@$(COLAB_PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || \
	  { echo "colab-check needs Colab's Python 3.13: set COLAB_PYTHON=/path/to/python3.13"; exit 1; }
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_BIN)/python -m pip install --quiet --no-deps -r ci/colab-constraints.txt
	$(COLAB_BIN)/python tools/check_colab_install.py
	$(COLAB_BIN)/python tools/check_colab_install.py --setup-cell notebooks/00_data_tour.py
	$(COLAB_BIN)/python -m pip install --quiet -c ci/colab-constraints.txt 'nbval>=0.11' pytest-xdist
	cd $(COLAB_VENV) && PYDEVD_DISABLE_FILE_VALIDATION=1 bin/python -m pytest -p no:cacheprovider \
	  -o addopts= -q --disable-warnings $(CURDIR)/tests/test_widgets.py $(CURDIR)/tests/test_download.py
	$(ONE_THREAD) REAL_FORMAT_NOTEBOOKS=1 PYDEVD_DISABLE_FILE_VALIDATION=1 $(COLAB_BIN)/python -m pytest \
	  -p no:cacheprovider -o addopts= -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	  --nbval-lax --nbval-current-env notebooks/ tests/test_notebooks_real_format.py

clean:
	rm -rf book/_build .pytest_cache
