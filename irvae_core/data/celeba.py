"""The ``celeba`` dataset: CelebA faces from a local folder in torchvision's layout (Section 5.2).

``root/celeba/img_align_celeba/*.jpg``, ``root/celeba/list_attr_celeba.txt`` and
``root/celeba/list_eval_partition.txt`` (the three may also sit directly under ``root``). The
official partition gives 162,770 / 19,867 / 19,962 images. Each image goes through the authors'
preprocessing (as the authors confirmed in the official repository): torchvision's ``Resize(64)`` (the
shorter side to 64) then ``CenterCrop(64)``, so the centre 178x178 square of an aligned 178x218
face (the centre square at any other size, e.g. the 89x109 half-resolution faces), then
``ToTensor`` and ``Normalize(0.5, 0.5)`` to [-1, 1]. Labels are the 40 attributes as float 0/1.
Images are read on demand (optionally cached in memory as uint8 after the crop).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from irvae_core.data.celeba_files import read_attributes, read_partition
from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, register

LAYOUT = ("expected CelebA in torchvision's layout: root/celeba/img_align_celeba/*.jpg, "
          "root/celeba/list_attr_celeba.txt and root/celeba/list_eval_partition.txt")


def centre_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The part of a width x height image that ``Resize(s)`` then ``CenterCrop(s)`` keep, in its pixels.

    The largest centre square: (0, 20, 178, 198) for CelebA's aligned 178x218 faces (to the
    rounding of the resized image's crop, under half a resized pixel).
    """
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def resize_crop(height: int, width: int | None = None):
    """The authors' geometric preprocessing of a PIL image: Resize (the shorter side) then CenterCrop
    (a torchvision ``Compose``; torchvision is imported here, not with the module: it costs ~2 s)."""
    from torchvision import transforms

    width = width or height
    return transforms.Compose([transforms.Resize(min(height, width)), transforms.CenterCrop((height, width))])


def crop_transform(size: int = 64):
    """PIL image -> uint8 (3, size, size): ``resize_crop`` then the pixels as a tensor."""
    from torchvision import transforms

    return transforms.Compose([resize_crop(size), transforms.PILToTensor()])


def to_unit_range():
    """ToTensor's scaling (uint8 / 255) then Normalize(0.5, 0.5): [0, 255] -> [-1, 1]."""
    from torchvision import transforms

    return transforms.Compose([transforms.ConvertImageDtype(torch.float32),
                               transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])


class CelebAImages(Dataset):
    """Face images read from files on demand: items are ((3, size, size) float32 in [-1, 1], attributes)."""

    def __init__(self, files: list[Path], attributes: torch.Tensor, size: int = 64, cache: bool = False):
        self.files, self.y, self.size = files, attributes, size
        self.crop, self.to_unit_range = crop_transform(size), to_unit_range()
        self._cache: dict[int, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.files)

    def _pixels(self, i: int) -> torch.Tensor:
        path = self.files[i]
        try:
            with Image.open(path) as im:
                return self.crop(im.convert("RGB"))
        except (OSError, UnidentifiedImageError) as e:
            raise DataError(f"{path}: expected a readable image file, could not open it ({e})") from e

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None:
            pixels = self._pixels(i)
        else:
            pixels = self._cache.get(i)
            if pixels is None:
                pixels = self._cache[i] = self._pixels(i)
        return self.to_unit_range(pixels), self.y[i]


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
            "crop": f"Resize({size}) then CenterCrop({size}): the centre square (178x178 of a 178x218 face)",
            "split": "official partition: " + " / ".join(str(len(s)) for s in splits)}
    return DatasetSplits("celeba", *splits, (3, size, size), "attributes", names, (-1.0, 1.0), meta=meta)


register(DatasetInfo(
    "celeba", load_celeba,
    "CelebA faces from a local torchvision folder (root/celeba): 64x64 colour in [-1, 1], 40 attributes, "
    "official 162,770/19,867/19,962 partition; conv networks, tanh decoder (Section 5.2)",
    needs_root=True, arch="conv", out_act="tanh"))
