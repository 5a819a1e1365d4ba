"""The Jupyter Book: configuration sanity (always) and, with BOOK_CHECK=1 (CI: `make
book-check`), the build opened chapter by chapter in headless Chromium (Selenium; about a
minute, needs the Debian packages `chromium` and `chromium-driver`)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = [f"notebooks/{p.stem}" for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))]


def load_check_book():
    return importlib.import_module("tools.check_book")


def test_toc_lists_intro_five_chapters_and_references():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    assert toc["root"] == "book/intro"
    files = [entry["file"] for entry in toc["chapters"]]
    assert files == [*CHAPTERS, "book/references"]
    assert load_check_book().chapter_pages(BOOK / "_toc.yml") == CHAPTERS


def test_config_is_strict_and_self_contained():
    text = (BOOK / "_config.yml").read_text()
    config = yaml.safe_load(text)
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] in ("force", "cache")
    assert "notebooks/*.py" in config["exclude_patterns"]
    # The repository URL is written once (the substitution reuses it through a YAML anchor).
    url = config["repository"]["url"]
    assert text.count(url) == 1
    assert config["parse"]["myst_substitutions"]["repo_url"] == url
    assert config["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    # Math and widgets do not depend on a CDN.
    assert not config["sphinx"]["config"]["mathjax_path"].startswith("http")
    assert config["sphinx"]["config"]["nb_ipywidgets_js"] == {}
    for bib in config["bibtex_bibfiles"]:
        assert (ROOT / bib).is_file()


def test_every_cited_key_is_in_the_bibliography():
    import re

    bib = (BOOK / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.M))
    sources = [BOOK / "intro.md", *sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))]
    cited = set()
    for path in sources:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text()):
            cited.update(key.strip() for key in group.split(","))
    assert cited, "book/intro.md cites nothing"
    assert cited <= keys, f"unknown citation keys: {sorted(cited - keys)}"


def test_the_page_check_flags_wide_lines_shrunk_figures_and_visible_answers():
    from tools.book.pages import page_problems

    images = [{"src": "f", "width": w, "height": 9, "shown": 690, "output": 1} for w in (1610, 800)]
    report = dict.fromkeys(["tracebacks", "stderrErrors", "ename", "rawMath"], []) | {
        "images": images, "lines": ["x" * 88, "y" * 89], "widgets": 0, "math": 0}  # fmt: skip
    report["answers"] = 1
    images.append({"src": "g", "width": 600, "height": 9, "shown": 690, "output": 1, "alt": ""})
    problems = page_problems("p", report | {"mathTypeset": 0, "mathErrors": 0}, 1)
    assert len(problems) == 4 and "1610 px" in problems[0] and "without alt" in problems[1]
    assert "89 >" in problems[2] and "answer(s) visible" in problems[3]


@pytest.mark.skipif(os.environ.get("BOOK_CHECK") != "1", reason="set BOOK_CHECK=1 (needs chromium)")
def test_book_builds_and_every_chapter_renders():
    result = subprocess.run([sys.executable, "-m", "tools.check_book"], cwd=ROOT)
    assert result.returncode == 0, "book build or browser check failed; see the output above"
    shots = sorted((BOOK / "_build" / "screenshots").glob("*.png"))
    assert len(shots) >= len(CHAPTERS)


def test_every_chapter_and_the_core_path_fit_the_reading_time():
    from tools import reading_time as rt

    minutes = {p.stem: rt.chapter_minutes(p) for p in sorted((ROOT / "notebooks").glob("0*.py"))}
    long = {k: round(v[0]) for k, v in minutes.items() if v[0] > rt.CHAPTER_LIMIT_MINUTES}
    core = sum(core for _, core in minutes.values())
    assert not long and core <= rt.CORE_LIMIT_MINUTES, f"too long: {long}, core path {core:.0f}"


def test_the_book_build_drops_only_the_kernels_unencrypted_tcp_notice():
    """ipykernel logs 'Kernel is running over TCP without encryption' once per notebook."""
    child = (
        "import sys; print('[IPKernelApp] WARNING | Kernel is running over TCP without "
        "encryption. All communication...', file=sys.stderr); print('real', file=sys.stderr)"
    )
    code = (
        "import subprocess, sys\nfrom tools.book.build import kernel_noise_dropped\n"
        f"with kernel_noise_dropped():\n    subprocess.run([sys.executable, '-c', {child!r}])\n"
        "print('after', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stderr.splitlines() == ["real", "after"], result.stderr
