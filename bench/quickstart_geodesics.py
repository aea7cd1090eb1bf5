"""Measurement: how close the quick start's straight latent lines are to geodesics, VAE against IRVAE.

For the Home page's quick-start pair (irvae_core.config.quick_start_config: VAE and IRVAE on
mnist5k, m = 2, 40 epochs, alpha 1200, constant learning rate) and the same random pairs of test
digits: the length ratio straight line / geodesic of the decoded 16-point paths (1 = the straight
line is the shortest path; the paper's Fig. 7 claim is that IRVAE's is closer to 1) and the
straight line's max/min speed ratio (1 = constant speed). The runs are the newest finished
``quickstart-vae`` / ``quickstart-irvae`` in the runs folder, or ``--vae RUN --irvae RUN``;
``--train`` trains the missing ones there first with the quick start's exact config (a few
minutes each on a quiet 2-core CPU).

    .venv/bin/python bench/quickstart_geodesics.py [--pairs 50] [--points 16] [--train] [--runs DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.config import quick_start_config  # noqa: E402
from irvae_core.data import load_dataset  # noqa: E402
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import RunError
from irvae_core.store.runs import Run, default_runs_dir, list_runs, open_run
from irvae_core.store.summaries import is_finished, method_name
from irvae_core.train.trainer import train
from irvae_core.views.interpolation import example_geodesic


def quick_run(runs_dir: Path, name: str, train_missing: bool) -> Run | None:
    """The newest finished run of that quick-start model; trained first when missing and asked to."""
    for run in list_runs(runs_dir):
        try:
            if run.raw_config().get("name") == name and is_finished(run):
                return run
        except RunError:
            continue
    if not train_missing:
        return None
    cfg = quick_start_config(name)
    print(f"training {name} into {runs_dir} ...", flush=True)
    return train(cfg, str(runs_dir))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=50, help="random test pairs (default 50)")
    ap.add_argument("--points", type=int, default=16, help="points per path (default 16)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random pairs")
    ap.add_argument("--runs", type=Path, default=None, help="runs folder (default $IRVAE_RUNS or ./runs)")
    ap.add_argument("--vae", help="the VAE run folder (instead of the newest quickstart-vae)")
    ap.add_argument("--irvae", help="the IRVAE run folder (instead of the newest quickstart-irvae)")
    ap.add_argument("--train", action="store_true", help="train missing quick-start runs first")
    args = ap.parse_args()
    runs_dir = args.runs or default_runs_dir()
    runs = [open_run(args.vae) if args.vae else quick_run(runs_dir, "quickstart-vae", args.train),
            open_run(args.irvae) if args.irvae else quick_run(runs_dir, "quickstart-irvae", args.train)]
    if None in runs:
        print(f"skipped: no finished quick-start runs in {runs_dir}; press the quick start on Home, pass "
              "--vae RUN --irvae RUN, or --train to train them here")
        return
    data = load_dataset("mnist5k")
    g = torch.Generator().manual_seed(args.seed)
    pairs = [torch.randperm(len(data.test), generator=g)[:2].tolist() for _ in range(args.pairs)]
    print(f"{args.pairs} random test pairs (seed {args.seed}), {args.points} points per path, mnist5k test split")
    print(f"{'method':8s} {'alpha':>6s} {'L_line/L_geo mean':>18s} {'median':>7s} {'min':>6s} {'max':>6s}"
          f" {'line speed max/min (median)':>28s} {'seconds':>8s}  run")
    for run in runs:
        raw = run.raw_config()
        model = load_model(run)
        t0 = time.perf_counter()
        geos = [example_geodesic(model, data, i, j, args.points) for i, j in pairs]
        ratios = [geo.length_ratio for geo in geos]
        speed = statistics.median(geo.straight.speed_ratio for geo in geos)
        print(f"{method_name(raw):8s} {raw['reg']['alpha']:6g} {statistics.fmean(ratios):11.4f} ± "
              f"{statistics.stdev(ratios):5.3f} {statistics.median(ratios):7.4f} {min(ratios):6.3f} {max(ratios):6.3f}"
              f" {speed:28.2f} {time.perf_counter() - t0:8.1f}  {run.name}")


if __name__ == "__main__":
    main()
