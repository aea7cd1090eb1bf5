"""Runs on disk (ARCHITECTURE.md "Runs on disk").

A run is a folder holding config.json, metrics.jsonl, best.pt / last.pt (state dicts only,
loaded with ``weights_only=True``) and status.json. Every file except the append-only
metrics log is written atomically (temp file, then rename).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from irvae_core.config import RunConfig

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


class RunError(Exception):
    """A run folder or one of its files is missing or unreadable; the message names the file."""


class CheckpointError(RunError):
    """A checkpoint is missing, truncated or tampered with."""


class ReadOnlyRun(RunError):
    """A write was asked of a shipped example run (a folder holding EXAMPLE_MARKER)."""


# A shipped example run (irvae_core/examples.py) holds this file; the run store never writes such a folder.
EXAMPLE_MARKER = "example.json"


def refuse_example(folder: Path, action: str = "writing to it") -> None:
    """Raise ReadOnlyRun if ``folder`` is a shipped example run: examples are read, never written."""
    if (Path(folder) / EXAMPLE_MARKER).is_file():
        raise ReadOnlyRun(f"{Path(folder).name} is a shipped example run and read-only, so {action} is refused: "
                          "train a run of your own on the Train page instead.")


def default_runs_dir() -> Path:
    """Where runs live: $IRVAE_RUNS, else ./runs."""
    return Path(os.environ.get("IRVAE_RUNS", "runs")).expanduser()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=str).encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise RunError(f"{path} is missing") from e
    except (OSError, json.JSONDecodeError) as e:
        raise RunError(f"{path} is not readable JSON ({e})") from e


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file, then rename: a crash never leaves half a checkpoint."""
    refuse_example(path.parent, "writing a checkpoint into it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; one clear sentence if it is bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt, truncated or unsafe files
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupt, truncated or not a plain state dict ({reason})") from e
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} does not hold a model state dict")
    return state


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
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

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
