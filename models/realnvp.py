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


    def inverse_and_jacobian(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x = inverse(y) and its Jacobian dx/dy (B, m, m), differentiable by reverse mode.

        s and t depend on the kept coordinates only, so the Jacobian needs the coupling
        network's derivative along those k coordinates alone: k tangents pushed through the
        network by hand (one matmul each per layer), against m for a generic forward-mode pass.
        """
        keep = self.mask > 0.5
        kidx = keep.nonzero().flatten()
        a, tan = torch.where(keep, y, 0.0), None  # tan: (k, B, width), d(activation)/d y[kidx]
        for mod in self.net:
            if isinstance(mod, nn.Linear):
                if tan is None:  # d(W a + b)/d a_j = W[:, j], the same for every point
                    tan = mod.weight.t()[kidx].unsqueeze(1).expand(len(kidx), y.shape[0], -1)
                else:
                    tan = tan @ mod.weight.t()
                a = mod(a)
            elif isinstance(mod, nn.ReLU):
                pos = a > 0
                a, tan = torch.relu(a), torch.where(pos, tan, 0.0)
            else:  # pragma: no cover - the coupling network is Linear and ReLU only
                raise TypeError(f"no hand-written derivative for {type(mod).__name__}")
        s_raw, t = a.chunk(2, dim=-1)
        ds_raw, dt = tan.chunk(2, dim=-1)
        th = torch.tanh(s_raw)
        s = torch.where(keep, 0.0, th)
        ds = torch.where(keep, 0.0, (1 - th * th) * ds_raw)  # (k, B, m)
        t, dt = torch.where(keep, 0.0, t), torch.where(keep, 0.0, dt)
        scale = torch.exp(-s)
        x = torch.where(keep, y, (y - t) * scale)
        cross = torch.where(keep, 0.0, -(dt + (y - t) * ds) * scale)  # (k, B, m): dx/dy[kidx]
        jac = torch.diag_embed(torch.where(keep, 1.0, scale))  # (B, m, m)
        cols = list(jac.unbind(2))
        for c, j in enumerate(kidx.tolist()):
            cols[j] = cols[j] + cross[c]
        return x, torch.stack(cols, dim=2)


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
            jac = lj if jac is None else lj @ jac
        return w, jac
