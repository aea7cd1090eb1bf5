"""Bench (bar B): the Trainer's IRVAE training step vs its VAE step, MNIST FC (784-256x4-m), batch 100, CPU.

Every arm is a real ``Trainer`` (on random MNIST-shaped data) and its step is ``Trainer.loss``, backward and
Adam, as in training. The default IRVAE step at m = 2 on CPU: the exact metric on 10 mixup points,
jackknife-corrected F, the reconstruction and the metric in one pass through the FC decoder
(``MetricDecode``, ``FCDecoder.jacobian_pass``). For comparison: the same regularizer computed after the loss
(one pass for the metric alone: "separate"), and through forward-mode AD on stacked tangents (the plain path
before the one pass: "forward mode"); then other mixup sizes and Hutchinson's estimator. Bars: the default
<= 1.25x the VAE step; the exact metric on the whole batch <= 1.8x. All arms start from the same weights
(seed 0) and run alternating in one process (see bench/_timing.py).

    .venv/bin/python bench/train_step.py [--iters N] [--budget SECONDS] [--m M] [--threads T]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import alternating_times, ratio, report, timing_args  # noqa: E402

from irvae_core.config import RunConfig, apply_overrides  # noqa: E402
from irvae_core.data import DatasetSplits, TensorSplit  # noqa: E402
from irvae_core.store.runs import new_run  # noqa: E402
from irvae_core.train.trainer import Trainer, regularizer  # noqa: E402

DEFAULT = "irvae default (n=10, one pass)"
WHOLE = "irvae exact n=100"
ARMS = {  # name: (config overrides, how the step computes the regularizer)
    "vae": ({"reg.kind": "none"}, "trainer"),
    DEFAULT: ({}, "trainer"),
    "irvae n=10 separate": ({}, "separate"),
    "irvae n=10 forward mode": ({}, "forward mode"),
    "irvae exact n=25": ({"reg.samples": 25}, "trainer"),
    "irvae hutchinson n=25": ({"reg.estimator": "hutchinson", "reg.samples": 25}, "trainer"),
    WHOLE: ({"reg.samples": "batch"}, "trainer"),
    "irvae hutchinson n=100": ({"reg.estimator": "hutchinson", "reg.samples": "batch"}, "trainer"),
}


def random_mnist(n: int = 200) -> DatasetSplits:
    x, y = torch.rand(n, 1, 28, 28), torch.zeros(n, dtype=torch.long)
    part = TensorSplit(x, y)
    return DatasetSplits("bench-mnist", part, part, part, x_shape=(1, 28, 28), label_kind="class", label_names=["0"])


def make_step(trainer: Trainer, x: torch.Tensor, how: str):
    model = trainer.model

    def loss() -> torch.Tensor:
        if how == "trainer":
            return trainer.loss(x)[0]
        out = model.loss(x, generator=trainer.generator)
        decoder = model.decode if how == "separate" else (lambda z: model.decode(z))  # a lambda: no one pass
        return out.loss + trainer.weight * regularizer(trainer.cfg, decoder, out.z, generator=trainer.generator)

    def step() -> None:
        trainer.opt.zero_grad(set_to_none=True)
        loss().backward()
        trainer.opt.step()

    return step


def main() -> None:
    args = timing_args(__doc__, 300, lambda ap: ap.add_argument("--m", type=int, default=2, help="latent size"))
    data = random_mnist()
    x = data.train.x[:100]
    base = {"data.name": "mnist5k", "model.arch": "fc", "model.latent_dim": args.m, "reg.kind": "ir",
            "train.epochs": 1, "train.tensorboard": False, "train.device": "cpu"}
    arms = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (overrides, how) in ARMS.items():
            cfg = apply_overrides(RunConfig(), {**base, **overrides})
            arms[name] = make_step(Trainer(cfg, new_run(tmp, cfg), data=data), x, how)
        times = alternating_times(arms, args.iters, args.budget)

    print(f"MNIST FC VAE, m = {args.m}, batch 100, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {len(times['vae'])} steps per arm")
    report(times, "vae", DEFAULT, 1.25, "bar B")
    r = ratio(times, WHOLE, "vae")
    print(f"bar ('{WHOLE}' <= 1.8x vae): {r[0]:.2f}x (paired {r[1]:.2f}) -> "
          f"{'met' if max(r[0], r[1]) <= 1.8 else 'NOT met'}; VAE step {statistics.median(times['vae']) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
