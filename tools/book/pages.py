"""What the book check looks at on each chapter page, and the page's screenshots.

For each chapter it

* saves two screenshots in ``book/_build/screenshots/`` (top of the page, first figure);
* asserts that the page has figures and that every image in the article has a non-zero
  natural size (i.e. it loaded and decoded);
* asserts that every figure has alt text (``mystnb`` image metadata on its cell);
* asserts that no exercise answer (an output line starting "Answer") is visible unfolded;
* asserts that no printed output line is wider than :data:`MAX_LINE` characters (it would
  scroll sideways) and that no figure is shrunk by more than :data:`MAX_SHRINK` into the
  column (``tutorial_utils.plots`` writes text of at least 9 pt at 100 dpi: 12.5 px, so
  >= 9 px after that shrink);
* asserts that no output cell shows an error (a traceback, ``ename``, or "Error"/"Traceback"
  in a stderr stream), that no widget placeholder is left on the page (it would render as a
  blank box), and that math was typeset: every math element holds a MathJax container, no
  MathJax error, and no raw ``$$``, ``\\(`` or ``\\[`` left in the text outside code.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import Chrome

from . import HTML, ROOT, SCREENSHOTS, log

MAX_LINE = 88  # characters of a printed output line
MAX_SHRINK = 1.38  # natural / displayed width of an output figure: 9 pt (12.5 px) >= 9 px

# Runs in the loaded page (Selenium's execute_async_script: the last argument is the callback):
# waits for images and MathJax, then reports what it found in the article.
INSPECT = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const article = document.querySelector("article.bd-article") || document.body;
  const imgs = () => Array.from(article.querySelectorAll("img"));
  for (let i = 0; i < 100 && !imgs().every((im) => im.complete); i++) await sleep(100);
  const hasMath = article.querySelector(".math") !== null;
  const started = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
  if (hasMath) {
    for (let i = 0; i < 100 && !started(); i++) await sleep(100);
    if (started()) await Promise.race([MathJax.startup.promise, sleep(20000)]);
  }
  const text = (el) => (el.innerText || el.textContent || "").trim();
  const stderr = Array.from(article.querySelectorAll(".cell_output .stderr")).map(text);
  const rawMath = [];
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && el.closest("pre, code, script, style, textarea, .highlight, mjx-container")) continue;
    if (/\$\$|\\\(|\\\[/.test(n.nodeValue)) rawMath.push(n.nodeValue.trim().slice(0, 120));
  }
  return {
    title: document.title,
    images: imgs().map((im) => ({
      src: (im.getAttribute("src") || "").slice(0, 120),
      width: im.naturalWidth,
      height: im.naturalHeight,
      shown: im.getBoundingClientRect().width,
      output: im.closest(".cell_output") !== null,
      alt: (im.getAttribute("alt") || "").trim(),
    })),
    lines: Array.from(article.querySelectorAll(".cell_output pre"))
      .flatMap((pre) => (pre.textContent || "").split("\n")),
    answers: Array.from(article.querySelectorAll(".cell_output"))
      .filter((el) => el.offsetParent !== null && /^Answer\b/m.test(el.innerText || "")).length,
    tracebacks: Array.from(article.querySelectorAll(".cell_output .traceback")).map(text),
    stderrErrors: stderr.filter((s) => /Error|Traceback/.test(s)).map((s) => s.slice(0, 500)),
    ename: Array.from(article.querySelectorAll(".cell_output"))
      .map(text).filter((s) => /\bename\b/.test(s)).map((s) => s.slice(0, 300)),
    widgets: article.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets'
    ).length,
    math: article.querySelectorAll(".math").length,
    mathTypeset: article.querySelectorAll(".math mjx-container, mjx-container.MathJax").length,
    mathErrors: article.querySelectorAll("mjx-merror").length,
    rawMath: rawMath,
  };
})().then(done, (error) => done({scriptError: String(error)}));
"""
SCROLL_TO_FIGURE = """
const im = document.querySelector("article .cell_output img");
if (!im) return false;
im.scrollIntoView({block: "center"});
return true;
"""


def chapter_pages(toc: Path) -> list[str]:
    """Page names of the notebook chapters listed in the toc, in order.

    Parameters
    ----------
    toc : Path
        Jupyter Book table of contents.

    Returns
    -------
    list of str
        Entries under ``notebooks/`` (``root``, ``file``, nested parts/chapters/sections).
    """
    pages: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            name = node.get("file") or node.get("root")
            if isinstance(name, str) and name.startswith("notebooks/"):
                pages.append(name)
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc.read_text()))
    return pages


def take_screenshots(driver: Chrome, name: str) -> None:
    """Save the top of the page and, when there is one, the first output figure.

    Parameters
    ----------
    driver : selenium.webdriver.Chrome
        Browser showing the page.
    name : str
        File stem: ``NAME.png`` and ``NAME_figure.png`` in ``book/_build/screenshots/``.
    """
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.2)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    if driver.execute_script(SCROLL_TO_FIGURE):
        time.sleep(0.3)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}_figure.png"))


def page_problems(page: str, report: dict, min_figures: int) -> list[str]:
    """Turn a page's inspection report into a list of problems.

    Parameters
    ----------
    page : str
        Page name (for messages).
    report : dict
        What :data:`INSPECT` returned.
    min_figures : int
        Figures the page must show in its output cells.

    Returns
    -------
    list of str
        Problems; empty when the page is fine.
    """
    problems = []
    figures = [im for im in report["images"] if im["output"]]
    if len(figures) < min_figures:
        problems.append(f"{len(figures)} figure(s) in output cells, expected >= {min_figures}")
    for im in report["images"]:
        if im["width"] == 0 or im["height"] == 0:
            problems.append(f"image did not load (natural size 0): {im['src']}")
        elif im["output"] and not im.get("alt", "x"):
            problems.append(f"figure without alt text: {im['src'][:60]}")
        elif im["output"] and im["width"] > MAX_SHRINK * im.get("shown", im["width"]):
            problems.append(
                f"figure {im['width']} px wide shown at {im['shown']:.0f} px: its text shrinks "
                f"below 9 px; make it at most 9 in wide ({im['src'][:60]})"
            )
    problems += [
        f"printed line of {len(line)} > {MAX_LINE} characters: {line[:60]!r}..."
        for line in report.get("lines", [])
        if len(line.rstrip()) > MAX_LINE
    ]
    if report.get("answers"):
        problems.append(f"{report['answers']} exercise answer(s) visible: tag them `hide-cell`")
    for kind in ("tracebacks", "stderrErrors", "ename"):
        problems += [f"error output ({kind}): {text[:300]}" for text in report[kind]]
    if report["widgets"]:
        problems.append(
            f"{report['widgets']} widget view(s) on the page would render as blank boxes; "
            "tag the cell `remove-output`"
        )
    if report["mathErrors"]:
        problems.append(f"{report['mathErrors']} MathJax error(s)")
    if report["math"] and report["mathTypeset"] < report["math"]:
        problems.append(
            f"only {report['mathTypeset']} of {report['math']} math elements typeset "
            "(MathJax missing?)"
        )
    problems += [f"raw math delimiters left in the text: {text!r}" for text in report["rawMath"]]
    return [f"{page}: {problem}" for problem in problems]


def check_page(driver: Chrome, base_url: str, page: str, min_figures: int) -> list[str]:
    """Load one chapter, screenshot it and check it.

    Parameters
    ----------
    driver : selenium.webdriver.Chrome
        The browser.
    base_url : str
        Where the built HTML is served.
    page : str
        Page name from the toc, e.g. ``notebooks/01_gram_matrices``.
    min_figures : int
        Figures the page must show in its output cells.

    Returns
    -------
    list of str
        Problems; empty when the page is fine.
    """
    html = HTML / f"{page}.html"
    if not html.exists():
        return [f"{page}: {html.relative_to(ROOT)} was not built"]
    try:
        driver.get(f"{base_url}/{page}.html")
        report = driver.execute_async_script(INSPECT)
    except TimeoutException as error:
        return [f"{page}: page did not finish loading ({error.msg})"]
    if "scriptError" in report:
        return [f"{page}: page inspection failed: {report['scriptError']}"]
    take_screenshots(driver, Path(page).name)
    problems = page_problems(page, report, min_figures)
    figures = [im for im in report["images"] if im["output"]]
    sizes = ", ".join(f"{im['width']}x{im['height']}" for im in figures[:6])
    log(
        f"{page}: {len(figures)} figure(s) [{sizes}{', ...' if len(figures) > 6 else ''}], "
        f"{report['mathTypeset']}/{report['math']} math typeset, {len(problems)} problem(s)"
    )
    return problems
