"""Bench: the app shared by a class: N visitors touring every page at once while jobs train (tests/load_trial.py).

A real `streamlit run app.py` on loopback serving the shipped examples, IRVAE_MAX_JOBS=2, four training jobs on
the embedded digits started from the Train page's form, then N visitors (Streamlit's agent API, one session
each) opening every page and interacting on Latent geometry, Interpolation (another pair) and Face retrieval
(a new query). Printed: the trial's wall time, the most jobs seen running at once, the server's peak resident
memory (VmHWM), and each visitor's slowest answer.

    .venv/bin/python bench/load_trial.py [--visitors N] [--jobs J]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.load_trial import agent_server, run_trial  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()
    os.environ.pop("IRVAE_EXAMPLES", None)  # the shipped examples, as a fresh install serves them
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        with agent_server(runs, Path(tmp) / "server.log") as (url, pid):
            r = run_trial(url, pid, runs, visitors=args.visitors, jobs=args.jobs)
    print(f"{args.visitors} visitors, {args.jobs} jobs (IRVAE_MAX_JOBS=2), {os.cpu_count()} CPUs: "
          f"wall {r.wall_s:.0f} s, at most {r.max_running} jobs running at once, "
          f"server peak memory {r.peak_rss_mib:.0f} MiB, problems: {len(r.problems)}")
    for p in r.problems[:10]:
        print("  problem:", p)
    slowest = r.slowest()
    for name, page, s in slowest:
        print(f"  {name}: slowest {page} {s:.1f} s")
    pages = sorted({p for v in r.visitors for p in v.seconds})
    print("median seconds per page over the visitors:")
    for p in pages:
        print(f"  {p:32s} {statistics.median(v.seconds[p] for v in r.visitors if p in v.seconds):6.1f}")


if __name__ == "__main__":
    main()
