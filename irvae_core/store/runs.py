"""Runs on disk (ARCHITECTURE.md "Runs on disk").

A run is a folder holding config.json, metrics.jsonl, best.pt / last.pt (state dicts only,
loaded with ``weights_only=True``) and status.json. Every file except the append-only
metrics log is written atomically (temp file, fsync, then rename); each metrics line is fsynced.
One process writes a run at a time: it holds an OS file lock on the run's ``.lock`` file
(``RunLock``) for the run's life, and the OS releases it on any exit, so a run whose status
says running but whose lock is free was left by a writer that died: it is interrupted.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import warnings
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


class RunLocked(RunError):
    """Another writer holds the run's lock; the message names it."""


LOCK_FILE = ".lock"
_HELD: dict[str, RunLock] = {}  # run folder -> the lock this process holds on it
_HELD_GUARD = threading.Lock()


class RunLock:
    """An exclusive OS lock (``fcntl.flock``) on a run folder's ``.lock`` file, naming its owner.

    Held from ``acquire`` to ``release`` (or the process's end, whatever ends it: the OS drops
    the lock of a dead process). flock locks of separate opens exclude each other also within
    one process, and ``_HELD`` makes a second acquire in this process fail with the owner's name.
    """

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    @classmethod
    def acquire(cls, run_dir: str | Path, what: str | None = None) -> RunLock:
        """Lock the run folder or raise RunLocked naming the process that has it."""
        run_dir = Path(run_dir)
        refuse_example(run_dir, "writing to it")
        key = str(run_dir.resolve())
        with _HELD_GUARD:
            if key in _HELD:
                raise RunLocked(f"run {run_dir.name} is already being written by this process "
                                f"({_owner_text(_HELD[key].path)}); wait for it or cancel it first")
            path = run_dir / LOCK_FILE
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise RunError(f"cannot lock run folder {run_dir}: {e.strerror}") from e
            if not _try_flock(fd, fcntl.LOCK_EX, attempts=5):  # a few tries: lock_owner probes briefly
                os.close(fd)
                raise RunLocked(f"run {run_dir.name} is being written by another process "
                                f"({_owner_text(path)}); wait for it to finish or stop it first") from None
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                     "command": what or _command_line()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(owner).encode(), 0)
            lock = _HELD[key] = cls(path, fd)
        for stale in run_dir.glob(".*.tmp"):  # half-written temp files of a writer that died
            stale.unlink(missing_ok=True)
        return lock

    def release(self) -> None:
        with _HELD_GUARD:
            if self.fd < 0:
                return
            _HELD.pop(str(self.path.parent.resolve()), None)
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _command_line() -> str:
    """This process's command line as a person typed it (``python -m irvae_core train ...``)."""
    prog = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    head = f"python -m {prog.parent.name}" if prog.name == "__main__.py" else prog.name
    return " ".join([head, *sys.argv[1:]])[:300]


def _try_flock(fd: int, mode: int, attempts: int = 1) -> bool:
    """flock without blocking; False if another open of the file holds a conflicting lock."""
    for i in range(attempts):
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunError(f"cannot lock {e.filename or 'the run folder'}: {e.strerror}") from e
            if i + 1 < attempts:
                time.sleep(0.02)
    return False


def _owner_text(lock_path: Path) -> str:
    """"pid 123 on host, running: cmd" from a lock file, or a plain phrase if it is unreadable."""
    try:
        o = json.loads(lock_path.read_text())
        return f"pid {o['pid']} on {o['host']}, running: {o['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "owner unknown"


def lock_owner(run_dir: str | Path) -> str | None:
    """Who holds the run's lock (as ``_owner_text``), or None when it is free."""
    run_dir = Path(run_dir)
    with _HELD_GUARD:
        if str(run_dir.resolve()) in _HELD:
            return _owner_text(run_dir / LOCK_FILE)
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:  # no lock file: no writer ever locked it (or a run of an older version)
        return None
    try:
        free = _try_flock(fd, fcntl.LOCK_SH)  # a shared probe: fails while a writer holds it
    finally:
        os.close(fd)
    return None if free else _owner_text(run_dir / LOCK_FILE)


def held_lock(run_dir: str | Path) -> RunLock | None:
    """The lock this process holds on the run folder, if any."""
    with _HELD_GUARD:
        return _HELD.get(str(Path(run_dir).resolve()))


# The one fault hook of the test suite (tests/test_faults.py): $IRVAE_TEST_CHECKPOINT_FAULT =
# "stall:N" stops forever half-way through writing last.pt of epoch N (so a test can kill the
# process mid-write); "enospc:N" fails that write as a full disk does. Unset: no effect.
FAULT_ENV = "IRVAE_TEST_CHECKPOINT_FAULT"


def _checkpoint_fault(path: Path, state: dict[str, Any], f) -> None:
    fault = os.environ.get(FAULT_ENV, "")
    kind, _, epoch = fault.partition(":")
    if path.name != "last.pt" or not epoch.isdigit() or state.get("epoch") != int(epoch):
        return
    if kind == "stall":
        f.write(b"PK\x03\x04 half a checkpoint")
        f.flush()
        while True:
            time.sleep(1)
    if kind == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def default_runs_dir() -> Path:
    """Where runs live: $IRVAE_RUNS, else ./runs."""
    return Path(os.environ.get("IRVAE_RUNS", "runs")).expanduser()


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a crash right after it keeps the new file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
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
    """torch.save to a temp file, fsync, then rename: a crash never leaves half a checkpoint,
    and a failed write (a full disk) leaves the previous one as it was."""
    refuse_example(path.parent, "writing a checkpoint into it")
    buffer = io.BytesIO()  # serialized first: a full disk then fails the write itself, with its errno
    torch.save(state, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _checkpoint_fault(path, state, f)
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e  # name the checkpoint, not its temp file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; one clear sentence if it is bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before refusing them: the refusal says it
            warnings.simplefilter("ignore")
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
