"""Headless Chromium through Selenium, and a local HTTP server for the built book.

The browser is Debian's ``/usr/bin/chromium`` driven by Debian's ``/usr/bin/chromedriver``
(override with ``$CHROMIUM`` / ``$CHROMEDRIVER``). Both paths are given to Selenium explicitly,
so Selenium Manager is never asked to find, let alone download, a browser or a driver.
"""

from __future__ import annotations

import functools
import http.server
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
WIDTH, HEIGHT = 1280, 1000
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    f"--window-size={WIDTH},{HEIGHT}",
]
PAGE_LOAD_TIMEOUT_S = 60
SCRIPT_TIMEOUT_S = 90  # the page inspection waits up to about 40 s for images and MathJax


def browser_paths() -> tuple[Path, Path]:
    """The Chromium and chromedriver executables, checked to exist.

    Returns
    -------
    chromium, chromedriver : Path
        Executables (Debian's by default).

    Raises
    ------
    SystemExit
        If either is missing, naming the Debian packages to install.
    """
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        raise SystemExit(
            f"not found: {', '.join(missing)}. Install Debian's browser and driver with "
            "`apt-get install chromium chromium-driver` (.ci/run does this when they are "
            "missing), or point $CHROMIUM and $CHROMEDRIVER at another Chromium and its "
            "matching chromedriver."
        )
    return CHROMIUM, CHROMEDRIVER


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with its own temporary profile.

    Yields
    ------
    selenium.webdriver.Chrome
        The driver; the browser and chromedriver are stopped on exit.
    """
    browser, driver_path = browser_paths()
    with tempfile.TemporaryDirectory(
        prefix="book-check-chromium-", ignore_cleanup_errors=True
    ) as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(browser)
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        service = Service(executable_path=str(driver_path))
        driver = webdriver.Chrome(service=service, options=options)
        try:
            # The window size includes the browser's frame: fix the page's viewport instead.
            viewport = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", viewport)
            driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
            driver.set_script_timeout(SCRIPT_TIMEOUT_S)
            yield driver
        finally:
            driver.quit()


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free local port.

    Parameters
    ----------
    directory : Path
        Folder to serve (the built HTML).

    Yields
    ------
    str
        The base URL, ``http://127.0.0.1:PORT``.
    """

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # no access log
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
