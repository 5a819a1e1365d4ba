"""Build the Jupyter Book and check every chapter page in headless Chromium.

Usage (from the repository root; ``make book`` and ``make book-check`` call this)::

    python -m tools.check_book --build-only   # build the book, print the path of index.html
    python -m tools.check_book                # build, then check each chapter in Chromium
    python -m tools.check_book --no-build     # check an existing build

The build (:mod:`tools.book.build`) is ``jupyter-book build -W -n --keep-going`` from the
repository root, with MathJax served from the book. The check serves ``book/_build/html`` on a
local port and opens each chapter in one headless Chromium driven by Selenium through Debian's
chromedriver (:mod:`tools.book.browser`); what it asserts on each page, and the screenshots it
saves in ``book/_build/screenshots/``, are listed in :mod:`tools.book.pages`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from tools.book import BOOK, HTML, ROOT, SCREENSHOTS, log
from tools.book.browser import chromium, serve
from tools.book.build import build_book
from tools.book.pages import chapter_pages, check_page

__all__ = ["chapter_pages", "check_book", "main"]


def check_book(toc: Path, min_figures: int = 1) -> list[str]:
    """Open every chapter of the built book in the browser and collect the problems.

    Parameters
    ----------
    toc : Path
        Table of contents that lists the chapters.
    min_figures : int, default 1
        Figures each chapter must show.

    Returns
    -------
    list of str
        Problems on all pages; empty when the book is fine.
    """
    pages = chapter_pages(toc)
    if not pages:
        return [f"no notebook chapters in {toc}"]
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    problems: list[str] = []
    with serve(HTML) as base_url, chromium() as driver:
        for page in pages:
            problems += check_page(driver, base_url, page, min_figures)
    log(f"screenshots in {SCREENSHOTS.relative_to(ROOT)}/")
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``build_only``, ``no_build``, ``toc`` and ``min_figures``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.check_book", description=__doc__.split("\n\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--build-only", action="store_true", help="build the book, do not check")
    mode.add_argument("--no-build", action="store_true", help="check the existing build")
    parser.add_argument(
        "--toc", type=Path, default=BOOK / "_toc.yml", help="table of contents (book/_toc.yml)"
    )
    parser.add_argument(
        "--min-figures", type=int, default=1, help="figures each chapter must show (default 1)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : list of str, optional
        Arguments.

    Returns
    -------
    int
        0 when the build (and the check) passed, 1 when the check found problems.
    """
    args = parse_args(argv)
    toc = args.toc.resolve()
    if args.no_build:
        if not (HTML / "index.html").exists():
            raise SystemExit("no build in book/_build/html: run `make book` first")
    else:
        index = build_book(toc)
        if args.build_only:
            print(f"Book: {index}")
            return 0
    problems = check_book(toc, args.min_figures)
    if problems:
        print("\nBook check FAILED:", *problems, sep="\n  ")
        return 1
    pages = len(chapter_pages(toc))
    print(f"Book check passed: {pages} chapter pages; index: {HTML / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
