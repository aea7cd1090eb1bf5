"""Bench: one flattening-module training step vs one VAE training step (bar: <= 5x, issue 29).

The paper's setting: MNIST FC VAE (784-256x4-2), RealNVP depth 8 width 512, batch 100, CPU.
The FM step is the real ``FlatteningTrainer``'s (its loss, backward and Adam step) on a base
VAE run written to a temporary folder; the VAE step is the Trainer's. All arms run alternating
in one process (bench/_timing.py). The first FM row is the default (exact metric of
f o i^{-1} on the whole batch, the RealNVP's Jacobian written by hand); the others show a
mixup sub-batch (the RealNVP then runs on those rows only) and Hutchinson's estimator. Last, each arm's
arithmetic per step (floating-point operations of its matrix products, torch's FlopCounterMode) beside the VAE's:
the time ratio's floor where every arm's products ran at the same rate.

    .venv/bin/python bench/flattening.py [--iters N] [--budget SECONDS]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import alternating_times, make_vae, report, timing_args, train_step  # noqa: E402

from irvae_core.config import RunConfig, apply_overrides  # noqa: E402
from irvae_core.data import DatasetSplits, TensorSplit  # noqa: E402
from irvae_core.store.runs import new_run
from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer
from irvae_core.train.trainer import Trainer

ARMS = [("auto", None), ("exact", 10), ("exact", 25), ("hutchinson", None)]  # (estimator, samples)


def random_mnist(n: int = 300) -> DatasetSplits:
    x, y = torch.rand(n, 1, 28, 28), torch.zeros(n, dtype=torch.long)
    part = TensorSplit(x, y)
    return DatasetSplits("bench-mnist", part, part, part, x_shape=(1, 28, 28), label_kind="class", label_names=["0"])


def fm_step(trainer: FlatteningTrainer, z: torch.Tensor):
    def step() -> None:
        trainer.opt.zero_grad(set_to_none=True)
        loss, _ = trainer.loss(z)
        loss.backward()
        trainer.opt.step()

    return step


def gflop(step) -> float:
    """Floating-point operations of one call of ``step`` (torch's FlopCounterMode: the matrix products), in G."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def main() -> None:
    args = timing_args(__doc__, 200)

    torch.manual_seed(0)
    data = random_mnist()
    cfg = apply_overrides(RunConfig(), {"data.name": "mnist5k", "model.arch": "fc", "model.latent_dim": 2,
                                        "train.epochs": 1, "train.tensorboard": False, "train.device": "cpu"})
    x = data.train.x[:100]
    arms = {}
    model, opt = make_vae(0)
    arms["vae"] = train_step(model, opt, x, None)
    with tempfile.TemporaryDirectory() as tmp:
        base = new_run(tmp, cfg, label="base")
        Trainer(cfg, base, data=data).fit()
        for est, n in ARMS:
            fcfg = FlattenConfig(epochs=1, estimator=est, samples=n)
            trainer = FlatteningTrainer(base, new_run(tmp, cfg, label="fm"), fcfg, data=data)
            z = trainer.data.train.x[:100]  # the trainer encodes the data once (frozen encoder)
            arms[f"fm {trainer.estimator} n={trainer.samples or 100}"] = fm_step(trainer, z)
        flops = {name: gflop(step) for name, step in arms.items()}
        times = alternating_times(arms, args.iters, args.budget)

    print(f"MNIST FC VAE m = 2, RealNVP 8 x 512, batch 100, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {len(times['vae'])} steps per arm")
    report(times, "vae", list(arms)[1], 5.0, "bar")
    print("arithmetic per step (FlopCounterMode): " + ", ".join(
        f"{name} {g:.2f} GFLOP ({g / flops['vae']:.1f}x)" for name, g in flops.items()))


if __name__ == "__main__":
    main()
