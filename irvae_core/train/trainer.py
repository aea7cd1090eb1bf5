"""The Trainer: minibatch Adam on L + alpha * R (paper eq. 9), validation, checkpoints, resume.

The loop itself (``TrainingLoop``) is shared with the flattening module's trainer
(``flattening.FlatteningTrainer``); each trainer brings its own data, model and objective.

R is a geometric regularizer of the decoder evaluated at mixup samples of the latent codes
the decoder saw in the step (Section 4.3): the relaxed distortion (ir), FMVAE's term (fmvae) or
the strict isometry (iso), weighted so that alpha is in the paper's units (``reg_weight``).
Runs are deterministic on CPU for a given seed, also across a stop and resume from last.pt
and beside other jobs in the same process: every random draw of training (the VAE's noise, DAE
noise, WAE prior samples, mixup, Hutchinson probes) comes from the trainer's own
torch.Generator, whose state is saved with each checkpoint; the data order is a function of
seed and epoch; validation draws from a generator seeded afresh each time; the initial weights
are drawn from the seeded global RNG under a process-wide lock (``INIT_LOCK``), which then gets
its previous state back.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from irvae_core.config import DEFAULT_EPOCHS, SUPERVISED_KINDS, ConfigError, RunConfig, TrainConfig, default_alpha
from irvae_core.data import DATASETS, DatasetSplits, TensorSplit, load_run_data
from irvae_core.geometry.regularizers import (
    fmvae_distortion,
    isometry_distortion,
    relaxed_distortion,
    training_defaults,
)
from irvae_core.store.checkpoints import build_model, record_conv_width
from irvae_core.store.runs import Run, held_lock, load_checkpoint, new_run, save_checkpoint

ProgressCallback = Callable[[dict[str, Any]], None]
VALIDATION_SEED = 12345
# Building a model draws its initial weights from torch's global RNG: seeding it, drawing and
# restoring the caller's state (fork_rng) happen under this lock, so jobs starting together on
# other threads cannot interleave, and a caller's random stream is left as it was.
INIT_LOCK = threading.Lock()


class TrainingFailed(Exception):
    """Training stopped on an error (e.g. a non-finite loss); the message is the reason."""


class Cancelled(Exception):
    """Training was cancelled through its cancel event."""


def select_device(name: str = "auto") -> torch.device:
    """auto: cuda if available, then Apple mps, then cpu."""
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but no CUDA device is available")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_config(cfg: RunConfig) -> RunConfig:
    """Fill the fields left to defaults (architecture, output activation, alpha, epochs)."""
    cfg = RunConfig.from_dict(cfg.to_dict())
    info = DATASETS.get(cfg.data.name)
    if info is None:
        raise ConfigError(f"unknown dataset {cfg.data.name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    cfg.model.arch = cfg.model.arch or info.arch
    cfg.model.out_act = cfg.model.out_act or info.out_act
    if cfg.model.arch != "conv":  # a preset's conv width means nothing to fully connected networks
        cfg.model.conv_width = None
    if cfg.reg.alpha is None or cfg.reg.kind == "none":
        cfg.reg.alpha = default_alpha(cfg.model.kind, cfg.reg.kind, cfg.model.latent_dim)
    if cfg.train.epochs is None:
        cfg.train.epochs = DEFAULT_EPOCHS
    return cfg.validated()


def count_parameters(model: torch.nn.Module) -> int:
    """Number of scalars in the model's parameters (learned or fixed, e.g. a fixed VAE sigma)."""
    return sum(p.numel() for p in model.parameters())


def reg_weight(kind: str, alpha: float, latent_dim: int) -> float:
    """The factor on the regularizer's value in the loss, for alpha in the paper's units.

    ir: ``relaxed_distortion`` returns F (eq. 10), the official code E[Tr G^2] / E[Tr G]^2 =
    (F + m) / m^2; so alpha * official = (alpha / m^2) F + alpha / m, a constant apart: the
    loss adds (alpha / m^2) F, with the official gradient at every m. fmvae and iso: their
    values are the paper's terms (Appendices C, E.6), weighted by alpha itself.
    """
    return alpha / latent_dim**2 if kind == "ir" else alpha


def regularizer(cfg: RunConfig, decoder: Callable, z: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The configured geometric regularizer R of the decoder over mixup samples of z (unweighted).

    Estimator and mixup points come from ``training_defaults``: on CPU with m <= 4 the exact
    metric on TRAINING_SUBBATCH mixup points a step, else the whole batch. On a sub-batch, ir and
    fmvae are jackknife-corrected (their plug-in values on n points are off by O(1/n); for ir on a
    trained MNIST decoder -2.4% at n = 10, corrected: within 0.1%, bench/subbatch_bias.py); on the
    whole batch they are the paper's estimator.
    """
    r = cfg.reg
    est, n = training_defaults(z.shape[1], r.estimator, r.samples, z.device)
    sub = n is not None and n < z.shape[0]
    if r.kind == "ir":
        return relaxed_distortion(decoder, z, eta=r.eta, estimator=est, h=r.h, n=n, jackknife=sub,
                                  generator=generator)
    if r.kind == "fmvae":
        return fmvae_distortion(decoder, z, eta=r.eta, estimator=est, n=n, jackknife=sub, generator=generator)
    if r.kind == "iso":
        return isometry_distortion(decoder, z, k=r.k, eta=r.eta, estimator=est, n=n, generator=generator)
    raise ConfigError(f"no regularizer for kind {r.kind!r}")


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
        try:
            while self.epoch < epochs:
                stats = self._train_epoch(steps_per_epoch, total, t0, start_step)
                self.epoch += 1
                val = self.validate()
                if not math.isfinite(val["val_loss"]):
                    raise TrainingFailed(f"the validation loss became {val['val_loss']} after epoch {self.epoch}: "
                                         + ("the validation split contains NaN or infinite inputs"
                                            if not self._finite_split(self.data.val)
                                            else "try a smaller learning rate or regularization weight"))
                record = {"epoch": self.epoch, "step": self.global_step, **stats.means("train_"), **val,
                          "time": time.time() - t0}
                self._save_epoch(record, val["val_loss"])
                self._tensorboard(record)
                self.run.set_status("running", epoch=self.epoch, epochs=epochs,
                                    progress=self.global_step / total, best_val=self.best_val)
                self._emit("epoch", epochs, steps_per_epoch, total, t0, start_step, record)
        except Cancelled:
            self.run.set_status("cancelled", epoch=self.epoch, epochs=epochs, progress=self.global_step / total)
            self._emit("cancelled", epochs, steps_per_epoch, total, t0, start_step, record)
            raise
        except TrainingFailed as e:
            try:
                self.run.set_status("failed", error=str(e), epoch=self.epoch, epochs=epochs)
            except OSError:  # the disk is full: the lock's release marks the run interrupted instead
                pass
            self._emit("failed", epochs, steps_per_epoch, total, t0, start_step, {"error": str(e)})
            raise
        finally:
            if self._tb is not None:
                self._tb.close()
        self.run.set_status("done", epoch=self.epoch, epochs=epochs, progress=1.0, best_val=self.best_val,
                            finished=time.time())
        self._emit("done", epochs, steps_per_epoch, total, t0, start_step, record)
        return record

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

    def _train_epoch(self, steps_per_epoch: int, total: int, t0: float, start_step: int) -> EpochStats:
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
            self._emit("train", int(self.settings.epochs), steps_per_epoch, total, t0, start_step,
                       {"loss": parts["loss"], "reg": parts.get("reg"), "step_in_epoch": step + 1})
        return stats

    def validate(self) -> dict[str, float]:
        """Mean objective and its parts on the validation split, with draws from a fixed seed."""
        self.model.eval()
        stats = EpochStats()
        training_generator = self.generator  # validation draws from its own, freshly seeded generator
        self.generator = torch.Generator(device=self.device).manual_seed(VALIDATION_SEED)
        try:
            for x, y in iterate_batches(self.data.val, self.settings.batch_size, None):
                loss, parts = self.batch_loss(x.to(self.device), y)
                parts["loss"] = loss.item()
                stats.add(parts, len(x))
        finally:
            self.generator = training_generator
        self.model.train()
        return stats.means("val_")

    # ---------------------------------------------------------------- reporting
    def _emit(self, phase: str, epochs: int, steps_per_epoch: int, total: int, t0: float, start_step: int,
              values: dict[str, Any]) -> None:
        if self.callback is None:
            return
        elapsed = time.time() - t0
        done = self.global_step - start_step
        eta = elapsed / done * (total - self.global_step) if done else None
        self.callback({"phase": phase, "epoch": self.epoch, "epochs": epochs, "global_step": self.global_step,
                       "total_steps": total, "steps_per_epoch": steps_per_epoch,
                       "fraction": self.global_step / total if total else 1.0,
                       "elapsed_s": elapsed, "eta_s": eta, **values})

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


class Trainer(TrainingLoop):
    """Trains one run of an autoencoder (or the supervised baseline) on L + alpha R; ``fit()`` returns the
    final metrics record. See the module docstring."""

    def __init__(self, cfg: RunConfig, run: Run, data: DatasetSplits | None = None,
                 callback: ProgressCallback | None = None, cancel: threading.Event | None = None):
        self.cfg = resolve_config(cfg)
        super().__init__(self.cfg.train, run, callback=callback, cancel=cancel)
        self.setup(data)

    def setup(self, data: DatasetSplits | None) -> None:
        """Load the data, build the model and its optimizer, record the resolved config."""
        c = self.cfg
        self.data = data or load_run_data(c.data)
        if c.model.kind in SUPERVISED_KINDS:  # one output per attribute
            if self.data.label_kind != "attributes":
                raise ConfigError(f"the supervised model {c.model.kind!r} learns attributes, and {self.data.name} "
                                  "has class labels: use an attribute data set (celeba, synthetic-faces)")
            c.model.latent_dim = len(self.data.label_names)
        record_conv_width(c, self.data.x_shape)
        with INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.train.seed)
            self.model = build_model(c, self.data.x_shape).to(self.device)
        self.needs_labels = bool(getattr(self.model, "needs_labels", False))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=c.train.lr)
        self.alpha = float(c.reg.alpha or 0.0)
        self.weight = reg_weight(c.reg.kind, self.alpha, c.model.latent_dim)
        self.run.write_config(c, extra={"type": "train", "x_shape": list(self.data.x_shape),
                                        "parameters": count_parameters(self.model)})

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective L + alpha R of one batch, and its logged parts (eq. 9); labels y only for
        models that learn from them (``needs_labels``: the supervised retrieval baseline). Random
        draws come from ``generator``, by default the trainer's own."""
        g = generator or self.generator
        out = self.model.loss(x, y, generator=g) if y is not None else self.model.loss(x, generator=g)
        parts = dict(out.parts)
        loss = out.loss
        if self.alpha > 0 and len(x) >= 2:
            reg = regularizer(self.cfg, self.model.decode, out.z, generator=g)
            loss = loss + self.weight * reg
            parts["reg"] = reg.item()
        return loss, parts

    def _batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The arguments of ``loss``: the inputs, plus the labels for a model that learns from them."""
        return (x, torch.as_tensor(y).to(self.device)) if getattr(self, "needs_labels", False) else (x,)


    def batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(*self._batch(x, y))


def train(cfg: RunConfig, runs_dir: str, callback: ProgressCallback | None = None,
          cancel: threading.Event | None = None, data: DatasetSplits | None = None) -> Run:
    """Create a run folder under ``runs_dir`` and train it to the end; returns the run."""
    run = new_run(runs_dir, resolve_config(cfg))
    try:
        Trainer(cfg, run, data=data, callback=callback, cancel=cancel).fit()
    except (TrainingFailed, Cancelled):
        pass
    return run


def run_device(run: Run, override: str | None = None) -> torch.device:
    """Where to use a run's model: ``override`` if given, else the device it trained on (status.json),
    else its config's setting; cpu when that device is not on this machine (a run trained elsewhere)."""
    if override:
        return select_device(override)
    name = run.status().get("device") or run.raw_config().get("train", {}).get("device") or "cpu"
    try:
        return select_device(name)
    except (ConfigError, RuntimeError):
        return torch.device("cpu")
