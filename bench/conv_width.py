"""Bench: seconds per epoch of a conv preset, its CPU width vs the paper's, VAE and IRVAE.

``--preset celeba-conv`` (default) on a CelebA folder (default ../shared/data/celeba: 2,000 real
faces, 1,600 in the train split, so 16 steps of 100 an epoch): the CPU variant (conv width 16,
m = 16) and the ``--paper`` variant (width 128, m = 128). ``--preset images-conv`` on its CPU
data, the embedded mnist5k (4,000 train digits): width 16 vs the paper's 32, both m = 16. Each
network trains as a VAE and as an IRVAE (--reg ir, the default estimator: Hutchinson on the
whole batch for m > 4), both variants on the CPU variant's data. Every step is the Trainer's own
(batch loading and JPEG decoding included, loss L + alpha R, backward, Adam).

1. Steps: one step of every arm in turn, alternating (bench/_timing.py), so the ratios compare
   steps taken under the same load. An epoch is extrapolated as the steps an epoch has times the
   median step, plus the validation batches: the paper's CelebA network is too slow on a CPU to
   run whole epochs here.
2. Epochs (CPU width only): one whole epoch of ``Trainer.fit`` per arm, wall and CPU seconds,
   beside the Train page's estimate (irvae_core.estimate) made just before it.
The machine's load average is printed with the numbers: absolute times on a shared machine
are inflated by the others' work, ratios within one process much less.

    .venv/bin/python bench/conv_width.py [--preset celeba-conv|images-conv] [--data-root DIR]
                                         [--budget SECONDS] [--threads T] [--no-epoch]
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import alternating_times, fmt_ratio, timing_args  # noqa: E402

from irvae_core.config import apply_overrides, preset_config  # noqa: E402
from irvae_core.data import load_dataset  # noqa: E402
from irvae_core.store.runs import new_run
from irvae_core.train.estimate import estimate_epoch_seconds
from irvae_core.train.loop import iterate_batches
from irvae_core.train.trainer import Trainer, count_parameters

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "celeba"
ARMS = {"cpu vae": (False, "none"), "cpu irvae": (False, "ir"), "paper vae": (True, "none"),
        "paper irvae": (True, "ir")}


def config(preset: str, root: str | None, paper: bool, reg: str):
    """The preset's CPU or paper variant, on the CPU variant's data."""
    return apply_overrides(preset_config(preset, paper=paper),
                           {"data.name": preset_config(preset).data.name, "data.root": root, "reg.kind": reg,
                            "train.tensorboard": False})


def step_of(trainer: Trainer):
    """One Trainer step on the next batch of its train split (cycling in a fixed order)."""
    n, b = len(trainer.data.train), trainer.cfg.train.batch_size
    stream = itertools.cycle([torch.arange(i, min(i + b, n)) for i in range(0, n, b)])

    def step() -> None:
        x, _ = next(iterate_batches(trainer.data.train, b, next(stream)))
        loss, _ = trainer.loss(x)
        trainer.opt.zero_grad(set_to_none=True)
        loss.backward()
        trainer.opt.step()

    return step


def val_seconds(trainer: Trainer) -> float:
    trainer.model.eval()
    x, _ = next(iterate_batches(trainer.data.val, trainer.cfg.train.batch_size, None))
    t0 = time.perf_counter()
    trainer.loss(x)
    trainer.model.train()
    return time.perf_counter() - t0


def load() -> str:
    return "load average {:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min) on {} cores".format(*os.getloadavg(),
                                                                                        os.cpu_count())


def main() -> None:
    args = timing_args(__doc__, 20, lambda ap: (
        ap.add_argument("--preset", choices=("celeba-conv", "images-conv"), default="celeba-conv"),
        ap.add_argument("--data-root", help="CelebA folder (default: the shared faces)"),
        ap.add_argument("--no-epoch", action="store_true", help="skip the whole CPU-width epochs"),
        ap.add_argument("--no-steps", action="store_true", help="skip part 1 (and with it the paper's network)")))
    dataset = preset_config(args.preset).data.name
    root = args.data_root or (str(SHARED) if dataset == "celeba" else None)
    if dataset == "celeba" and not Path(root).is_dir():
        print(f"skipped: no CelebA folder at {root} (give --data-root)")
        return
    data = load_dataset(dataset, root)
    batch = preset_config(args.preset).train.batch_size
    steps, val_steps = -(-len(data.train) // batch), -(-len(data.val) // batch)
    print(f"{args.preset}: {len(data.train)} train / {len(data.val)} val examples of {dataset} {root or ''}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_steps:
            alternating_steps(args, root, data, tmp, steps, val_steps)
        if args.no_epoch:
            return
        print(f"\n2. one whole epoch of Trainer.fit (CPU width; {steps} steps + {val_steps} validation batches)")
        for name in ("cpu vae", "cpu irvae"):
            cfg = apply_overrides(config(args.preset, root, *ARMS[name]), {"train.epochs": 1})
            estimate = estimate_epoch_seconds(cfg, data)
            t0, c0 = time.perf_counter(), time.process_time()
            Trainer(cfg, new_run(tmp, cfg), data=data).fit()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"{name:12s} {wall:6.1f} s wall, {cpu:6.1f} s CPU; estimate {estimate.seconds:6.1f} s; {load()}")


def alternating_steps(args, root: str | None, data, tmp: str, steps: int, val_steps: int) -> None:
    """Part 1: one step of every arm in turn; an epoch extrapolated from the median step."""
    trainers = {}
    for name, (paper, reg) in ARMS.items():
        cfg = config(args.preset, root, paper, reg)
        trainers[name] = Trainer(cfg, new_run(tmp, cfg), data=data)
    times = alternating_times({k: step_of(t) for k, t in trainers.items()}, args.iters, args.budget,
                              min_iters=2, warmup=1)
    print(f"\n1. steps, alternating ({len(times['paper irvae'])} per arm); {load()}")
    print(f"{'arm':12s} {'width':>5s} {'m':>4s} {'params':>11s} {'s/step':>8s} {'s/epoch':>8s}   "
          f"/cpu vae  paired [IQR]")
    for name, t in trainers.items():
        step = statistics.median(times[name])
        epoch = steps * step + val_steps * val_seconds(t)
        print(f"{name:12s} {t.cfg.model.conv_width:5d} {t.cfg.model.latent_dim:4d} "
              f"{count_parameters(t.model):11,d} {step:8.2f} {epoch:8.1f}   {fmt_ratio(times, name, 'cpu vae')}")
    print(f"paper irvae / cpu irvae: {fmt_ratio(times, 'paper irvae', 'cpu irvae')}")


if __name__ == "__main__":
    main()
