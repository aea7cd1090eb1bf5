"""One writer per run: an OS file lock (``fcntl.flock``) on the run's ``.lock`` file, held by the writing
process for the run's life and dropped by the OS on any exit, so a run whose status says running but whose
lock is free was left by a writer that died: it is interrupted.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from irvae_core.store.files import RunError, refuse_example


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
