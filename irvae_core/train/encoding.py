"""A split through a trained autoencoder: its latent codes, labels and per-element reconstruction MSE, in
batches (the one place a split is encoded: evaluation, the pages' views and the flattening module's data).
"""

from __future__ import annotations

import torch

from irvae_core.train.loop import iterate_batches


@torch.no_grad()
def encode_split(model, data, batch_size: int = 500, device: str | torch.device = "cpu"
                 ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Latent codes, labels and the per-element reconstruction MSE of a split."""
    zs, ys, sq, count = [], [], 0.0, 0
    for x, y in iterate_batches(data, batch_size, None):
        x = x.to(device)
        z = model.encode(x)
        sq += (model.decode(z) - x).pow(2).sum().item()
        count += x.numel()
        zs.append(z.cpu())
        ys.append(y)
    return torch.cat(zs), torch.cat(ys), sq / max(count, 1)
