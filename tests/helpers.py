"""Small datasets and configs shared by tests (real objects, tiny sizes)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from irvae_core.config import RunConfig, apply_overrides
from irvae_core.data import DatasetSplits, TensorSplit
from irvae_core.data.synthetic_mocap import cmu_like_asf, cmu_like_skeleton, motion_channels
from irvae_core.mocap import format_amc


def rolled_sheet(n: int = 1200, dim: int = 10, seed: int = 0) -> DatasetSplits:
    """A flat square sheet rolled into R^dim without stretching (a half cylinder), in [-1, 1].

    The chart (u, v) -> (cos u, sin u, v) / 2 is a scaled isometry, so an ideal isometric
    representation has condition number 1 everywhere.
    """
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g) * math.pi
    v = torch.rand(n, generator=g) * math.pi - math.pi / 2
    sheet = torch.stack([u.cos(), u.sin(), v / math.pi * 2], 1) / 2.5
    q, _ = torch.linalg.qr(torch.randn(dim, 3, generator=g))
    x = sheet @ q.T
    labels = (u > math.pi / 2).long()
    n_val = n_test = n // 6
    n_tr = n - n_val - n_test
    parts = [TensorSplit(x[a:b], labels[a:b]) for a, b in [(0, n_tr), (n_tr, n_tr + n_val), (n_tr + n_val, n)]]
    return DatasetSplits("rolled-sheet", *parts, x_shape=(dim,), label_kind="class",
                         label_names=["left", "right"], value_range=(-1.0, 1.0))


def tiny_images(n: int = 120, seed: int = 0) -> DatasetSplits:
    """Blurry 8x8 blobs with a class label: a fast stand-in for an image set, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    cy, cx = torch.rand(n, 1, 1, generator=g) * 6 + 1, torch.rand(n, 1, 1, generator=g) * 6 + 1
    x = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4).unsqueeze(1)
    y = (cx.flatten() > 4).long()
    a, b = int(n * 0.7), int(n * 0.85)
    return DatasetSplits("tiny-images", TensorSplit(x[:a], y[:a]), TensorSplit(x[a:b], y[a:b]),
                         TensorSplit(x[b:], y[b:]), x_shape=(1, 8, 8), label_kind="class", label_names=["l", "r"])


def tiny_config(**overrides) -> RunConfig:
    base = {"data.name": "digits", "model.hidden": [32, 32], "model.latent_dim": 2, "train.epochs": 2,
            "train.batch_size": 20, "train.lr": 3e-3, "train.tensorboard": False}
    return apply_overrides(RunConfig(), {**base, **overrides})


def official_relaxed_distortion(func, z_aug, v):
    """The official IRVAE code's E[Tr G^2] / E[Tr G]^2 (torch.autograd.functional, create_graph=True).

    The reference our estimator is tested (tests/test_regularizers.py) and timed (bench/) against.
    """
    bs = len(z_aug)
    Jv = torch.autograd.functional.jvp(func, z_aug, v=v, create_graph=True)[1]
    TrG = torch.sum(Jv.view(bs, -1) ** 2, dim=1).mean()
    JTJv = torch.autograd.functional.vjp(func, z_aug, v=Jv, create_graph=True)[1].view(bs, -1)
    TrG2 = torch.sum(JTJv**2, dim=1).mean()
    return TrG2 / TrG**2


def write_subject(folder, subject: str, trials: dict[str, tuple[str, int]], scale: float = 1.0) -> dict:
    """CMU files in ``folder``: ``subject``.asf (the synthetic CMU-like skeleton, bone lengths times ``scale``) and
    one AMC file of synthetic motion per trial (trial -> (class, frames)); returns trial -> AMC channels."""
    asf = "\n".join(f"    length {float(line.split()[1]) * scale}" if line.strip().startswith("length ")
                    and line.startswith("    ") else line for line in cmu_like_asf().splitlines())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{subject}.asf").write_text(asf + "\n")
    out = {}
    for seed, (trial, (label, frames)) in enumerate(trials.items()):
        out[trial] = motion_channels(label, frames, np.random.default_rng(seed))
        (folder / f"{trial}.amc").write_text(format_amc(cmu_like_skeleton(), out[trial]))
    return out


def shared_cmu() -> Path | None:
    """The developers' real CMU trials (``../shared/data/cmu``, or $IRVAE_SHARED_DATA), when present."""
    candidates = [Path(os.environ["IRVAE_SHARED_DATA"])] if os.environ.get("IRVAE_SHARED_DATA") else []
    candidates += [Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")]
    return next((p / "cmu" for p in candidates if (p / "cmu").is_dir()), None)


def main_exit_code(argv: list[str]) -> int:
    """The exit code of the command line's ``main(argv)`` run in this process: its return value, or argparse's
    ``SystemExit`` code for a usage error it catches itself."""
    from irvae_core.cli import main

    try:
        return main(argv)
    except SystemExit as e:
        return e.code
