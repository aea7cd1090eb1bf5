"""Runs on disk: the public names of ``irvae_core.store`` at their documented path (``irvae_core.runs.Run``)."""

from irvae_core.store.files import (
    EXAMPLE_MARKER,
    FAULT_ENV,
    CheckpointError,
    ReadOnlyRun,
    RunError,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
    load_tensors,
    read_json,
    refuse_example,
    save_checkpoint,
    save_tensors,
)
from irvae_core.store.lock import LOCK_FILE, RunLock, RunLocked, held_lock, lock_owner
from irvae_core.store.runs import *  # noqa: F403 (the run folder's names: store.runs.__all__)
from irvae_core.store.runs import __all__ as _RUN_NAMES

__all__ = [*_RUN_NAMES, "EXAMPLE_MARKER", "FAULT_ENV", "CheckpointError", "ReadOnlyRun", "RunError",
           "atomic_write_bytes", "atomic_write_json", "load_checkpoint", "load_tensors", "read_json", "refuse_example",
           "save_checkpoint", "save_tensors", "LOCK_FILE", "RunLock", "RunLocked", "held_lock", "lock_owner"]
