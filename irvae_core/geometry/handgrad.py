"""Two small pieces of the training step's regularizer with their reverse mode written out.

On CPU the default IRVAE step computes F on 10 mixup points at m = 2: a few hundred numbers. Recorded by
autograd, the metric's traces and the jackknife F are ~30 nodes whose backward costs more than their arithmetic
(each node a few microseconds of dispatch, README "Speed"). Here each is one node: ``column_traces`` (Tr G and
Tr G^2 per point from the Jacobian's columns) and ``jackknife_F`` (the leave-one-out corrected F from those
traces). Values are those of the plain formulas (``plain_column_traces``, ``plain_jackknife_F``), gradients
those of autograd through them (tests/test_fast_paths.py, float64, and ``torch.autograd.gradcheck``); no double
backward (a second derivative raises).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def gram(cols: torch.Tensor) -> torch.Tensor:
    """G[i, j, b] = <cols[i, b], cols[j, b]> for cols (k, B, D): the metrics as (k, k, B)."""
    if cols.shape[0] <= 4:  # elementwise: fewer ops (and cheaper backward) than a batched matmul
        return (cols[:, None] * cols[None]).sum(-1)
    c = cols.transpose(0, 1)
    return (c @ c.transpose(1, 2)).permute(1, 2, 0)


def plain_column_traces(cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Tr G, Tr G^2 = ||G||_F^2) per point, G = J^T J from the columns J e_i (m, B, D); autograd's version."""
    g = gram(cols)
    return g.diagonal().sum(-1), g.pow(2).sum((0, 1))


class _ColumnTraces(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cols):
        g = gram(cols)
        ctx.save_for_backward(cols, g)
        return g.diagonal().sum(-1), g.pow(2).sum((0, 1))

    @staticmethod
    @once_differentiable
    def backward(ctx, g_t, g_a):
        cols, g = ctx.saved_tensors
        grad = torch.zeros_like(cols)
        if g_t is not None:  # d Tr G / d J_i = 2 J_i
            grad += 2 * g_t[:, None] * cols
        if g_a is not None:  # d ||G||^2 / d J_i = 4 sum_j G_ij J_j
            gj = torch.bmm(g.permute(2, 0, 1), cols.transpose(0, 1)).transpose(0, 1)  # (m, B, D)
            grad += 4 * g_a[:, None] * gj
        return grad


def column_traces(cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``plain_column_traces`` as one autograd node (see the module)."""
    return _ColumnTraces.apply(cols)


def plain_jackknife_F(t: torch.Tensor, a: torch.Tensor, m: int) -> torch.Tensor:
    """n F_n - (n - 1) mean_i F_(n-1, -i) from per-point Tr G (t) and Tr G^2 (a), points along the last dim.

    The leave-one-out correction removes the O(1/n) bias of F_n, a ratio of means. With
    S = sum t and A = sum a it is m^2 (n^2 A / S^2 - (n-1)^2 / n sum_i (A - a_i) / (S - t_i)^2) - m:
    a handful of operations, as the training step is timed. Expanded, it is 0 at G = cI only up
    to round-off, so it is clamped at 0 (a jackknife can undershoot 0 only where F is ~0).
    """
    n = t.shape[-1]
    if n < 3:
        return (m**2 * a.mean(-1) / t.mean(-1).pow(2) - m).clamp_min(0)
    s_t, s_a = t.sum(-1), a.sum(-1)
    loo = ((s_a[..., None] - a) / (s_t[..., None] - t).pow(2)).sum(-1)
    return (m**2 * (n**2 * s_a / s_t.pow(2) - (n - 1) ** 2 / n * loo) - m).clamp_min(0)


class _JackknifeF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t, a, m):
        n = t.shape[-1]
        s_t, s_a = t.sum(-1, keepdim=True), a.sum(-1, keepdim=True)
        rest_t, rest_a = s_t - t, s_a - a  # the sums without point i
        inv2 = rest_t.pow(-2)
        raw = m**2 * (n**2 * s_a[..., 0] / s_t[..., 0].pow(2) - (n - 1) ** 2 / n * (rest_a * inv2).sum(-1)) - m
        ctx.save_for_backward(s_t, s_a, rest_t, rest_a, inv2, raw)
        ctx.n, ctx.m = n, m
        return raw.clamp_min(0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        s_t, s_a, rest_t, rest_a, inv2, raw = ctx.saved_tensors
        n, m = ctx.n, ctx.m
        c = (n - 1) ** 2 / n
        g = (grad * (raw >= 0).to(grad.dtype))[..., None] * m**2  # clamp_min's gradient: kept where F >= 0
        # d/da_j: n^2 / S^2 - c sum_{i != j} (S - t_i)^-2
        g_a = g * (n**2 / s_t.pow(2) - c * (inv2.sum(-1, keepdim=True) - inv2))
        # d/dt_j: -2 n^2 A / S^3 + 2 c sum_{i != j} (A - a_i) (S - t_i)^-3
        w3 = rest_a * inv2 / rest_t
        g_t = g * (-2 * n**2 * s_a / s_t.pow(3) + 2 * c * (w3.sum(-1, keepdim=True) - w3))
        return g_t, g_a, None


def jackknife_F(t: torch.Tensor, a: torch.Tensor, m: int) -> torch.Tensor:
    """``plain_jackknife_F`` (see there), as one autograd node for n >= 3 points (see the module)."""
    if t.shape[-1] < 3:
        return plain_jackknife_F(t, a, m)
    return _JackknifeF.apply(t, a, m)
