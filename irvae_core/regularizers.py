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
import torch.autograd.forward_ad as fwAD

from irvae_core.geometry import _FORWARD_AD_LOCK, Decoder

Estimator = Literal["hutchinson", "exact", "auto"]

# estimator="auto" uses the exact metric up to this latent size, Hutchinson above it. The exact
# estimator pushes m tangents (plus m copies of the primal) through the decoder, Hutchinson one
# tangent and one vjp; at m = 2 they cost about the same and the exact one has no estimator noise.
AUTO_EXACT_MAX_DIM = 2


def resolve_estimator(estimator: str, latent_dim: int) -> str:
    """'hutchinson' or 'exact' for ``estimator`` at latent size m ('auto': exact iff m <= 2)."""
    if estimator == "auto":
        return "exact" if latent_dim <= AUTO_EXACT_MAX_DIM else "hutchinson"
    if estimator not in ("hutchinson", "exact"):
        raise ValueError(f"estimator must be 'hutchinson', 'exact' or 'auto'; got {estimator!r}")
    return estimator


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


def jacobian_columns(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """J e_1, ..., J e_m at every point, shape (B, m, D), keeping the autograd graph.

    One forward-mode pass on the batch stacked m times ([z; z; ...] with tangents e_1 on the
    first copy, e_2 on the second, ...), so the cost is a dual forward pass on m*B inputs.
    """
    b, m = z.shape
    basis = torch.eye(m, dtype=z.dtype, device=z.device).repeat_interleave(b, dim=0)
    _, jt = _jvp(decoder, z.repeat(m, 1), basis)
    return jt.reshape(m, b, -1).transpose(0, 1)


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
        G = metric_with_graph(decoder, z)
        return _trace(G), G.pow(2).sum((-2, -1))  # Tr G^2 = ||G||_F^2 (G symmetric)
    if v is None:
        v = torch.randn_like(z)
    if not z.requires_grad:
        z = z.detach().requires_grad_(True)
    out, jv = _jvp(decoder, z, v)
    (jtjv,) = torch.autograd.grad(out, z, grad_outputs=jv, create_graph=True)
    return jv.pow(2).sum(1), jtjv.pow(2).sum(1)


def metric_with_graph(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """G(z) = J^T J (B, m, m) keeping the autograd graph (for losses; cf. geometry.pullback_metric)."""
    jt = jacobian_columns(decoder, z)
    return jt @ jt.transpose(1, 2)


def _trace(G: torch.Tensor) -> torch.Tensor:
    return G.diagonal(dim1=-2, dim2=-1).sum(-1)


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
