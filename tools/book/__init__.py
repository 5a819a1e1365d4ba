"""Building and checking the Jupyter Book (maintainers; ``python -m tools.check_book``).

``build``
    The strict ``jupyter-book build`` and the locally served MathJax.
``browser``
    Debian's Chromium driven through Debian's chromedriver with Selenium, and a local HTTP
    server for the built HTML.
``pages``
    What is checked on each chapter page, and its screenshots.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
BUILD = BOOK / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"


def log(message: str) -> None:
    """Print a progress line of the book tools.

    Parameters
    ----------
    message : str
        Text after the ``[check_book]`` prefix.
    """
    print(f"[check_book] {message}", flush=True)
