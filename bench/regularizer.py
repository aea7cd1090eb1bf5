"""Bench (bar A): training step with our relaxed distortion vs the official formulation.

MNIST FC VAE (784-256x4-2), batch 100, random inputs in [0, 1], torch's default Adam, CPU,
default thread count. Arms, each with its own identically initialised model:
  plain     out.loss
  ours      out.loss + 25 * relaxed_distortion(model.decode, out.z)  (Hutchinson, 100 mixup points;
            25 on F = the official 100 at m = 2, as the Trainer weighs alpha = 100)
  official  out.loss + 100 * the official code's E[Tr G^2]/E[Tr G]^2 (torch.autograd.functional
            jvp and vjp with create_graph=True) on the same mixup; 100 = 25 * m^2, the same weight
  ours exact (info) the exact-metric estimator on the same 100 points
Bar: ours <= official (ratio <= 1.0).

    .venv/bin/python bench/regularizer.py [--iters N] [--budget SECONDS]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import alternating_times, fmt_ratio, make_vae, ratio, timing_args, train_step  # noqa: E402

from irvae_core.geometry.regularizers import mixup, relaxed_distortion
from tests.helpers import official_relaxed_distortion  # noqa: E402


def ours(model, z):
    return 25.0 * relaxed_distortion(model.decode, z)


def ours_exact(model, z):
    return 25.0 * relaxed_distortion(model.decode, z, estimator="exact")


def official(model, z):
    za = mixup(z, 0.2)
    return 100.0 * official_relaxed_distortion(model.decode, za, torch.randn_like(za))


def main() -> None:
    args = timing_args(__doc__, 300)

    torch.manual_seed(0)
    x = torch.rand(100, 1, 28, 28)
    arms = {}
    regs = [("plain", None), ("ours", ours), ("official", official), ("ours exact (info)", ours_exact)]
    for name, reg in regs:
        model, opt = make_vae(0)
        arms[name] = train_step(model, opt, x, reg)
    times = alternating_times(arms, args.iters, args.budget)

    n = len(times["plain"])
    print(f"MNIST FC VAE, m = 2, batch 100, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{n} steps per arm")
    print(f"{'arm':20s} {'ms/step':>8s}   {'/plain':>5s}   paired [IQR]     {'/official':>9s}   paired [IQR]")
    for name in arms:
        ms = statistics.median(times[name]) * 1e3
        to_plain, to_official = fmt_ratio(times, name, "plain"), fmt_ratio(times, name, "official")
        print(f"{name:20s} {ms:8.2f}   {to_plain}   {to_official}")
    r = ratio(times, "ours", "official")
    verdict = "met" if max(r[0], r[1]) <= 1.0 else "NOT met"
    print(f"bar A (ours <= official): ours/official = {r[0]:.2f} (paired {r[1]:.2f}) -> {verdict}")


if __name__ == "__main__":
    main()
