"""An autoencoder seen through a flattening module: encoder i o g, decoder f o i^{-1} (Section 4.2)."""

from __future__ import annotations

import torch
from torch import nn

from models.autoencoders import AE
from models.realnvp import RealNVP


class FlattenedAE(nn.Module):
    """Wraps a trained autoencoder and a RealNVP ``fm``; reconstructions equal the base's."""

    kind = "flattened"

    def __init__(self, base: AE, fm: RealNVP):
        super().__init__()
        self.base, self.fm = base, fm
        self.latent_dim = base.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.fm(self.base.encode(x))

    def decode(self, w: torch.Tensor) -> torch.Tensor:
        return self.base.decode(self.fm.inverse(w))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
