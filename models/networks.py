"""Encoder and decoder networks of the paper (Appendix D.1, D.2, D.3, E.2).

Every encoder maps a batch of inputs (B, *shape) to (B, out_dim); every decoder maps latent
codes (B, m) to (B, *shape). Variational encoders simply output 2m numbers (mean, log-std).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "leakyrelu": lambda: nn.LeakyReLU(0.2),
    "linear": nn.Identity,
}


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
            layers += [nn.Linear(prev, width), activation(act)]
            prev = width
        layers.append(nn.Linear(prev, out_dim))
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
            layers += [nn.Linear(prev, width), activation(act)]
            prev = width
        layers += [nn.Linear(prev, math.prod(out_shape)), activation(out_act)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[0], *self.out_shape)


def _conv_stack(specs: Sequence[tuple[int, int, int, int, int]], transpose: bool, act: str,
                out_act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    for i, (cin, cout, k, s, p) in enumerate(specs):
        layers.append(conv(cin, cout, k, s, p))
        layers.append(activation(act if i < len(specs) - 1 else out_act))
    return nn.Sequential(*layers)


# (in, out, kernel, stride, padding) per layer; C = image channels, m = latent size.
def _e2_encoder_specs(c: int, out: int, size: int) -> list[tuple[int, int, int, int, int]]:
    third = 4 if size == 32 else 3  # 32: 32-15-6-2-1; 28: 28-13-5-2-1
    return [(c, 32, 4, 2, 0), (32, 64, 4, 2, 0), (64, 128, third, 2, 0), (128, 256, 2, 2, 0),
            (256, out, 1, 1, 0)]


def _e2_decoder_specs(m: int, c: int, size: int) -> list[tuple[int, int, int, int, int]]:
    first = size // 4  # 32: 1-8-16-32; 28: 1-7-14-28
    return [(m, 256, first, 1, 0), (256, 128, 4, 2, 1), (128, 64, 4, 2, 1), (64, c, 1, 1, 0)]


def _d3_encoder_specs(c: int, out: int) -> list[tuple[int, int, int, int, int]]:
    return [(c, 128, 5, 2, 0), (128, 256, 5, 2, 0), (256, 512, 5, 2, 0), (512, 1024, 5, 2, 0),
            (1024, out, 1, 1, 0)]  # 64-30-13-5-1


def _d3_decoder_specs(m: int, c: int) -> list[tuple[int, int, int, int, int]]:
    return [(m, 1024, 8, 1, 0), (1024, 512, 4, 2, 1), (512, 256, 4, 2, 1), (256, 128, 4, 2, 1),
            (128, c, 1, 1, 0)]  # 1-8-16-32-64


class ConvEncoder(nn.Module):
    """Convolutional encoder: E.2 (28x28 and 32x32 images) or D.3 (64x64 CelebA)."""

    def __init__(self, in_shape: Sequence[int], out_dim: int, act: str = "relu"):
        super().__init__()
        c, h, w = in_shape
        if h != w or h not in (28, 32, 64):
            raise ValueError(f"conv encoders take 28x28, 32x32 or 64x64 images; got {h}x{w}")
        specs = _d3_encoder_specs(c, out_dim) if h == 64 else _e2_encoder_specs(c, out_dim, h)
        self.net = _conv_stack(specs, transpose=False, act=act, out_act="linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class ConvDecoder(nn.Module):
    """Transposed-convolution decoder matching ConvEncoder: (B, m) -> (B, C, H, W)."""

    def __init__(self, latent_dim: int, out_shape: Sequence[int], act: str = "relu",
                 out_act: str = "sigmoid"):
        super().__init__()
        c, h, w = out_shape
        if h != w or h not in (28, 32, 64):
            raise ValueError(f"conv decoders make 28x28, 32x32 or 64x64 images; got {h}x{w}")
        specs = _d3_decoder_specs(latent_dim, c) if h == 64 else _e2_decoder_specs(latent_dim, c, h)
        self.net = _conv_stack(specs, transpose=True, act=act, out_act=out_act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])
