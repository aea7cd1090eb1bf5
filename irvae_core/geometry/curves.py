"""Walking through a latent space: straight lines, geodesics and axis modulation (paper Figs. 6-7, App. E.1).

A decoder f: R^m -> R^D maps a latent curve z(t) to a curve f(z(t)) in data space. A curve is
discretised into n points z_0 .. z_{n-1} (endpoints z_0, z_{n-1} fixed) and measured by

- its speeds s_k = ||f(z_{k+1}) - f(z_k)||  (data-space step lengths, k = 0 .. n-2),
- its length L = sum_k s_k  (the decoded polyline; it approaches the curve's length as n grows),
- its energy E = sum_k s_k^2.

By Cauchy-Schwarz L^2 <= (n - 1) E, with equality exactly when the speed is constant, so the
curve of least energy is the shortest one, traversed at constant speed: the discrete geodesic
of the pullback metric G = J^T J. For a scaled isometry (G = c I) the straight latent segment
is that geodesic; the length ratio straight / geodesic (>= 1 up to discretisation) and the
straight line's max/min speed ratio (1 for an isometry) say how far a decoder is from one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from irvae_core.geometry.metric import Decoder, flat_decoder

# progress(fraction done in [0, 1], best energy so far)
GeodesicProgress = Callable[[float, float], None]


@dataclass
class DecodedPath:
    """A discrete latent curve and its decoding."""

    path: torch.Tensor  # (n, m) latent points, endpoints included
    decoded: torch.Tensor  # (n, *x_shape) decoder outputs
    speeds: torch.Tensor  # (n - 1,) float64 data-space step lengths ||f(z_{k+1}) - f(z_k)||

    @property
    def length(self) -> float:
        """Data-space length of the decoded polyline, sum_k ||f(z_{k+1}) - f(z_k)||."""
        return float(self.speeds.sum())

    @property
    def energy(self) -> float:
        """Discrete energy sum_k ||f(z_{k+1}) - f(z_k)||^2 (the geodesic's objective)."""
        return float(self.speeds.pow(2).sum())

    @property
    def speed_ratio(self) -> float:
        """max / min step length: 1 for a path decoded at constant speed; inf if some step has length 0."""
        lo = float(self.speeds.min())
        return float(self.speeds.max()) / lo if lo > 0 else float("inf")


@dataclass
class Geodesic(DecodedPath):
    """The discrete geodesic: a DecodedPath of least energy, with the straight line it started beside."""

    straight: DecodedPath  # the straight segment between the same endpoints, same number of points
    iterations: int  # optimiser iterations run
    converged: bool  # stopped on its tolerance (not on the iteration limit or a non-finite energy)

    @property
    def length_ratio(self) -> float:
        """Straight-line length / geodesic length: 1 when the straight line is already the geodesic."""
        return self.straight.length / self.length


def _endpoints(z0: torch.Tensor, z1: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    z0, z1 = torch.as_tensor(z0).detach().reshape(-1), torch.as_tensor(z1).detach().reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError(f"the two latent points have different sizes ({z0.numel()} and {z1.numel()})")
    if n < 2:
        raise ValueError(f"a path needs at least 2 points; got {n}")
    if torch.equal(z0, z1):
        raise ValueError("the two latent points are the same: there is no path between them to show")
    if not (torch.isfinite(z0).all() and torch.isfinite(z1).all()):
        raise ValueError("a latent point is not finite")
    return z0, z1.to(z0)


def straight_line(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """n evenly spaced points of the latent segment from z0 to z1, shape (n, m)."""
    t = torch.linspace(0, 1, n, dtype=z0.dtype, device=z0.device).unsqueeze(1)
    return (1 - t) * z0 + t * z1


def _decoded_speeds(decoder: Decoder, path: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder outputs (n, *x_shape) and step lengths (n - 1,) in float64, without a graph."""
    with torch.no_grad():
        out = decoder(path)
        flat = out.reshape(len(path), -1).double()
        return out, (flat[1:] - flat[:-1]).norm(dim=1)


def decode_path(decoder: Decoder, path: torch.Tensor) -> DecodedPath:
    """Decode a given latent curve (n, m) and measure it."""
    decoded, speeds = _decoded_speeds(decoder, path)
    return DecodedPath(path=path.detach().clone(), decoded=decoded, speeds=speeds)


def interpolate(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, n: int = 16) -> DecodedPath:
    """The straight latent segment z0 -> z1 in n points, decoded: path, decoded, length, speeds.

    For a scaled isometry the speed is constant (``speed_ratio`` 1) and the segment is the
    geodesic (paper Fig. 7: IRVAE's linear interpolants are close to geodesic interpolation).
    """
    z0, z1 = _endpoints(z0, z1, n)
    return decode_path(decoder, straight_line(z0, z1, n))


@contextmanager
def _intra_op_threads(threads: int | None, device: torch.device) -> Iterator[None]:
    """Run a block on ``threads`` intra-op threads (CPU; None: as set), restoring the caller's setting after."""
    if threads is None or device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def geodesic(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, n_points: int = 16, *,
             init: torch.Tensor | None = None, max_iter: int = 500, rtol: float = 1e-6, check_every: int = 10,
             progress: GeodesicProgress | None = None, threads: int | None = 1) -> Geodesic:
    """The discrete geodesic between z0 and z1: n_points latent points minimising sum ||f(z_{k+1}) - f(z_k)||^2.

    The n_points - 2 interior points are optimised by L-BFGS with a strong-Wolfe line search
    (torch.optim.LBFGS), starting from the straight segment (or from ``init``, an (n_points, m)
    curve whose endpoints are replaced by z0, z1). Every energy evaluated is a candidate and the
    lowest is returned, the straight segment's included, so the returned energy is never above
    the straight line's, whatever the optimiser does (a failed line search; a non-finite energy,
    which also ends the search).
    The optimiser stops after ``max_iter`` iterations, when L-BFGS meets its own tolerances, or
    when ``check_every`` iterations lowered the best energy by less than ``rtol`` relative.
    ``progress(fraction, best_energy)`` is called after every ``check_every`` iterations and at
    the end. The decoder's parameters are not touched (gradients are taken with respect to the
    latent points only).

    On a CPU the optimisation runs on ``threads`` intra-op threads (None: the caller's setting,
    restored afterwards either way; it is per calling thread for ATen's OpenMP pool). One is the
    default: the ops are small (n points through the decoder), so a second thread only adds
    synchronisation, and on a busy CPU spinning OpenMP threads slow it down many times over
    (bench/geodesic.py with and without --caller-threads).
    """
    with _intra_op_threads(threads, torch.as_tensor(z0).device):
        return _geodesic(decoder, z0, z1, n_points, init, max_iter, rtol, check_every, progress)


def _geodesic(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, n_points: int, init: torch.Tensor | None,
              max_iter: int, rtol: float, check_every: int, progress: GeodesicProgress | None) -> Geodesic:
    z0, z1 = _endpoints(z0, z1, n_points)
    straight = decode_path(decoder, straight_line(z0, z1, n_points))
    start = straight.path if init is None else torch.as_tensor(init).detach().to(z0).clone()
    if start.shape != straight.path.shape:
        raise ValueError(f"init must have shape {tuple(straight.path.shape)}; got {tuple(start.shape)}")
    f = flat_decoder(decoder)
    best = {"energy": straight.energy, "interior": straight.path[1:-1].clone()}
    interior = start[1:-1].clone().requires_grad_(True)

    def closure() -> torch.Tensor:
        with torch.enable_grad():
            out = f(torch.cat([z0[None], interior, z1[None]]))
            energy = (out[1:] - out[:-1]).pow(2).sum()
            (grad,) = torch.autograd.grad(energy, interior)
        interior.grad = grad
        value = float(energy.detach())
        if not math.isfinite(value):
            best["nonfinite"] = True
        elif value < best["energy"]:
            best.update(energy=value, interior=interior.detach().clone())
        return energy.detach()

    iterations, converged = 0, n_points == 2
    if n_points > 2:
        opt = torch.optim.LBFGS([interior], lr=1, max_iter=check_every, max_eval=10 * check_every,
                                history_size=20, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                                tolerance_change=1e-14)
        while iterations < max_iter:
            before = best["energy"]
            opt.param_groups[0]["max_iter"] = min(check_every, max_iter - iterations)
            try:
                opt.step(closure)
            except (IndexError, RuntimeError):  # torch's line search cannot continue from a NaN energy
                if not best.get("nonfinite"):
                    raise
                break
            done = opt.state[interior].get("n_iter", 0) - iterations
            iterations += done
            if progress is not None:
                progress(min(iterations / max_iter, 1.0), best["energy"])
            if best.get("nonfinite") or not torch.isfinite(interior).all():
                break
            if done == 0 or before - best["energy"] <= rtol * abs(before):  # at a stationary point, or stalled
                converged = True
                break
    path = torch.cat([z0[None], best["interior"], z1[None]])
    found = decode_path(decoder, path)
    if found.energy > straight.energy:  # float round-off between the two evaluations: keep the straight line
        found = straight
    if progress is not None:
        progress(1.0, found.energy)
    return Geodesic(path=found.path, decoded=found.decoded, speeds=found.speeds, straight=straight,
                    iterations=iterations, converged=converged)


@dataclass
class CodeSpread:
    """Directions through the latent space and the training codes' standard deviation along each."""

    directions: torch.Tensor  # (r, m) unit vectors: latent axes or principal directions
    stds: torch.Tensor  # (r,) standard deviation of the training codes along each direction
    labels: list[str]  # "z1", "z2", ... or "PC1", "PC2", ...


def code_spread(codes: torch.Tensor, kind: str = "axes", top: int | None = None) -> CodeSpread:
    """The spread of encoded training codes (N, m): per latent axis, or along the top principal directions.

    ``kind="axes"``: the m coordinate axes and each coordinate's std (the paper's Fig. 6).
    ``kind="pca"``: the ``top`` eigenvectors of the codes' covariance, largest first, and the
    square roots of their eigenvalues (the std along each). Directions are signed so that their
    largest component is positive.
    """
    codes = torch.as_tensor(codes).detach().double()
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"need at least 2 training codes of shape (N, m); got {tuple(codes.shape)}")
    m = codes.shape[1]
    top = m if top is None else max(1, min(int(top), m))
    if kind == "axes":
        return CodeSpread(torch.eye(m, dtype=torch.float64)[:top], codes.std(0)[:top],
                          [f"z{i + 1}" for i in range(top)])
    if kind != "pca":
        raise ValueError(f"kind must be 'axes' or 'pca'; got {kind!r}")
    lam, vec = torch.linalg.eigh(torch.cov(codes.T).reshape(m, m))
    lam, vec = lam.flip(0)[:top].clamp_min(0), vec.flip(1)[:, :top].T
    sign = torch.sign(vec.gather(1, vec.abs().argmax(1, keepdim=True)))
    return CodeSpread(vec * sign, lam.sqrt(), [f"PC{i + 1}" for i in range(top)])


@dataclass
class ModulationGrid:
    """Decoded codes z + c * std_i * d_i: row i walks along direction d_i, column j is multiple c_j."""

    decoded: torch.Tensor  # (r, 2k + 1, *x_shape); the middle column is the reconstruction
    codes: torch.Tensor  # (r, 2k + 1, m)
    multiples: torch.Tensor  # (2k + 1,) -k .. k
    labels: list[str]  # one per row


@torch.no_grad()
def axis_modulation(model, x: torch.Tensor, stds: torch.Tensor | Sequence[float] | float, k: int = 2, *,
                    directions: torch.Tensor | None = None, labels: list[str] | None = None) -> ModulationGrid:
    """Encode x and move along each latent axis by -k .. k times that axis' std, decoded (paper App. E.1, Fig. 6).

    ``stds``: the standard deviation of the encoded *training* codes along each direction, (r,)
    or one number for all; the caller measures it (``code_spread`` on the run's training codes,
    as the page does; the paper: "translated distances are proportional to the standard
    deviations of the encoded training data"). ``directions`` (r, m) defaults to the m latent
    axes; pass ``code_spread(codes, "pca", top).directions`` to move along principal directions.
    ``x`` is one example shaped like the data, without a batch axis.
    """
    if int(k) < 1:
        raise ValueError(f"k (steps on each side) must be at least 1; got {k}")
    x = torch.as_tensor(x)
    if isinstance(model, torch.nn.Module):
        x = x.to(next(model.parameters()).device)
    z = model.encode(x.unsqueeze(0))[0]
    m = z.numel()
    d = torch.eye(m).to(z) if directions is None else torch.as_tensor(directions).to(z)
    if d.ndim != 2 or d.shape[1] != m:
        raise ValueError(f"directions must have shape (r, {m}); got {tuple(d.shape)}")
    s = torch.as_tensor(stds).to(z).reshape(-1)
    s = s.expand(len(d)) if s.numel() == 1 else s
    if len(s) != len(d):
        raise ValueError(f"need one std per direction ({len(d)}); got {len(s)}")
    if labels is None:
        labels = [f"{'z' if directions is None else 'd'}{i + 1}" for i in range(len(d))]
    multiples = torch.arange(-int(k), int(k) + 1).to(z)
    codes = z + multiples[None, :, None] * (s[:, None] * d)[:, None, :]  # (r, 2k + 1, m)
    decoded = model.decode(codes.reshape(-1, m))
    return ModulationGrid(decoded=decoded.reshape(len(d), len(multiples), *decoded.shape[1:]), codes=codes,
                          multiples=multiples, labels=labels)
