"""RealNVP (Dinh et al. 2017): the invertible map of the flattening module (paper Section 4.2).

A stack of affine coupling layers with alternating binary masks. Each layer keeps the masked
coordinates and maps the others by y = x * exp(s) + t, where (s, t) are computed from the
masked part; the inverse is exact in closed form. The last layer of every coupling network
starts at zero, so a fresh RealNVP is the identity map.
"""

from __future__ import annotations

import torch
from torch import nn

from models.networks import Linear


class AffineCoupling(nn.Module):
    def __init__(self, mask: torch.Tensor, width: int, hidden_layers: int = 2):
        super().__init__()
        m = mask.numel()
        self.register_buffer("mask", mask.float())
        layers: list[nn.Module] = []
        prev = m
        for _ in range(hidden_layers):
            layers += [Linear(prev, width), nn.ReLU()]
            prev = width
        last = Linear(prev, 2 * m)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def _scale_shift(self, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(torch.where(keep, x, 0.0)).chunk(2, dim=-1)
        return torch.where(keep, 0.0, torch.tanh(s)), torch.where(keep, 0.0, t)  # tanh bounds the log-scale

    # Masking is done with torch.where, not by multiplying with the 0/1 mask: under forward-mode
    # AD (the jvp of the regularizer) torch's rule for a product of a dual tensor with a plain
    # tensor or a number has a large fixed cost on CPU, whatever the size, that torch.where does
    # not (the FM step's cost: bench/flattening.py).
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = self.mask > 0.5
        s, t = self._scale_shift(x, keep)
        return torch.where(keep, x, x * torch.exp(s) + t)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        keep = self.mask > 0.5
        s, t = self._scale_shift(y, keep)
        return torch.where(keep, y, (y - t) * torch.exp(-s))


    def _indices(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(kept coordinates, changed coordinates, the order that puts [kept; changed] back in place)."""
        cached = getattr(self, "_index_cache", None)
        if cached is None or cached[0].device != device:
            keep = self.mask.to(device) > 0.5
            kidx, cidx = keep.nonzero().flatten(), (~keep).nonzero().flatten()
            cached = (kidx, cidx, torch.argsort(torch.cat([kidx, cidx])))
            self._index_cache = cached
        return cached

    def inverse_and_jacobian(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = inverse(y) and its Jacobian dx/dy (B, m, m), differentiable by reverse mode.

        s and t depend on the k kept coordinates only, so the Jacobian needs the coupling network's
        derivative along those k coordinates alone: k tangents pushed through the network by hand, as rows
        beside the points in one product a layer (the first layer's tangents are its weight's columns, the last
        layer computes only the changed coordinates' s and t). Kept and changed coordinates are taken apart by
        index, not by masking, and the Jacobian is assembled as the block matrix [[I, 0], [dx_c/dy_k,
        diag(exp(-s))]] in that order. The same numbers as ``inverse`` and ``torch.func.jacfwd`` of it (tests).
        """
        kidx, cidx, order = self._indices(y.device)
        b, m, k, c = y.shape[0], y.shape[1], len(kidx), len(cidx)
        yk, yc = y[:, kidx], y[:, cidx]
        layers = list(self.net)
        first, last = layers[0], layers[-1]
        w1 = first.weight[:, kidx]  # (width, k): the layer sees only the kept coordinates
        pre = torch.addmm(first.bias, yk, w1.t())
        h = torch.relu(pre)
        tan = torch.ops.aten.threshold_backward(w1.t()[:, None].expand(k, b, -1), pre, 0)  # (k, B, width)
        for lin in layers[2:-1:2]:  # hidden Linear layers (each followed by a ReLU)
            out = torch.cat([h, tan.reshape(k * b, -1)]).mm(lin.weight.t())
            pre, tpre = out[:b] + lin.bias, out[b:].view(k, b, -1)
            h, tan = torch.relu(pre), torch.ops.aten.threshold_backward(tpre, pre, 0)
        rows = torch.cat([cidx, cidx + m])  # the changed coordinates' s and t
        out = torch.cat([h, tan.reshape(k * b, -1)]).mm(last.weight[rows].t())
        st, dst = out[:b] + last.bias[rows], out[b:].view(k, b, 2 * c)
        th, t = torch.tanh(st[:, :c]), st[:, c:]
        scale, diff = torch.exp(-th), yc - t
        ds = (1 - th * th) * dst[..., :c]  # (k, B, c)
        cross = -(dst[..., c:] + diff * ds) * scale  # dx_c / dy_k, (k, B, c)
        x = torch.cat([yk, diff * scale], 1)[:, order]
        top = torch.eye(k, m, dtype=y.dtype, device=y.device).expand(b, k, m)
        bottom = torch.cat([cross.permute(1, 2, 0), torch.diag_embed(scale)], 2)  # (B, c, m)
        return x, torch.cat([top, bottom], 1)[:, order][:, :, order]


class RealNVP(nn.Module):
    """Invertible map R^m -> R^m: ``forward`` is i(z), ``inverse`` is i^{-1}(w) (exact)."""

    def __init__(self, dim: int, depth: int = 8, width: int = 512):
        super().__init__()
        if dim < 2:
            raise ValueError(f"RealNVP needs a latent size of at least 2; got {dim}")
        if depth < 1 or width < 1:
            raise ValueError(f"RealNVP depth and width must be >= 1; got {depth} and {width}")
        self.dim, self.depth, self.width = dim, depth, width
        base = (torch.arange(dim) % 2).float()
        self.layers = nn.ModuleList(AffineCoupling(base if k % 2 == 0 else 1 - base, width) for k in range(depth))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            z = layer(z)
        return z

    def inverse(self, w: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            w = layer.inverse(w)
        return w

    def inverse_and_jacobian(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z = inverse(w) and dz/dw (B, m, m), keeping the autograd graph (see AffineCoupling)."""
        jac = None
        for layer in reversed(self.layers):
            w, lj = layer.inverse_and_jacobian(w)
            jac = lj if jac is None else torch.bmm(lj, jac)
        return w, jac
