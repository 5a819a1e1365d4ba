"""The strict Jupyter Book build, with MathJax served from the book itself.

The build runs ``jupyter-book build -W -n --keep-going`` from the repository root with
``book/_config.yml`` and a table of contents (``book/_toc.yml``), so the notebooks in
``notebooks/`` are used in place and any Sphinx warning (including a notebook cell that raises)
fails it. MathJax is then copied from the npm package ``mathjax`` into
``_build/html/_static/mathjax/`` so that math renders without a CDN (``mathjax_path`` in
``book/_config.yml`` points there); without npm, a small loader fetches it from its CDN.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from . import HTML, ROOT, log

MATHJAX_VERSION = "3.2.2"
# Unpacked once per virtual environment (or in $MATHJAX_CACHE); never committed.
MATHJAX_CACHE = Path(
    os.environ.get("MATHJAX_CACHE", ROOT / ".venv" / "share" / f"mathjax-{MATHJAX_VERSION}")
)
# What the SVG build of MathJax 3 loads at run time (tex-svg.js plus its lazily loaded parts).
MATHJAX_PARTS = ["tex-svg.js", "a11y", "adaptors", "input", "output", "sre", "ui"]
CDN_LOADER = """\
// npm was not available when this book was built: load MathJax from its CDN.
(function () {{
  var s = document.createElement('script');
  s.src = 'https://cdn.jsdelivr.net/npm/mathjax@{version}/es5/tex-svg.js';
  s.async = true;
  document.head.appendChild(s);
}})();
"""


def jupyter_book() -> str:
    """The jupyter-book executable next to this Python (the venv), else the one on PATH.

    Returns
    -------
    str
        Path of the executable.

    Raises
    ------
    SystemExit
        If there is none.
    """
    candidate = Path(sys.executable).with_name("jupyter-book")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("jupyter-book")
    if found is None:
        raise SystemExit("jupyter-book not found: run `make venv` (or pip install -e '.[dev]').")
    return found


def execute_in_parallel(toc: Path, cache_path: Path) -> None:
    """Execute the book's notebooks, one per core at a time, into a new jupyter-cache.

    The build then reads every notebook's outputs from that cache (``execute_notebooks: cache``
    in ``book/_config.yml``) instead of executing them one after the other. The cache is made
    anew on every build, so the pages always show what the current code prints.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    shutil.rmtree(cache_path, ignore_errors=True)
    cache = get_cache(cache_path)
    for notebook in notebooks_in(toc):
        cache.add_nb_to_project(str(notebook))
    with kernel_noise_dropped():
        result = load_executor("local-parallel", cache).run_and_cache(timeout=600)
    if result.errored:
        failed = ", ".join(Path(uri).name for uri in result.errored)
        raise SystemExit(f"executing the notebooks failed: {failed} (tracebacks: jcache).")


# ipykernel logs this once per kernel; these kernels only talk to this build over local sockets.
KERNEL_NOISE = b"Kernel is running over TCP without encryption"


@contextlib.contextmanager
def kernel_noise_dropped():
    """Relay this process's stderr, which the notebooks' kernels inherit, without the lines that
    hold ``KERNEL_NOISE``; everything else (errors included) passes unchanged."""
    sys.stderr.flush()
    read, write = os.pipe()
    saved = os.dup(2)

    def relay() -> None:
        with open(read, "rb") as source, open(saved, "wb", buffering=0) as target:
            for line in source:  # ends when every writer (kernels included) has closed the pipe
                if KERNEL_NOISE not in line:
                    target.write(line)

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    os.dup2(write, 2)
    os.close(write)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        thread.join(timeout=10)


def notebooks_in(toc: Path) -> list[Path]:
    """The notebooks named in the table of contents."""
    import yaml

    entries = yaml.safe_load(toc.read_text())
    files = [entries.get("root", "")]
    files += [c["file"] for part in entries.get("parts", []) for c in part.get("chapters", [])]
    files += [c["file"] for c in entries.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def build_book(toc: Path) -> Path:
    """Run the strict build from the repository root and install MathJax.

    Parameters
    ----------
    toc : Path
        Table of contents (``book/_toc.yml``).

    Returns
    -------
    Path
        The built ``index.html``.

    Raises
    ------
    SystemExit
        If the build fails (any warning counts as an error).
    """
    command = [jupyter_book(), "build", "-W", "-n", "--keep-going", "--path-output", "book"]
    command += ["--config", "book/_config.yml", "--toc", os.path.relpath(toc, ROOT), "."]
    log("$ " + " ".join(["jupyter-book", *command[1:]]))
    # The kernels must use the inline backend, or no figure reaches the pages: a global
    # MPLBACKEND=Agg (as .ci/run exports for the tests) would override ipykernel's default.
    os.environ.pop("MPLBACKEND", None)
    start = time.perf_counter()
    execute_in_parallel(toc, ROOT / "book" / "_build" / ".jupyter_cache")
    log(f"notebooks executed in {time.perf_counter() - start:.1f} s")
    env = dict(os.environ)
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(
            f"jupyter-book build failed (exit {result.returncode}); warnings count as errors, "
            "see the messages above."
        )
    install_mathjax(HTML / "_static" / "mathjax")
    log(f"built in {time.perf_counter() - start:.1f} s")
    return HTML / "index.html"


def unpack_es5(tarball: Path, into: Path) -> Path:
    """Extract the ``package/es5/`` folder of the npm ``mathjax`` tarball.

    Parameters
    ----------
    tarball : Path
        Output of ``npm pack mathjax@VERSION``.
    into : Path
        Folder to extract into.

    Returns
    -------
    Path
        The extracted ``es5`` folder.
    """
    with tarfile.open(tarball) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith("package/es5/")]
        try:
            archive.extractall(into, members=members, filter="data")
        except TypeError:  # Python without tarfile extraction filters
            archive.extractall(into, members=members)
    return into / "package" / "es5"


def fetch_mathjax(cache: Path) -> bool:
    """Unpack the npm package ``mathjax`` into ``cache`` with ``npm pack``.

    Parameters
    ----------
    cache : Path
        Folder that holds the unpacked ``es5`` build (kept between builds).

    Returns
    -------
    bool
        False when npm is missing or ``npm pack`` fails.
    """
    if (cache / "tex-svg.js").exists():
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", "--silent", f"mathjax@{MATHJAX_VERSION}"],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        tarball = Path(tmp) / f"mathjax-{MATHJAX_VERSION}.tgz"
        if result.returncode != 0 or not tarball.exists():
            log(f"npm pack mathjax@{MATHJAX_VERSION} failed: {result.stderr.strip()[:300]}")
            return False
        staging = cache.with_name(cache.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(unpack_es5(tarball, Path(tmp)), staging)
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
        staging.rename(cache)
    return True


def install_mathjax(target: Path) -> None:
    """Copy MathJax into the built book; without npm, fall back to a loader for the CDN copy.

    Parameters
    ----------
    target : Path
        ``_build/html/_static/mathjax`` (replaced).
    """
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if fetch_mathjax(MATHJAX_CACHE):
        for part in MATHJAX_PARTS:
            source = MATHJAX_CACHE / part
            if source.is_dir():
                shutil.copytree(source, target / part)
            else:
                shutil.copy2(source, target / part)
        log(f"MathJax {MATHJAX_VERSION} served locally from {target.relative_to(ROOT)}")
        return
    (target / "tex-svg.js").write_text(CDN_LOADER.format(version=MATHJAX_VERSION))
    log("npm not available: math in this build loads MathJax from a CDN (needs a network).")
