"""Build the Jupyter Book and check every chapter page in headless Chromium.

Usage (from the repository root; `make book` and `make book-check` call this)::

    python scripts/check_book.py --build-only   # build the book, print the path of index.html
    python scripts/check_book.py                # build, then check each chapter in Chromium
    python scripts/check_book.py --no-build     # check an existing build

The build runs ``jupyter-book build -W -n --keep-going`` from the repository root with
``book/_config.yml`` and ``book/_toc.yml``, so the notebooks in ``notebooks/`` are used in place
and any Sphinx warning (including a notebook cell that raises) fails it. MathJax is then copied
from the npm package ``mathjax`` into ``_build/html/_static/mathjax/`` so that math renders
without a CDN (``mathjax_path`` in ``book/_config.yml`` points there).

The check serves ``book/_build/html`` on a local port, opens each chapter page in a fresh headless
Chromium (Debian package ``chromium``) and talks to it over the DevTools protocol, using a small
standard-library WebSocket client. For each chapter it

* saves two screenshots in ``book/_build/screenshots/`` (top of the page, first figure);
* asserts that the page has figures and that every image in the article has a non-zero
  natural size (i.e. it loaded and decoded);
* asserts that no output cell shows an error (a traceback, ``ename``, or "Error"/"Traceback"
  in a stderr stream), that no widget placeholder is left on the page, and that every math
  element was typeset by MathJax.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = BOOK / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"

MATHJAX_VERSION = "3.2.2"
# Unpacked once per virtual environment (or in $MATHJAX_CACHE); never committed.
MATHJAX_CACHE = Path(
    os.environ.get("MATHJAX_CACHE", ROOT / ".venv" / "share" / f"mathjax-{MATHJAX_VERSION}")
)
# What the SVG build of MathJax 3 loads at run time (tex-svg.js plus its lazily loaded parts).
MATHJAX_PARTS = ["tex-svg.js", "a11y", "adaptors", "input", "output", "sre", "ui"]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,1000",
]


def log(message: str) -> None:
    print(f"[check_book] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def jupyter_book() -> str:
    """The jupyter-book executable next to this Python (the venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("jupyter-book")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("jupyter-book")
    if found is None:
        raise SystemExit("jupyter-book not found: run `make venv` (or pip install -e '.[dev]').")
    return found


def build_book(toc: Path) -> Path:
    """Run the strict build from the repository root and install MathJax; return index.html."""
    command = [
        jupyter_book(),
        "build",
        "-W",
        "-n",
        "--keep-going",
        "--path-output",
        "book",
        "--config",
        "book/_config.yml",
        "--toc",
        os.path.relpath(toc, ROOT),
        ".",
    ]
    log("$ " + " ".join(["jupyter-book", *command[1:]]))
    # The kernels must use the inline backend, or no figure reaches the pages: a global
    # MPLBACKEND=Agg (as .ci/run exports for the tests) would override ipykernel's default.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(
            f"jupyter-book build failed (exit {result.returncode}); warnings count as errors, "
            "see the messages above."
        )
    install_mathjax(HTML / "_static" / "mathjax")
    log(f"built in {time.perf_counter() - start:.1f} s")
    return HTML / "index.html"


def fetch_mathjax(cache: Path) -> bool:
    """Unpack the npm package ``mathjax`` into ``cache`` with ``npm pack``; False if impossible."""
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
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/es5/")]
            try:
                archive.extractall(tmp, members=members, filter="data")
            except TypeError:  # Python without tarfile extraction filters
                archive.extractall(tmp, members=members)
        staging = cache.with_name(cache.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(Path(tmp) / "package" / "es5", staging)
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
        staging.rename(cache)
    return True


def install_mathjax(target: Path) -> None:
    """Copy MathJax into the built book; without npm, fall back to a loader for the CDN copy."""
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
    cdn = f"https://cdn.jsdelivr.net/npm/mathjax@{MATHJAX_VERSION}/es5/tex-svg.js"
    (target / "tex-svg.js").write_text(
        "// npm was not available when this book was built: load MathJax from its CDN.\n"
        "(function () {\n"
        "  var s = document.createElement('script');\n"
        f"  s.src = '{cdn}';\n"
        "  s.async = true;\n"
        "  document.head.appendChild(s);\n"
        "})();\n"
    )
    log("npm not available: math in this build loads MathJax from a CDN (needs a network).")


# --------------------------------------------------------------------------------------------
# A minimal WebSocket client (RFC 6455, client side, text frames) for the DevTools protocol
# --------------------------------------------------------------------------------------------


class WebSocket:
    def __init__(self, url: str, timeout: float = 60.0):
        assert url.startswith("ws://"), url
        host_port, _, path = url[len("ws://") :].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        header = b""
        while b"\r\n\r\n" not in header:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            header += chunk
        head, _, self.buffer = header.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):  # ping / pong: not used by DevTools, ignore
                continue
            message += payload
            if first & 0x80:  # FIN
                return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class DevTools:
    """Send DevTools commands to one page target and wait for their results."""

    def __init__(self, ws_url: str):
        self.ws = WebSocket(ws_url)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@contextlib.contextmanager
def chromium():
    """A fresh headless Chromium with a DevTools port; yields the port."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    exe = next((path for path in map(shutil.which, names) if path), None)
    if exe is None:
        raise SystemExit(
            "Chromium not found. On Debian/Ubuntu: apt-get install -y chromium "
            "(.ci/run installs it when missing)."
        )
    with tempfile.TemporaryDirectory(
        prefix="book-check-chromium-", ignore_cleanup_errors=True
    ) as profile:
        command = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"Chromium did not start:\n{err[-2000:]}")
                time.sleep(0.1)
            yield int(port_file.read_text().split()[0])
        finally:
            # The caller closes the browser over DevTools; stop it here if it is still running.
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            time.sleep(0.5)  # let helper processes release the profile before it is removed


def page_target(port: int) -> str:
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
            targets = json.load(reply)
        pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            raise RuntimeError("Chromium has no page target")
        time.sleep(0.2)


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on a free local port; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no access log
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------

# Runs in the page once it has loaded: waits for images and MathJax, then reports.
INSPECT = r"""
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const article = document.querySelector("article.bd-article") || document.body;
  const imgs = () => Array.from(article.querySelectorAll("img"));
  for (let i = 0; i < 100 && !imgs().every((im) => im.complete); i++) await sleep(100);
  const hasMath = article.querySelector(".math") !== null;
  if (hasMath) {
    for (let i = 0; i < 100 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
      await sleep(100);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await Promise.race([MathJax.startup.promise, sleep(20000)]);
    }
  }
  const text = (el) => (el.innerText || el.textContent || "").trim();
  const stderr = Array.from(article.querySelectorAll(".cell_output .stderr")).map(text);
  return {
    title: document.title,
    images: imgs().map((im) => ({
      src: im.getAttribute("src").slice(0, 120),
      width: im.naturalWidth,
      height: im.naturalHeight,
      output: im.closest(".cell_output") !== null,
    })),
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
    bodyHeight: document.documentElement.scrollHeight,
  };
})()
"""


def chapter_pages(toc: Path) -> list[str]:
    """Page names of the notebook chapters listed in the toc, in order."""
    import yaml

    pages: list[str] = []

    def walk(node) -> None:
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


def screenshot(tools: DevTools, path: Path) -> None:
    data = tools.call("Page.captureScreenshot", format="png")["data"]
    path.write_bytes(base64.b64decode(data))


def check_page(tools: DevTools, base_url: str, page: str, min_figures: int) -> list[str]:
    """Load one chapter; return a list of problems (empty when the page is fine)."""
    html = HTML / f"{page}.html"
    if not html.exists():
        return [f"{page}: {html.relative_to(ROOT)} was not built"]
    tools.call("Page.navigate", url=f"{base_url}/{page}.html")
    deadline = time.monotonic() + 60
    while tools.evaluate("document.readyState") != "complete":
        if time.monotonic() > deadline:
            return [f"{page}: page did not finish loading"]
        time.sleep(0.1)
    report = tools.evaluate(INSPECT)
    name = Path(page).name
    tools.evaluate("window.scrollTo(0, 0)")
    time.sleep(0.2)
    screenshot(tools, SCREENSHOTS / f"{name}.png")
    has_figure = tools.evaluate(
        "(() => { const im = document.querySelector('article .cell_output img');"
        " if (!im) return false; im.scrollIntoView({block: 'center'}); return true; })()"
    )
    if has_figure:
        time.sleep(0.3)
        screenshot(tools, SCREENSHOTS / f"{name}_figure.png")

    problems = []
    figures = [im for im in report["images"] if im["output"]]
    if len(figures) < min_figures:
        problems.append(
            f"{page}: {len(figures)} figure(s) in output cells, expected >= {min_figures}"
        )
    for im in report["images"]:
        if im["width"] == 0 or im["height"] == 0:
            problems.append(f"{page}: image did not load (natural size 0): {im['src']}")
    for kind in ("tracebacks", "stderrErrors", "ename"):
        for text in report[kind]:
            problems.append(f"{page}: error output ({kind}): {text[:300]}")
    if report["widgets"]:
        problems.append(
            f"{page}: {report['widgets']} widget view(s) on the page would render as blank boxes; "
            "tag the cell `remove-output`"
        )
    if report["mathErrors"]:
        problems.append(f"{page}: {report['mathErrors']} MathJax error(s)")
    if report["math"] and report["mathTypeset"] < report["math"]:
        problems.append(
            f"{page}: only {report['mathTypeset']} of {report['math']} math elements typeset "
            "(MathJax missing?)"
        )
    sizes = ", ".join(f"{im['width']}x{im['height']}" for im in figures[:6])
    log(
        f"{page}: {len(figures)} figure(s) [{sizes}{', ...' if len(figures) > 6 else ''}], "
        f"{report['mathTypeset']}/{report['math']} math typeset, "
        f"{len(problems)} problem(s)"
    )
    return problems


def check_book(toc: Path, min_figures: int = 1) -> list[str]:
    pages = chapter_pages(toc)
    if not pages:
        return ["no notebook chapters in book/_toc.yml"]
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    problems: list[str] = []
    with serve(HTML) as base_url, chromium() as port:
        tools = DevTools(page_target(port))
        try:
            tools.call("Page.enable")
            tools.call("Runtime.enable")
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                width=1280,
                height=1000,
                deviceScaleFactor=1,
                mobile=False,
            )
            for page in pages:
                problems += check_page(tools, base_url, page, min_figures)
        finally:
            with contextlib.suppress(Exception):
                tools.call("Browser.close")
            tools.close()
    log(f"screenshots in {SCREENSHOTS.relative_to(ROOT)}/")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--build-only", action="store_true", help="build the book, do not check")
    mode.add_argument("--no-build", action="store_true", help="check the existing build")
    parser.add_argument(
        "--toc",
        type=Path,
        default=BOOK / "_toc.yml",
        help="table of contents (default book/_toc.yml)",
    )
    parser.add_argument(
        "--min-figures", type=int, default=1, help="figures each chapter must show (default 1)"
    )
    args = parser.parse_args(argv)

    if args.no_build:
        if not (HTML / "index.html").exists():
            raise SystemExit("no build in book/_build/html: run `make book` first")
    else:
        index = build_book(args.toc.resolve())
        if args.build_only:
            print(f"Book: {index}")
            return 0

    problems = check_book(args.toc.resolve(), args.min_figures)
    if problems:
        print("\nBook check FAILED:", *problems, sep="\n  ")
        return 1
    pages = len(chapter_pages(args.toc.resolve()))
    print(f"Book check passed: {pages} chapter pages; index: {HTML / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
