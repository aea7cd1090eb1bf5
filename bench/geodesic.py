"""Bench: wall time of a 16-point geodesic on the paper's MNIST FC decoder (784-256x4-2); issue bar: < 2 s.

The model is the mnist-fc VAE, briefly trained on the embedded MNIST digits (``--steps`` Adam
steps, batch 100; ``--steps 0``: random weights) or loaded from a run (``--run RUN_DIR``). The
endpoints are the codes of random pairs of test digits. Printed per pair and summarised: the
geodesic's wall time (what the Interpolation page waits for) and the process CPU time it took
(robust to other processes' load), optimiser iterations, the length
ratio straight / geodesic and the straight line's and the geodesic's max/min speed ratios.
Absolute wall times depend on the machine's load (a shared 2-core CPU here); the bar is on the
slowest pair's wall time.

    .venv/bin/python bench/geodesic.py [--pairs 10] [--points 16] [--steps 200] [--run RUN_DIR] [--caller-threads]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.config import RunConfig  # noqa: E402
from irvae_core.data import load_dataset, load_run_data  # noqa: E402
from irvae_core.geometry.curves import geodesic
from irvae_core.store.checkpoints import build_model, load_model
from irvae_core.store.runs import open_run
from irvae_core.train.loop import iterate_batches
from irvae_core.train.resolve import resolve_config
from irvae_core.views.interpolation import encode_test_examples

BAR_S = 2.0


def briefly_trained(data, steps: int, seed: int = 0) -> torch.nn.Module:
    """The mnist-fc VAE after ``steps`` Adam steps (lr 1e-3, batch 100) on the training digits."""
    torch.manual_seed(seed)
    model = build_model(resolve_config(RunConfig()), data.x_shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    done = 0
    while done < steps:
        for x, _ in iterate_batches(data.train, 100, torch.randperm(len(data.train))):
            opt.zero_grad(set_to_none=True)
            model.loss(x).loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=10, help="random test pairs (default 10)")
    ap.add_argument("--points", type=int, default=16, help="points per path, endpoints included (default 16)")
    ap.add_argument("--steps", type=int, default=200, help="training steps before timing; 0: random weights")
    ap.add_argument("--run", help="time a trained run's decoder instead")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    ap.add_argument("--caller-threads", action="store_true",
                    help="optimise on the caller's intra-op threads instead of geodesic()'s one thread")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.run:
        run = open_run(args.run)
        cfg = run.config()
        data, model = load_run_data(cfg.data), load_model(run)
        source = f"run {run.name}"
    else:
        data = load_dataset("mnist5k")
        t0 = time.perf_counter()
        model = briefly_trained(data, args.steps)
        source = f"mnist-fc VAE, {args.steps} training steps ({time.perf_counter() - t0:.0f} s)"
    g = torch.Generator().manual_seed(0)
    pairs = [torch.randperm(len(data.test), generator=g)[:2].tolist() for _ in range(args.pairs)]
    geodesic(model.decode, *encode_test_examples(model, data, pairs[0]), args.points)  # warm-up
    threads = f"{torch.get_num_threads()} (the caller's)" if args.caller_threads else "1 (geodesic's own)"
    print(f"geodesic of {args.points} points, {source}, intra-op threads {threads}")
    print(f"{'pair':>12s} {'wall s':>7s} {'cpu s':>6s} {'iters':>6s} {'L_straight/L_geo':>17s}"
          f" {'speed max/min: line':>20s} {'geodesic':>9s}")
    times, cpu, ratios = [], [], []
    for i, j in pairs:
        z = encode_test_examples(model, data, [i, j])
        t0, c0 = time.perf_counter(), time.process_time()
        geo = geodesic(model.decode, z[0], z[1], args.points, threads=None if args.caller_threads else 1)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        ratios.append(geo.length_ratio)
        print(f"{i:5d}-{j:<6d} {times[-1]:7.3f} {cpu[-1]:6.3f} {geo.iterations:6d} {geo.length_ratio:17.4f}"
              f" {geo.straight.speed_ratio:20.2f} {geo.speed_ratio:9.2f}")
    med = statistics.median(times)
    print(f"wall: median {med:.3f} s, max {max(times):.3f} s; process CPU: median {statistics.median(cpu):.3f} s, "
          f"max {max(cpu):.3f} s (only this process's work: other processes' load does not inflate it)")
    print(f"mean length ratio straight/geodesic {statistics.fmean(ratios):.4f}")
    print(f"bar (every pair < {BAR_S:g} s wall): {'met' if max(times) < BAR_S else 'NOT met'}")


if __name__ == "__main__":
    main()
