"""Planes through the latent space and the metric restricted to one (paper Figures 1, 4 at latent size > 2).

For latent size 2 the plane is the latent space itself; above 2 it is either two chosen coordinates or the
PCA plane of a set of codes, and the metric on it is B^T G B with B the plane's orthonormal basis
(``metric.restrict_metric``), computed from two Jacobian-vector products per point (``plane_metric``).
"""

from __future__ import annotations

import torch

from irvae_core.geometry.metric import DEFAULT_CHUNK_ELEMENTS, Decoder, flat_decoder, jacobian

Plane = str | tuple[int, int]  # "pca" or two coordinate indices


def plane_basis(z: torch.Tensor, plane: Plane) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Origin (m,), orthonormal basis (m, 2) and label of a plane through the latent space."""
    m = z.shape[1]
    if m < 2:
        raise ValueError(f"a latent space of size {m} has no 2-D plane to draw")
    if plane == "pca":
        origin = z.mean(0)
        _, _, vt = torch.linalg.svd(z - origin, full_matrices=False)
        return origin, vt[:2].T.contiguous(), "PCA plane"
    i, j = plane
    if not (0 <= i < m and 0 <= j < m) or i == j:
        raise ValueError(f"choose two different latent coordinates between 1 and {m}; got {i + 1} and {j + 1}")
    basis = torch.zeros(m, 2, dtype=z.dtype)
    basis[i, 0] = basis[j, 1] = 1.0
    return torch.zeros(m, dtype=z.dtype), basis, f"z{i + 1}-z{j + 1}"


def plane_metric(decoder: Decoder, z: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """B^T G(z) B (B, 2, 2) from the Jacobian along the plane's two directions, J b_1 and J b_2, per point.

    Equals ``restrict_metric(pullback_metric(decoder, z), basis)`` at a cost of 2 instead of m
    forward-mode passes, so it stays cheap for large latent spaces.
    """
    b = len(z)
    with torch.no_grad():
        d = flat_decoder(decoder)(z[:1]).shape[1]
        chunk = max(1, DEFAULT_CHUNK_ELEMENTS // (2 * d))
        blocks = []
        for start in range(0, b, chunk):
            jb = jacobian(decoder, z[start:start + chunk].detach(), basis.T).transpose(0, 1)  # (B, 2, D)
            blocks.append(jb @ jb.transpose(1, 2))
    return torch.cat(blocks) if blocks else z.new_zeros(0, 2, 2)
