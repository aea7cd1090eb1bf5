"""Browser tests' shared parts: a real `streamlit run` server on a free loopback port, headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TIMEOUT_S = 120

# pixel position of the first test point inside the plot, and the plot's size
FIRST_POINT_JS = """
const gd = document.querySelector('.js-plotly-plot');
const trace = gd._fullData.find(t => t.type === 'scattergl');
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return [xa._offset + xa.l2p(trace.x[0]), ya._offset + ya.l2p(trace.y[0]), box.width, box.height];
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def chrome(tmp_path: Path):
    """Headless Chromium (1500 x 1100 pixels) with its own profile folder under ``tmp_path``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--enable-unsafe-swiftshader", "--window-size=1500,1100",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@contextmanager
def serve(runs: Path, log: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free port serving the runs folder ``runs``; yields its URL."""
    with server(runs, log) as (url, _):
        yield url


@contextmanager
def server(runs: Path, log: Path, options: tuple[str, ...] = (), env: dict[str, str] | None = None
           ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app.py` on a free loopback port serving ``runs``, with more server ``options`` and ``env``;
    yields (its URL, the server process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           *options]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "IRVAE_RUNS": str(runs), **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, log)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def waiter(driver, timeout: float = TIMEOUT_S):
    """A WebDriverWait polling every 0.1 s that tries a condition again when it met an element Streamlit had just
    replaced (a stale reference) instead of failing on it."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))


def new_driver(tmp_path: Path):
    """Headless Chromium through chromedriver, a fresh profile in ``tmp_path``."""

    driver = chrome(tmp_path)
    driver.set_page_load_timeout(TIMEOUT_S)
    return driver


class SharedChromium:
    """One headless Chromium for several tests (a module's). Each page a test loads is a new Streamlit session; what
    the tests share is the browser's cache of Streamlit's and plotly's scripts, which a fresh browser read and
    compiled again for every test: a cold page load took 5.2 s of the machine's CPU, the same page again 1.9 s. A
    browser a test left unusable is replaced."""

    def __init__(self, tmp_path: Path):
        self.tmp_path, self.driver, self.starts = tmp_path, None, 0

    def fresh(self):
        """The browser on a blank page at 1500 x 1100 pixels (a new one if the last is gone)."""
        from selenium.common.exceptions import WebDriverException

        try:
            if self.driver is None:
                raise WebDriverException("not started")
            self.driver.get("about:blank")
        except WebDriverException:
            self.quit()
            self.starts += 1
            self.driver = new_driver(self.tmp_path / f"browser-{self.starts}")
        self.driver.set_window_size(1500, 1100)
        return self.driver

    def clean(self) -> None:
        """After a test, on its last page: that origin's cookies and storage cleared, then a blank page (the test's
        Streamlit session closes with its page)."""
        from selenium.common.exceptions import WebDriverException

        if self.driver is None:
            return
        try:
            self.driver.delete_all_cookies()
            self.driver.execute_script("try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}")
            self.driver.get("about:blank")
        except WebDriverException:
            self.quit()

    def quit(self) -> None:
        if self.driver is not None:
            try:
                self.driver.quit()
            finally:
                self.driver = None
