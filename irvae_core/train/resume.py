"""Resuming a run from its last.pt: check everything first, then continue it as what it is.

``open_for_resume`` takes the run's lock, reads its config.json whole and loads its last.pt
into the model the config describes; only a run that passes all three is continued, by the
trainer of its type (a plain or sweep run: ``Trainer``; a flattened run: ``FlatteningTrainer``).
A run that fails a check is refused with one sentence and left exactly as it was: nothing is
written before the checks pass. Only the number of epochs (to extend a run) and the device may
change on resuming; every other setting is the run's own.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irvae_core.config import ConfigError, RunConfig, apply_overrides
from irvae_core.store.checkpoints import model_with_state
from irvae_core.store.files import CheckpointError, RunError, load_checkpoint
from irvae_core.store.lock import RunLock
from irvae_core.store.runs import Run, open_run
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.resolve import select_device
from irvae_core.train.trainer import Trainer

# Top-level keys a run's config.json may hold (the sections, and what the trainers record).
RUN_CONFIG_KEYS = {"data", "model", "reg", "train", "name", "version", "type", "x_shape", "parameters",
                   "base_run", "flatten", "fm"}
# What a run of an older config version must hold at least (version 2 and later: every field).
ESSENTIAL_FIELDS = ("data.name", "model.kind", "model.latent_dim", "reg.kind", "reg.alpha", "train.epochs")
CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "global_step", "best_val")


@dataclass
class Resumable:
    """A run that passed the checks, locked by this process until ``lock.release()``."""

    run: Run
    lock: RunLock
    kind: str  # "train" or "flatten"
    raw: dict[str, Any]
    epoch: int  # epochs in last.pt
    epochs: int  # epochs the run will reach
    device: str | None

    def trainer(self, callback: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Trainer:
        """The trainer that continues the run (it loads the data and rewrites the config with the new epochs)."""
        if self.kind == "flatten":
            from irvae_core.train.flattening import FlatteningTrainer, flatten_settings

            base = open_run(self.raw["base_run"])
            fcfg = dataclasses.replace(flatten_settings(self.raw), epochs=self.epochs)
            return FlatteningTrainer(base, self.run, fcfg, callback=callback, cancel=cancel, device=self.device)
        overrides: dict[str, Any] = {"train.epochs": self.epochs}
        if self.device:
            overrides["train.device"] = self.device
        return Trainer(apply_overrides(self.run.config(), overrides), self.run, callback=callback, cancel=cancel)


def check_run_config(run: Run) -> tuple[str, dict[str, Any]]:
    """The run's type and raw config, or ConfigError naming what is unknown or missing."""
    raw = run.raw_config()
    where = run.file("config.json")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} does not hold a run configuration")
    unknown = sorted(set(raw) - RUN_CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"{where} has unknown keys {unknown}: it was edited or written by another program; "
                          "the run was not resumed")
    kind = raw.get("type", "train")
    if kind not in ("train", "flatten"):
        raise ConfigError(f"{where} is of type {kind!r}, which cannot be resumed (only train and flatten runs)")
    required = ["data", "model", "reg", "train", "x_shape"] + (["base_run", "flatten"] if kind == "flatten" else [])
    missing = [k for k in required if k not in raw]
    if not missing:
        cfg = RunConfig.from_dict({k: raw[k] for k in ("data", "model", "reg", "train", "name", "version")
                                   if k in raw})  # unknown fields in a section: ConfigError
        fields = ([f"{s}.{f.name}" for s in ("data", "model", "reg", "train")
                   for f in dataclasses.fields(getattr(cfg, s))] if raw.get("version", 1) >= 2 else ESSENTIAL_FIELDS)
        missing = [f for f in fields if f.split(".")[1] not in (raw[f.split(".")[0]] or {})]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}: it was edited or is incomplete; the run was not "
                          "resumed")
    return kind, raw


def check_checkpoint(run: Run, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """last.pt loaded (weights only) into the model the config describes; CheckpointError if it does not fit."""
    path = run.file("last.pt")
    state = load_checkpoint(path)
    lacking = [k for k in CHECKPOINT_KEYS if k not in state]
    if lacking:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(lacking)}: it is not a resumable checkpoint")
    try:
        model_with_state(run.config(), raw, state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match the model in {run.file('config.json')} "
                              f"({str(e).splitlines()[0][:160]})") from e
    return state


def open_for_resume(run_dir: str | Path, epochs: int | None = None, device: str | None = None,
                    what: str | None = None) -> Resumable:
    """Lock the run and check its config and last.pt; RunError / ConfigError (one sentence) if it cannot resume.

    ``epochs``: the total to train to (at least the epochs already in last.pt; default the run's);
    ``device``: where to continue (default the run's setting). ``what`` names this writer in the lock.
    """
    run = open_run(run_dir)
    lock = run.lock(what)
    try:
        kind, raw = check_run_config(run)
        if kind == "flatten" and not Path(raw["base_run"]).is_dir():
            raise RunError(f"the base run {raw['base_run']} of the flattened run {run.name} is missing")
        state = check_checkpoint(run, kind, raw)
        done, target = int(state["epoch"]), int(raw["train"].get("epochs") or 0)
        if epochs is not None:
            if epochs < max(done, 1):
                raise ConfigError(f"run {run.name} has trained {done} epochs: --epochs must be at least {max(done, 1)} "
                                  "(the total to reach)")
            target = epochs
        if device is not None:
            select_device(device)  # ConfigError if it is not here
        return Resumable(run, lock, kind, raw, done, target, device)
    except BaseException:
        lock.release()
        raise
