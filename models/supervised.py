"""Supervised baseline of the retrieval experiment: binary relevance (Read et al. 2011; paper D.3).

The autoencoder's encoder network, one output per attribute, followed by the paper's
normalising layer (the output divided by its norm), trained with binary cross-entropy on the
attributes: one independent binary classifier per attribute sharing one network. The
normalised output is both the logits of the loss and the representation used for retrieval
(normalising only at retrieval time would change nothing under the cosine similarity, and the
paper reports that the layer helps, so it sits inside the trained model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.autoencoders import LossOutput


class BinaryRelevance(nn.Module):
    """encode(x) = h(x) / |h(x)| with h the encoder network; loss(x, y) = BCE(encode(x), y)."""

    kind = "br"
    needs_labels = True  # the Trainer passes the attribute labels to ``loss``

    def __init__(self, encoder: nn.Module, n_attributes: int):
        super().__init__()
        self.encoder, self.latent_dim = encoder, n_attributes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder(x), dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise ValueError("a supervised binary-relevance run has no decoder: it embeds images for retrieval only "
                         "(reconstruction, MSE, VoR and MCN do not apply)")

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None) -> LossOutput:
        y = y.float().reshape(len(x), -1)
        if y.shape[1] != self.latent_dim:
            raise ValueError(f"binary relevance was built for {self.latent_dim} attributes; the labels have "
                             f"{y.shape[1]}")
        logits = self.encode(x)
        bce = F.binary_cross_entropy_with_logits(logits, y)
        accuracy = ((logits > 0) == (y > 0.5)).float().mean()
        return LossOutput(bce, logits, {"bce": bce.item(), "accuracy": accuracy.item()})
