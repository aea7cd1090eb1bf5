"""The latent plane while a run trains: every few epochs, a fixed small set of validation points encoded and the
pullback metric at their codes (the equidistance ellipses of paper Figures 1 and 4, epoch by epoch).

A snapshot holds, for ``SNAPSHOT_POINTS`` validation examples chosen once per run (``snapshot_indices``), their
codes in a 2-D plane (the latent space itself at size 2, else the PCA plane of the codes) and the metric restricted
to that plane at each, B^T G B (``planes.plane_metric``). The Trainer takes one after each of ``SNAPSHOTS`` epochs
spread over the run (``snapshot_epochs``) and appends it to the run's snapshots.jsonl; nothing it does draws from
the training generator, so a run trains the same weights with or without them. Resuming drops the snapshots
past the checkpoint, as the metrics are.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from irvae_core.geometry.metric import condition_numbers
from irvae_core.geometry.planes import plane_basis, plane_metric
from irvae_core.store.files import atomic_write_bytes
from irvae_core.store.runs import Run

SNAPSHOTS = 12  # snapshots a run takes (the first epoch, the last, and evenly between)
SNAPSHOT_POINTS = 128  # validation examples in each
SNAPSHOT_FILE = "snapshots.jsonl"


def snapshot_epochs(epochs: int, count: int = SNAPSHOTS) -> set[int]:
    """The epochs (1-based) after which a run of ``epochs`` epochs takes a snapshot: ``count`` of them, evenly
    spread from the first epoch to the last (every epoch when there are fewer)."""
    if count <= 0 or epochs <= 0:
        return set()
    if epochs <= count:
        return set(range(1, epochs + 1))
    return {int(round(e)) for e in np.linspace(1, epochs, count)}


def snapshot_indices(n: int, points: int = SNAPSHOT_POINTS, seed: int = 0) -> np.ndarray:
    """The validation examples every snapshot of a run shows: a fixed sorted sample of ``points`` of ``n``."""
    if n <= points:
        return np.arange(n)
    return np.sort(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:points].numpy())


@torch.no_grad()
def take_snapshot(model: torch.nn.Module, split, indices: np.ndarray, epoch: int,
                  device: torch.device | str = "cpu") -> dict[str, Any]:
    """The snapshot of ``model`` at ``epoch``: the examples ``indices`` of ``split`` encoded, projected to the plane
    and the plane's metric at each code (the model is left in the mode it was in)."""
    was_training = model.training
    model.eval()
    try:
        items = [split[int(i)] for i in indices]
        x = torch.stack([torch.as_tensor(it[0]).float() for it in items]).to(device)
        y = torch.stack([torch.as_tensor(it[1]) for it in items])
        z = model.encode(x).float()
        origin, basis, label = plane_basis(z.cpu(), "pca" if z.shape[1] > 2 else (0, 1))
        metrics = plane_metric(model.decode, z, basis.to(z.device)).double().cpu()
    finally:
        model.train(was_training)
    xy = (z.cpu() - origin) @ basis
    return {"epoch": int(epoch), "indices": [int(i) for i in indices], "plane": label,
            "latent_dim": int(z.shape[1]), "xy": xy.tolist(), "metrics": metrics.tolist(),
            "cond": condition_numbers(metrics).tolist(), "labels": y.tolist()}


def append_snapshot(run: Run, snapshot: dict[str, Any]) -> None:
    """Append one snapshot line to the run's snapshots.jsonl (flushed to disk)."""
    with open(run.file(SNAPSHOT_FILE), "a") as f:
        f.write(json.dumps(snapshot) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_snapshots(run: Run) -> list[dict[str, Any]]:
    """The run's snapshots in epoch order (the last line of an epoch wins; a torn line is skipped)."""
    p = run.file(SNAPSHOT_FILE)
    if not p.is_file():
        return []
    by_epoch: dict[int, dict[str, Any]] = {}
    for line in p.read_text().splitlines():
        try:
            snap = json.loads(line)
            by_epoch[int(snap["epoch"])] = snap
        except (ValueError, KeyError, TypeError):
            continue
    return [by_epoch[e] for e in sorted(by_epoch)]


def truncate_snapshots(run: Run, after_epoch: int) -> None:
    """Drop the snapshots past ``after_epoch`` (a resume from last.pt)."""
    if run.file(SNAPSHOT_FILE).is_file():
        kept = [s for s in read_snapshots(run) if s["epoch"] <= after_epoch]
        atomic_write_bytes(run.file(SNAPSHOT_FILE), "".join(json.dumps(s) + "\n" for s in kept).encode())
