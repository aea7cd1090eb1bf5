"""The one train-and-evaluate: a trainer fits its run to the end, then the run is evaluated on its test split
(MSE, VoR, MCN into evaluation.json), as the command line's ``train`` and ``flatten``, the app's jobs, every
sweep, the reproductions and the shipped examples all do it.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from irvae_core.config import RunConfig
from irvae_core.geometry.curves import intra_op_threads
from irvae_core.store.runs import Run, open_run
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer
from irvae_core.train.loop import Cancelled, TrainingFailed, TrainingLoop
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.trainer import Trainer


def train_and_evaluate(trainer: TrainingLoop, resume: bool = False,
                       evaluate: bool | Mapping[str, Any] = True) -> dict[str, Any]:
    """Fit ``trainer``'s run (from its last.pt when ``resume``), then evaluate it; the run's final status.

    ``evaluate``: True evaluates with ``evaluate_run``'s defaults, a mapping with those options (e.g.
    ``{"pz_points": 2000}``: a tiny reproduction's smaller P_Z), False not at all.

    ``TrainingFailed`` and ``Cancelled`` are raised as ``fit`` raises them (the run's status already says
    so). Evaluation draws its mixup points from a forked RNG: the caller's random stream is left as it was.
    """
    trainer.fit(resume=resume)
    options = evaluate_options(evaluate)
    if options is not None:
        with torch.random.fork_rng():
            evaluate_run(trainer.run, **options)
    return trainer.run.status()


def evaluate_options(evaluate: bool | Mapping[str, Any]) -> dict[str, Any] | None:
    """``evaluate_run``'s keyword options for an ``evaluate`` argument (True: none, a mapping: itself), None for
    no evaluation (False)."""
    return dict(evaluate) if isinstance(evaluate, Mapping) else {} if evaluate else None


def failure_reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


@dataclasses.dataclass(frozen=True)
class FlattenJob:
    """A sweep job that trains a flattening module on a finished base run (``base``, its folder) into a run
    folder made by ``new_flattened_run``; engines run it like a training config (``to_dict`` is what travels)."""

    base: str
    fcfg: FlattenConfig

    def to_dict(self) -> dict[str, Any]:
        return {"flatten_of": self.base, "flatten": dataclasses.asdict(self.fcfg)}


def _trainer(cfg: dict[str, Any], run: Run, callback: ProgressCallback | None,
             cancel: threading.Event | None) -> TrainingLoop:
    if "flatten_of" in cfg:  # a FlattenJob
        return FlatteningTrainer(open_run(cfg["flatten_of"]), run, FlattenConfig(**cfg["flatten"]).validated(),
                                 callback=callback, cancel=cancel)
    return Trainer(RunConfig.from_dict(cfg), run, callback=callback, cancel=cancel)


def train_sweep_run(cfg: dict[str, Any], run_path: str, threads: int | None = None,
                    callback: ProgressCallback | None = None, cancel: threading.Event | None = None,
                    evaluate: bool | Mapping[str, Any] = True) -> dict[str, Any]:
    """One run of a sweep, on any engine: train the folder ``run_path`` from ``cfg`` (a run config's dict, or a
    ``FlattenJob``'s) and evaluate it; its final status, with ``run``.

    Every error ends as a failed run whose status holds the reason (a failing run never stops the others);
    only a cancel is raised (``Cancelled``), after marking the run cancelled. ``threads`` sets torch's intra-op
    thread count for the run (float sums depend on it: with it fixed, every engine trains the same weights).
    """
    run = Run(Path(run_path))
    if not run.file("config.json").is_file():
        return {"state": "failed", "run": run_path,
                "error": f"run folder {run_path} is not visible on host {socket.gethostname()}: "
                         "on a cluster, --out must be a filesystem shared by every node"}
    try:
        with intra_op_threads(int(threads) if threads else None):
            train_and_evaluate(_trainer(cfg, run, callback, cancel), evaluate=evaluate)
    except TrainingFailed:
        pass  # the Trainer wrote the failed status and its reason
    except (Cancelled, KeyboardInterrupt):  # Ray cancels a running task with KeyboardInterrupt
        run.set_status("cancelled")
        raise Cancelled() from None
    except Exception as e:
        run.set_status("failed", error=failure_reason(e), trace=traceback.format_exc(limit=5))
    return {**run.status(), "run": run_path}
