"""Files of the run store written so that a crash never leaves half of one: atomic writes (temp file, fsync,
rename), JSON, checkpoints saved and loaded as plain state dicts (``weights_only=True``), and the guard that
keeps shipped example runs read-only.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch


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


def save_tensors(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temp file, fsync, then rename: a crash never leaves half a file, and a failed write (a
    full disk) leaves the previous one as it was. Serialized through a buffer first, so the bytes depend on
    ``state`` alone (and a full disk fails the write itself, with its errno)."""
    buffer = io.BytesIO()
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
        raise OSError(e.errno, e.strerror, str(path)) from e  # name the file, not its temp file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: Path, map_location: str | torch.device = "cpu", what: str = "file") -> dict[str, Any]:
    """A dict of tensors saved by torch.save, read with ``weights_only=True`` (no code runs); CheckpointError in
    one sentence naming ``what`` and the file if it is missing, corrupt, truncated or holds anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before refusing them: the refusal says it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for corrupt, truncated or unsafe files
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(f"{what} {path} is corrupt, truncated or not a plain state dict ({reason})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{what} {path} does not hold a state dict")
    return state


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """A run's checkpoint written atomically (``save_tensors``); never into a shipped example run."""
    refuse_example(path.parent, "writing a checkpoint into it")
    save_tensors(path, state)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A run's checkpoint (``load_tensors``), which must hold a model state dict; one clear sentence if it is bad."""
    state = load_tensors(path, map_location, what="checkpoint")
    if "model" not in state:
        raise CheckpointError(f"checkpoint {path} does not hold a model state dict")
    return state
