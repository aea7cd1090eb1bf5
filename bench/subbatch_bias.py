"""Bench: the bias of the relaxed distortion F estimated on a mixup sub-batch of n points.

F is a ratio of means, so its value on n points is biased relative to F of the whole mixup
distribution P_Z (Section 4.3). On a trained MNIST decoder (a run of ``./lab train --reg ir``,
or a training here), this draws K training-like sub-batches: a random minibatch of 100
sampled codes z = mu + sigma * eps (as the Trainer's), then n mixup points of
``regularizers.mixup_pairs``. E[F_n] is the mean of F over the K sub-batches, F the value on
all K * n points pooled; their difference is a bias estimate with little noise (both use the
same points), and its standard error comes from 20 blocks of sub-batches. Columns: the plug-in
estimate (the paper's, ``relaxed_from_terms``), the jackknife-corrected one (``jackknife=True``,
the training default on a sub-batch) and, for comparison, the plug-in with E[Tr G]^2 replaced by
its U-statistic (``scale_spread(..., ustat=True)``). Exact metric throughout.
Bar: |E[F_n] - F| <= 3% of F at the training default.

    .venv/bin/python bench/subbatch_bias.py [--run RUN_DIR] [--draws K] [--ns 10,16,25,100]

Without --run it first trains the default IRVAE (./lab train --reg ir; a few minutes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.config import DEFAULT_EPOCHS, RunConfig, apply_overrides  # noqa: E402
from irvae_core.data import load_dataset  # noqa: E402
from irvae_core.geometry.metric import pullback_metric
from irvae_core.geometry.regularizers import TRAINING_SUBBATCH, mixup_pairs, relaxed_from_terms, scale_spread
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import new_run, open_run
from irvae_core.train.trainer import Trainer

BLOCKS = 20


def trained_model(run_dir: str | None, epochs: int):
    if run_dir:
        return load_model(open_run(run_dir))
    tmp = tempfile.mkdtemp(prefix="irvae-bias-")
    cfg = apply_overrides(RunConfig(), {"reg.kind": "ir", "train.epochs": epochs, "train.tensorboard": False})
    run = new_run(tmp, cfg)
    Trainer(cfg, run).fit()
    return load_model(run)


@torch.no_grad()
def subbatches(model, x: torch.Tensor, n: int, draws: int, eta: float = 0.2) -> torch.Tensor:
    """(draws, n, m): each row n mixup points of one random minibatch of 100 sampled codes."""
    h = torch.cat([model.encoder(xb) for xb in x.split(500)])
    mu, std = h[:, : model.latent_dim], h[:, model.latent_dim :].exp()
    out = []
    for _ in range(draws):
        idx = torch.randperm(len(x))[:100]
        z = mu[idx] + std[idx] * torch.randn_like(mu[idx])
        i, j, d = mixup_pairs(len(z), eta, n)
        out.append(torch.lerp(z[j], z[i], d))
    return torch.stack(out)


@torch.no_grad()
def terms(model, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-point Tr G and anisotropy ||G - (Tr G / m) I||_F^2 for points (..., m), float64."""
    shape, m = z.shape[:-1], z.shape[-1]
    G = pullback_metric(model.decode, z.reshape(-1, m)).double()
    t = G.diagonal(dim1=1, dim2=2).sum(1)
    r = (G - torch.eye(m, dtype=G.dtype) * (t / m)[:, None, None]).pow(2).sum((1, 2))
    return t.reshape(shape), r.reshape(shape)


def f_values(t: torch.Tensor, r: torch.Tensor, m: int, how: str) -> torch.Tensor:
    """F of each set of points along the last dimension."""
    if how == "ustat":
        scale_sq, spread = scale_spread(t, ustat=True)
        return m**2 * (r.mean(-1) + spread / m) / scale_sq
    return relaxed_from_terms(t, r, m, jackknife=how == "jackknife")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a trained run (default: train the default IRVAE here first)")
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs of that training without --run")
    ap.add_argument("--draws", type=int, default=20000, help="sub-batches for n = 10 (fewer for larger n)")
    ap.add_argument("--ns", default=f"{TRAINING_SUBBATCH},16,25,100", help="sub-batch sizes")
    args, _ = ap.parse_known_args()  # ./lab bench passes the timing benches' options to every bench
    torch.manual_seed(0)
    model = trained_model(args.run, args.epochs)
    x = load_dataset("mnist5k").train.x
    m = model.latent_dim
    print(f"{args.run or 'default IRVAE'} (m = {m}): exact metric, bias of E[F_n] against F of the same points "
          f"pooled, +- its standard error over {BLOCKS} blocks")
    print(f"  {'n':>4s} {'sub-batches':>11s} {'F':>9s} {'plug-in':>16s} {'jackknife':>16s} {'U-statistic':>16s}")
    for n in [int(a) for a in args.ns.split(",")]:
        draws = max(BLOCKS * 10, args.draws * TRAINING_SUBBATCH // n // BLOCKS * BLOCKS)
        t, r = terms(model, subbatches(model, x, n, draws))
        pooled = f_values(t.flatten(), r.flatten(), m, "plug-in")
        cells = []
        for how in ("plug-in", "jackknife", "ustat"):
            fn = f_values(t, r, m, how)
            bias = fn.mean() / pooled - 1
            blocks = torch.stack([fb.mean() / f_values(tb.flatten(), rb.flatten(), m, "plug-in") - 1
                                  for fb, tb, rb in zip(fn.chunk(BLOCKS), t.chunk(BLOCKS), r.chunk(BLOCKS))])
            se = blocks.std() / BLOCKS**0.5
            cells.append(f"{100 * bias:+6.2f}% +- {100 * se:4.2f}")
        print(f"  {n:4d} {draws:11d} {float(pooled):9.5f} {cells[0]:>16s} {cells[1]:>16s} {cells[2]:>16s}")
    print(f"bar: |bias| <= 3% at the training default (n = {TRAINING_SUBBATCH}, jackknife)")


if __name__ == "__main__":
    main()
