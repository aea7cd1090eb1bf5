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

from typing import Literal

import torch

from irvae_core.geometry import Decoder, flat_decoder, jacobian_rows, jvp

Estimator = Literal["hutchinson", "exact"]


def mixup(z: torch.Tensor, eta: float | None = 0.2, n: int | None = None) -> torch.Tensor:
    """Mixup augmentation z' = d z_i + (1 - d) z_j, j a random permutation, d ~ U[-eta, 1+eta].

    Paper Section 4.3 / Appendix E.3. ``eta=None`` returns z unchanged (no augmentation).
    ``n`` draws only the first n augmented points (a sub-batch; each still pairs with any point).
    """
    if n is not None and n < z.shape[0]:
        if eta is None:
            return z[:n]
    elif eta is None:
        return z
    if eta < 0:
        raise ValueError(f"the mixup parameter eta must be >= 0; got {eta}")
    b = z.shape[0]
    k = b if n is None else min(n, b)
    perm = torch.randperm(b, device=z.device)[:k]
    d = torch.rand(k, 1, device=z.device, dtype=z.dtype) * (1 + 2 * eta) - eta
    return d * z[:k] + (1 - d) * z[perm]


def trace_estimates(
    decoder: Decoder,
    z: torch.Tensor,
    estimator: Estimator = "hutchinson",
    v: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point estimates of (Tr G, Tr G^2), each (B,), differentiable.

    ``hutchinson``: with v ~ N(0, I), Tr G = E||Jv||^2 and Tr G^2 = E||J^T J v||^2 - one
    forward-mode jvp and one reverse-mode vjp per point; both estimates are unbiased.
    ``exact``: the full Jacobian by forward mode (cost ~ m forward passes), for small m.
    """
    if z.ndim != 2:
        raise ValueError(f"z must have shape (B, m); got {tuple(z.shape)}")
    if estimator == "exact":
        G = metric_with_graph(decoder, z)
        return _trace(G), _trace(G @ G)
    if estimator != "hutchinson":
        raise ValueError(f"estimator must be 'hutchinson' or 'exact'; got {estimator!r}")
    if v is None:
        v = torch.randn_like(z)
    if not z.requires_grad:
        z = z.detach().requires_grad_(True)
    out, jv = jvp(flat_decoder(decoder), (z,), (v,))
    (jtjv,) = torch.autograd.grad(out, z, grad_outputs=jv, create_graph=True)
    return jv.pow(2).sum(1), jtjv.pow(2).sum(1)


def metric_with_graph(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """G(z) = J^T J (B, m, m) keeping the autograd graph (for losses; cf. geometry.pullback_metric)."""
    _, jt = jacobian_rows(decoder, z)
    return jt @ jt.transpose(1, 2)


def _trace(G: torch.Tensor) -> torch.Tensor:
    return G.diagonal(dim1=-2, dim2=-1).sum(-1)


def relaxed_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    h: Literal["square", "log"] = "square",
) -> torch.Tensor:
    """The relaxed distortion measure F of the decoder over mixup samples of z (eq. 8).

    h = "square": F = m^2 E[Tr G^2] / E[Tr G]^2 - m (eq. 10), zero iff G = cI on the samples.
    h = "log": F = E sum_i log^2(lambda_i / c), c = E[Tr G] / m; needs ``estimator="exact"``.
    F is invariant to scaling the decoder and to orthogonal changes of latent coordinates.
    """
    m = z.shape[1]
    za = mixup(z, eta)
    if h == "log":
        if estimator != "exact":
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
) -> torch.Tensor:
    """FMVAE's flatness term E||G - cI||_F^2, c = E[Tr G] / m (Chen et al. 2020; Appendix C).

    Expanded as E[Tr G^2] - E[Tr G]^2 / m. Not scale invariant: it favours small Jacobians.
    """
    m = z.shape[1]
    tr_g, tr_g2 = trace_estimates(decoder, mixup(z, eta), estimator)
    return tr_g2.mean() - tr_g.mean() ** 2 / m


def isometry_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    k: float,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
) -> torch.Tensor:
    """Distortion from a strict isometry to kI: E sum_i (lambda_i - k)^2 (Appendix E.6).

    Expanded as E[Tr G^2] - 2k E[Tr G] + m k^2 (unbiased under Hutchinson).
    """
    if k <= 0:
        raise ValueError(f"the target scale k must be > 0; got {k}")
    m = z.shape[1]
    tr_g, tr_g2 = trace_estimates(decoder, mixup(z, eta), estimator)
    return tr_g2.mean() - 2 * k * tr_g.mean() + m * k**2
