"""Server time of the latent page's figure: 10,000 test points and 200 equidistance ellipses.

Times what the page computes once its model and encoded data are cached: the plane metric at
200 points (2 JVPs each; pullback_metric is timed beside it for reference), the condition
numbers, the plotly figure and its JSON (what st.plotly_chart sends). Bar: <= 1 s.
Run: .venv/bin/python bench/latent_page.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.config import RunConfig  # noqa: E402
from irvae_core.geometry.metric import pullback_metric
from irvae_core.store.checkpoints import build_model
from irvae_core.train.resolve import resolve_config
from irvae_core.views.latent import build_view
from irvae_core.viz.latent import latent_figure

POINTS, ELLIPSES, REPEATS = 10_000, 200, 5


def main() -> None:
    torch.manual_seed(0)
    model = build_model(resolve_config(RunConfig()), (1, 28, 28)).eval()  # the paper's MNIST FC VAE, m = 2
    z = torch.randn(POINTS, 2)
    labels = np.random.default_rng(0).integers(0, 10, POINTS)
    names = [str(i) for i in range(10)]
    build_view(model.decode, z, labels, names, n_ellipses=ELLIPSES)  # warm-up
    best = {"view": np.inf, "figure": np.inf, "json": np.inf, "pullback_metric": np.inf}
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        view = build_view(model.decode, z, labels, names, n_ellipses=ELLIPSES)
        t1 = time.perf_counter()
        fig = latent_figure([view])
        t2 = time.perf_counter()
        fig.to_json()
        t3 = time.perf_counter()
        pullback_metric(model.decode, z[:ELLIPSES])
        t4 = time.perf_counter()
        for key, dt in zip(best, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            best[key] = min(best[key], dt)
    total = best["view"] + best["figure"] + best["json"]
    print(f"latent page, {POINTS} points, {ELLIPSES} ellipses (best of {REPEATS}):")
    print(f"  geometry (plane metric + cond)  {best['view'] * 1e3:7.1f} ms"
          f"   [pullback_metric alone: {best['pullback_metric'] * 1e3:.1f} ms]")
    print(f"  figure build                    {best['figure'] * 1e3:7.1f} ms")
    print(f"  figure JSON                     {best['json'] * 1e3:7.1f} ms")
    print(f"  total                           {total * 1e3:7.1f} ms  (bar 1000 ms: {'ok' if total <= 1 else 'SLOW'})")


if __name__ == "__main__":
    main()
