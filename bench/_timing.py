"""Shared timing harness of the benchmark scripts (not a test; run the scripts directly).

The machine these run on is noisy (other processes, 2 cores), so every arm gets its own model
and optimizer, all arms are warmed up, and then one step of each arm runs in turn (the order
reversed every iteration) until a step count or a time budget is reached. Reported: the median
ms per step of each arm, the ratio of medians and the median (and IQR) of the per-iteration
ratios, which compare steps taken within ~0.1 s of each other under the same load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from models import build_autoencoder


def make_vae(seed: int = 0, latent_dim: int = 2) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The paper's MNIST FC VAE (784-256x4-m) and torch's default Adam (lr 1e-4)."""
    torch.manual_seed(seed)
    model = build_autoencoder("vae", "fc", (1, 28, 28), latent_dim=latent_dim)
    return model, torch.optim.Adam(model.parameters(), lr=1e-4)


def train_step(model, opt, x: torch.Tensor, reg: Callable | None) -> Callable[[], None]:
    """One full step: zero_grad, loss (+ reg(model, z)), backward, Adam step."""

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model.loss(x)
        loss = out.loss if reg is None else out.loss + reg(model, out.z)
        loss.backward()
        opt.step()

    return step


def alternating_times(arms: dict[str, Callable[[], None]], max_iters: int = 400, budget_s: float = 60.0,
                      min_iters: int = 20, warmup: int = 5) -> dict[str, list[float]]:
    """Seconds per step of every arm; one step of each arm per iteration, order alternating."""
    for f in arms.values():
        for _ in range(warmup):
            f()
    names = list(arms)
    times: dict[str, list[float]] = {k: [] for k in names}
    start = time.perf_counter()
    for i in range(max_iters):
        for k in names if i % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            arms[k]()
            times[k].append(time.perf_counter() - t0)
        if i + 1 >= min_iters and time.perf_counter() - start > budget_s:
            break
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> tuple[float, float, float, float]:
    """(median a / median b, median of paired ratios, its first and third quartiles)."""
    r = [x / y for x, y in zip(times[a], times[b])]
    q1, _, q3 = statistics.quantiles(r, n=4)
    return statistics.median(times[a]) / statistics.median(times[b]), statistics.median(r), q1, q3


def fmt_ratio(times: dict[str, list[float]], a: str, b: str) -> str:
    rm, rp, q1, q3 = ratio(times, a, b)
    return f"{rm:5.2f}   {rp:5.2f} [{q1:.2f}-{q3:.2f}]"
