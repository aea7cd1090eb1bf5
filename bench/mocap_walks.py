"""Measurement: the Motion capture page's offered runs: training time, and how evenly straight-line walks move the body.

Trains (``--train``) the VAE and the IRVAE the page offers (``irvae_core.mocap.explore.offered_runs``:
the paper's CMU networks, OFFER_EPOCHS epochs each) on synthetic-mocap, or on the CMU files in
``--data-root`` with ``--dataset cmu``, and prints each training's wall and CPU time (the machine
may be shared: CPU seconds are this process's own). Or takes ``--vae RUN --irvae RUN``.
Then, for the same random pairs of walking test poses (class ``--class``), walks the straight
latent line between their codes (``--points`` poses) and prints the joint speed's max/min
ratio along each walk (1 = the body moves at an even pace; paper Fig. 7: IRVAE's is closer to 1),
and the same for the decoder's feature-space speed.

    .venv/bin/python bench/mocap_walks.py --train [--dataset cmu --data-root ../shared/data/cmu] [--pairs 20]
    .venv/bin/python bench/mocap_walks.py --vae RUN --irvae RUN
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.data import load_run_data  # noqa: E402
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import open_run
from irvae_core.store.summaries import method_name
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from irvae_core.views.mocap import OFFER_EPOCHS, offered_runs, pose_walks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true", help="train the offered VAE and IRVAE first")
    ap.add_argument("--dataset", default="synthetic-mocap", choices=["synthetic-mocap", "cmu"])
    ap.add_argument("--data-root", default=None, help="folder of CMU ASF/AMC files (--dataset cmu)")
    ap.add_argument("--runs", type=Path, default=None, help="where --train writes (default: a temporary folder)")
    ap.add_argument("--vae", help="a finished VAE run (instead of --train)")
    ap.add_argument("--irvae", help="a finished IRVAE run (instead of --train)")
    ap.add_argument("--pairs", type=int, default=20, help="random pairs of test poses (default 20)")
    ap.add_argument("--points", type=int, default=24, help="poses per walk (default 24, the page's)")
    ap.add_argument("--class", dest="label", default="walking", help="class of both poses (default walking)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random pairs")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.train:
        folder = args.runs or Path(tempfile.mkdtemp(prefix="mocap-walks-"))
        runs = []
        for cfg in offered_runs(args.dataset, args.data_root):
            t0, c0 = time.perf_counter(), time.process_time()
            run = train(cfg, str(folder))
            print(f"trained {method_name(run.raw_config())} ({OFFER_EPOCHS} epochs, {args.dataset}, "
                  f"{torch.get_num_threads()} torch threads): {time.perf_counter() - t0:.1f} s wall, "
                  f"{time.process_time() - c0:.1f} s CPU -> {run.path}", flush=True)
            evaluate_run(run)
            runs.append(run)
    elif args.vae and args.irvae:
        runs = [open_run(args.vae), open_run(args.irvae)]
    else:
        ap.error("give --train, or --vae RUN --irvae RUN")

    d = runs[0].config().data
    data = load_run_data(d)
    models = [load_model(r) for r in runs]
    names = [method_name(r.raw_config()) for r in runs]
    label = data.label_names.index(args.label)
    members = np.flatnonzero(data.test.y.numpy() == label)
    rng = np.random.default_rng(args.seed)
    pairs = [tuple(int(i) for i in rng.choice(members, 2, replace=False)) for _ in range(args.pairs)]
    joint = {n: [] for n in names}
    feature = {n: [] for n in names}
    for a, b in pairs:
        walk = pose_walks(models, data, a, b, args.points)
        for n, w in zip(names, walk.walks):
            joint[n].append(w.speed_ratio)
            feature[n].append(w.path.speed_ratio)
    print(f"{args.pairs} random pairs of {args.label} test poses (seed {args.seed}) of {data.name}, "
          f"{args.points} poses per straight-line walk")
    print(f"{'method':8s} {'test MCN':>9s} {'test MSE':>10s}   joint speed max/min: median  mean   max"
          f"   feature speed max/min: median")
    for n, run in zip(names, runs):
        ev = run.evaluation() or {}
        j = joint[n]
        print(f"{n:8s} {ev.get('mcn', float('nan')):9.3g} {ev.get('mse', float('nan')):10.3g}   "
              f"{statistics.median(j):26.2f} {statistics.mean(j):5.2f} {max(j):5.2f}"
              f"   {statistics.median(feature[n]):28.2f}")
    better = sum(x < y for x, y in zip(joint[names[1]], joint[names[0]]))
    print(f"{names[1]} walks more evenly than {names[0]} on {better} of {len(pairs)} pairs")


if __name__ == "__main__":
    main()
