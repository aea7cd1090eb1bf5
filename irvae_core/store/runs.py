"""Runs on disk: a run is a folder holding config.json, metrics.jsonl, best.pt / last.pt (state dicts only,
loaded with ``weights_only=True``), status.json and, once evaluated, evaluation.json.

Every file except the append-only metrics log is written atomically (``store.files``); each metrics line is
fsynced. One process writes a run at a time, holding its lock (``store.lock``) for the run's life.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irvae_core.config import RunConfig
from irvae_core.store.files import (
    EXAMPLE_MARKER,
    RunError,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    refuse_example,
)
from irvae_core.store.lock import RunLock

__all__ = ["STATES", "ACTIVE_STATES", "FINISHED_STATES", "Run", "default_runs_dir", "slug", "check_run_name",
           "inside_runs_dir", "new_run", "open_run", "list_runs"]

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE_STATES = ("queued", "running")  # a writer has it (or had it: ``interrupted`` once its lock is free)
FINISHED_STATES = ("done", "failed", "cancelled")


def default_runs_dir() -> Path:
    """Where runs live: $IRVAE_RUNS, else ./runs."""
    return Path(os.environ.get("IRVAE_RUNS", "runs")).expanduser()


@dataclass
class Run:
    """A run folder and its files."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def is_example(self) -> bool:
        """A shipped example run (read-only: every write below raises ReadOnlyRun)."""
        return self.file(EXAMPLE_MARKER).is_file()

    def config(self) -> RunConfig:
        d = self.raw_config()
        return RunConfig.from_dict({k: d[k] for k in ("data", "model", "reg", "train", "name", "version") if k in d})

    def write_config(self, cfg: RunConfig, extra: dict[str, Any] | None = None) -> None:
        refuse_example(self.path, "rewriting its config")
        d = cfg.to_dict()
        if extra:
            d = {**d, **extra}
        atomic_write_json(self.file("config.json"), d)

    def raw_config(self) -> dict[str, Any]:
        return read_json(self.file("config.json"))

    def status(self) -> dict[str, Any]:
        try:
            return read_json(self.file("status.json"))
        except RunError:
            return {"state": "unknown"}

    def set_status(self, state: str, **fields: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}")
        refuse_example(self.path, f"marking it {state}")
        old = self.status()
        if state != "failed":
            old.pop("error", None)
        atomic_write_json(self.file("status.json"), {**old, **fields, "state": state,
                                                     "updated": time.time()})

    def log_metrics(self, record: dict[str, Any]) -> None:
        refuse_example(self.path, "logging metrics into it")
        try:
            with open(self.file("metrics.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(self.file("metrics.jsonl"))) from e

    def metrics(self) -> list[dict[str, Any]]:
        """All logged records; a torn last line (a crash mid-write) is skipped."""
        p = self.file("metrics.jsonl")
        if not p.exists():
            return []
        out = []
        for line in p.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_metrics(self, after_epoch: int) -> None:
        """Drop records past ``after_epoch`` (used when resuming from last.pt)."""
        refuse_example(self.path, "truncating its metrics")
        kept = [r for r in self.metrics() if r.get("epoch", 0) <= after_epoch]
        atomic_write_bytes(self.file("metrics.jsonl"), "".join(json.dumps(r) + "\n" for r in kept).encode())

    def lock(self, what: str | None = None) -> RunLock:
        """Take the run's writer lock (``RunLock.acquire``); RunLocked names the holder."""
        return RunLock.acquire(self.path, what)

    def evaluation(self) -> dict[str, Any] | None:
        p = self.file("evaluation.json")
        return read_json(p) if p.exists() else None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def check_run_name(name: str | None) -> str | None:
    """A run name typed by a person: a plain folder name, never a path (RunError in one sentence otherwise)."""
    if name is None or not str(name).strip():
        return None
    name = str(name).strip()
    if Path(name).is_absolute() or name.startswith("~"):
        raise RunError(f"the run name {name!r} is a path: give a plain name, the run is stored in the runs folder")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise RunError(f"the run name {name!r} names another folder ('/', '..'): give a plain name without them")
    return name


def inside_runs_dir(runs_dir: str | Path, path: str | Path) -> Path:
    """``path`` resolved (links followed); RunError in one sentence if that leaves ``runs_dir``."""
    root, where = Path(runs_dir).resolve(), Path(path).expanduser().resolve()
    if where != root and not where.is_relative_to(root):
        raise RunError(f"{path} leads outside the runs folder {root} (through '..', an absolute path or a link): "
                       "the app only writes runs inside it")
    return where


def new_run(runs_dir: str | Path, cfg: RunConfig, label: str | None = None) -> Run:
    """Create a fresh, uniquely named run folder and write its config."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = slug(label or cfg.name or f"{cfg.data.name}-{cfg.model.kind}-{cfg.reg.kind}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = runs_dir / (f"{base}-{stamp}" + (f"-{i}" if i else ""))
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise RunError(f"could not create a new run folder in {runs_dir}")
    run = Run(path)
    run.write_config(cfg)
    run.set_status("queued")
    return run


def open_run(path: str | Path) -> Run:
    """An existing run folder; RunError if it is not one."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise RunError(f"run folder {p} does not exist")
    if not (p / "config.json").is_file():
        raise RunError(f"{p} is not a run folder: config.json is missing")
    return Run(p)


def list_runs(runs_dir: str | Path | None = None) -> list[Run]:
    """Run folders under ``runs_dir``, newest first."""
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: r.file("config.json").stat().st_mtime, reverse=True)
