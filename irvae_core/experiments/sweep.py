"""One sweep: train a list of run configs into a runs folder, reusing the finished runs of the same config,
and evaluate each (test MSE, VoR, MCN: the rows of a tradeoff table, paper Section 5.1).

The command line's ``sweep``, the app's alpha sweeps (``JobManager.submit_sweep``) and the paper's
experiments run through ``run_sweep``, always on an engine (``engines.LocalEngine`` by default, or Ray);
``plan_sweep`` is its first half (which runs are reused, which folders are created), for a caller that
must know the run folders before training starts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from irvae_core.config import SUPERVISED_KINDS, RunConfig
from irvae_core.experiments.engines import Engine, LocalEngine
from irvae_core.experiments.runner import evaluate_options
from irvae_core.store.checkpoints import record_conv_width
from irvae_core.store.files import RunError
from irvae_core.store.runs import Run, list_runs, new_run
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.progress import Progress, ProgressCallback
from irvae_core.train.resolve import resolve_config


@dataclass
class SweepItem:
    """One config of a sweep (resolved) and its run: a finished one reused, or a new folder to train."""

    config: RunConfig
    run: Run
    reused: bool


def same_config(cfg: RunConfig, run: Run) -> bool:
    """Whether ``run`` is a finished training run of exactly the resolved config ``cfg``.

    A match is decided on the config alone: the run is a training run (not a flattened one) whose status
    is ``done`` with its best.pt on disk, and its config.json, read as ``Run.config()`` reads it (older
    runs converted), equals ``cfg`` in every field: data (name, root, classes, download, options), model,
    regularizer (alpha included), training (epochs, batch size, learning rate and schedule, seed, device,
    TensorBoard), name and version. Two fields that training fills from the data are compared as it
    fills them: a conv network's width (from the input shape) and the supervised model's output size
    (the number of attributes). The files under ``data.root`` are not compared: a dataset changed in
    place since the run was trained is not noticed.
    """
    try:
        raw = run.raw_config()
        if raw.get("type") != "train" or run.status().get("state") != "done" or not run.file("best.pt").is_file():
            return False
        have = run.config()
    except (RunError, ValueError, TypeError, KeyError):
        return False
    want = RunConfig.from_dict(cfg.to_dict())
    record_conv_width(want, tuple(raw.get("x_shape") or ()))
    if want.model.kind in SUPERVISED_KINDS:
        want.model.latent_dim = have.model.latent_dim
    return want.to_dict() == have.to_dict()


def plan_sweep(configs: Sequence[RunConfig], runs_dir: str | Path) -> list[SweepItem]:
    """Resolve every config; reuse the newest finished run of the same config in ``runs_dir`` (``same_config``),
    else create a queued run folder for it. A config repeated in the list shares one run."""
    finished = list_runs(runs_dir)
    items: list[SweepItem] = []
    for cfg in configs:
        cfg = resolve_config(cfg)
        earlier = next((it for it in items if it.config.to_dict() == cfg.to_dict()), None)
        if earlier is not None:
            items.append(SweepItem(cfg, earlier.run, True))
            continue
        match = next((r for r in finished if same_config(cfg, r)), None)
        if match is not None:
            items.append(SweepItem(cfg, match, True))
        else:
            run = new_run(runs_dir, cfg)
            run.set_status("queued", pid=os.getpid())
            items.append(SweepItem(cfg, run, False))
    return items


def run_sweep(configs: Sequence[RunConfig], runs_dir: str | Path, engine: Engine | None = None,
              on_event: ProgressCallback | None = None, cancel: threading.Event | None = None,
              plan: list[SweepItem] | None = None,
              evaluate: bool | Mapping[str, Any] = True) -> list[dict[str, Any]]:
    """Train and evaluate every config into ``runs_dir`` on ``engine`` (default ``LocalEngine``); one row each,
    in order: ``alpha``, ``run``, ``state``, ``reused`` and, when it finished, ``mse``, ``vor``, ``mcn``,
    ``cond_std`` (else ``error``).

    A finished run of the same config is reused (``same_config``), so resubmitting a sweep trains only what is
    missing. ``on_event`` gets every progress event with the run's place in the sweep (``index`` of ``total``):
    a ``reused`` event for each reused run, then the engine's. A failed run (e.g. a non-finite loss) is reported
    in its row and the sweep goes on; ``cancel`` stops it (its unfinished runs end as cancelled).
    ``plan``: the result of ``plan_sweep`` for these configs; ``evaluate=False`` leaves unevaluated runs so, a
    mapping gives a reused unevaluated run ``evaluate_run``'s options (the engine's own ``evaluate`` is its own).
    """
    engine = engine or LocalEngine()
    cancel = cancel or threading.Event()
    plan = plan if plan is not None else plan_sweep(configs, runs_dir)
    report = on_event or (lambda e: None)
    todo = [i for i, it in enumerate(plan) if not it.reused]
    for i, it in enumerate(plan):
        if it.reused:
            report(Progress.from_status(it.run.status(), str(it.run.path), reused=True).in_sweep(i, len(plan)))
    if todo:
        engine.run([(plan[i].config, plan[i].run) for i in todo],
                   lambda e: report(e.in_sweep(todo[e.index], len(plan))), cancel)
    return [sweep_row(it, evaluate) for it in plan]


def sweep_row(item: SweepItem, evaluate: bool | Mapping[str, Any] = True) -> dict[str, Any]:
    """One line of the tradeoff table: alpha, run, state, reused, and MSE / VoR / MCN or the error. A finished
    run without an evaluation (one trained with evaluation skipped) is evaluated here when ``evaluate``."""
    status = item.run.status()
    row: dict[str, Any] = {"alpha": item.config.reg.alpha, "run": str(item.run.path), "state": status.get("state"),
                           "reused": item.reused}
    if status.get("state") != "done":
        row["error"] = status.get("error", status.get("state"))
        return row
    ev = item.run.evaluation()
    options = evaluate_options(evaluate)
    if (ev is None or "mse" not in ev) and options is None:
        return row
    if ev is None or "mse" not in ev:
        with torch.random.fork_rng():  # evaluation draws mixup points: leave the caller's RNG as it was
            ev = evaluate_run(item.run, **options)
    row.update({k: ev[k] for k in ("mse", "vor", "mcn", "cond_std")})
    return row
