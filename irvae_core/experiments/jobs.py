"""Background jobs: train, flatten and sweep runs on worker threads (no streamlit here).

One JobManager per process (``get_manager()``) is shared by every browser session. Jobs wait
in a FIFO queue and run at most ``max_concurrent`` at a time (default 1 on CPU; set
$IRVAE_MAX_JOBS). Status and progress are readable from any thread at any time; a job is
cancelled through an event checked every training step (the run ends as cancelled, its last
checkpoint kept). A failure is caught into the job and the run's status.json with a readable
reason and never stops other jobs. Every run a job writes is locked (``RunLock``) from its
submission to the job's end, so no other job, browser session or command line process can
write it meanwhile. Runs left running or queued whose lock is free (their writer died) are
marked ``interrupted`` and can be resumed from their last.pt.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irvae_core.config import RunConfig, apply_overrides
from irvae_core.data.roots import allowed_data_folder
from irvae_core.demo import refuse_in_demo
from irvae_core.experiments.engines import Engine, LocalEngine
from irvae_core.experiments.runner import train_and_evaluate
from irvae_core.experiments.sweep import SweepItem, plan_sweep, run_sweep
from irvae_core.store.files import refuse_example
from irvae_core.store.lock import RunLock, lock_owner
from irvae_core.store.runs import (
    ACTIVE_STATES,
    FINISHED_STATES,
    Run,
    check_run_name,
    default_runs_dir,
    inside_runs_dir,
    list_runs,
    new_run,
    open_run,
)
from irvae_core.train.flattening import FlatteningTrainer, new_flattened_run
from irvae_core.train.loop import Cancelled, TrainingFailed
from irvae_core.train.progress import Progress, ProgressCallback
from irvae_core.train.resolve import resolve_config
from irvae_core.train.resume import Resumable, open_for_resume
from irvae_core.train.trainer import Trainer


@dataclass
class Job:
    """A snapshot of one job (copies are handed out; the manager keeps the live one)."""

    id: str
    kind: str  # train, flatten or sweep
    label: str
    runs: list[str]  # run folders this job writes
    state: str = "queued"
    fraction: float = 0.0  # overall progress in [0, 1], never decreasing
    epoch: int = 0
    epochs: int = 0
    step: int = 0  # global training step of the run in progress
    eta_s: float | None = None
    loss: float | None = None
    reg: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass
class _Entry:
    job: Job
    work: Callable[[_Entry], None]
    cancel: threading.Event = field(default_factory=threading.Event)
    locks: list[RunLock] = field(default_factory=list)  # released when the job ends


class JobManager:
    """Thread-safe queue of training jobs writing runs under ``runs_dir``."""

    def __init__(self, runs_dir: str | Path | None = None, max_concurrent: int | None = None,
                 evaluate: bool = True):
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.max_concurrent = max_concurrent or int(os.environ.get("IRVAE_MAX_JOBS", "1"))
        self.evaluate = evaluate
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._queue: queue.Queue[_Entry | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._pending_locks: list[RunLock] = []  # locks of runs created for a job not yet submitted
        self._ids = itertools.count(1)
        self.mark_interrupted()

    # ------------------------------------------------------------------ submitting
    def submit_train(self, cfg: RunConfig, label: str | None = None) -> str:
        refuse_in_demo("start training")
        cfg = resolve_config(self.check_config(cfg))
        run = self._new_run(cfg)
        return self._submit("train", label or run.name, [run], lambda e: self._train(e, cfg, run))

    def submit_sweep(self, cfg: RunConfig, alphas: list[float], label: str | None = None, engine=None) -> str:
        """One run per alpha (``sweep.sweep``: finished runs of the same config are reused, not retrained);
        ``engine`` (irvae_core.engines, e.g. a RayEngine) trains them elsewhere."""
        refuse_in_demo("start a sweep")
        if not alphas:
            raise ValueError("a sweep needs at least one alpha")
        cfg = self.check_config(cfg)
        plan = plan_sweep([apply_overrides(cfg, {"reg.alpha": float(a)}) for a in alphas], self.runs_dir)
        new = list({str(it.run.path): it.run for it in plan if not it.reused}.values())
        for run in new:
            if engine is None:
                self._mark_owner(run)
            else:  # the engine's worker process writes the run and takes its lock
                run.set_status("queued", pid=os.getpid())
        name = label or f"sweep {cfg.data.name} {cfg.model.kind}+{cfg.reg.kind} alpha {','.join(map(str, alphas))}"
        if engine is not None:
            return self._submit("sweep", f"{name} on {engine.name}", new, lambda e: self._sweep(e, plan, engine))
        local = LocalEngine(evaluate=self.evaluate)
        return self._submit("sweep", name, new, lambda e: self._sweep(e, plan, local))

    def submit_flatten(self, base_run: str | Path | Run, fcfg=None, label: str | None = None) -> str:
        refuse_in_demo("flatten runs")
        base = base_run if isinstance(base_run, Run) else open_run(base_run)
        run, fcfg = new_flattened_run(base, fcfg, self.runs_dir)
        self._mark_owner(run)
        return self._submit("flatten", label or run.name, [run], lambda e: self._flatten(e, base, run, fcfg))

    def resume(self, run_dir: str | Path, epochs: int | None = None) -> str:
        """Continue an interrupted or cancelled run from its last.pt as a new job, as the kind of run it is.

        Checked and started under the manager's lock: the run's own lock is taken and its config and
        last.pt checked (``open_for_resume``) before anything is written; a run another job, session
        or process is writing is refused with a sentence naming it.
        """
        refuse_in_demo("resume runs")
        with self._lock:
            run = open_run(run_dir)
            refuse_example(run.path, "resuming it")
            inside_runs_dir(self.runs_dir, run.path)
            if self._owned_by_live_job(run):
                raise ValueError(f"run {run.name} is already running")
            job = open_for_resume(run.path, epochs=epochs, what=self._lock_owner_text())
            try:
                run.set_status("queued", pid=os.getpid())
            except BaseException:
                job.lock.release()
                raise
            return self._submit(job.kind, run.name, [run], lambda e: self._resumed(e, job), [job.lock])

    # ------------------------------------------------------------------ reading
    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._entries:
                raise KeyError(f"no job {job_id!r}")
            return copy.deepcopy(self._entries[job_id].job)

    def jobs(self) -> list[Job]:
        """All jobs of this process, newest first."""
        with self._lock:
            return [copy.deepcopy(e.job) for e in reversed(list(self._entries.values()))]

    def cancel(self, job_id: str) -> bool:
        """Ask a job to stop (a queued job never starts). False if it had already finished."""
        refuse_in_demo("cancel jobs")
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None or entry.job.state in FINISHED_STATES:
                return False
            entry.cancel.set()
            if entry.job.state == "queued":
                for r in entry.job.runs:  # written while the job still holds the runs' locks
                    Run(Path(r)).set_status("cancelled")
                self._finish(entry, "cancelled")
            return True

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job finishes (or the timeout passes); returns its snapshot."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            job = self.get(job_id)
            if not job.active or (deadline is not None and time.time() > deadline):
                return job
            time.sleep(0.05)

    def mark_interrupted(self) -> list[Run]:
        """Runs left queued/running by a process that is gone: mark them interrupted."""
        marked = [run for run in list_runs(self.runs_dir) if self._orphaned(run)]
        for run in marked:
            run.set_status("interrupted")
        return marked

    def interrupted_runs(self) -> list[Run]:
        return [r for r in list_runs(self.runs_dir) if r.status().get("state") == "interrupted"]

    # ------------------------------------------------------------------ internals
    def _orphaned(self, run: Run) -> bool:
        """Left queued or running, and nobody holds its lock: its writer is gone."""
        return run.status().get("state") in ACTIVE_STATES and lock_owner(run.path) is None

    def _owned_by_live_job(self, run: Run) -> bool:
        with self._lock:
            return any(e.job.active and str(run.path) in e.job.runs for e in self._entries.values())

    @staticmethod
    def check_config(cfg: RunConfig) -> RunConfig:
        """Refuse what a visitor typed that reaches outside: a run name that is a path, a data folder outside
        $IRVAE_DATA_ROOTS (one sentence each)."""
        check_run_name(cfg.name)
        allowed_data_folder(cfg.data.root)
        return cfg

    def _new_run(self, cfg: RunConfig) -> Run:
        run = new_run(self.runs_dir, cfg)
        self._mark_owner(run)
        return run

    def _mark_owner(self, run: Run) -> None:
        """Lock a new run for the job about to be submitted (until the job ends), and queue it."""
        lock = run.lock(self._lock_owner_text())
        with self._lock:
            self._pending_locks.append(lock)
        run.set_status("queued", pid=os.getpid())

    @staticmethod
    def _lock_owner_text() -> str:
        return f"an IRVAE Lab job manager (app or script) in process {os.getpid()}"

    def _submit(self, kind: str, label: str, runs: list[Run], work: Callable[[_Entry], None],
                locks: list[RunLock] | None = None) -> str:
        with self._lock:
            job_id = f"job-{next(self._ids)}"
            entry = _Entry(Job(job_id, kind, label, [str(r.path) for r in runs]), work,
                           locks=locks if locks is not None else self._take_pending_locks(runs))
            self._entries[job_id] = entry
            self._ensure_workers()
        self._queue.put(entry)
        return job_id

    def _ensure_workers(self) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        while len(self._workers) < self.max_concurrent:
            w = threading.Thread(target=self._worker, name=f"irvae-job-worker-{len(self._workers)}", daemon=True)
            w.start()
            self._workers.append(w)

    def _worker(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            with self._lock:
                if entry.job.state != "queued":
                    continue
                entry.job.state, entry.job.started = "running", time.time()
            try:
                entry.work(entry)
                self._finish(entry, "done")
            except Cancelled:
                self._finish(entry, "cancelled")
            except TrainingFailed as e:
                self._finish(entry, "failed", str(e))
            except Exception as e:  # a failing job must never stop the others
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                for r in entry.job.runs:
                    run = Run(Path(r))
                    if run.status().get("state") in ACTIVE_STATES:
                        run.set_status("failed", error=reason, trace=traceback.format_exc(limit=5))
                self._finish(entry, "failed", reason)

    def _take_pending_locks(self, runs: list[Run]) -> list[RunLock]:
        paths = {r.path for r in runs}
        taken = [lk for lk in self._pending_locks if lk.path.parent in paths]
        self._pending_locks = [lk for lk in self._pending_locks if lk.path.parent not in paths]
        return taken

    def _finish(self, entry: _Entry, state: str, error: str | None = None) -> None:
        with self._lock:
            job = entry.job
            job.state, job.error, job.finished = state, error, time.time()
            if state == "done":
                job.fraction, job.eta_s = 1.0, 0.0
            for lock in entry.locks:  # the runs are free for another writer (the status is final)
                lock.release()

    def _progress(self, entry: _Entry, runs: int = 1) -> ProgressCallback:
        """Progress events updating the job; a job of several runs (a sweep: each event says which run) moves
        by the mean of its runs' fractions, so runs trained one after the other or side by side read alike."""
        fractions = [0.0] * runs

        def update(e: Progress) -> None:
            with self._lock:
                job = entry.job
                fractions[min(e.index, runs - 1)] = 1.0 if e.ended else e.fraction
                job.fraction = max(job.fraction, min(1.0, sum(fractions) / runs))
                if e.epochs:
                    job.epoch, job.epochs = e.epoch, e.epochs
                if e.step:
                    job.step, job.eta_s = e.step, e.eta_s
                if e.loss is not None:
                    job.loss, job.reg = e.loss, e.reg
                if e.phase == "epoch" and e.record:
                    job.history.append({k: v for k, v in e.record.items() if isinstance(v, (int, float))})
                    del job.history[:-1000]

        return update

    def _train(self, entry: _Entry, cfg: RunConfig, run: Run) -> None:
        train_and_evaluate(Trainer(cfg, run, callback=self._progress(entry), cancel=entry.cancel),
                           evaluate=self.evaluate)

    def _resumed(self, entry: _Entry, job: Resumable) -> None:
        """Continue a checked, locked run (``open_for_resume``) with the trainer of its type."""
        train_and_evaluate(job.trainer(callback=self._progress(entry), cancel=entry.cancel), resume=True,
                           evaluate=self.evaluate)

    def _flatten(self, entry: _Entry, base: Run, run: Run, fcfg) -> None:
        train_and_evaluate(FlatteningTrainer(base, run, fcfg, callback=self._progress(entry), cancel=entry.cancel),
                           evaluate=self.evaluate)

    def _sweep(self, entry: _Entry, plan: list[SweepItem], engine: Engine) -> None:
        """A sweep on an engine (here, or Ray's workers writing the runs)."""
        rows = run_sweep([it.config for it in plan], self.runs_dir, engine, self._progress(entry, len(plan)),
                         entry.cancel, plan, evaluate=self.evaluate)
        if entry.cancel.is_set():
            raise Cancelled()
        failures = [f"alpha {r['alpha']:g}: {r['error']}" for r in rows if r["state"] != "done"]
        if failures:
            raise TrainingFailed("; ".join(failures))


_MANAGERS: dict[str, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def get_manager(runs_dir: str | Path | None = None, **kwargs: Any) -> JobManager:
    """The process-wide manager for ``runs_dir`` (created on first use)."""
    key = str(Path(runs_dir if runs_dir is not None else default_runs_dir()).resolve())
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(key, **kwargs)
        return _MANAGERS[key]


def job_summary(job: Job) -> dict[str, Any]:
    """A JSON-ready dict of a job (for logs and the app)."""
    return dataclasses.asdict(job)
