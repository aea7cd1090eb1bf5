"""What the Interpolation page shows, for a run and two of its test examples: why a run cannot be walked
through, the straight line and geodesic between two examples, and axis modulation in steps of the training
codes' spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from irvae_core.data import DATASETS, DatasetSplits
from irvae_core.geometry.curves import (
    LENGTH_TOLERANCE,
    Geodesic,
    GeodesicProgress,
    ModulationGrid,
    axis_modulation,
    code_spread,
    geodesic,
)
from irvae_core.store.files import RunError
from irvae_core.store.runs import Run
from irvae_core.store.summaries import is_finished
from irvae_core.train.encoding import encode_split
from irvae_core.views.latent import LatentView

TRAINING_CODES = 5000  # training examples encoded to measure the codes' spread (a random subset above this)


def interpolation_problem(run: Run) -> str | None:
    """Why a run cannot be walked through, in one sentence; None when it can."""
    status = run.status()
    state = status.get("state", "unknown")
    if state in ("queued", "running"):
        return (f"{run.name} is still training (epoch {status.get('epoch', 0)} of {status.get('epochs', '?')}); "
                "it is offered here once it has finished.")
    if not is_finished(run):
        return f"{run.name} has not finished ({state}), so it has no trained model to walk through."
    try:
        raw = run.raw_config()
    except RunError as e:
        return f"{run.name} cannot be read: {e}."
    m = int(raw.get("model", {}).get("latent_dim") or 0)
    if m < 2:
        return (f"{run.name} has a latent space of size {m}: a path between two codes is the segment itself, "
                "so there is no geodesic to compare; train with latent size 2 or more.")
    data = raw.get("data", {})
    info = DATASETS.get(data.get("name"))
    root = data.get("root")
    if info is not None and info.needs_root and not (root and Path(root).expanduser().is_dir()):
        return (f"{run.name} was trained on {data.get('name')} from the data folder {root}, which is gone; "
                "put the data back there to walk through this run.")
    return None


def encode_test_examples(model, data: DatasetSplits, indices: Sequence[int]) -> torch.Tensor:
    """The latent codes (len(indices), m) of test examples."""
    n = len(data.test)
    bad = [int(i) for i in indices if not 0 <= int(i) < n]
    if bad:
        raise ValueError(f"test example #{bad[0]} does not exist: the test split has {n} examples (0 to {n - 1})")
    with torch.no_grad():
        return model.encode(torch.stack([torch.as_tensor(data.test[int(i)][0]).float() for i in indices]))


def example_geodesic(model, data: DatasetSplits, i: int, j: int, n_points: int = 16,
                     progress: GeodesicProgress | None = None) -> Geodesic:
    """Straight line and geodesic between the codes of test examples i and j (with the straight line inside)."""
    if int(i) == int(j):
        raise ValueError(f"test example #{i} was picked twice: pick two different examples")
    z = encode_test_examples(model, data, [i, j])
    if z.shape[1] < 2:
        raise ValueError("this run has a latent space of size 1: a path between two codes is the segment itself, "
                         "so there is no geodesic to compare")
    if torch.equal(z[0], z[1]):
        raise ValueError(f"test examples #{i} and #{j} have the same latent code: there is no path between them")
    return geodesic(model.decode, z[0], z[1], n_points, progress=progress)


def certification(geo: Geodesic) -> str:
    """One sentence on how the lengths were measured: points needed, certified or not (``geodesic``'s tolerance)."""
    asked = len(geo.straight.path)
    parts = []
    for name, curve in (("geodesic", geo), ("straight line", geo.straight)):
        where = f"{curve.points_needed} points" + (f" ({asked} asked)" if curve.points_needed != asked else "")
        parts.append(f"the {name}'s at {where}" + ("" if curve.certified else ", NOT certified: the decoder "
                                                    "stretches too much between points even there"))
    return (f"Lengths are of each curve decoded at a fine resampling, certified when its {LENGTH_TOLERANCE:.0%}-"
            "agreement with the discrete length held: " + "; ".join(parts) + ".")


def training_codes(model, data: DatasetSplits, max_points: int = TRAINING_CODES, seed: int = 0) -> torch.Tensor:
    """Codes of the training split (a random subset of ``max_points`` when it is larger): the codes' spread."""
    split = data.train
    if len(split) > max_points:
        pick = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:max_points]
        split = Subset(split, pick.tolist())
    return encode_split(model, split)[0]


def example_modulation(model, data: DatasetSplits, index: int, k: int = 2, kind: str = "axes",
                       top: int | None = None) -> ModulationGrid:
    """Axis modulation of test example ``index``, steps of the training codes' std (``code_spread``)."""
    spread = code_spread(training_codes(model, data), kind, top)
    encode_test_examples(model, data, [index])  # checks the index
    x = torch.as_tensor(data.test[int(index)][0]).float()
    return axis_modulation(model, x, spread.stds, k, directions=spread.directions, labels=spread.labels)


def view_classes(view: LatentView) -> list[int]:
    """The classes present among a view's shown test points, in order."""
    return [int(c) for c in np.unique(view.labels)]


def class_members(view: LatentView, label: int) -> np.ndarray:
    """The test indices of a view's shown points of class ``label``, in order."""
    return view.index[view.labels == label]


def random_pair(view: LatentView, draw: int = 0) -> tuple[int, int]:
    """Two different shown test examples, drawn reproducibly for the ``draw``-th press of the page's button."""
    rng = np.random.default_rng(draw)
    return tuple(int(i) for i in rng.choice(view.index, 2, replace=False))
