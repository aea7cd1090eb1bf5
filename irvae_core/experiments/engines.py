"""Sweep engines: train a fixed list of run configs into a run store, report progress per run, cancel.

A sweep (a tradeoff curve, a reproduction) is a list of configs whose results are run folders.
``sweep.run_sweep`` reuses every finished run with the same config, creates a folder for each other
one and hands the (config, run) pairs to an engine, which trains and evaluates them
(``runner.train_sweep_run``) and reports each run's progress events:

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
import threading
import time
from collections.abc import Mapping
from typing import Any

from irvae_core.config import RunConfig
from irvae_core.experiments.runner import train_sweep_run
from irvae_core.store.runs import ACTIVE_STATES, Run
from irvae_core.train.loop import Cancelled
from irvae_core.train.progress import Progress, ProgressCallback

ENGINES = ("local", "ray")
FORCE_CANCEL_AFTER_S = 10.0


class EngineError(Exception):
    """The engine cannot run (Ray missing, no cluster at the address); the message says what to do."""


# ---------------------------------------------------------------------------- engines
class LocalEngine:
    """Runs one after the other in this process (the lab's default); every training event reaches ``on_event``."""

    name = "local"

    def __init__(self, threads: int | None = None, evaluate: bool | Mapping[str, Any] = True):
        self.threads, self.evaluate = threads, evaluate

    def run(self, jobs: list[tuple[RunConfig, Run]], on_event: ProgressCallback, cancel: threading.Event) -> None:
        for j, (cfg, run) in enumerate(jobs):
            if cancel.is_set():
                break

            def forward(e: Progress, j: int = j) -> None:
                on_event(e.in_sweep(j, len(jobs)))

            try:
                status = train_sweep_run(cfg.to_dict(), str(run.path), self.threads, forward, cancel, self.evaluate)
            except Cancelled:
                break
            if status.get("state") != "done":  # the Trainer's own event said why, unless it failed before it
                forward(Progress.from_status(status, str(run.path)))
        _mark_cancelled([run for _, run in jobs])


class RayEngine:
    """One Ray task per run, with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs.

    ``address`` None: $RAY_ADDRESS when set, else a local Ray instance on this machine
    (``num_cpus`` CPUs, default all). Threads per run default to the CPUs per run.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
                 threads: int | None = None, num_cpus: int | None = None, poll_s: float = 0.5,
                 evaluate: bool | Mapping[str, Any] = True):
        if cpus_per_run <= 0 or gpus_per_run < 0:
            raise ValueError("--cpus-per-run must be positive and --gpus-per-run not negative")
        self.address, self.cpus, self.gpus = address, cpus_per_run, gpus_per_run
        self.threads = threads or max(1, int(cpus_per_run))
        self.num_cpus, self.poll_s, self.evaluate = num_cpus, poll_s, evaluate

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

    def run(self, jobs: list[tuple[RunConfig, Run]], on_event: ProgressCallback, cancel: threading.Event) -> None:
        """Every run as a Ray task at once; progress is read from each run's status.json as it changes."""
        ray = self._ray()
        task = ray.remote(_ray_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)
        refs = {task.remote(cfg.to_dict(), str(run.path), self.threads, self.evaluate): i
                for i, (cfg, run) in enumerate(jobs)}
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
                    if not cancel.is_set() and run.status().get("state") in ACTIVE_STATES:
                        run.set_status("failed", error=f"the Ray task failed: {str(e).splitlines()[0][:300]}")
                    status = {**run.status(), "run": str(run.path)}
                on_event(Progress.from_status(status, str(run.path)).in_sweep(i, len(jobs)))
                shown[i] = ("final",)
            for ref in pending:  # progress of the runs still going, from their status.json
                i, run = refs[ref], jobs[refs[ref]][1]
                status = run.status()
                key = (status.get("state"), status.get("epoch"))
                if shown.get(i) != key:
                    shown[i] = key
                    on_event(Progress.from_status(status, str(run.path)).in_sweep(i, len(jobs)))
        _mark_cancelled([run for _, run in jobs])


def _ray_task(cfg: dict[str, Any], run_path: str, threads: int,
              evaluate: bool | Mapping[str, Any] = True) -> dict[str, Any]:
    """What one Ray worker runs (a module-level function, so workers import it by name)."""
    try:
        return train_sweep_run(cfg, run_path, threads, evaluate=evaluate)
    except Cancelled:
        return {"state": "cancelled", "run": run_path}


def _mark_cancelled(runs: list[Run]) -> None:
    for run in runs:
        if run.status().get("state") in ACTIVE_STATES:
            run.set_status("cancelled")


Engine = LocalEngine | RayEngine


def make_engine(name: str = "local", address: str | None = None, cpus_per_run: float = 1,
                gpus_per_run: float = 0, threads: int | None = None,
                evaluate: bool | Mapping[str, Any] = True) -> Engine:
    """The engine called ``name`` ("local" or "ray") with its options (``evaluate``: ``train_and_evaluate``'s)."""
    if name == "local":
        if address is not None:
            raise ValueError("--address goes with --engine ray")
        return LocalEngine(threads, evaluate)
    if name == "ray":
        return RayEngine(address, cpus_per_run, gpus_per_run, threads, evaluate=evaluate)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
