"""Seconds from opening each page until its first figure is drawn, on a fresh server with an empty runs folder.

Issue 26's "first picture fast": a new user's first visit of each page (the shipped examples, cold Streamlit caches).
Each page gets a fresh server on an empty runs folder whose imports are done first by a visit of the Train page
(torch and the core; no figure, no cached model or data set); then the page is opened in a fresh headless Chromium
session at its URL, and the clock runs from driver.get until the page shows its first figure (a drawn plotly chart
or an image; the goal's measure), and until that with the page's script finished ("settled": a page may draw its
plane first and compute after). Goal: the first figure within 3 s for every page on this machine.
Reported: each page's seconds per repeat and the medians, with the 1-minute load average before each repeat, and
when the browser requested plotly.js's chunk (the first chart had arrived; what follows is mostly the browser's).

    .venv/bin/python bench/first_picture.py [--repeats 2] [--pages latent,retrieval]
    .venv/bin/python bench/first_picture.py --floor [--repeats 5]   # a bare Streamlit page with one tiny chart
    .venv/bin/python bench/first_picture.py --floor --figure home    # ... with the Home page's first figure instead
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import CHROMEDRIVER, CHROMIUM, free_port, new_driver, serve, wait_healthy  # noqa: E402

PAGES = {"": "Home", "latent": "Latent geometry", "interpolation": "Interpolation", "distances": "Distances",
         "retrieval": "Face retrieval", "mocap": "Motion capture", "tradeoff": "Tradeoff"}
# [a figure is on the page (a plotly chart with its plot drawn, or an image), the script has finished]
STATE_JS = """
const idle = !document.querySelector('[data-testid="stStatusWidget"]');
const plots = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(gd => gd._fullLayout && gd.data &&
    gd.querySelector('.main-svg'));
const images = document.querySelectorAll('[data-testid="stImage"] img, [data-testid="stFullScreenFrame"] img');
return [plots.length > 0 || images.length > 0, idle];
"""
DRAWN_JS = "const [drawn, idle] = (function () {" + STATE_JS + "})(); return drawn && idle;"


# when the browser asked for plotly.js's chunk (seconds after the navigation started): when the first chart arrived
CHART_ARRIVED_JS = """
const chunk = performance.getEntriesByType('resource').find(r => r.name.includes('/PlotlyChart.'));
return chunk ? chunk.startTime / 1000 : null;
"""


def first_picture(url: str, path: str, tmp: Path, timeout: float = 180) -> tuple[float, float, float | None]:
    """Seconds from opening the page until (its first figure is drawn, that and the page's script has finished,
    the first plotly chart reached the browser): a page that draws its plane first and then computes
    (Interpolation's geodesics) shows it before it settles; what follows a chart's arrival is the browser's."""
    driver = new_driver(tmp)
    try:
        t0 = time.time()
        driver.get(f"{url}/{path}")
        first = None
        while time.time() - t0 < timeout:
            drawn, idle = driver.execute_script(STATE_JS)
            if drawn and first is None:
                first = time.time() - t0
            if drawn and idle:
                return first, time.time() - t0, driver.execute_script(CHART_ARRIVED_JS)
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


# The floor (--floor): a page with nothing but a three-point plotly chart, in a bare Streamlit app, by the same clock.
FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])))
"""
# --figure PAGE: the same bare page drawing that page's first figure (its plotly JSON, as the app sends it)
FIGURE_APP = """import json
import plotly.graph_objects as go
import streamlit as st
st.plotly_chart(go.Figure(json.loads(open("figure.json").read())))
"""


def page_figure(page: str) -> str:
    """The first plotly figure a page draws on a fresh install (the shipped examples), as JSON, from an AppTest."""
    from unittest import mock

    from tests.app_helpers import open_page

    with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"IRVAE_RUNS": str(Path(tmp) / "runs")}):
        charts = open_page(f"app_pages/{page}.py").get("plotly_chart")
    if not charts:
        raise SystemExit(f"the {page} page draws no plotly figure on a fresh install")
    return charts[0].proto.spec


def floor(repeats: int, figure: str | None = None) -> None:
    """Seconds to the first figure of a bare Streamlit page with one tiny plotly chart: what Streamlit's frontend and
    plotly.js cost before any page of ours adds to it; with ``figure`` (a page), that page's first figure instead:
    what drawing the figure itself costs, without the rest of the page."""
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "floor.py").write_text(FIGURE_APP if figure else FLOOR_APP)
        if figure:
            (tmp / "figure.json").write_text(page_figure(figure))
        port = free_port()
        log = tmp / "streamlit.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(tmp / "floor.py"),
                                     "--server.headless", "true", "--server.port", str(port), "--server.address",
                                     "127.0.0.1", "--browser.gatherUsageStats", "false"], cwd=tmp, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc, log)
            first_picture(url, "", tmp)  # the server's first script run imports plotly: not counted
            for _ in range(repeats):
                seconds.append(first_picture(url, "", tmp)[0])
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    what = f"the {figure} page's first figure" if figure else "a 3-point plotly chart"
    print(f"floor, a bare page with {what}: {', '.join(f'{s:.1f}' for s in seconds)} s "
          f"(median {statistics.median(seconds):.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--pages", default=",".join(p or "home" for p in PAGES))
    parser.add_argument("--floor", action="store_true", help="time a bare one-chart Streamlit page instead")
    parser.add_argument("--figure", metavar="PAGE", choices=[p or "home" for p in PAGES],
                        help="with --floor: the bare page draws this page's first figure (home, latent, ...)")
    args = parser.parse_args()
    if args.figure and not args.floor:
        parser.error("--figure goes with --floor")
    if not (CHROMIUM and CHROMEDRIVER):
        raise SystemExit("needs chromium and chromedriver: apt-get install chromium chromium-driver")
    os.environ.pop("IRVAE_EXAMPLES", None)  # the shipped examples, as a user sees them
    if args.floor:
        return floor(max(args.repeats, 3), args.figure)
    pages = ["" if p == "home" else p for p in args.pages.split(",")]
    seconds: dict[str, list[tuple[float, float, float | None]]] = {p: [] for p in pages}
    for i in range(args.repeats):
        load = os.getloadavg()[0]
        for page in pages:
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                with serve(tmp / "runs", tmp / "streamlit.log") as url:
                    warm_imports(url, tmp)
                    seconds[page].append(first_picture(url, page, tmp))
        print(f"repeat {i + 1} (1-minute load before: {load:.2f}), first figure / settled (first chart arrived): "
              + ", ".join(f"{PAGES[p]} {seconds[p][-1][0]:.1f} / {seconds[p][-1][1]:.1f} s ({_s(seconds[p][-1][2])})"
                          for p in pages))
    print("median, first figure / settled (first chart arrived): " + ", ".join(
        f"{PAGES[p]} {statistics.median(f for f, _, _ in s):.1f} / {statistics.median(d for _, d, _ in s):.1f} s "
        f"({_s(_median([a for _, _, a in s]))})" for p, s in seconds.items())
        + " (goal: the first figure within 3 s, quiet machine)")


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _s(seconds: float | None) -> str:
    return "no chart" if seconds is None else f"{seconds:.1f} s"


if __name__ == "__main__":
    main()
