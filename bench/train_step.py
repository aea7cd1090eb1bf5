"""Bench (bar B): IRVAE training step vs VAE training step, MNIST FC (784-256x4-m), batch 100, CPU.

The IRVAE step is the Trainer's: loss = out.loss + alpha / m^2 * relaxed_distortion(model.decode,
out.z, eta=0.2, estimator=E, n=N, jackknife=N < 100). The first IRVAE row is the default for
m = 2 on CPU (exact metric on a 10-point mixup sub-batch, jackknife-corrected); the others show
the alternatives. Bar: the
default <= 1.5x the VAE step. All arms use torch's default Adam and thread count, each its own
identically initialised model, and run alternating in one process (see bench/_timing.py).

    .venv/bin/python bench/train_step.py [--iters N] [--budget SECONDS] [--m M] [--threads T]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import alternating_times, make_vae, report, timing_args, train_step  # noqa: E402

from irvae_core.config import default_alpha  # noqa: E402
from irvae_core.geometry.regularizers import TRAINING_SUBBATCH, relaxed_distortion

DEFAULT = ("exact", TRAINING_SUBBATCH)  # the CPU default (estimator, n) at m = 2
OTHERS = [("exact", 16), ("exact", 25), ("hutchinson", 25), ("exact", None), ("hutchinson", None)]


def irvae(estimator: str, n: int | None):
    def reg(model, z):
        m = z.shape[1]  # the default weight of VAE + ir, in the loss's units (the cost does not depend on it)
        weight = default_alpha("vae", "ir", m) / m**2
        return weight * relaxed_distortion(model.decode, z, eta=0.2, estimator=estimator, n=n,
                                           jackknife=n is not None and n < len(z))

    return reg


def main() -> None:
    args = timing_args(__doc__, 300, lambda ap: ap.add_argument("--m", type=int, default=2, help="latent size"))

    torch.manual_seed(0)
    x = torch.rand(100, 1, 28, 28)
    arms = {}
    model, opt = make_vae(0, args.m)
    arms["vae"] = train_step(model, opt, x, None)
    for est, n in [DEFAULT, *OTHERS]:
        model, opt = make_vae(0, args.m)
        arms[f"irvae {est} n={n or 100}"] = train_step(model, opt, x, irvae(est, n))
    times = alternating_times(arms, args.iters, args.budget)

    print(f"MNIST FC VAE, m = {args.m}, batch 100, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {len(times['vae'])} steps per arm")
    report(times, "vae", f"irvae {DEFAULT[0]} n={DEFAULT[1]}", 1.5, "bar B")

if __name__ == "__main__":
    main()
