"""Seconds from the Home page's load event until its example comparison (VAE and IRVAE, 2 x 200 ellipses) is drawn.

A fresh `streamlit run app.py` on an empty runs folder per repeat (a new user's first visit: imports, the
embedded MNIST digits, two models), in headless Chromium. Bar: 10 s on an idle machine. Reported: every
repeat, the median and the 1-minute load average before each, since a loaded 2-core machine stretches it.
Run: .venv/bin/python bench/home_page.py [--repeats 3]
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

TITLES_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(gd =>
    ((gd._fullLayout || {}).annotations || []).map(a => a.text)).filter(t => t.includes('(example)'))
"""


def one_visit(tmp: Path) -> float:
    with serve(tmp / "runs", tmp / "streamlit.log") as url:
        driver = new_driver(tmp)
        try:
            driver.get(url)
            loaded = time.time()
            while time.time() - loaded < 180:
                if len(driver.execute_script(TITLES_JS)) == 2:
                    return time.time() - loaded
                time.sleep(0.05)
            raise SystemExit(f"the example comparison did not appear within 180 s (log: {tmp / 'streamlit.log'})")
        finally:
            driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (CHROMIUM and CHROMEDRIVER):
        raise SystemExit("needs chromium and chromedriver: apt-get install chromium chromium-driver")
    os.environ.pop("IRVAE_EXAMPLES", None)  # the shipped examples, as a user sees them
    times = []
    for i in range(args.repeats):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            seconds = one_visit(Path(tmp))
        times.append(seconds)
        print(f"visit {i + 1}: {seconds:.1f} s after the page load (1-minute load before: {load:.2f})")
    print(f"median {statistics.median(times):.1f} s over {len(times)} fresh servers (bar 10 s, idle machine)")


if __name__ == "__main__":
    main()
