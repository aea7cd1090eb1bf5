"""Autoencoders of the paper with one interface (Section 4.3, Appendix E.5).

``encode(x)`` gives the representation (the mean for a VAE), ``decode(z)`` the decoder mean
f(z), and ``loss(x)`` the manifold-learning loss L with its parts and the latent codes that
were decoded (where the geometric regularizer is applied, as the official code does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to minimise (without the geometric regularizer)
    z: torch.Tensor  # latent codes the decoder was evaluated at (B, m)
    parts: dict[str, float] = field(default_factory=dict)  # logged values (python floats)


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like x, from ``generator`` (None: torch's global RNG)."""
    return torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)


def _mse(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (recon - x).pow(2).flatten(1).mean(1)


class AE(nn.Module):
    """Plain autoencoder: L = mean squared reconstruction error."""

    kind = "ae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int):
        super().__init__()
        self.encoder, self.decoder, self.latent_dim = encoder, decoder, latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    # A loss that draws from the generator after decoding sets this (WAE: its prior samples); the Trainer then
    # leaves the regularizer's mixup draw after the loss instead of inside the decoding (``decode=`` below).
    draws_after_decode = False

    @property
    def jacobian_pass(self):
        """The decoder's one-pass decoding-and-Jacobian (``FCDecoder.jacobian_pass``) when ``decode`` is the
        decoder itself; None otherwise (a conv decoder, a subclass that decodes differently)."""
        if type(self).decode is not AE.decode:
            return None
        return getattr(self.decoder, "jacobian_pass", None)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None, decode=None) -> LossOutput:
        """L of the batch x; ``generator`` draws any noise the model needs (None: the global RNG); ``decode``
        replaces ``self.decode`` for the reconstruction (the Trainer's decoding that also computes the metric)."""
        z = self.encode(self.corrupt(x, generator))
        mse = _mse((decode or self.decode)(z), x).mean()
        extra, parts = self.latent_penalty(z, generator)
        return LossOutput(mse + extra, z, {"mse": mse.item(), **parts})

    def latent_penalty(self, z: torch.Tensor, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, dict[str, float]]:
        return z.new_zeros(()), {}


class DAE(AE):
    """Denoising autoencoder: Gaussian input noise (sigma 0.01 in Appendix E.5)."""

    kind = "dae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 noise_std: float = 0.01):
        super().__init__(encoder, decoder, latent_dim)
        self.noise_std = noise_std

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x + self.noise_std * _noise_like(x, generator) if self.training else x


def median_heuristic_mmd(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 with a Gaussian kernel whose bandwidth is the median pairwise distance."""
    both = torch.cat([z, prior])
    d2 = torch.cdist(both, both).pow(2)
    n = z.shape[0]
    off = d2[~torch.eye(2 * n, dtype=torch.bool, device=z.device)]
    bandwidth = off.median().detach().clamp_min(1e-8)
    k = torch.exp(-d2 / bandwidth)
    kzz, kpp, kzp = k[:n, :n], k[n:, n:], k[:n, n:]
    mask = ~torch.eye(n, dtype=torch.bool, device=z.device)
    return kzz[mask].mean() + kpp[mask].mean() - 2 * kzp.mean()


class WAE(AE):
    """Wasserstein autoencoder (MMD, median-heuristic bandwidth, coefficient 0.001; E.5)."""

    kind = "wae"
    draws_after_decode = True  # the prior samples of the MMD

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 mmd_weight: float = 0.001):
        super().__init__(encoder, decoder, latent_dim)
        self.mmd_weight = mmd_weight

    def latent_penalty(self, z: torch.Tensor, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, dict[str, float]]:
        if z.shape[0] < 2:
            return z.new_zeros(()), {}
        mmd = median_heuristic_mmd(z, _noise_like(z, generator))
        return self.mmd_weight * mmd, {"mmd": mmd.item()}


class VAE(AE):
    """VAE with a Gaussian encoder and an isotropic Gaussian decoder N(f(z), sigma^2 I).

    sigma is a learned scalar (the official code) unless ``fixed_sigma`` is given.
    L = -E log p(x|z) + KL(q(z|x) || N(0, I)), per example, averaged over the batch.
    """

    kind = "vae"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 fixed_sigma: float | None = None):
        super().__init__(encoder, decoder, latent_dim)
        self.log_sigma = nn.Parameter(torch.zeros(()), requires_grad=fixed_sigma is None)
        if fixed_sigma is not None:
            if fixed_sigma <= 0:
                raise ValueError(f"fixed_sigma must be > 0; got {fixed_sigma}")
            with torch.no_grad():
                self.log_sigma.fill_(math.log(fixed_sigma))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[:, : self.latent_dim]

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None, decode=None) -> LossOutput:
        h = self.encoder(x)
        mu, log_std = h[:, : self.latent_dim], h[:, self.latent_dim :]
        z = mu + log_std.exp() * _noise_like(mu, generator)
        recon = (decode or self.decode)(z)
        sq = (recon - x).pow(2).flatten(1)
        d = sq.shape[1]
        nll = 0.5 * sq.sum(1) * torch.exp(-2 * self.log_sigma) + d * (
            self.log_sigma + 0.5 * math.log(2 * math.pi))
        kl = 0.5 * (mu.pow(2) + torch.exp(2 * log_std) - 2 * log_std - 1).sum(1)
        loss = (nll + kl).mean()
        parts = {"mse": sq.mean().item(), "nll": nll.mean().item(), "kl": kl.mean().item(),
                 "sigma": self.log_sigma.exp().item()}
        return LossOutput(loss, z, parts)


MODEL_KINDS = {"ae": AE, "vae": VAE, "dae": DAE, "wae": WAE}
