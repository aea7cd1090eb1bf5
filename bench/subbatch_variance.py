"""Bench: the noise a mixup sub-batch of n points adds to the relaxed distortion F and its gradient.

Trains the paper's MNIST FC VAE (m = 2) briefly on mnist5k (offline), without and with the
regularizer, then draws F many times at each sub-batch size n: each draw takes a fresh
minibatch of 100 encoded codes, fresh mixup (and Hutchinson vectors), like a training step.
A sub-batch (n < 100) is jackknife-corrected, as in training. Prints the relative std of F and
of its gradient w.r.t. the decoder parameters (the spread of the gradient around its mean,
relative to the norm of the mean gradient).

    .venv/bin/python bench/subbatch_variance.py [--epochs E] [--draws K] [--m M] [--ns 10,25,100]

Takes a few minutes (two short trainings, then 2 x 2 x len(ns) x K regularizer gradients).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.data import load_dataset  # noqa: E402
from irvae_core.geometry.regularizers import relaxed_distortion
from models import build_autoencoder  # noqa: E402


def train(x: torch.Tensor, alpha: float, epochs: int, m: int, seed: int = 0):
    torch.manual_seed(seed)
    model = build_autoencoder("vae", "fc", (1, 28, 28), latent_dim=m)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(100):
            out = model.loss(x[idx])
            loss = out.loss
            if alpha:
                loss = loss + alpha / m**2 * relaxed_distortion(model.decode, out.z, estimator="auto", n=25,
                                                                jackknife=True)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def draws(model, x, estimator: str, n: int, k: int):
    params = list(model.decoder.parameters())
    fs, gs = [], []
    for _ in range(k):
        idx = torch.randint(len(x), (100,))
        with torch.no_grad():
            z = model.encode(x[idx])
        f = relaxed_distortion(model.decode, z, estimator=estimator, n=n, jackknife=n < len(z))
        g = torch.autograd.grad(f, params, allow_unused=True)
        fs.append(f.detach())
        gs.append(torch.cat([t.flatten() for t in g if t is not None]))
    fs, gs = torch.stack(fs), torch.stack(gs)
    g_mean = gs.mean(0)
    g_rel = ((gs - g_mean).pow(2).sum(1).mean().sqrt() / g_mean.norm()).item()
    return fs.mean().item(), (fs.std() / fs.mean()).item(), g_rel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--draws", type=int, default=60)
    ap.add_argument("--m", type=int, default=2, help="latent size")
    ap.add_argument("--ns", default="10,16,25,50,100", help="sub-batch sizes")
    args = ap.parse_args()
    ns = [int(a) for a in args.ns.split(",")]
    torch.manual_seed(0)
    x = load_dataset("mnist5k").train.x
    for label, alpha in [("VAE (no regularizer)", 0.0), ("IRVAE (alpha 100, the official MNIST weight)", 100.0)]:
        model = train(x, alpha, args.epochs, args.m)
        print(f"{label}, m = {args.m}, {args.epochs} epochs on mnist5k; {args.draws} draws per row")
        print(f"  {'estimator':10s} {'n':>4s} {'mean F':>8s} {'rel std F':>10s} {'rel std grad':>13s}")
        for est in ["exact", "hutchinson"]:
            for n in ns:
                torch.manual_seed(1)
                mean, rel, g_rel = draws(model, x, est, n, args.draws)
                print(f"  {est:10s} {n:4d} {mean:8.4f} {rel:10.3f} {g_rel:13.3f}")


if __name__ == "__main__":
    main()
