"""Seconds from opening each page until its first figure is drawn, on a fresh server with an empty runs folder.

Issue 26's "first picture fast": a new user's first visit of each page (the shipped examples, cold Streamlit caches).
Each page gets a fresh server on an empty runs folder whose imports are done first by a visit of the Train page
(torch and the core; no figure, no cached model or data set); then the page is opened in a fresh headless Chromium
session at its URL, and the clock runs from driver.get until the page shows its first figure (a drawn plotly chart
or an image) with the app idle. Goal: within 3 s for every page on this machine.
Reported: each page's seconds per repeat and the median, with the 1-minute load average before each repeat.

    .venv/bin/python bench/first_picture.py [--repeats 2] [--pages latent,retrieval]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import CHROMEDRIVER, CHROMIUM, new_driver, serve  # noqa: E402

PAGES = {"": "Home", "latent": "Latent geometry", "interpolation": "Interpolation", "distances": "Distances",
         "retrieval": "Face retrieval", "mocap": "Motion capture", "tradeoff": "Tradeoff"}
# a figure is on the page: a plotly chart with its plot drawn, or an image; and the script has finished
DRAWN_JS = """
const idle = !document.querySelector('[data-testid="stStatusWidget"]');
const plots = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd => gd._fullLayout && gd.data &&
    gd.querySelector('.main-svg'));
const images = document.querySelectorAll('[data-testid="stImage"] img, [data-testid="stFullScreenFrame"] img');
return (plots.length > 0 || images.length > 0) && idle;
"""


def first_picture(url: str, path: str, tmp: Path, timeout: float = 180) -> float:
    driver = new_driver(tmp)
    try:
        t0 = time.time()
        driver.get(f"{url}/{path}")
        while time.time() - t0 < timeout:
            if driver.execute_script(DRAWN_JS):
                return time.time() - t0
            time.sleep(0.05)
        raise SystemExit(f"/{path}: no figure within {timeout:.0f} s")
    finally:
        driver.quit()


def warm_imports(url: str, tmp: Path, timeout: float = 180) -> None:
    """Visit the Train page until its form is drawn: the server has imported what the pages import."""
    driver = new_driver(tmp)
    try:
        t0 = time.time()
        driver.get(f"{url}/train")
        while time.time() - t0 < timeout:
            if driver.execute_script("return !!document.querySelector('[data-testid=\"stForm\"]') && "
                                     "!document.querySelector('[data-testid=\"stStatusWidget\"]')"):
                return
            time.sleep(0.1)
        raise SystemExit("the Train page did not draw its form")
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pages", default=",".join(p or "home" for p in PAGES))
    args = parser.parse_args()
    if not (CHROMIUM and CHROMEDRIVER):
        raise SystemExit("needs chromium and chromedriver: apt-get install chromium chromium-driver")
    os.environ.pop("IRVAE_EXAMPLES", None)  # the shipped examples, as a user sees them
    pages = ["" if p == "home" else p for p in args.pages.split(",")]
    seconds: dict[str, list[float]] = {p: [] for p in pages}
    for i in range(args.repeats):
        load = os.getloadavg()[0]
        for page in pages:
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                with serve(tmp / "runs", tmp / "streamlit.log") as url:
                    warm_imports(url, tmp)
                    seconds[page].append(first_picture(url, page, tmp))
        print(f"repeat {i + 1} (1-minute load before: {load:.2f}): "
              + ", ".join(f"{PAGES[p]} {seconds[p][-1]:.1f} s" for p in pages))
    print("median: " + ", ".join(f"{PAGES[p]} {statistics.median(s):.1f} s" for p, s in seconds.items())
          + " (goal: 3 s each, quiet machine)")


if __name__ == "__main__":
    main()
