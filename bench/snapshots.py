"""Bench: what the latent-plane snapshots cost a run (issue 26: at most 5% of the run's time).

Trains the default mnist5k IRVAE (the CPU default's network, one thread) for a few epochs, timing each epoch's
training and validation, and times ``take_snapshot`` (128 validation points encoded, their plane metric) on the
same model. Reported: one snapshot against one epoch, and the overhead of the Trainer's SNAPSHOTS snapshots on the
default 240-epoch run and on a run short enough that every epoch takes one (the worst case, SNAPSHOTS epochs).

    .venv/bin/python bench/snapshots.py [--epochs N] [--repeats N] [--dataset NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from irvae_core.config import RunConfig, apply_overrides  # noqa: E402
from irvae_core.config.defaults import DEFAULT_EPOCHS  # noqa: E402
from irvae_core.store.runs import new_run  # noqa: E402
from irvae_core.train.snapshots import SNAPSHOTS, snapshot_indices, take_snapshot  # noqa: E402
from irvae_core.train.trainer import Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--dataset", default="mnist5k")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = apply_overrides(RunConfig(), {"data.name": args.dataset, "reg.kind": "ir", "train.epochs": args.epochs,
                                        "train.tensorboard": False})
    epoch_ends: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, new_run(tmp, cfg), snapshots=0,
                          callback=lambda e: epoch_ends.append(time.perf_counter()) if e.phase == "epoch" else None)
        t0 = time.perf_counter()
        trainer.fit()
        epochs = [b - a for a, b in zip([t0, *epoch_ends[:-1]], epoch_ends)][1:]  # the first warms up
        epoch_s = statistics.median(epochs)
        indices = snapshot_indices(len(trainer.data.val))
        take_snapshot(trainer.model, trainer.data.val, indices, 1)  # warm-up
        snaps = []
        for _ in range(args.repeats):
            s0 = time.perf_counter()
            take_snapshot(trainer.model, trainer.data.val, indices, 1)
            snaps.append(time.perf_counter() - s0)
    snap_s = statistics.median(snaps)
    q = statistics.quantiles(snaps, n=4)
    print(f"{args.dataset}, default IRVAE, one thread: epoch (train + validation) {epoch_s:.3f} s "
          f"(median of {len(epochs)}); one snapshot of {len(indices)} points {1000 * snap_s:.1f} ms "
          f"[IQR {1000 * q[0]:.1f}-{1000 * q[2]:.1f}] = {100 * snap_s / epoch_s:.2f}% of an epoch")
    default_epochs = DEFAULT_EPOCHS  # the CPU default schedule
    print(f"overhead of {SNAPSHOTS} snapshots: on a {default_epochs}-epoch run "
          f"{100 * SNAPSHOTS * snap_s / (default_epochs * epoch_s):.3f}%; on a {SNAPSHOTS}-epoch run (one every "
          f"epoch, the worst case) {100 * snap_s / epoch_s:.2f}%")


if __name__ == "__main__":
    main()
