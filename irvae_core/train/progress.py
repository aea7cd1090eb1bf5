"""The one progress event: what a run's training tells whoever watches it (the command line's bars, the app's job
cards, a sweep on Ray reading its workers' status files).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# "queued" (waiting for a worker), "train" (a step), "epoch" (an epoch ended: ``record`` holds its metrics),
# "done", "failed", "cancelled" (the run ended so), "reused" (a finished run of the same config, not retrained)
PHASES = ("queued", "train", "epoch", "done", "failed", "cancelled", "reused")
ENDED = ("done", "failed", "cancelled", "reused")


@dataclass(frozen=True)
class Progress:
    """One event of one run; in a sweep, ``index`` of ``total`` says which run it is."""

    phase: str
    run: str = ""  # the run folder
    epoch: int = 0  # epochs finished
    epochs: int = 0
    step: int = 0  # global training step (0 where only the status file is known)
    total_steps: int = 0
    fraction: float = 0.0  # of this run, in [0, 1]
    elapsed_s: float = 0.0
    eta_s: float | None = None
    loss: float | None = None  # the last step's objective and regularizer
    reg: float | None = None
    record: dict[str, Any] = field(default_factory=dict)  # the epoch's metrics line (phase "epoch")
    error: str | None = None
    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"unknown progress phase {self.phase!r}; one of {', '.join(PHASES)}")

    @property
    def ended(self) -> bool:
        return self.phase in ENDED

    def in_sweep(self, index: int, total: int) -> Progress:
        """The same event, placed as run ``index`` of ``total``."""
        return dataclasses.replace(self, index=index, total=total)

    @classmethod
    def from_status(cls, status: dict[str, Any], run: str, reused: bool = False) -> Progress:
        """The event a run's status.json stands for (a run trained in another process: a Ray worker)."""
        state = status.get("state")
        phase = "reused" if reused else {"running": "epoch", "done": "done", "failed": "failed",
                                         "cancelled": "cancelled", "interrupted": "failed"}.get(state, "queued")
        fraction = 1.0 if phase in ("done", "reused") else float(status.get("progress") or 0.0)
        error = status.get("error") if phase == "failed" else None
        if state == "interrupted":
            error = error or "its writer stopped (interrupted)"
        return cls(phase, run=run, epoch=int(status.get("epoch") or 0), epochs=int(status.get("epochs") or 0),
                   fraction=fraction, error=error)


ProgressCallback = Callable[[Progress], None]
