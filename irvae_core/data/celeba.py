"""The ``celeba`` dataset: CelebA faces from a local folder in torchvision's layout (Section 5.2).

``root/celeba/img_align_celeba/*.jpg``, ``root/celeba/list_attr_celeba.txt`` and
``root/celeba/list_eval_partition.txt`` (the three may also sit directly under ``root``). The
official partition gives 162,770 / 19,867 / 19,962 images. Each image is centre cropped (the
usual 140x140 crop of the 178x218 aligned images; a centre square crop at any other size, e.g.
images already 64x64), resized to 64x64 and scaled to [-1, 1], as in the paper's code. Labels are
the 40 attributes as float 0/1. Images are read on demand (optionally cached in memory as uint8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from irvae_core.data.celeba_files import read_attributes, read_partition
from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, register

ALIGNED_SIZE = (178, 218)  # width, height of CelebA's aligned images
ALIGNED_CROP = 140
LAYOUT = ("expected CelebA in torchvision's layout: root/celeba/img_align_celeba/*.jpg, "
          "root/celeba/list_attr_celeba.txt and root/celeba/list_eval_partition.txt")


def centre_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The 140x140 centre crop of an aligned 178x218 image, else the largest centre square."""
    side = ALIGNED_CROP if (width, height) == ALIGNED_SIZE else min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


class CelebAImages(Dataset):
    """Face images read from files on demand: items are ((3, size, size) float32 in [-1, 1], attributes)."""

    def __init__(self, files: list[Path], attributes: torch.Tensor, size: int = 64, cache: bool = False):
        self.files, self.y, self.size = files, attributes, size
        self._cache: dict[int, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.files)

    def _pixels(self, i: int) -> torch.Tensor:
        path = self.files[i]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                im = im.crop(centre_crop_box(*im.size))
                im = im.resize((self.size, self.size), Image.Resampling.BILINEAR)
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"{path}: expected a readable image file, could not open it ({e})") from e
        return torch.from_numpy(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy())

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None:
            pixels = self._pixels(i)
        else:
            pixels = self._cache.get(i)
            if pixels is None:
                pixels = self._cache[i] = self._pixels(i)
        return pixels.float() / 127.5 - 1.0, self.y[i]


def celeba_folder(root: Path) -> Path:
    """The folder holding the attribute file: ``root/celeba`` or ``root`` itself."""
    for base in (root / "celeba", root):
        if (base / "list_attr_celeba.txt").is_file():
            return base
    raise DataError(f"{root / 'celeba' / 'list_attr_celeba.txt'}: file not found; {LAYOUT}")


def load_celeba(root=None, classes=None, download=False, seed=0, size: int = 64, cache: bool = False,
                **_) -> DatasetSplits:
    """CelebA under ``root`` with the official partition; ``cache`` keeps decoded images in memory."""
    root = Path(root)
    if classes is not None:
        raise DataError("celeba has attribute labels, not classes: leave the class subset empty")
    if download and not any((base / "list_attr_celeba.txt").is_file() for base in (root / "celeba", root)):
        import torchvision

        try:
            torchvision.datasets.CelebA(str(root), split="all", target_type="attr", download=True)
        except Exception as e:  # gdown missing, quota exceeded, no network, ...
            raise DataError(f"could not download CelebA into {root} ({e}); check the network, "
                            f"or put the files there yourself: {LAYOUT}") from e
    base = celeba_folder(root)
    image_dir = base / "img_align_celeba"
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: folder not found; {LAYOUT}")
    attr_path, part_path = base / "list_attr_celeba.txt", base / "list_eval_partition.txt"
    if not part_path.is_file():
        raise DataError(f"{part_path}: file not found; {LAYOUT}")
    names, files, attributes = read_attributes(attr_path, {p.name for p in image_dir.iterdir()})
    partition = read_partition(part_path, files, attr_path)
    y = torch.from_numpy(attributes).float()
    splits = []
    for p in (0, 1, 2):
        idx = np.flatnonzero(partition == p)
        splits.append(CelebAImages([image_dir / files[i] for i in idx], y[idx], size=size, cache=cache))
    meta = {"image_folder": str(image_dir),
            "crop": "140x140 centre crop of 178x218 images, else a centre square",
            "split": "official partition: " + " / ".join(str(len(s)) for s in splits)}
    return DatasetSplits("celeba", *splits, (3, size, size), "attributes", names, (-1.0, 1.0), meta=meta)


register(DatasetInfo(
    "celeba", load_celeba,
    "CelebA faces from a local torchvision folder (root/celeba): 64x64 colour in [-1, 1], 40 attributes, "
    "official 162,770/19,867/19,962 partition; conv networks, tanh decoder (Section 5.2)",
    needs_root=True, arch="conv", out_act="tanh"))
