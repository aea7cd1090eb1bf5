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
from irvae_core.geometry.metric import Decoder, condition_numbers, pullback_metric
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
    codes: np.ndarray | None = None  # (N, m) the shown test points' latent codes

    @property
    def restricted(self) -> bool:
        return self.latent_dim > 2

    def project(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        """Latent points (N, m) in this view's plane coordinates (N, 2), as the test points are drawn."""
        z = np.asarray(torch.as_tensor(z).detach().float())
        return (z - self.origin) @ self.basis

    @property
    def mean_code(self) -> np.ndarray:
        """The mean of the shown test codes (m,)."""
        return self.codes.mean(0)

    def lift(self, xy: np.ndarray) -> np.ndarray:
        """Plane coordinates (N, 2) as latent codes (N, m): the point of the plane, the rest of the code the mean
        test code's (for latent size 2, the point itself). ``project(lift(xy)) == xy``."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        mean, basis = self.mean_code.astype(np.float64), self.basis.astype(np.float64)
        offset = (mean - self.origin) @ basis  # the mean code's own plane coordinates
        return (mean + (xy - offset) @ basis.T).astype(np.float32)

    @property
    def extent(self) -> float:
        """The larger side of the shown points' bounding box (1 when they have none)."""
        return float(np.ptp(self.xy, axis=0).max()) if len(self.xy) else 1.0


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
                      basis=basis.numpy(), codes=z.numpy())


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


# ----------------------------------------------------------------------------- decode anywhere
@dataclass
class PointGeometry:
    """The decoder at one latent point: what it decodes to and its pullback metric there (paper eq. 1)."""

    xy: np.ndarray  # (2,) plane coordinates
    z: np.ndarray  # (m,) the latent code (``LatentView.lift``)
    decoded: torch.Tensor  # the decoder's output at z, shaped as a data point
    metric: np.ndarray  # (m, m) G(z) = J^T J
    plane_metric: np.ndarray  # (2, 2) B^T G B: the ellipse drawn in the plane
    eigenvalues: np.ndarray  # (m,) of G, ascending
    cond: float  # condition number of G (max / min eigenvalue)
    plane_cond: float  # of the plane's metric (the ellipse's colour)

    @property
    def eigenvalue_text(self) -> str:
        """G's eigenvalues as a page shows them: all of them up to 16, else the smallest, median and largest."""
        eig = self.eigenvalues
        if len(eig) <= 16:
            return ", ".join(f"{v:.4g}" for v in eig)
        return f"smallest {eig[0]:.4g}, median {np.median(eig):.4g}, largest {eig[-1]:.4g} (of {len(eig)})"


@torch.no_grad()
def point_geometry(decoder: Decoder, view: LatentView, xy: np.ndarray | list[float]) -> PointGeometry:
    """Decode the plane point ``xy`` (2 numbers) of ``view`` and measure the pullback metric there
    (``pullback_metric``)."""
    z = torch.from_numpy(view.lift(xy))
    g = pullback_metric(decoder, z).double()
    basis = torch.from_numpy(view.basis).double()
    restricted = basis.T @ g[0] @ basis
    eig = torch.linalg.eigvalsh(0.5 * (g[0] + g[0].T))
    return PointGeometry(xy=np.asarray(xy, dtype=np.float64).reshape(2), z=z[0].numpy(), decoded=decoder(z)[0],
                         metric=g[0].numpy(), plane_metric=restricted.numpy(), eigenvalues=eig.numpy(),
                         cond=float(condition_numbers(g)[0]), plane_cond=float(condition_numbers(restricted[None])[0]))


# ------------------------------------------------------------------------------------- brushing
BRUSH_POINTS = 2000  # condition numbers are computed at most at this many points of a set (a fixed sample)


def sample_positions(n: int, limit: int = BRUSH_POINTS, seed: int = 0) -> np.ndarray:
    """Positions 0..n-1, or a fixed sorted sample of ``limit`` of them."""
    if n <= limit:
        return np.arange(n)
    return np.sort(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].numpy())


def code_conditions(decoder: Decoder, codes: np.ndarray) -> np.ndarray:
    """Condition numbers of the full pullback metric G at each code (N,)."""
    if len(codes) == 0:
        return np.zeros(0)
    return condition_numbers(pullback_metric(decoder, torch.from_numpy(np.asarray(codes, np.float32))).double()
                             ).numpy()


@dataclass
class Brush:
    """The test points inside a box or lasso on the plane, beside the whole shown set."""

    positions: np.ndarray  # positions in the view's arrays (xy, index, labels, codes)
    test_index: np.ndarray  # their indices in the test split
    classes: dict[str, int]  # class name -> count among them
    cond_mean: float  # mean / std of cond(G) over them (a fixed sample of BRUSH_POINTS when more)
    cond_std: float
    all_cond_mean: float  # the same over the whole shown set
    all_cond_std: float
    sampled: bool  # whether either set was sampled

    @property
    def count(self) -> int:
        return len(self.positions)


def brush(decoder: Decoder, view: LatentView, test_index: np.ndarray | list[int]) -> Brush:
    """Statistics of the brushed test points (``test_index``: their indices in the test split)."""
    where = {int(t): i for i, t in enumerate(view.index)}
    positions = np.array(sorted({where[int(t)] for t in np.asarray(test_index).ravel() if int(t) in where}),
                         dtype=int)
    mine = positions[sample_positions(len(positions))]
    every = sample_positions(len(view.xy))
    c_mine, c_all = code_conditions(decoder, view.codes[mine]), code_conditions(decoder, view.codes[every])
    names, counts = np.unique(view.labels[positions], return_counts=True)
    label = {int(c): (view.label_names[c] if 0 <= c < len(view.label_names) else str(c)) for c in names}
    return Brush(positions=positions, test_index=view.index[positions],
                 classes={label[int(c)]: int(n) for c, n in zip(names, counts)},
                 cond_mean=float(c_mine.mean()) if len(c_mine) else float("nan"),
                 cond_std=float(c_mine.std()) if len(c_mine) else float("nan"),
                 all_cond_mean=float(c_all.mean()), all_cond_std=float(c_all.std()),
                 sampled=len(mine) < len(positions) or len(every) < len(view.xy))


def snapshot_view(snapshot: dict, data: DatasetSplits | None = None, title: str = "") -> LatentView:
    """A training snapshot (``train.snapshots``) as a ``LatentView``, every point an ellipse centre, to draw with
    ``viz.latent_figure``; ``data`` names its classes."""
    xy = np.asarray(snapshot["xy"], dtype=np.float64).reshape(-1, 2)
    y = torch.as_tensor(snapshot["labels"])
    if data is not None:
        labels, names = class_labels(y, data)
    else:
        labels = (y.reshape(len(y), -1)[:, 0] > 0).long().numpy() if y.ndim > 1 else y.long().numpy()
        names = [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 0)]
    return LatentView(title=title or f"epoch {snapshot['epoch']}", latent_dim=int(snapshot["latent_dim"]),
                      plane_label=snapshot["plane"], xy=xy, index=np.asarray(snapshot["indices"]), labels=labels,
                      label_names=names, centers=xy, metrics=np.asarray(snapshot["metrics"], dtype=np.float64),
                      cond=np.asarray(snapshot["cond"], dtype=np.float64))

