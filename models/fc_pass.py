"""The FC decoder's one pass (decodings, and the Jacobian along tangents at other points) with its reverse mode
written out: one autograd node for the whole pass instead of ~10 a layer.

``FCDecoder.jacobian_pass`` computes, layer by layer, the rows [codes; points] and the tangents at the points
as the rows of one matrix product. Recorded by autograd, that forward leaves a graph of ~50 small nodes (the
concatenations, splits, bias adds, expands, each activation and its derivative) whose backward costs more on
CPU than its arithmetic: each node is a few microseconds of dispatch. ``OnePass`` runs the same forward without
a graph and differentiates it by hand: per layer, the activation's first (and, for a smooth one, second)
derivative, then one product for the weight's gradient and one for the inputs'. Its values and gradients are
those of the recorded forward (tests/test_fast_paths.py compares both with ``torch.func``); it has no double
backward (``once_differentiable``: a second derivative raises).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

# The activations ``derivatives`` (and so ``OnePass``) has rules for.
RULES = (nn.Identity, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.Softplus)


def derivatives(act: nn.Module, pre: torch.Tensor, out: torch.Tensor, second: bool = True
                ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(act'(pre), act''(pre)) of an elementwise activation given out = act(pre); None for 1 (act') or 0 (act'').

    ``second=False`` skips act''. Raises TypeError for an activation without a rule here (the caller then
    keeps autograd)."""
    if isinstance(act, nn.Identity):
        return None, None
    if isinstance(act, nn.ReLU):
        return (pre > 0).to(pre.dtype), None
    if isinstance(act, nn.LeakyReLU):
        s = act.negative_slope
        return (pre > 0).to(pre.dtype) * (1 - s) + s, None
    if isinstance(act, nn.Sigmoid):
        d1 = out * (1 - out)
        return d1, (d1 * (1 - 2 * out) if second else None)
    if isinstance(act, nn.Tanh):
        d1 = 1 - out * out
        return d1, (-2 * out * d1 if second else None)
    if isinstance(act, nn.ELU):
        below = out + act.alpha  # alpha e^x for x <= 0
        return torch.where(pre > 0, torch.ones_like(out), below), \
            (torch.where(pre > 0, torch.zeros_like(out), below) if second else None)
    if isinstance(act, nn.Softplus):  # the identity above its threshold
        linear = pre * act.beta > act.threshold
        s = torch.sigmoid(pre * act.beta)
        return torch.where(linear, torch.ones_like(out), s), \
            (torch.where(linear, torch.zeros_like(out), act.beta * s * (1 - s)) if second else None)
    raise TypeError(f"no derivative for the activation {type(act).__name__}")


def supported(acts) -> bool:
    """Whether every activation has a rule in ``derivatives``."""
    return all(isinstance(a, RULES) for a in acts)


_aten = torch.ops.aten


def push(act: nn.Module, t: torch.Tensor, pre: torch.Tensor, out: torch.Tensor, dst: torch.Tensor | None = None
         ) -> torch.Tensor:
    """act'(pre) * t, given out = act(pre); t may carry a leading batch of tangents (broadcast over it). Written
    into ``dst`` when given (the same tensor as t is allowed). One op for ReLU, sigmoid and tanh (the ops of their
    own backward, ``threshold_backward``, ``sigmoid_backward``, ``tanh_backward``, as forward-mode AD uses)."""
    if isinstance(act, nn.ReLU):
        return _aten.threshold_backward(t, pre, 0) if dst is None else \
            _aten.threshold_backward.grad_input(t, pre, 0, grad_input=dst)
    if isinstance(act, nn.Sigmoid):
        return _aten.sigmoid_backward(t, out) if dst is None else \
            _aten.sigmoid_backward.grad_input(t, out, grad_input=dst)
    if isinstance(act, nn.Tanh):
        return _aten.tanh_backward(t, out) if dst is None else _aten.tanh_backward.grad_input(t, out, grad_input=dst)
    value = t if isinstance(act, nn.Identity) else t * derivatives(act, pre, out, second=False)[0]
    return value if dst is None else dst.copy_(value)


def apply(act: nn.Module, pre: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """act(pre) written into ``dst``."""
    if isinstance(act, nn.ReLU):
        return torch.clamp_min(pre, 0, out=dst)
    if isinstance(act, nn.Sigmoid):
        return torch.sigmoid(pre, out=dst)
    if isinstance(act, nn.Tanh):
        return torch.tanh(pre, out=dst)
    return dst.copy_(act(pre))


def one_pass(z: torch.Tensor, points: torch.Tensor, tangents: torch.Tensor | None, acts, params,
             saved: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(decoder(z) flattened (b, D), J t (k, n, D)) of an FC stack, computed without a graph: ``OnePass``'s forward,
    and the FC decoder's pass when nothing is recorded (evaluation, geodesics). Arguments as ``OnePass.apply``
    (``params`` the layers' weights and biases in order); each layer's input, pre-activations, outputs and tangent
    pre-activations are appended to ``saved`` when given (what the reverse mode reads).

    Each hidden layer writes its rows [codes; points] and its tangents into one matrix, the next layer's input: one
    product a layer and no concatenation (the recorded forward of ``FCDecoder.jacobian_pass(plain=True)`` gives the
    same numbers, tests/test_fast_paths.py; the time it saves: bench/pullback_pass.py, README "One pass")."""
    b, n = z.shape[0], points.shape[0]
    k = points.shape[1] if tangents is None else tangents.shape[0]
    r = b + n
    inp, last = torch.cat([z, points]), len(acts) - 1
    for i, act in enumerate(acts):
        w, bias = params[2 * i], params[2 * i + 1]
        if i == 0:
            pre = inp.mm(w.t()) if bias is None else torch.addmm(bias, inp, w.t())
            tpre = w.t()[:, None] if tangents is None else tangents.matmul(w.t())
            tpre = tpre[:, None] if tpre.dim() == 2 else tpre  # (k, 1, h) or (k, n, h)
        else:
            y = inp.mm(w.t())
            pre, tpre = y[:r], y[r:].view(k, n, -1)
            if bias is not None:
                pre.add_(bias)
        if i < last:
            nxt = pre.new_empty(r + k * n, pre.shape[1])
            rows = apply(act, pre, nxt[:r])
            t = push(act, tpre, pre[b:], rows[b:], nxt[r:].view(k, n, -1))
        else:  # the outputs: two tensors of their own (views of one would share autograd's bookkeeping)
            rows = apply(act, pre, pre.new_empty(pre.shape))
            t = push(act, tpre, pre[b:], rows[b:], pre.new_empty(k, n, pre.shape[1]))
        if saved is not None:
            saved += [inp, pre, rows, tpre]
        if i < last:
            inp = nxt
    return rows[:b], t


class OnePass(torch.autograd.Function):
    """(decoder(z) flattened (b, D), J t (k, n, D)) of an FC stack, differentiated by hand (see the module).

    ``apply(z, points, tangents, acts, *weights_and_biases)``: tangents None (the m axes), (k, m) or (k, n, m);
    ``acts`` the activation modules, one a layer; then each layer's weight and bias (bias may be None). The forward
    is ``one_pass``; in reverse, each layer's gradient overwrites the matrix the product gave (no concatenations
    either way)."""

    @staticmethod
    def forward(ctx, z, points, tangents, acts, *params):
        saved: list[torch.Tensor] = []
        out, t = one_pass(z, points, tangents, acts, params, saved)
        ctx.acts, ctx.dims = acts, (out.shape[0], t.shape[1], t.shape[0])  # b, n, k
        ctx.has_bias = [params[2 * i + 1] is not None for i in range(len(acts))]
        ctx.save_for_backward(tangents, *params, *saved)
        return out, t

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out, g_t):
        acts, (b, n, k) = ctx.acts, ctx.dims
        r, L = b + n, len(acts)
        tangents, *rest = ctx.saved_tensors
        params, saved = rest[:2 * L], rest[2 * L:]
        grads: list[torch.Tensor | None] = [None] * (2 * L)
        out = saved[-2]
        # the gradient w.r.t. the last layer's output matrix [rows; tangents]; the points' rows are no output
        g = out.new_empty(r + k * n, out.shape[1])
        g[b:r].zero_()
        for rows_of, grad in ((g[:b], g_out), (g[r:], g_t)):
            if grad is None:
                rows_of.zero_()
            elif rows_of.numel():
                rows_of.copy_(grad.reshape(rows_of.shape))
        g_z = g_points = g_tangents = None
        need = ctx.needs_input_grad  # z, points, tangents, acts, then each layer's weight and bias
        for i in reversed(range(L)):
            act, w = acts[i], params[2 * i]
            inp, pre, out, tpre = saved[4 * i: 4 * i + 4]
            g_tan = g[r:].view(k, n, -1)
            second = None
            if isinstance(act, nn.Sigmoid):  # act'' = act' (1 - 2 act): one fused op for act', two more
                second = _aten.sigmoid_backward((g_tan * tpre).sum(0), out[b:]).mul_(1 - 2 * out[b:])
            elif not isinstance(act, (nn.ReLU, nn.LeakyReLU, nn.Identity)):  # act' depends on the pre-activation
                second = (g_tan * tpre).sum(0) * derivatives(act, pre[b:], out[b:])[1]
            push(act, g[:r], pre, out, g[:r])
            push(act, g_tan, pre[b:], out[b:], g_tan)
            if second is not None:
                g[b:r] += second
            # a linear output layer's bias moves no output when no codes are decoded: no gradient (None), as autograd
            unused = i == L - 1 and isinstance(act, nn.Identity) and (b == 0 or g_out is None)
            if ctx.has_bias[i] and need[5 + 2 * i] and not unused:
                grads[2 * i + 1] = g[:r].sum(0)
            if i > 0:
                if need[4 + 2 * i]:
                    grads[2 * i] = g.t().mm(inp)
                g = g.mm(w)
                continue
            # first layer: the rows are [z; points], the tangents' pre-activations W t (or W's columns)
            dw = g[:r].t().mm(inp) if need[4] else None
            if tangents is None:  # tpre[i] = W[:, i] at every point
                if dw is not None:
                    dw += g_tan.sum(1).t()
            elif tangents.dim() == 2:
                g_tsum = g_tan.sum(1)  # (k, h)
                if dw is not None:
                    dw += g_tsum.t().mm(tangents)
                if need[2]:
                    g_tangents = g_tsum.mm(w)
            else:
                if dw is not None:
                    dw += g[r:].t().mm(tangents.reshape(k * n, -1))
                if need[2]:
                    g_tangents = g_tan.matmul(w)
            grads[0] = dw
            if need[0] or need[1]:
                g_in = g[:r].mm(w)
                g_z, g_points = g_in[:b], g_in[b:]
        return (g_z, g_points, g_tangents, None, *grads)
