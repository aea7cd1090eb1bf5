"""An experiment's runs trained or reused: training jobs through the one sweep (a finished run of the same
config is reused), flattening jobs reused by the request they answer (``FINGERPRINT``), each run evaluated.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from irvae_core.config import CONFIG_VERSION, RunConfig
from irvae_core.experiments.engines import LocalEngine
from irvae_core.experiments.reproduce.plan import Job
from irvae_core.experiments.runner import FlattenJob, train_and_evaluate
from irvae_core.experiments.sweep import plan_sweep, run_sweep, same_config
from irvae_core.store.files import atomic_write_json, read_json
from irvae_core.store.runs import Run, list_runs
from irvae_core.train.flattening import FlatteningTrainer, new_flattened_run
from irvae_core.train.loop import TrainingFailed
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.resolve import resolve_config

FINGERPRINT = "reproduce.json"  # written into a run when it finished: the request it answers


# ------------------------------------------------------------------------------------ running
def _flatten_request(job: Job, base: Run) -> dict[str, Any]:
    """What a flattening job asks for, as stored in its finished run's FINGERPRINT (reuse needs an exact match).
    Training jobs need none: the sweep reuses a finished run of the same config (``sweep.same_config``)."""
    return {"base_run": base.name, "flatten": dataclasses.asdict(job.fcfg), "version": CONFIG_VERSION}  # beta's unit


def find_flattened(runs_dir: Path, request: dict[str, Any]) -> Run | None:
    """A done, evaluated flattened run under runs_dir made for exactly this request (else None)."""
    for run in list_runs(runs_dir):
        fp = run.file(FINGERPRINT)
        if fp.is_file() and run.status().get("state") == "done" and run.evaluation() is not None:
            try:
                if read_json(fp) == request:
                    return run
            except (OSError, ValueError):
                continue
    return None


def _train_job(job: Job, runs_dir: Path, callback: ProgressCallback | None, train: bool,
               say: Callable[[str], None], evaluate: bool | Mapping[str, Any] = True) -> Run | None:
    """The finished, evaluated run of a training job: reused, or trained by the one sweep (``sweep.run_sweep``)."""
    cfg = _job_config(job)
    if not train:
        found = _finished(cfg, runs_dir)
        say("reusing finished run " + str(found.path) if found else "not finished yet")
        return found
    plan = plan_sweep([cfg], runs_dir)
    if plan[0].reused:
        say(f"reusing finished run {plan[0].run.path}")
    [row] = run_sweep([cfg], runs_dir, LocalEngine(evaluate=evaluate), on_event=callback, plan=plan, evaluate=evaluate)
    if row["state"] != "done":
        say(f"failed ({row.get('error')})")
        return None
    return plan[0].run


def _finished(cfg: RunConfig, runs_dir: Path) -> Run | None:
    """A finished, evaluated training run of exactly ``cfg`` under runs_dir (``sweep.same_config``), else None."""
    return next((r for r in list_runs(runs_dir) if same_config(cfg, r) and r.evaluation() is not None), None)


def _job_config(job: Job) -> RunConfig:
    cfg = resolve_config(job.cfg)
    cfg.name = job.key
    return cfg


def _flatten_job(job: Job, base: Run, runs_dir: Path, callback: ProgressCallback | None, train: bool,
                 say: Callable[[str], None], evaluate: bool | Mapping[str, Any] = True) -> Run | None:
    request = _flatten_request(job, base)
    found = find_flattened(runs_dir, request)
    if found is not None or not train:
        say("reusing finished run " + str(found.path) if found else "not finished yet")
        return found
    run, fcfg = new_flattened_run(base, job.fcfg, runs_dir)
    try:
        train_and_evaluate(FlatteningTrainer(base, run, fcfg, callback=callback), evaluate=evaluate)
    except TrainingFailed as e:
        say(f"failed ({e})")
        return None
    atomic_write_json(run.file(FINGERPRINT), request)
    return run


def _flatten_on(engine: Any, jobs: list[Job], runs_dir: Path) -> None:
    """Every flattening job whose base run finished and whose request no finished run answers, on the engine at
    once; each that finishes gets its FINGERPRINT (the loop of ``run_configs`` then reuses it)."""
    bases = {j.key: _finished(_job_config(j), runs_dir) for j in jobs if j.cfg is not None}
    todo = []
    for job in jobs:
        base = bases.get(job.flatten_of) if job.flatten_of else None
        request = _flatten_request(job, base) if base is not None else None
        if request is not None and find_flattened(runs_dir, request) is None:
            run, fcfg = new_flattened_run(base, job.fcfg, runs_dir)
            todo.append((FlattenJob(str(base.path), fcfg), run, request))
    if todo:
        engine.run([(fj, run) for fj, run, _ in todo], lambda event: None, threading.Event())
    for _, run, request in todo:
        if run.status().get("state") == "done" and run.evaluation() is not None:
            atomic_write_json(run.file(FINGERPRINT), request)


def run_configs(jobs: list[Job], runs_dir: str | Path, progress: Callable[[str], ProgressCallback] | None = None,
                log: Callable[[str], None] | None = None, train: bool = True, engine: Any = None,
                evaluate: bool | Mapping[str, Any] = True) -> dict[str, Run]:
    """Train (or reuse) every job's run under runs_dir, in order, each evaluated; {key: run}.

    Training jobs go through the one sweep (a finished run of the same config is reused); a flattening
    job is reused when a finished run carries its request (FINGERPRINT). With ``train=False`` only the
    finished runs are collected (a report while the rest still run). A job whose run fails is left out
    of the result (its folder keeps the reason); a flattening job whose base failed is skipped.
    ``progress(description)`` gives a Trainer callback per run; ``evaluate``: how the runs trained here are
    evaluated (``runner.train_and_evaluate``; an ``engine`` evaluates as it was made to).

    ``engine`` (``engines.make_engine``, e.g. Ray): the training jobs are first run on it, all at once
    (``sweep.run_sweep``, finished ones reused), then the flattening jobs whose base finished, all at once.
    """
    runs_dir, done = Path(runs_dir), {}
    if engine is not None and train:
        run_sweep([_job_config(j) for j in jobs if j.cfg is not None], runs_dir, engine, evaluate=evaluate)
        _flatten_on(engine, jobs, runs_dir)
        train_here = {j.key: False for j in jobs}  # what failed there is reported, not redone
    else:
        train_here = {}
    for i, job in enumerate(jobs, 1):
        head = f"[{i}/{len(jobs)}] {job.key}"

        def say(text: str, head: str = head) -> None:
            if log is not None:
                log(f"{head}: {text}")

        base = done.get(job.flatten_of) if job.flatten_of else None
        if job.flatten_of and base is None:
            say(f"skipped, its base run {job.flatten_of} did not finish")
            continue
        callback = progress(head) if progress and train else None
        run = (_train_job(job, runs_dir, callback, train_here.get(job.key, train), say, evaluate)
               if job.cfg is not None else
               _flatten_job(job, base, runs_dir, callback, train_here.get(job.key, train), say, evaluate))
        if run is not None:
            done[job.key] = run
    return done
