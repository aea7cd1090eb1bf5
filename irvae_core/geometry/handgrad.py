"""Small pieces of the training step's regularizer with their reverse mode written out.

On CPU the default IRVAE step computes F on 10 mixup points at m = 2: a few hundred numbers. Recorded by
autograd, the metric's traces and the jackknife F are ~30 nodes whose backward costs more than their arithmetic
(each node a few microseconds of dispatch, README "Speed"). Here each is one node: ``column_terms`` (Tr G, Tr G^2
and the anisotropy per point from the Jacobian's columns), ``jackknife_F`` (the leave-one-out corrected F from
those traces) and ``jackknife_F_from_columns`` (both at once, for few points on CPU). Values are those of the plain
formulas (``plain_column_terms``, ``plain_jackknife_F``), gradients those of autograd through them
(tests/test_fast_paths.py, float64, and ``torch.autograd.gradcheck``); no double backward (a second derivative
raises).
"""

from __future__ import annotations

import functools

import torch
from torch.autograd.function import once_differentiable


def gram(cols: torch.Tensor) -> torch.Tensor:
    """G[i, j, b] = <cols[i, b], cols[j, b]> for cols (k, B, D): the metrics as (k, k, B)."""
    if cols.shape[0] <= 4:  # elementwise: fewer ops (and cheaper backward) than a batched matmul
        return (cols[:, None] * cols[None]).sum(-1)
    c = cols.transpose(0, 1)
    return (c @ c.transpose(1, 2)).permute(1, 2, 0)


def plain_column_terms(cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Tr G, Tr G^2 = ||G||_F^2, ||G - (Tr G / m) I||_F^2) per point, G = J^T J from the columns J e_i (m, B, D),
    written as autograd differentiates them (the reference of ``column_terms``)."""
    return _terms_of_gram(gram(cols))


def _terms_of_gram(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = g.diagonal().sum(-1)
    eye = torch.eye(g.shape[0], dtype=g.dtype, device=g.device)[:, :, None]
    return t, g.pow(2).sum((0, 1)), (g - eye * (t / g.shape[0])).pow(2).sum((0, 1))


class _ColumnTerms(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cols):
        g = gram(cols)
        t, a, r = _terms_of_gram(g)
        ctx.save_for_backward(cols, g, t)
        return t, a, r

    @staticmethod
    @once_differentiable
    def backward(ctx, g_t, g_a, g_r):
        # d Tr G / d J_i = 2 J_i; d ||G||^2 / d J_i = 4 (G J)_i;
        # d ||G - (Tr G / m) I||^2 / d J_i = 4 ((G - (t/m) I) J)_i
        cols, g, t = ctx.saved_tensors
        m = cols.shape[0]
        zero = torch.zeros_like(t)
        g_t, g_a, g_r = (zero if x is None else x for x in (g_t, g_a, g_r))
        # dJ_i = sum_j C_ij J_j with C_ij = 4 (g_a + g_r) G_ij + (2 g_t - 4 g_r t / m) [i == j], per point
        coef = g * (4 * (g_a + g_r))
        coef.diagonal(dim1=0, dim2=1).add_((2 * g_t - 4 * g_r * t / m)[:, None])
        if m > 4:  # a batched product; for a few columns a sum of m products (a batched matmul of 2 x 2's is slow)
            return torch.bmm(coef.permute(2, 0, 1), cols.transpose(0, 1)).transpose(0, 1)
        grad = coef[:, 0, :, None] * cols[0]
        for j in range(1, m):
            grad.addcmul_(coef[:, j, :, None], cols[j])
        return grad


def column_terms(cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``plain_column_terms`` as one autograd node (see the module)."""
    return _ColumnTerms.apply(cols)


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
    return _jackknife_raw(t, a, m).clamp_min(0)


def _jackknife_raw(t: torch.Tensor, a: torch.Tensor, m: int) -> torch.Tensor:
    """``plain_jackknife_F`` before its clamp at 0 (n >= 3)."""
    n = t.shape[-1]
    s_t, s_a = t.sum(-1), a.sum(-1)
    loo = ((s_a[..., None] - a) / (s_t[..., None] - t).pow(2)).sum(-1)
    return m**2 * (n**2 * s_a / s_t.pow(2) - (n - 1) ** 2 / n * loo) - m


class _JackknifeF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t, a, m):
        raw = _jackknife_raw(t, a, m)
        ctx.save_for_backward(t, a, raw)
        ctx.m = m
        return raw.clamp_min(0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        t, a, raw = ctx.saved_tensors
        n, m = t.shape[-1], ctx.m
        s_t, s_a = t.sum(-1, keepdim=True), a.sum(-1, keepdim=True)
        rest_t, rest_a = s_t - t, s_a - a  # the sums without point i
        inv2 = rest_t.pow(-2)
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


# Up to this many columns-at-points (m n) the jackknife F is computed from the Gram matrix of all columns (one
# product) in Python floats; above it, or off the CPU, by tensor operations (``column_terms``, ``jackknife_F``).
SMALL_COLUMNS = 64


@functools.lru_cache(maxsize=32)
def _same_point(k: int, n: int, dtype: torch.dtype) -> torch.Tensor:
    """(k n) x (k n) mask of the pairs of rows i n + p, j n + q with p == q (the same point)."""
    return torch.eye(n, dtype=dtype).repeat(k, k)


class _SmallJackknifeF(torch.autograd.Function):
    """``jackknife_F`` of the metric given by its columns J (m, n, D), for few points on CPU: the n m x m metrics
    come from one product of the columns (the diagonal blocks of J J^T), F and its derivatives from them in
    double precision Python floats, and the backward is one product again (dF/dJ_i = 2 sum_j (dF/dG)_ij J_j). A
    handful of operations in all, where the tensor path takes ~50 of a few microseconds each (README "Speed")."""

    @staticmethod
    def forward(ctx, cols, m):
        k, n, _ = cols.shape
        flat = cols.reshape(k * n, -1)
        gram_mm = flat.mm(flat.t())  # entry (i n + p, j n + q) = <J_i at p, J_j at q>; G_ij at p where p = q
        rows = gram_mm.view(k, n, k, n).diagonal(dim1=1, dim2=3).permute(2, 0, 1).reshape(n, k * k).tolist()
        diag = range(0, k * k, k + 1)
        t = [sum(row[d] for d in diag) for row in rows]  # Tr G per point
        a = [sum(x * x for x in row) for row in rows]  # Tr G^2 = ||G||_F^2
        S, A, c = sum(t), sum(a), (n - 1) ** 2 / n
        try:
            inv2 = [1 / (S - tp) ** 2 for tp in t]
            raw = m**2 * (n**2 * A / S**2 - c * sum((A - ap) * i2 for ap, i2 in zip(a, inv2))) - m
            if raw >= 0:  # clamp_min's gradient: kept where F >= 0
                w3 = [(A - ap) * i2 / (S - tp) for ap, tp, i2 in zip(a, t, inv2)]
                s2, s3 = sum(inv2), sum(w3)
                g_a = [m**2 * (n**2 / S**2 - c * (s2 - i2)) for i2 in inv2]
                g_t = [m**2 * (-2 * n**2 * A / S**3 + 2 * c * (s3 - x)) for x in w3]
            else:
                g_a = g_t = [0.0] * n
        except (ZeroDivisionError, OverflowError):  # a zero (or astronomical) trace: F is undefined here, as with
            # tensors (the NaN guard stops training with its sentence)
            raw, g_a, g_t = float("nan"), [float("nan")] * n, [float("nan")] * n
        if ctx.needs_input_grad[0]:
            # dF/dJ_i at point p = 2 g_t[p] J_i + 4 g_a[p] sum_j G_ij J_j: in the layout of the rows of ``flat``,
            # one (m n) x (m n) matrix C (G's blocks of J J^T scaled by 4 g_a, plus 2 g_t on the diagonal), C J
            coef = torch.tensor([2 * x for x in g_t] * k + [4 * x for x in g_a] * k, dtype=cols.dtype).view(2, -1)
            C = gram_mm * _same_point(k, n, cols.dtype)
            C *= coef[1][:, None]
            C.diagonal().add_(coef[0])
            ctx.save_for_backward(flat, C)
            ctx.shape = cols.shape
        return cols.new_tensor(max(raw, 0.0) if raw == raw else raw)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        flat, C = ctx.saved_tensors
        return grad * C.mm(flat).view(ctx.shape), None


def jackknife_F_from_columns(cols: torch.Tensor, m: int) -> torch.Tensor:
    """``jackknife_F`` of the metric G = J^T J given by its columns J e_i (m, n, D) at n points."""
    k, n = cols.shape[:2]
    if cols.device.type == "cpu" and n >= 3 and k * n <= SMALL_COLUMNS:
        return _SmallJackknifeF.apply(cols, m)
    return jackknife_F(*column_terms(cols)[:2], m)
