"""The training loop every trainer shares (``TrainingLoop``): epochs of Adam steps on the trainer's own
objective, validation, the best and last checkpoints, resume from last.pt, the run's status and metrics, and
progress events. The autoencoder's ``Trainer`` and the flattening module's trainer bring data, model and
objective.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from irvae_core.config import TrainConfig
from irvae_core.data import DatasetSplits, TensorSplit
from irvae_core.store.files import load_checkpoint, save_checkpoint
from irvae_core.store.lock import held_lock
from irvae_core.store.runs import Run
from irvae_core.train.progress import Progress, ProgressCallback
from irvae_core.train.resolve import select_device

VALIDATION_SEED = 12345


class TrainingFailed(Exception):
    """Training stopped on an error (e.g. a non-finite loss); the message is the reason."""


class Cancelled(Exception):
    """Training was cancelled through its cancel event."""


def learning_rate(lr: float, schedule: str, step: int, total: int) -> float:
    """The learning rate of step ``step`` of ``total``: constant, or cosine decay from lr to 0.

    A function of the step alone, so a resumed run continues on the same curve.
    """
    if schedule == "constant" or total <= 0:
        return lr
    return 0.5 * lr * (1 + math.cos(math.pi * min(step, total) / total))


def iterate_batches(data: Dataset, batch_size: int, order: torch.Tensor | None) -> Iterator[tuple]:
    """Minibatches (x, y) in ``order`` (None: in sequence); in-memory splits are sliced directly."""
    n = len(data)
    idx = order if order is not None else torch.arange(n)
    if isinstance(data, TensorSplit):
        for start in range(0, n, batch_size):
            b = idx[start:start + batch_size]
            yield data.x[b], data.y[b]
        return
    loader = DataLoader(data, batch_size=batch_size, sampler=idx.tolist(), num_workers=0)
    yield from loader


@dataclass
class EpochStats:
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, values: dict[str, float], n: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v * n
        self.count += n

    def means(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}{k}": v / max(self.count, 1) for k, v in self.sums.items()}


class TrainingLoop:
    """The loop every trainer shares: epochs of Adam steps on its own objective, validation, the best and
    last checkpoints, resume from last.pt, status, metrics and progress events.

    A trainer sets ``data``, ``model`` and ``opt`` up, and defines ``batch_loss(x, y)``: its objective on
    one batch of its training data and the logged parts. ``settings`` are the loop's own (epochs, batch
    size, learning rate and schedule, seed, device, TensorBoard).
    """

    data: DatasetSplits
    model: torch.nn.Module
    opt: torch.optim.Optimizer

    def __init__(self, settings: TrainConfig, run: Run, callback: ProgressCallback | None = None,
                 cancel: threading.Event | None = None):
        self.settings = settings
        self.run = run
        self.callback = callback
        self.cancel = cancel or threading.Event()
        self.device = select_device(settings.device)
        self.generator = torch.Generator(device=self.device).manual_seed(settings.seed)  # every draw of training
        self.epoch = 0
        self.global_step = 0
        self.best_val = math.inf
        self._tb = None

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The trainer's objective on one batch (x on the device, y its labels) and its logged parts."""
        raise NotImplementedError

    def after_epoch(self, resumed_from: int | None = None) -> None:
        """A trainer's own work after each epoch is saved (``resumed_from``: at the start, the epoch of the
        checkpoint a resume starts from, 0 for a fresh start); none here."""

    # ---------------------------------------------------------------- checkpoints
    def _state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "epoch": self.epoch,
                "global_step": self.global_step, "best_val": self.best_val,
                "generator": self.generator.get_state()}

    def _restore(self) -> None:
        state = load_checkpoint(self.run.file("last.pt"), map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.best_val = float(state["best_val"])
        if "generator" in state:  # checkpoints of older versions kept the global RNG instead
            self.generator.set_state(state["generator"].cpu())
        self.run.truncate_metrics(self.epoch)

    # ---------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to the configured number of epochs (from last.pt when ``resume``), holding the run's
        lock throughout (the caller's, when it holds one: the CLI and the job manager do)."""
        lock = None if held_lock(self.run.path) else self.run.lock()
        try:
            return self._fit(resume)
        finally:
            if lock is not None:
                lock.release()

    def _fit(self, resume: bool) -> dict[str, Any]:
        epochs = int(self.settings.epochs)
        steps_per_epoch = math.ceil(len(self.data.train) / self.settings.batch_size)
        total = steps_per_epoch * epochs
        if resume and self.run.file("last.pt").exists():
            self._restore()
        else:
            save_checkpoint(self.run.file("last.pt"), self._state())
        self.run.set_status("running", started=time.time(), epoch=self.epoch, epochs=epochs,
                            progress=self.global_step / total, pid=os.getpid(), device=str(self.device))
        t0, start_step = time.time(), self.global_step
        record: dict[str, Any] = {}
        self.after_epoch(resumed_from=self.epoch)
        try:
            while self.epoch < epochs:
                stats = self._train_epoch(total, t0, start_step)
                self.epoch += 1
                val = self.validate()
                if not math.isfinite(val["val_loss"]):
                    raise TrainingFailed(f"the validation loss became {val['val_loss']} after epoch {self.epoch}: "
                                         + ("the validation split contains NaN or infinite inputs"
                                            if not self._finite_split(self.data.val)
                                            else "try a smaller learning rate or regularization weight"))
                record = {"epoch": self.epoch, "step": self.global_step, **stats.means("train_"), **val,
                          "time": time.time() - t0}
                self._save_epoch(record, self.selection_value(val))
                self.after_epoch()
                self._tensorboard(record)
                self.run.set_status("running", epoch=self.epoch, epochs=epochs,
                                    progress=self.global_step / total, best_val=self.best_val)
                self._emit("epoch", epochs, total, t0, start_step, record)
        except Cancelled:
            self.run.set_status("cancelled", epoch=self.epoch, epochs=epochs, progress=self.global_step / total)
            self._emit("cancelled", epochs, total, t0, start_step, record)
            raise
        except TrainingFailed as e:
            try:
                self.run.set_status("failed", error=str(e), epoch=self.epoch, epochs=epochs)
            except OSError:  # the disk is full: the lock's release marks the run interrupted instead
                pass
            self._emit("failed", epochs, total, t0, start_step, record, error=str(e))
            raise
        finally:
            if self._tb is not None:
                self._tb.close()
        self.run.set_status("done", epoch=self.epoch, epochs=epochs, progress=1.0, best_val=self.best_val,
                            finished=time.time())
        self._emit("done", epochs, total, t0, start_step, record)
        return record

    def selection_value(self, val: dict[str, float]) -> float:
        """The validation number best.pt minimises (``settings.select_by``): the reconstruction MSE, as the
        official code selects (the objective when the model logs none), or the whole objective."""
        if self.settings.select_by == "reconstruction" and "val_mse" in val:
            return val["val_mse"]
        return val["val_loss"]

    def _save_epoch(self, record: dict[str, Any], val_loss: float) -> None:
        """The epoch's metrics line first, then best.pt and last.pt: a crash in between leaves a
        line past last.pt, which a resume drops and logs again, never a checkpointed epoch without
        its line. A failed write (a full disk) ends the run with the reason; the last good
        checkpoint stays as it was."""
        try:
            self.run.log_metrics(record)
            if val_loss < self.best_val:
                save_checkpoint(self.run.file("best.pt"), {"model": self.model.state_dict(), "epoch": self.epoch})
                self.best_val = val_loss
            save_checkpoint(self.run.file("last.pt"), self._state())
        except OSError as e:
            raise TrainingFailed(f"could not write {e.filename or 'a file of the run'} after epoch {self.epoch}: "
                                 f"{e.strerror or e}; the last good checkpoint is kept") from e

    @staticmethod
    def _finite_split(split: Dataset) -> bool:
        return bool(torch.isfinite(split.x).all()) if isinstance(split, TensorSplit) else True

    def _train_epoch(self, total: int, t0: float, start_step: int) -> EpochStats:
        self.model.train()
        g = torch.Generator().manual_seed(self.settings.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.data.train), generator=g)
        stats = EpochStats()
        for step, (x, y) in enumerate(iterate_batches(self.data.train, self.settings.batch_size, order)):
            if self.cancel.is_set():
                raise Cancelled()
            x = x.to(self.device, non_blocking=True)
            for group in self.opt.param_groups:
                group["lr"] = learning_rate(self.settings.lr, self.settings.lr_schedule, self.global_step, total)
            loss, parts = self.batch_loss(x, y)
            if not torch.isfinite(loss):
                where = f"epoch {self.epoch + 1}, step {step + 1}"
                cause = ("the batch contains NaN or infinite inputs" if not torch.isfinite(x).all()
                         else "try a smaller learning rate or regularization weight")
                raise TrainingFailed(f"the loss became {loss.item()} at {where}: {cause}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.global_step += 1
            parts["loss"] = loss.item()
            stats.add(parts, len(x))
            self._emit("train", int(self.settings.epochs), total, t0, start_step, {},
                       loss=parts["loss"], reg=parts.get("reg"))
        return stats

    def validate(self) -> dict[str, float]:
        """Mean objective and its parts on the validation split, with draws from a fixed seed. No autograd graph
        is built: the same values as with one, without the bookkeeping a backward pass would need."""
        self.model.eval()
        stats = EpochStats()
        training_generator = self.generator  # validation draws from its own, freshly seeded generator
        self.generator = torch.Generator(device=self.device).manual_seed(VALIDATION_SEED)
        try:
            with torch.no_grad():
                for x, y in iterate_batches(self.data.val, self.settings.batch_size, None):
                    loss, parts = self.batch_loss(x.to(self.device), y)
                    parts["loss"] = loss.item()
                    stats.add(parts, len(x))
        finally:
            self.generator = training_generator
        self.model.train()
        return stats.means("val_")

    # ---------------------------------------------------------------- reporting
    def _emit(self, phase: str, epochs: int, total: int, t0: float, start_step: int,
              record: dict[str, Any], **more: Any) -> None:
        if self.callback is None:
            return
        elapsed = time.time() - t0
        done = self.global_step - start_step
        eta = elapsed / done * (total - self.global_step) if done else None
        self.callback(Progress(phase, run=str(self.run.path), epoch=self.epoch, epochs=epochs, step=self.global_step,
                               total_steps=total, fraction=self.global_step / total if total else 1.0,
                               elapsed_s=elapsed, eta_s=eta, record=dict(record), **more))

    def _tensorboard(self, record: dict[str, Any]) -> None:
        if not self.settings.tensorboard:
            return
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional at run time
                self.settings.tensorboard = False
                return
            self._tb = SummaryWriter(str(self.run.file("tensorboard")))
        for k, v in record.items():
            if k not in ("epoch", "step") and isinstance(v, (int, float)):
                self._tb.add_scalar(k.replace("_", "/", 1), v, record["epoch"])
