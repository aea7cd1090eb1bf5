"""Differentiable geometric regularizers for training (paper Sections 3-4, Appendices C, E.6).

All functions take a decoder (callable (B, m) -> (B, ...)) and latent codes z (B, m), draw
the mixup-augmented distribution P_Z from z (Section 4.3) and return a scalar that can be
added to a loss. They run on whatever device z lives on.

Relation to the official code's weight. ``relaxed_distortion`` returns the paper's F
(eq. 10), which is 0 exactly at a scaled isometry. The official implementation returns
E[Tr G^2] / E[Tr G]^2 = (F + m) / m^2 instead. The two differ by a constant and the factor
1/m^2, so a weight alpha_official on the official term equals alpha = alpha_official / m^2 on
ours (e.g. the official MNIST config, iso_reg = 100 at m = 2, is alpha = 25 here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.autograd.forward_ad as fwAD

from irvae_core.geometry import _FORWARD_AD_LOCK, Decoder

Estimator = Literal["hutchinson", "exact", "auto"]

# estimator="auto" uses the exact metric up to this latent size, Hutchinson above it. The exact
# estimator pushes m tangents (and m copies of the primal) through the decoder, Hutchinson one
# tangent and one vjp. Up to m = 4 the exact one costs about as much as Hutchinson on the same
# points (MNIST FC decoder, CPU) and has no estimator noise: on a 25-point sub-batch it gives a
# less noisy gradient than Hutchinson on the whole batch of 100 (bench/subbatch_variance.py).
AUTO_EXACT_MAX_DIM = 4


# Mixup points per training step recommended with the exact estimator. On CPU the regularizer's
# cost is mostly per call (the MNIST FC decoder at m = 2, 2 threads: ~6 ms a step plus ~0.1 ms
# a point), so the sub-batch buys speed only down to ~10 points. Measured there (bench/):
# IRVAE step / VAE step = 1.44 at n = 10, 1.49 at 16, 1.56 at 25, 2.05 at 100. The sub-batch
# keeps Tr G and Tr G^2 unbiased; it adds noise: the regularizer's gradient has a relative std
# of ~0.6-0.8 at n = 10 against ~0.4-0.45 for the official Hutchinson estimator on 100 points
# at m = 2, and about the same (~0.6 / 0.1-0.2) at m = 4 (bench/subbatch_variance.py).
TRAINING_SUBBATCH = 10


def training_defaults(latent_dim: int, estimator: str = "auto", samples: int | None = None
                      ) -> tuple[str, int | None]:
    """(estimator, n) for the training loss at latent size m, given the configured ones.

    Defaults: m <= AUTO_EXACT_MAX_DIM, the exact metric on TRAINING_SUBBATCH mixup points; above
    it, Hutchinson on the whole batch (the paper's setting; its noise grows fast when sub-batched).
    An explicit ``samples`` is kept; an explicit estimator gets the sub-batch only if exact.
    """
    est = resolve_estimator(estimator, latent_dim)
    return est, samples if samples is not None else (TRAINING_SUBBATCH if est == "exact" else None)


def resolve_estimator(estimator: str, latent_dim: int) -> str:
    """'hutchinson' or 'exact' for ``estimator`` at latent size m ('auto': exact iff m <= 4)."""
    if estimator == "auto":
        return "exact" if latent_dim <= AUTO_EXACT_MAX_DIM else "hutchinson"
    if estimator not in ("hutchinson", "exact"):
        raise ValueError(f"estimator must be 'hutchinson', 'exact' or 'auto'; got {estimator!r}")
    return estimator


def mixup_pairs(b: int, eta: float, n: int | None = None, device=None,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The draw behind ``mixup``: indices i, j (k each) and weights d (k, 1), k = min(n, b).

    The k augmented points are d z_i + (1 - d) z_j with i = 0..k-1 (the first k points of the
    batch), j drawn without replacement from the whole batch and d ~ U[-eta, 1 + eta]. A caller
    that only needs the k augmented points can compute its codes on rows i and j alone.
    """
    if eta < 0:
        raise ValueError(f"the mixup parameter eta must be >= 0; got {eta}")
    k = b if n is None else min(n, b)
    j = torch.randperm(b, device=device)[:k]
    d = torch.rand(k, 1, device=device, dtype=dtype) * (1 + 2 * eta) - eta
    return torch.arange(k, device=device), j, d


def mixup(z: torch.Tensor, eta: float | None = 0.2, n: int | None = None) -> torch.Tensor:
    """Mixup augmentation z' = d z_i + (1 - d) z_j, j a random permutation, d ~ U[-eta, 1+eta].

    Paper Section 4.3 / Appendix E.3. ``eta=None`` returns z unchanged (no augmentation).
    ``n`` draws only the first n augmented points (a sub-batch; each still pairs with any point).
    """
    if eta is None:
        return z if n is None else z[:n]
    i, j, d = mixup_pairs(z.shape[0], eta, n, z.device, z.dtype)
    return torch.lerp(z[j], z[i], d)  # d z_i + (1 - d) z_j


def _jvp(decoder: Decoder, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder outputs and J v, both flattened to (B, D), by one forward-mode pass.

    Uses ``torch.autograd.forward_ad`` directly (inside the process-wide forward-AD lock of
    ``geometry``); the results keep their autograd graph, so reverse mode can differentiate
    them w.r.t. z and the decoder's parameters. Decoders built from ``models.networks.Linear``
    layers push the tangent through each linear layer as one matmul (see its docstring).
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
    ``RealNVP.inverse_and_jacobian`` for the flattening module's f o i^{-1}. The exact estimator
    then pushes the m columns of that Jacobian through ``outer`` as tangents (one stacked
    forward-mode pass) instead of pushing m tangents through both maps.
    """

    outer: Decoder
    inner: Decoder
    inner_and_jacobian: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.outer(self.inner(z))

    def jacobian_columns(self, z: torch.Tensor) -> torch.Tensor:
        b, m = z.shape
        x, jac = self.inner_and_jacobian(z)  # jac[b, :, i] = d inner / d z_i
        _, jt = _jvp(self.outer, x.repeat(m, 1), jac.permute(2, 0, 1).reshape(m * b, -1))
        return jt.view(m, b, -1)


def _jacobian_columns(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """J e_1, ..., J e_m at every point, shape (m, B, D), keeping the autograd graph.

    One forward-mode pass on the batch stacked m times ([z; z; ...] with tangent e_1 on the
    first copy, e_2 on the second, ...), so the cost is a dual forward pass on m*B inputs.
    A ``Composed`` decoder computes them its own way.
    """
    if isinstance(decoder, Composed):
        return decoder.jacobian_columns(z)
    b, m = z.shape
    basis = torch.eye(m, dtype=z.dtype, device=z.device).repeat_interleave(b, dim=0)
    _, jt = _jvp(decoder, z.repeat(m, 1), basis)
    return jt.view(m, b, -1)


def jacobian_columns(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """The Jacobians' columns J e_i as rows, shape (B, m, D), keeping the autograd graph."""
    return _jacobian_columns(decoder, z).transpose(0, 1)


def _gram(cols: torch.Tensor) -> torch.Tensor:
    """G[i, j, b] = <cols[i, b], cols[j, b]> for cols (m, B, D): the metrics as (m, m, B)."""
    if cols.shape[0] <= 4:  # elementwise: fewer ops (and cheaper backward) than a batched matmul
        return (cols[:, None] * cols[None]).sum(-1)
    c = cols.transpose(0, 1)
    return (c @ c.transpose(1, 2)).permute(1, 2, 0)


def trace_estimates(
    decoder: Decoder,
    z: torch.Tensor,
    estimator: Estimator = "hutchinson",
    v: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point estimates of (Tr G, Tr G^2), each (B,), differentiable.

    ``hutchinson``: with v ~ N(0, I), Tr G = E||Jv||^2 and Tr G^2 = E||J^T J v||^2 - one
    forward-mode jvp and one reverse-mode vjp per point; both estimates are unbiased.
    ``exact``: the full Jacobian by forward mode (cost ~ m dual forward passes), for small m.
    ``auto``: exact for m <= AUTO_EXACT_MAX_DIM, else Hutchinson.
    """
    if z.ndim != 2:
        raise ValueError(f"z must have shape (B, m); got {tuple(z.shape)}")
    if resolve_estimator(estimator, z.shape[1]) == "exact":
        G = _gram(_jacobian_columns(decoder, z))  # (m, m, B)
        return G.diagonal().sum(-1), G.pow(2).sum((0, 1))  # Tr G^2 = ||G||_F^2 (G symmetric)
    if v is None:
        v = torch.randn_like(z)
    if not z.requires_grad:
        z = z.detach().requires_grad_(True)
    out, jv = _jvp(decoder, z, v)
    (jtjv,) = torch.autograd.grad(out, z, grad_outputs=jv, create_graph=True)
    return jv.pow(2).sum(1), jtjv.pow(2).sum(1)


def metric_with_graph(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """G(z) = J^T J (B, m, m) keeping the autograd graph (for losses; cf. geometry.pullback_metric)."""
    return _gram(_jacobian_columns(decoder, z)).permute(2, 0, 1)


def relaxed_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    h: Literal["square", "log"] = "square",
    n: int | None = None,
) -> torch.Tensor:
    """The relaxed distortion measure F of the decoder over mixup samples of z (eq. 8).

    h = "square": F = m^2 E[Tr G^2] / E[Tr G]^2 - m (eq. 10), zero iff G = cI on the samples.
    h = "log": F = E sum_i log^2(lambda_i / c), c = E[Tr G] / m; needs the exact estimator
    ("exact" or "auto").
    F is invariant to scaling the decoder and to orthogonal changes of latent coordinates.
    ``n``: number of mixup points (a sub-batch, see ``mixup``); None = as many as z has. The
    per-point estimates of Tr G and Tr G^2 stay unbiased for any n; a smaller n only makes the
    estimate of F noisier (its relative std grows like 1/sqrt(n)).
    """
    m = z.shape[1]
    za = mixup(z, eta, n)
    if h == "log":
        if estimator not in ("exact", "auto"):
            raise ValueError("h='log' needs the eigenvalues of G: use estimator='exact'")
        G = metric_with_graph(decoder, za)
        lam = torch.linalg.eigvalsh(G)
        c = lam.sum(-1).mean() / m
        return (lam / c).log().pow(2).sum(-1).mean()
    if h != "square":
        raise ValueError(f"h must be 'square' or 'log'; got {h!r}")
    tr_g, tr_g2 = trace_estimates(decoder, za, estimator)
    return m**2 * tr_g2.mean() / tr_g.mean() ** 2 - m


def fmvae_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    n: int | None = None,
) -> torch.Tensor:
    """FMVAE's flatness term E||G - cI||_F^2, c = E[Tr G] / m (Chen et al. 2020; Appendix C).

    Expanded as E[Tr G^2] - E[Tr G]^2 / m. Not scale invariant: it favours small Jacobians.
    ``n``: mixup points (sub-batch), as in ``relaxed_distortion``.
    """
    m = z.shape[1]
    tr_g, tr_g2 = trace_estimates(decoder, mixup(z, eta, n), estimator)
    return tr_g2.mean() - tr_g.mean() ** 2 / m


def isometry_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    k: float,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    n: int | None = None,
) -> torch.Tensor:
    """Distortion from a strict isometry to kI: E sum_i (lambda_i - k)^2 (Appendix E.6).

    Expanded as E[Tr G^2] - 2k E[Tr G] + m k^2 (unbiased under Hutchinson).
    ``n``: mixup points (sub-batch), as in ``relaxed_distortion``.
    """
    if k <= 0:
        raise ValueError(f"the target scale k must be > 0; got {k}")
    m = z.shape[1]
    tr_g, tr_g2 = trace_estimates(decoder, mixup(z, eta, n), estimator)
    return tr_g2.mean() - 2 * k * tr_g.mean() + m * k**2
