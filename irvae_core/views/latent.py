"""What the latent-geometry page shows, computed without any UI (paper Figures 1, 4).

A :class:`LatentView` holds the encoded test data projected to a 2-D plane, and the pullback
metric restricted to that plane at a sample of those points (the centres of the equidistance
ellipses). For latent size 2 the plane is the latent space itself; above 2 it is either two
chosen coordinates or the PCA plane of the encoded data, and the metric drawn is
B^T G B with B the plane's orthonormal basis (``geometry.restrict_metric``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from irvae_core.data import DatasetSplits
from irvae_core.geometry.metric import Decoder, condition_numbers
from irvae_core.geometry.planes import Plane, plane_basis, plane_metric
from irvae_core.store.runs import Run
from irvae_core.store.summaries import example_label, method_name
from irvae_core.train.encoding import encode_split


@dataclass
class LatentView:
    """Encoded test data in a 2-D plane and the plane's metric at the ellipse centres."""

    title: str
    latent_dim: int
    plane_label: str  # e.g. "z1-z2" or "PCA plane"
    xy: np.ndarray  # (N, 2) plane coordinates of the shown test points
    index: np.ndarray  # (N,) index of each shown point in the test split
    labels: np.ndarray  # (N,) class index (attribute sets: 1 where the first attribute is present)
    label_names: list[str]
    centers: np.ndarray  # (K, 2) ellipse centres, a sample of xy
    metrics: np.ndarray  # (K, 2, 2) metric restricted to the plane at the centres
    cond: np.ndarray  # (K,) condition numbers of those 2x2 metrics
    origin: np.ndarray | None = None  # (m,) the plane's origin in the latent space
    basis: np.ndarray | None = None  # (m, 2) the plane's orthonormal basis

    @property
    def restricted(self) -> bool:
        return self.latent_dim > 2

    def project(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        """Latent points (N, m) in this view's plane coordinates (N, 2), as the test points are drawn."""
        z = np.asarray(torch.as_tensor(z).detach().float())
        return (z - self.origin) @ self.basis


def class_labels(y: torch.Tensor, data: DatasetSplits) -> tuple[np.ndarray, list[str]]:
    """Class indices to colour points by; attribute sets use their first attribute."""
    if data.label_kind == "attributes":
        name = data.label_names[0] if data.label_names else "attribute"
        return (y.reshape(len(y), -1)[:, 0] > 0).long().numpy(), [f"not {name}", name]
    return y.long().numpy(), list(data.label_names)


def build_view(decoder: Decoder, z: torch.Tensor, labels: np.ndarray, label_names: list[str], *,
               plane: Plane = (0, 1), n_ellipses: int = 200, title: str = "", index: np.ndarray | None = None,
               seed: int = 0) -> LatentView:
    """Project z to the plane and compute the plane's metric at ``n_ellipses`` sampled points."""
    z = z.detach().float()
    origin, basis, label = plane_basis(z, plane)
    xy = (z - origin) @ basis
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(z), generator=g)[:n_ellipses]
    metrics = plane_metric(decoder, z[pick], basis) if len(pick) else z.new_zeros(0, 2, 2)
    return LatentView(title=title, latent_dim=z.shape[1], plane_label=label, xy=xy.numpy(),
                      index=np.arange(len(z)) if index is None else index, labels=np.asarray(labels),
                      label_names=label_names, centers=xy[pick].numpy(), metrics=metrics.double().numpy(),
                      cond=condition_numbers(metrics.double()).numpy(), origin=origin.numpy(),
                      basis=basis.numpy())


def run_view(run: Run, model, data: DatasetSplits, *, plane: Plane = (0, 1), n_ellipses: int = 200,
             max_points: int = 10_000, seed: int = 0) -> LatentView:
    """The view of a trained run: its test split encoded, at most ``max_points`` of it shown."""
    z, y, _ = encode_split(model, data.test)
    index = np.arange(len(z))
    if len(z) > max_points:
        index = np.sort(torch.randperm(len(z), generator=torch.Generator().manual_seed(seed))[:max_points].numpy())
        z, y = z[index], y[index]
    labels, names = class_labels(y, data)
    title = f"{method_name(run.raw_config())} · {example_label(run)}"
    return build_view(model.decode, z, labels, names, plane=plane, n_ellipses=n_ellipses, title=title,
                      index=index, seed=seed)


def to_image(x: torch.Tensor, value_range: tuple[float, float]) -> np.ndarray:
    """One image (C, H, W) in ``value_range`` as an (H, W) or (H, W, 3) array in [0, 1]."""
    lo, hi = value_range
    img = ((x.detach().float() - lo) / (hi - lo)).clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


@torch.no_grad()
def input_and_reconstruction(model, data: DatasetSplits, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Test example ``index`` and the model's reconstruction decode(encode(x))."""
    x = torch.as_tensor(data.test[int(index)][0]).float()
    return x, model.decode(model.encode(x.unsqueeze(0)))[0]
