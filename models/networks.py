"""Encoder and decoder networks of the paper (Appendix D.1, D.2, D.3, E.2).

Every encoder maps a batch of inputs (B, *shape) to (B, out_dim); every decoder maps latent
codes (B, m) to (B, *shape). Variational encoders simply output 2m numbers (mean, log-std).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import nn

from models import fc_pass

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "leakyrelu": lambda: nn.LeakyReLU(0.2),
    "linear": nn.Identity,
}


def _split_dual(layer: nn.Module, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(primal, tangent) of ``input`` under forward-mode AD; tangent None unless only the input has one."""
    primal, tangent = fwAD.unpack_dual(input)
    if tangent is not None:
        for p in (layer.weight, layer.bias):
            if p is not None and fwAD.unpack_dual(p).tangent is not None:
                return input, None
    return primal, tangent


class Linear(nn.Linear):
    """nn.Linear with a cheap forward-mode derivative; same math, parameters and state_dict keys.

    Under forward-mode AD (torch.func.jvp, torch.autograd.forward_ad) with a tangent on the
    input only, torch's generic rule for addmm also multiplies the input by a materialised
    zero tangent of the weight and adds a zero tangent of the bias: on CPU that costs ~5x the
    primal layer. The layer is affine in its input, so the tangent is just t W^T; this forward
    computes it as one matmul. The result is an ordinary dual tensor that reverse-mode autograd
    differentiates as usual (w.r.t. the input, the tangent and the parameters). Without a
    tangent, or when the parameters carry tangents themselves, it is exactly nn.Linear.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        primal, tangent = _split_dual(self, input)
        if tangent is None:
            return F.linear(input, self.weight, self.bias)
        if primal.dim() != 2:
            return fwAD.make_dual(F.linear(primal, self.weight, self.bias), F.linear(tangent, self.weight))
        wt = self.weight.t()  # one transposed view for both products: one node less in backward
        out = primal.mm(wt) if self.bias is None else torch.addmm(self.bias, primal, wt)  # = F.linear
        return fwAD.make_dual(out, tangent.mm(wt))


class Conv2d(nn.Conv2d):
    """nn.Conv2d with the cheap forward-mode derivative of ``Linear`` (tangent: the conv without bias)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        primal, tangent = _split_dual(self, input)
        if tangent is None:
            return super().forward(input)
        return fwAD.make_dual(super().forward(primal), self._conv_forward(tangent, self.weight, None))


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d with the cheap forward-mode derivative of ``Linear``."""

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        primal, tangent = _split_dual(self, input)
        if tangent is None:
            return super().forward(input, output_size)
        out = super().forward(primal, output_size)
        output_padding = self._output_padding(tangent, output_size, self.stride, self.padding,
                                              self.kernel_size, 2, self.dilation)
        tangent = F.conv_transpose2d(tangent, self.weight, None, self.stride, self.padding, output_padding,
                                     self.groups, self.dilation)
        return fwAD.make_dual(out, tangent)


def activation(name: str) -> nn.Module:
    """An activation module by name (relu, elu, tanh, sigmoid, softplus, leakyrelu, linear)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class FCEncoder(nn.Module):
    """Fully connected encoder: flattens the input, hidden ReLU layers, linear output."""

    def __init__(self, in_shape: Sequence[int], out_dim: int, hidden: Sequence[int] = (256,) * 4,
                 act: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        prev = math.prod(in_shape)
        for width in hidden:
            layers += [Linear(prev, width), activation(act)]
            prev = width
        layers.append(Linear(prev, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FCDecoder(nn.Module):
    """Fully connected decoder: (B, m) -> (B, *out_shape); MNIST 4x256 sigmoid, CMU 2x512 tanh."""

    def __init__(self, latent_dim: int, out_shape: Sequence[int], hidden: Sequence[int] = (256,) * 4,
                 act: str = "relu", out_act: str = "sigmoid"):
        super().__init__()
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        prev = latent_dim
        for width in hidden:
            layers += [Linear(prev, width), activation(act)]
            prev = width
        layers += [Linear(prev, math.prod(out_shape)), activation(out_act)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[0], *self.out_shape)

    def jacobian_pass(self, z: torch.Tensor, points: torch.Tensor, tangents: torch.Tensor, plain: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoding of z, and the Jacobian at other ``points`` along ``tangents``, in one pass.

        z (B, m) may be empty; points (n, m); tangents (k, m), the same k directions at every point, or
        (k, n, m), one set per point, or None: the m coordinate axes (the Jacobian's columns). Returns
        (self(z), J t as (k, n, D)), D the flattened output size: the numbers of ``self(z)`` and of
        ``torch.func.jacfwd``, and their gradients (tests/test_fast_paths.py). Why one pass: the decodings, the
        points and the tangents go through each layer as the rows of one matrix product (the bias on
        the first two only), then each activation's derivative at the points multiplies the tangents.
        In a training step the regularizer's points and tangents ride along with the reconstruction's
        codes: the weights' gradient is one product per layer, not three. With an autograd graph (training) the
        pass is ``fc_pass.OnePass``, one node with its reverse mode written out; without one (evaluation,
        geodesics) its forward alone, ``fc_pass.one_pass``. ``plain=True`` (and an activation without a rule there)
        runs the same forward as ordinary operations, which autograd records: the reference the tests compare both
        with.
        """
        layers = list(self.net)
        if not plain and fc_pass.supported(layers[1::2]):
            params = [p for lin in layers[0::2] for p in (lin.weight, lin.bias)]
            if torch.is_grad_enabled():
                out, t = fc_pass.OnePass.apply(z, points, tangents, tuple(layers[1::2]), *params)
            else:
                out, t = fc_pass.one_pass(z, points, tangents, tuple(layers[1::2]), params)
            return out.reshape(z.shape[0], *self.out_shape), t
        b, n = z.shape[0], points.shape[0]
        k = points.shape[1] if tangents is None else tangents.shape[0]
        rows, t = torch.cat([z, points]), None
        for lin, act in zip(layers[0::2], layers[1::2]):
            if t is None:  # first layer: the tangents are the inputs' own, (k, m) or (k, n, m)
                pre = F.linear(rows, lin.weight, lin.bias)
                tpre = lin.weight.t() if tangents is None else F.linear(tangents, lin.weight)  # axes: W's columns
                tpre = tpre[:, None] if tpre.dim() == 2 else tpre
            else:
                y = torch.cat([rows, t.reshape(k * n, -1)]).mm(lin.weight.t())
                pre, tpre = y.split([b + n, k * n])
                pre = pre if lin.bias is None else pre + lin.bias
                tpre = tpre.view(k, n, -1)
            rows = act(pre)
            t = fc_pass.push(act, tpre.expand(k, n, -1), pre[b:], rows[b:])
        return rows[:b].reshape(b, *self.out_shape), t


def _conv_stack(specs: Sequence[tuple[int, int, int, int, int]], transpose: bool, act: str,
                out_act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    conv = ConvTranspose2d if transpose else Conv2d
    for i, (cin, cout, k, s, p) in enumerate(specs):
        layers.append(conv(cin, cout, k, s, p))
        layers.append(activation(act if i < len(specs) - 1 else out_act))
    return nn.Sequential(*layers)


# The paper's first-layer channels; every conv network doubles them layer by layer (E.2: 32-64-128-256,
# D.3: 128-256-512-1024). ``width`` below replaces the first layer's channels, the doubling is kept.
PAPER_CONV_WIDTH = {28: 32, 32: 32, 64: 128}


def paper_conv_width(size: int) -> int:
    """The paper's first-layer channels for square images of side ``size`` (28, 32 or 64)."""
    if size not in PAPER_CONV_WIDTH:
        raise ValueError(f"conv networks take 28x28, 32x32 or 64x64 images; got side {size}")
    return PAPER_CONV_WIDTH[size]


def _conv_width(size: int, width: int | None) -> int:
    w = paper_conv_width(size) if width is None else width
    if w < 1:
        raise ValueError(f"conv width (the first layer's channels) must be >= 1; got {width}")
    return w


# (in, out, kernel, stride, padding) per layer; C = image channels, m = latent size, w = width.
def _e2_encoder_specs(c: int, out: int, size: int, w: int = 32) -> list[tuple[int, int, int, int, int]]:
    third = 4 if size == 32 else 3  # 32: 32-15-6-2-1; 28: 28-13-5-2-1
    return [(c, w, 4, 2, 0), (w, 2 * w, 4, 2, 0), (2 * w, 4 * w, third, 2, 0), (4 * w, 8 * w, 2, 2, 0),
            (8 * w, out, 1, 1, 0)]


def _e2_decoder_specs(m: int, c: int, size: int, w: int = 32) -> list[tuple[int, int, int, int, int]]:
    first = size // 4  # 32: 1-8-16-32; 28: 1-7-14-28
    return [(m, 8 * w, first, 1, 0), (8 * w, 4 * w, 4, 2, 1), (4 * w, 2 * w, 4, 2, 1), (2 * w, c, 1, 1, 0)]


def _d3_encoder_specs(c: int, out: int, w: int = 128) -> list[tuple[int, int, int, int, int]]:
    return [(c, w, 5, 2, 0), (w, 2 * w, 5, 2, 0), (2 * w, 4 * w, 5, 2, 0), (4 * w, 8 * w, 5, 2, 0),
            (8 * w, out, 1, 1, 0)]  # 64-30-13-5-1


def _d3_decoder_specs(m: int, c: int, w: int = 128) -> list[tuple[int, int, int, int, int]]:
    return [(m, 8 * w, 8, 1, 0), (8 * w, 4 * w, 4, 2, 1), (4 * w, 2 * w, 4, 2, 1), (2 * w, w, 4, 2, 1),
            (w, c, 1, 1, 0)]  # 1-8-16-32-64


def _check_square(h: int, w: int, what: str) -> None:
    if h != w or h not in PAPER_CONV_WIDTH:
        raise ValueError(f"conv {what} 28x28, 32x32 or 64x64 images; got {h}x{w}")


class ConvEncoder(nn.Module):
    """Convolutional encoder: E.2 (28x28 and 32x32 images) or D.3 (64x64 CelebA).

    ``width`` is the first layer's channels (doubled per layer); None gives the paper's network.
    """

    def __init__(self, in_shape: Sequence[int], out_dim: int, act: str = "relu", width: int | None = None):
        super().__init__()
        c, h, w = in_shape
        _check_square(h, w, "encoders take")
        cw = _conv_width(h, width)
        specs = _d3_encoder_specs(c, out_dim, cw) if h == 64 else _e2_encoder_specs(c, out_dim, h, cw)
        self.net = _conv_stack(specs, transpose=False, act=act, out_act="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ConvDecoder(nn.Module):
    """Transposed-convolution decoder matching ConvEncoder: (B, m) -> (B, C, H, W); same ``width``."""

    def __init__(self, latent_dim: int, out_shape: Sequence[int], act: str = "relu",
                 out_act: str = "sigmoid", width: int | None = None):
        super().__init__()
        c, h, w = out_shape
        _check_square(h, w, "decoders make")
        cw = _conv_width(h, width)
        specs = _d3_decoder_specs(latent_dim, c, cw) if h == 64 else _e2_decoder_specs(latent_dim, c, h, cw)
        self.net = _conv_stack(specs, transpose=True, act=act, out_act=out_act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])
