"""Shared timing harness of the benchmark scripts (not a test; run the scripts directly).

The machine these run on is noisy (other processes, 2 cores), so every arm gets its own model
and optimizer, all arms are warmed up, and then one step of each arm runs in turn (the order
reversed every iteration) until a step count or a time budget is reached. Reported: the median
ms per step of each arm, the ratio of medians and the median (and IQR) of the per-iteration
ratios, which compare steps taken within ~0.1 s of each other under the same load.
"""

from __future__ import annotations

import argparse
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


def timing_args(doc: str, iters: int = 300, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    """The benches' common options (--iters, --budget, --threads, plus ``extra``), parsed and applied."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--iters", type=int, default=iters, help="steps per arm at most")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds of timed steps at most")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def report(times: dict[str, list[float]], ref: str, bar_arm: str, bar: float, bar_name: str) -> None:
    """Print ms/step and the ratio to ``ref`` of every arm, then whether ``bar_arm`` meets the bar."""
    print(f"{'arm':26s} {'ms/step':>8s}   /{ref}   paired [IQR]")
    for name in times:
        print(f"{name:26s} {statistics.median(times[name]) * 1e3:8.2f}   {fmt_ratio(times, name, ref)}")
    r = ratio(times, bar_arm, ref)
    verdict = "met" if max(r[0], r[1]) <= bar else "NOT met"
    print(f"{bar_name} ('{bar_arm}' <= {bar:g}x {ref}): {r[0]:.2f}x (paired {r[1]:.2f}) -> {verdict}")
