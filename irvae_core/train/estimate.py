"""How long one training epoch of a config will take here: a few timed steps of the real Trainer.

The estimate builds the run's model on the device the run would use, and times whole training
steps of ``Trainer`` (loading the batch, L + alpha R, backward, Adam) on the first batches of
the training split, then one validation batch. An epoch is the median step times the steps an
epoch has, plus the validation batches. The first step is a warm-up (allocations, kernel
selection) and is only used when it alone already exceeds the time budget.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch

from irvae_core.config import RunConfig
from irvae_core.data import DatasetSplits, load_run_data
from irvae_core.store.runs import new_run
from irvae_core.train.loop import iterate_batches
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import Trainer, count_parameters

# The Train page warns above this many seconds an epoch (by default; the user can change it).
SLOW_EPOCH_S = 600.0


@dataclass(frozen=True)
class EpochEstimate:
    """Seconds one epoch should take, and what the number rests on."""

    seconds: float  # training steps plus validation batches
    step_seconds: float  # median of the timed training steps
    timed_steps: int  # 0: only the warm-up step was timed (it took the whole budget)
    steps: int  # training steps an epoch
    val_seconds: float  # one validation batch
    val_steps: int
    device: str
    batch_shape: tuple[int, ...]
    parameters: int
    conv_width: int | None

    def describe(self) -> str:
        """The estimate in plain words."""
        based = (f"median of {self.timed_steps} timed steps" if self.timed_steps
                 else "from the first step alone, which is usually slower than the rest")
        return (f"About {format_duration(self.seconds)} an epoch on {self.device}: {self.steps} steps of "
                f"{self.step_seconds:.3g} s ({based}, batch {tuple(self.batch_shape)}, "
                f"{self.parameters:,} parameters) and {self.val_steps} validation batches.")


def format_duration(seconds: float) -> str:
    """'42 s', '3.5 min', '2.1 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def estimate_epoch_seconds(cfg: RunConfig, data: DatasetSplits | None = None, steps: int = 3,
                           budget_s: float = 20.0) -> EpochEstimate:
    """Time up to ``steps`` training steps of ``cfg`` (at most ~``budget_s`` seconds of them) and scale to an epoch.

    ``data``: the loaded dataset (default: load the config's). Nothing is written outside a
    temporary folder; the global RNG state is left as it was.
    """
    cfg = resolve_config(cfg)
    data = data or load_run_data(cfg.data)
    try:
        return _timed_epoch(cfg, data, steps, budget_s)
    except RuntimeError as e:  # torch.OutOfMemoryError on a GPU; the CPU allocator's RuntimeError
        if isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in str(e):
            raise ValueError(f"this network does not fit in memory at batch {cfg.train.batch_size} on "
                             f"{cfg.train.device} ({str(e).splitlines()[0][:160]}): try a smaller conv width or "
                             "batch") from e
        raise


def _timed_epoch(cfg: RunConfig, data: DatasetSplits, steps: int, budget_s: float) -> EpochEstimate:
    batch = cfg.train.batch_size
    n_steps, n_val = math.ceil(len(data.train) / batch), math.ceil(len(data.val) / batch)
    with tempfile.TemporaryDirectory() as tmp:  # the Trainer draws from its own generator: no global RNG to fork
        trainer = Trainer(cfg, new_run(tmp, cfg), data=data)
        device = trainer.device

        def timed(x: torch.Tensor, y: torch.Tensor, train: bool) -> float:
            t0 = time.perf_counter()
            loss, _ = trainer.loss(x.to(device), y.to(device) if trainer.needs_labels else None)
            if train:
                trainer.opt.zero_grad(set_to_none=True)
                loss.backward()
                trainer.opt.step()
            _sync(device)
            return time.perf_counter() - t0

        batches = iterate_batches(data.train, batch, None)
        t0 = time.perf_counter()
        x, y = next(batches)
        warm = (time.perf_counter() - t0) + timed(x, y, True)
        times: list[float] = []
        while warm < budget_s and len(times) < min(steps, n_steps - 1) and sum(times) < budget_s:
            t0 = time.perf_counter()
            x, y = next(batches)
            times.append(time.perf_counter() - t0 + timed(x, y, True))
        step_s = statistics.median(times) if times else warm
        trainer.model.eval()
        val_s = timed(*next(iterate_batches(data.val, batch, None)), False) if n_val else 0.0
        shape = (min(batch, len(data.train)), *data.x_shape)
        return EpochEstimate(n_steps * step_s + n_val * val_s, step_s, len(times), n_steps, val_s, n_val,
                             str(device), shape, count_parameters(trainer.model), trainer.cfg.model.conv_width)
