"""Bench: what a runs folder of hundreds of runs costs the app (issue: a lab server that holds).

For 125, 250 and 500 tiny runs (tests/many_runs.py: real config, status, metrics and evaluation files, five
of them damaged), the median over a few repeats of: the Train page's run table as the page builds it
(``all_runs`` and ``run_row`` for every run), and the whole Train page through Streamlit's AppTest, first
visit and rerun. The goal: the run table for 500 runs within 1 s on this machine, growing linearly at most.

    .venv/bin/python bench/many_runs.py [--repeats N]
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

from streamlit.testing.v1 import AppTest  # noqa: E402

from irvae_core.experiments.examples import all_runs  # noqa: E402
from irvae_core.store.summaries import run_row  # noqa: E402
from tests.many_runs import make_runs  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def timed(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{'runs':>5s} {'run table s':>12s} {'Train page first s':>19s} {'rerun s':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (125, 250, 500):
            root = Path(tmp) / f"runs{n}"
            make_runs(root, n)
            table = timed(lambda r=root: [run_row(run) for run in all_runs(r)], args.repeats)
            os.environ["IRVAE_RUNS"] = str(root)
            t0 = time.perf_counter()
            at = AppTest.from_file(APP, default_timeout=300).run()
            at.switch_page("app_pages/train.py").run()
            first = time.perf_counter() - t0
            assert not at.exception, at.exception
            rerun = timed(lambda at=at: at.run(), args.repeats)
            print(f"{n:5d} {table:12.3f} {first:19.2f} {rerun:8.2f}")


if __name__ == "__main__":
    main()
