"""Sweep engines: train a fixed list of run configs into a run store, report progress per run, cancel.

A sweep (a tradeoff curve, a reproduction) is a list of configs whose results are run folders.
``run_sweep`` reuses every finished run with the same config (``sweep.plan_sweep``), creates a
folder for each other one and hands the (config, run) pairs to an engine, which trains and evaluates them:

- ``LocalEngine``: one run after the other in this process (the lab's default; no Ray needed);
- ``RayEngine``: one Ray task per run with its resources (``num_cpus``, ``num_gpus``), on a
  local Ray instance started here or on an existing cluster (``address``). Plain tasks, not
  Tune trials: the list of configs is fixed and each result is a run folder, so there is
  nothing for Tune's search or schedulers to do. Ray is imported only when this engine is used.

Workers write their run folders directly, so on a cluster of several machines ``runs_dir`` must
be the same path on every node (a shared filesystem); a worker that cannot see its folder fails
the run with that reason. Each run sets torch's intra-op thread count (``threads``): float sums
depend on it, and with it fixed both engines train bit-identical weights for the same seed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from irvae_core.config import RunConfig
from irvae_core.experiments.sweep import SweepItem, plan_sweep
from irvae_core.store.runs import Run
from irvae_core.train.loop import Cancelled, TrainingFailed
from irvae_core.train.trainer import Trainer

ENGINES = ("local", "ray")
ACTIVE = ("queued", "running")
FORCE_CANCEL_AFTER_S = 10.0
# on_update(index, status): a run's status.json fields (state, epoch, epochs, progress, error) and its "run" path
UpdateCallback = Callable[[int, dict[str, Any]], None]


class EngineError(Exception):
    """The engine cannot run (Ray missing, no cluster at the address); the message says what to do."""


# ---------------------------------------------------------------------------- one run, anywhere
def _failure_reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def train_and_evaluate(cfg: dict[str, Any], run_path: str, threads: int | None = None,
                       callback: Callable[[dict[str, Any]], None] | None = None,
                       cancel: threading.Event | None = None) -> dict[str, Any]:
    """Train the run folder ``run_path`` from config ``cfg`` (a dict), evaluate it; its final status.

    The body of one sweep run on either engine. Every error ends as a failed run whose status
    holds the reason; only a cancel is raised (``Cancelled``), after marking the run cancelled.
    """
    from irvae_core.train.evaluation import evaluate_run

    run = Run(Path(run_path))
    if not run.file("config.json").is_file():
        return {"state": "failed", "run": run_path,
                "error": f"run folder {run_path} is not visible on host {socket.gethostname()}: "
                         "on a cluster, --out must be a filesystem shared by every node"}
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        Trainer(RunConfig.from_dict(cfg), run, callback=callback, cancel=cancel).fit()
        with torch.random.fork_rng():
            evaluate_run(run)
    except TrainingFailed:
        pass  # the Trainer wrote the failed status and its reason
    except (Cancelled, KeyboardInterrupt):  # Ray cancels a running task with KeyboardInterrupt
        run.set_status("cancelled")
        raise Cancelled() from None
    except Exception as e:  # a failing run must never stop the others
        run.set_status("failed", error=_failure_reason(e), trace=traceback.format_exc(limit=5))
    finally:
        torch.set_num_threads(before)
    return {**run.status(), "run": run_path}


# ---------------------------------------------------------------------------- engines
class LocalEngine:
    """Runs one after the other in this process (the lab's default)."""

    name = "local"

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def run(self, jobs: list[tuple[RunConfig, Run]], on_update: UpdateCallback,
            cancel: threading.Event) -> None:
        for i, (cfg, run) in enumerate(jobs):
            if cancel.is_set():
                break

            def progress(e: dict[str, Any], i: int = i, run: Run = run) -> None:
                if e["phase"] == "epoch":
                    on_update(i, {**run.status(), "run": str(run.path)})

            try:
                on_update(i, train_and_evaluate(cfg.to_dict(), str(run.path), self.threads, progress, cancel))
            except Cancelled:
                break
        _mark_cancelled([run for _, run in jobs])


class RayEngine:
    """One Ray task per run, with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs.

    ``address`` None: $RAY_ADDRESS when set, else a local Ray instance on this machine
    (``num_cpus`` CPUs, default all). Threads per run default to the CPUs per run.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
                 threads: int | None = None, num_cpus: int | None = None, poll_s: float = 0.5):
        if cpus_per_run <= 0 or gpus_per_run < 0:
            raise ValueError("--cpus-per-run must be positive and --gpus-per-run not negative")
        self.address, self.cpus, self.gpus = address, cpus_per_run, gpus_per_run
        self.threads = threads or max(1, int(cpus_per_run))
        self.num_cpus, self.poll_s = num_cpus, poll_s

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise EngineError("the Ray engine needs Ray: pip install -r requirements-ray.txt") from None
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None
            try:
                ray.init(address=address, num_cpus=None if address else self.num_cpus, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise EngineError(f"could not connect to the Ray cluster at {address} ({str(e).splitlines()[0]}); "
                                  "a cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
                                  "(RAY_AUTH_TOKEN, or ~/.ray/auth_token) where you run the lab") from None
        return ray

    def run(self, jobs: list[tuple[RunConfig, Run]], on_update: UpdateCallback,
            cancel: threading.Event) -> None:
        ray = self._ray()
        task = ray.remote(_ray_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)
        refs = {task.remote(cfg.to_dict(), str(run.path), self.threads): i for i, (cfg, run) in enumerate(jobs)}
        shown: dict[int, tuple] = {}
        pending, cancelled_at = list(refs), None
        while pending:
            if cancel.is_set() and cancelled_at is None:  # a running task gets KeyboardInterrupt: it marks its run
                for ref in pending:
                    ray.cancel(ref, force=False)
                cancelled_at = time.monotonic()
            elif cancelled_at is not None and time.monotonic() - cancelled_at > FORCE_CANCEL_AFTER_S:
                for ref in pending:  # a task deaf to the interrupt (stuck in native code): end its worker
                    ray.cancel(ref, force=True)
                cancelled_at = float("inf")
            try:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=self.poll_s)
            except KeyboardInterrupt:  # Ctrl-C at the command line: cancel the tasks, then report
                cancel.set()
                continue
            for ref in ready:
                i, run = refs[ref], jobs[refs[ref]][1]
                try:
                    status = ray.get(ref)
                except Exception as e:  # cancelled, or the worker died: the reason goes into the run
                    if not cancel.is_set() and run.status().get("state") in ACTIVE:
                        run.set_status("failed", error=f"the Ray task failed: {str(e).splitlines()[0][:300]}")
                    status = {**run.status(), "run": str(run.path)}
                on_update(i, status)
                shown[i] = ("final",)
            for ref in pending:  # progress of the runs still going, from their status.json
                i, run = refs[ref], jobs[refs[ref]][1]
                status = run.status()
                key = (status.get("state"), status.get("epoch"))
                if shown.get(i) != key:
                    shown[i] = key
                    on_update(i, {**status, "run": str(run.path)})
        _mark_cancelled([run for _, run in jobs])


def _ray_task(cfg: dict[str, Any], run_path: str, threads: int) -> dict[str, Any]:
    """What one Ray worker runs (a module-level function, so workers import it by name)."""
    try:
        return train_and_evaluate(cfg, run_path, threads)
    except Cancelled:
        return {"state": "cancelled", "run": run_path}


def _mark_cancelled(runs: list[Run]) -> None:
    for run in runs:
        if run.status().get("state") in ACTIVE:
            run.set_status("cancelled")


def make_engine(name: str = "local", address: str | None = None, cpus_per_run: float = 1,
                gpus_per_run: float = 0, threads: int | None = None) -> LocalEngine | RayEngine:
    """The engine called ``name`` ("local" or "ray") with its options."""
    if name == "local":
        if address is not None:
            raise ValueError("--address goes with --engine ray")
        return LocalEngine(threads)
    if name == "ray":
        return RayEngine(address, cpus_per_run, gpus_per_run, threads)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


# ---------------------------------------------------------------------------- the sweep
def sweep_row(cfg: RunConfig, run: Run, reused: bool = False) -> dict[str, Any]:
    """One line of the tradeoff table: alpha, run, state, and MSE / VoR / MCN or the error."""
    status = run.status()
    row: dict[str, Any] = {"alpha": cfg.reg.alpha, "run": str(run.path), "state": status.get("state"),
                           "reused": reused}
    ev = run.evaluation() if status.get("state") == "done" else None
    if ev:
        row.update({k: ev[k] for k in ("mse", "vor", "mcn", "cond_std")})
    else:
        row["error"] = status.get("error", status.get("state"))
    return row


def run_sweep(cfgs: list[RunConfig], runs_dir: str | Path, engine: LocalEngine | RayEngine | None = None,
              on_update: UpdateCallback | None = None, cancel: threading.Event | None = None,
              plan: list[SweepItem] | None = None) -> list[dict[str, Any]]:
    """Train and evaluate every config into ``runs_dir`` on ``engine`` (default local); one row each.

    Finished runs with the same config are reused (``sweep.plan_sweep``), so resubmitting a sweep
    trains only what is missing. ``on_update(i, status)`` reports each run's progress; ``cancel``
    stops the sweep (its unfinished runs end as cancelled).
    """
    engine = engine or LocalEngine()
    cancel = cancel or threading.Event()
    plan = plan if plan is not None else plan_sweep(cfgs, runs_dir)
    todo = [i for i, it in enumerate(plan) if not it.reused]
    for i, it in enumerate(plan):
        if it.reused and on_update is not None:
            on_update(i, {**it.run.status(), "run": str(it.run.path), "reused": True})
    if todo:
        report = on_update or (lambda i, s: None)
        engine.run([(plan[i].config, plan[i].run) for i in todo], lambda j, s: report(todo[j], s), cancel)
    return [sweep_row(it.config, it.run, it.reused) for it in plan]

