"""Image splits kept as uint8 in memory and returned as float32 items (4x less memory than floats)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class ByteImageSplit(Dataset):
    """Images (N, C, H, W) uint8 and labels (N,) long or (N, K) float.

    Item ``i`` is ``(image, label)`` with the image float32 mapped from 0..255 onto ``value_range``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.y, self.value_range = images, labels, value_range

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.value_range
        return self.images[i].float() * ((hi - lo) / 255.0) + lo, self.y[i]


def split_order(n: int, seed: int) -> torch.Tensor:
    """The shuffled order of n items that ``byte_splits`` cuts: torch.randperm with ``seed``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def byte_splits(images: torch.Tensor, labels: torch.Tensor, sizes: list[int], seed: int,
                value_range: tuple[float, float] = (0.0, 1.0)) -> list[ByteImageSplit]:
    """Shuffle with ``seed`` (``split_order``) and cut into consecutive splits of the given sizes."""
    order = split_order(len(images), seed)
    out, start = [], 0
    for n in sizes:
        idx = order[start:start + n]
        out.append(ByteImageSplit(images[idx], labels[idx], value_range))
        start += n
    return out
