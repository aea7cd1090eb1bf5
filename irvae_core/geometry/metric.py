"""Riemannian geometry of a decoder's latent space (paper Sections 2, 5.1).

A decoder f: R^m -> R^D pulls the Euclidean metric of the data space back to the latent
space: G(z) = J(z)^T J(z) (H = identity). ``jacobian`` is the one routine that computes J (by
forward-mode AD, with its fast paths behind it); it keeps the autograd graph, so the regularizers
(``regularizers.py``) differentiate through it. The rest is evaluation-time geometry: no autograd
graph is kept.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwAD

Decoder = Callable[[torch.Tensor], torch.Tensor]

# Elements of J (points x m x D) computed at once; bounds the memory of pullback_metric.
DEFAULT_CHUNK_ELEMENTS = 2**22

# PyTorch's forward-mode AD keeps its dual levels in process-global state: two threads in a
# jvp at once corrupt each other ("invalid forward AD level"). Jobs train on threads, so every
# forward-mode pass goes through this lock (the backward passes that follow do not need it).
_FORWARD_AD_LOCK = threading.Lock()


def _load_forward_ad_quietly() -> None:
    """The first ``make_dual`` of a process loads torch's jvp decompositions, which call ``torch.jit.script`` and
    so print its deprecation notice (a FutureWarning) on every normal run of ours; it is torch's own use, not
    ours. That one load happens here, with that one notice silenced; every other warning is left as it is."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
        with fwAD.dual_level():
            fwAD.make_dual(torch.zeros(1), torch.zeros(1))


_load_forward_ad_quietly()


def jvp(decoder: Decoder, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder outputs and J v at every point, both flattened to (B, D), by one forward-mode pass.

    Uses ``torch.autograd.forward_ad`` (inside the process-wide lock above); the results keep their
    autograd graph, so reverse mode can differentiate them w.r.t. z and the decoder's parameters.
    Decoders built from ``models.networks.Linear`` layers push the tangent through each linear layer
    as one matmul (see its docstring).
    """
    with _FORWARD_AD_LOCK, fwAD.dual_level():
        out, jv = fwAD.unpack_dual(decoder(fwAD.make_dual(z, v)))
    out = out.reshape(out.shape[0], -1)
    jv = torch.zeros_like(out) if jv is None else jv.reshape(out.shape)
    return out, jv


@dataclass(frozen=True)
class Composed:
    """The decoder ``outer(inner(z))`` where the inner map gives its own Jacobian.

    ``inner_and_jacobian(z)`` returns (inner(z), d inner / dz of shape (B, m, m)), e.g.
    ``RealNVP.inverse_and_jacobian`` for the flattening module's f o i^{-1}. ``jacobian`` then
    pushes the columns of that Jacobian through ``outer`` as tangents (one stacked forward-mode
    pass) instead of pushing m tangents through both maps.
    """

    outer: Decoder
    inner: Decoder
    inner_and_jacobian: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.outer(self.inner(z))


def jacobian(decoder: Decoder, z: torch.Tensor, directions: torch.Tensor | None = None) -> torch.Tensor:
    """The decoder's Jacobian at every point of z (B, m), as J d_1, ..., J d_k: shape (k, B, D).

    ``directions`` (k, m) are latent directions d_i; None: the coordinate axes (k = m, the columns
    J e_i). Outputs are flattened to D values. Keeps the autograd graph (differentiable w.r.t. z and
    the decoder's parameters) unless called under ``no_grad``.

    The one Jacobian routine. The plain answer is ``torch.func.jacfwd`` (tests/test_geometry.py
    compares every path with it); the paths taken here give the same numbers faster:
    - a decoder's own one pass (``jacobian_pass``: the FC decoders, tests/test_fast_paths.py): points and
      tangents as the rows of one product a layer;
    - stacked tangents, for every other decoder: one forward-mode pass on the batch stacked k times
      ([z; z; ...] with tangent d_1 on the first copy, d_2 on the second, ...), a dual forward pass on k*B inputs;
    - ``Composed`` decoders (the flattening module's f o i^{-1}): the inner map's own Jacobian (the
      RealNVP's, written by hand), whose columns go through the outer map by either path above.
    """
    if z.ndim != 2:
        raise ValueError(f"z must have shape (B, m); got {tuple(z.shape)}")
    b, m = z.shape
    if isinstance(decoder, Composed):
        x, jac = decoder.inner_and_jacobian(z)  # jac[b, :, i] = d inner / d z_i
        if directions is not None:
            jac = jac @ directions.T.to(jac.dtype)  # (B, m, k): d inner along each direction
        k = jac.shape[2]
        one_pass = jacobian_pass(decoder.outer)
        if one_pass is not None:
            return one_pass(x[:0], x, jac.permute(2, 0, 1))[1]
        _, jt = jvp(decoder.outer, x.repeat(k, 1), jac.permute(2, 0, 1).reshape(k * b, -1))
        return jt.view(k, b, -1)
    basis = torch.eye(m, dtype=z.dtype, device=z.device) if directions is None else directions.to(z.dtype)
    one_pass = jacobian_pass(decoder)
    if one_pass is not None:
        return one_pass(z[:0], z, None if directions is None else basis)[1]
    k = basis.shape[0]
    _, jt = jvp(decoder, z.repeat(k, 1), basis.repeat_interleave(b, dim=0))
    return jt.view(k, b, -1)


def jacobian_pass(decoder: Decoder):
    """The decoder's own one-pass decoding-and-Jacobian, ``f(z, points, tangents) -> (decoder(z), J t)``, or None.

    Offered by ``models.networks.FCDecoder`` (``jacobian_pass``: every layer's decodings, points and tangents as
    the rows of one product) and by an autoencoder's ``decode`` when that is its decoder (``AE.jacobian_pass``)."""
    f = getattr(decoder, "jacobian_pass", None)
    if f is None and getattr(decoder, "__name__", None) == "decode":  # a bound ``model.decode``
        f = getattr(getattr(decoder, "__self__", None), "jacobian_pass", None)
    return f


def flat_decoder(decoder: Decoder) -> Decoder:
    """The decoder with its output flattened to (B, D), whatever its shape (images included)."""

    def f(z: torch.Tensor) -> torch.Tensor:
        out = decoder(z)
        return out.reshape(out.shape[0], -1)

    return f


def pullback_metric(
    decoder: Decoder, z: torch.Tensor, chunk_size: int | None = None
) -> torch.Tensor:
    """Exact pullback metric G(z) = J(z)^T J(z), shape (B, m, m) (paper eq. 1, H = I).

    J from ``jacobian``, chunked over the batch so that at most ~2**22 Jacobian entries exist at
    once (10,000 points at m = 16 through the MNIST decoder stay far below 2 GiB). No autograd
    graph is kept.
    """
    if z.ndim != 2:
        raise ValueError(f"z must have shape (B, m); got {tuple(z.shape)}")
    b, m = z.shape
    if b == 0:
        return z.new_zeros(0, m, m)
    with torch.no_grad():
        z = z.detach()
        if chunk_size is None:
            d = flat_decoder(decoder)(z[:1]).shape[1]
            chunk_size = max(1, DEFAULT_CHUNK_ELEMENTS // (m * d))
        blocks = []
        for start in range(0, b, chunk_size):
            jt = jacobian(decoder, z[start : start + chunk_size]).transpose(0, 1)  # (B, m, D): rows J^T
            blocks.append(jt @ jt.transpose(1, 2))
        return torch.cat(blocks)


def _symmetric_eigvals(G: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of symmetric matrices in float64 (ascending), robust to round-off asymmetry."""
    G64 = G.detach().to(torch.float64)
    return torch.linalg.eigvalsh(0.5 * (G64 + G64.transpose(-1, -2)))


def condition_numbers(G: torch.Tensor) -> torch.Tensor:
    """cond(G) = lambda_max / lambda_min for each metric in a batch (B, m, m) -> (B,).

    inf where G is singular (lambda_min <= 0 up to round-off).
    """
    lam = _symmetric_eigvals(G)
    lo, hi = lam[..., 0], lam[..., -1]
    cond = torch.where(lo > 0, hi / lo.clamp_min(torch.finfo(torch.float64).tiny), math.inf)
    return cond.to(G.dtype if G.dtype == torch.float64 else torch.float32)


def mean_condition_number(G: torch.Tensor) -> float:
    """MCN: mean of the condition numbers (paper Section 5.1); 1 iff G(z) is prop. to I."""
    return float(condition_numbers(G).to(torch.float64).mean())


def _inverse_sqrt_spd(A: torch.Tensor) -> torch.Tensor:
    s, U = torch.linalg.eigh(0.5 * (A + A.transpose(-1, -2)))
    if s.min() <= 0:
        raise ValueError("the mean metric is singular: the decoder has a rank-deficient Jacobian")
    return (U * s.rsqrt().unsqueeze(-2)) @ U.transpose(-1, -2)


def riemannian_distances_sq(G: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Affine-invariant squared distances d^2(G_i, R) = sum_k log^2 lambda_k(R^-1 G_i).

    Computed as the eigenvalues of the symmetric R^-1/2 G R^-1/2 (one symmetric
    eigendecomposition of R, no inverse), in float64.
    """
    G64 = G.detach().to(torch.float64)
    W = _inverse_sqrt_spd(reference.detach().to(torch.float64))
    lam = _symmetric_eigvals(W @ G64 @ W)
    if (lam <= 0).any():
        raise ValueError("a metric is singular: its affine-invariant distance is infinite")
    return (lam.log() ** 2).sum(-1)


def variance_of_riemannian_metric(G: torch.Tensor) -> float:
    """VoR: mean of d^2(G(z), G_bar) with G_bar = E[G] (paper Section 5.1); 0 iff G is constant."""
    return float(riemannian_distances_sq(G, G.to(torch.float64).mean(0)).mean())


@dataclass(frozen=True)
class Ellipse:
    """The equidistance ellipse {z : (z - c)^T G (z - c) = k} of a 2-D metric."""

    center: tuple[float, float]
    semi_axes: tuple[float, float]  # (major, minor)
    angle: float  # radians, direction of the major axis from the first coordinate axis

    def points(self, n: int = 48) -> tuple[list[float], list[float]]:
        """n + 1 points on the closed curve, for plotting."""
        t = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)
        a, b = self.semi_axes
        c, s = math.cos(self.angle), math.sin(self.angle)
        x = a * torch.cos(t) * c - b * torch.sin(t) * s + self.center[0]
        y = a * torch.cos(t) * s + b * torch.sin(t) * c + self.center[1]
        return x.tolist(), y.tolist()


def metric_ellipse(G: torch.Tensor, center: torch.Tensor, k: float = 1.0) -> Ellipse:
    """Ellipse {dz : dz^T G dz = k} of one 2x2 metric at ``center`` (paper Figure 1).

    Semi-axes are sqrt(k / lambda_i) along the eigenvectors: the major axis follows the
    smallest eigenvalue (the direction in which the decoder stretches least).
    """
    if G.shape != (2, 2):
        raise ValueError(f"metric_ellipse needs a 2x2 metric; got {tuple(G.shape)}")
    G64 = G.detach().to(torch.float64)
    lam, U = torch.linalg.eigh(0.5 * (G64 + G64.T))
    if lam[0] <= 0:
        raise ValueError("the metric is not positive definite: its ellipse is unbounded")
    major = U[:, 0]
    angle = math.atan2(float(major[1]), float(major[0]))
    # angle is defined modulo pi; keep it in (-pi/2, pi/2]
    if angle <= -math.pi / 2:
        angle += math.pi
    elif angle > math.pi / 2:
        angle -= math.pi
    semi = (math.sqrt(k / float(lam[0])), math.sqrt(k / float(lam[1])))
    c = center.detach().to(torch.float64).tolist()
    return Ellipse(center=(c[0], c[1]), semi_axes=semi, angle=angle)


def restrict_metric(G: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Metric restricted to the plane spanned by the columns of ``basis`` (m, 2): B^T G B.

    Used to draw ellipses of an m > 2 latent space in a chosen 2-D plane (coordinates or PCA).
    """
    basis = basis.to(G.dtype)
    return basis.T @ G @ basis
