"""Bench: the same four timings in two checkouts of the project, alternating, as ratios (this one / the other).

A move of code (a refactor) should leave speed alone. Each repeat runs one short subprocess per checkout, in
turn, timing through the public contract's import paths (which both checkouts keep): an IRVAE training step
(VAE loss plus alpha/m^2 times the relaxed distortion on 10 mixup points, exact metric, Adam), the pullback
metric of 500 codes, a 16-point geodesic, and the Home page's model (the latent view of the shipped mnist5k
IRVAE example: encode the test split, 200 ellipses).

    .venv/bin/python bench/compare_checkouts.py --other /path/to/other/checkout [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r'''
import json, sys, time, torch
torch.manual_seed(0); torch.set_num_threads(1)
from irvae_core.checkpoints import load_model
from irvae_core.data import load_run_data
from irvae_core.geometry import pullback_metric
from irvae_core.interpolation import geodesic
from irvae_core.regularizers import relaxed_distortion
from irvae_core.runs import Run
try:
    from irvae_core.views.latent import run_view
except ImportError:
    from irvae_core.latent import run_view
run = Run(__import__("pathlib").Path(sys.argv[1]))
model, data = load_model(run), load_run_data(run.config().data)
x = data.train.x[:100]
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
g = torch.Generator().manual_seed(0)
def step():
    out = model.loss(x, generator=g)
    loss = out.loss + 1500 / 4 * relaxed_distortion(model.decode, out.z, eta=0.2, estimator="exact", n=10,
                                                    jackknife=True, generator=g)
    opt.zero_grad(); loss.backward(); opt.step()
def timed(f, n):
    f(); t = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t) / n
z = model.encode(data.test.x[:500]).detach()
res = {"train step": timed(step, 40), "pullback metric (500 codes)": timed(lambda: pullback_metric(model.decode, z), 5),
       "geodesic (16 points)": timed(lambda: geodesic(model.decode, z[0], z[1], 16), 3),
       "Home page model": timed(lambda: run_view(run, model, data), 2)}
print(json.dumps(res))
'''


def probe(checkout: Path, run: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(run)], cwd=checkout, capture_output=True, text=True,
                         env={"PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", help="the other checkout (e.g. a git worktree of an older commit)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--run", default=str(ROOT / "examples" / "mnist5k-irvae"), help="the run whose model is timed")
    a, _ = ap.parse_known_args()  # ./lab bench passes its arguments to every bench
    if a.other is None:
        print("compare_checkouts: nothing to compare; give --other DIR (e.g. `git worktree add /tmp/old REV`)")
        return
    here, other = [], []
    for i in range(a.repeats):  # who goes first alternates, so neither always meets the other's leftovers
        for which in ((here, ROOT), (other, Path(a.other).resolve()))[::1 if i % 2 == 0 else -1]:
            which[0].append(probe(which[1], Path(a.run)))
    print(f"{'':30s} {'this (ms)':>10s} {'other (ms)':>11s} {'ratio':>7s}  per-repeat ratios")
    for k in here[0]:
        ratios = [h[k] / o[k] for h, o in zip(here, other)]
        h, o = statistics.median(r[k] for r in here), statistics.median(r[k] for r in other)
        print(f"{k:30s} {1e3 * h:10.2f} {1e3 * o:11.2f} {h / o:7.3f}  {min(ratios):.2f}-{max(ratios):.2f}")


if __name__ == "__main__":
    main()
