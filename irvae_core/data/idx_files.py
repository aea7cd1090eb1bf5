"""MNIST-style idx files in torchvision's layout (``<root>/MNIST/raw/train-images-idx3-ubyte``).

Files are read with torchvision's idx reader; a ``.gz`` alone is unpacked beside itself first
(as torchvision's own download does). Any problem becomes a :class:`DataError` naming the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import torch

from irvae_core.data.registry import DataError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
_READ_ERRORS = (AssertionError, RuntimeError, ValueError, TypeError, KeyError, IndexError)


def idx_path(raw: Path, name: str) -> Path:
    """The unpacked file ``raw/name``; a lone ``raw/name.gz`` is unpacked there first."""
    path, gz = raw / name, raw / f"{name}.gz"
    if path.is_file():
        return path
    if not gz.is_file():
        raise DataError(f"{path}: file not found; expected {name} (or {name}.gz) in {raw}")
    from torchvision.datasets.utils import extract_archive  # torchvision on use: its import costs ~2 s

    try:
        extract_archive(str(gz), str(raw))
    except (OSError, EOFError, RuntimeError) as e:
        path.unlink(missing_ok=True)
        raise DataError(f"{gz}: expected a complete gzip file holding {name}, "
                        f"could not unpack it ({e})") from e
    return path


def _header_problem(path: Path, magic: int, what: str) -> str:
    """Say what is wrong with an idx file torchvision could not read."""
    data = path.read_bytes()
    dims = 3 if magic == IMAGE_MAGIC else 1
    header = 4 * (dims + 1)
    if len(data) < header:
        return f"{path}: expected an idx file of {what}, got only {len(data)} bytes (no complete header)"
    found, *shape = struct.unpack(f">{dims + 1}I", data[:header])
    if found != magic:
        return f"{path}: expected an idx file of {what} (magic number {magic}), got magic number {found}"
    need = header + int(torch.tensor(shape).prod())
    count = f"{shape[0]} images {shape[1]}x{shape[2]}" if dims == 3 else f"{shape[0]} labels"
    return (f"{path}: expected an idx file of {count} ({need} bytes, as its header says), "
            f"got {len(data)} bytes")


def read_images(path: Path, size: tuple[int, int] = (28, 28)) -> torch.Tensor:
    """uint8 images (N, H, W) from an idx3 file; a truncated or corrupt file raises DataError."""
    from torchvision.datasets.mnist import read_image_file  # outside the try: its failure is no file's fault

    what = f"images {size[0]}x{size[1]}"
    try:
        images = read_image_file(str(path))
    except _READ_ERRORS as e:
        raise DataError(_header_problem(path, IMAGE_MAGIC, what)) from e
    if tuple(images.shape[1:]) != size:
        raise DataError(f"{path}: expected an idx file of {what}, got images "
                        f"{images.shape[1]}x{images.shape[2]}")
    return images


def read_labels(path: Path, n: int) -> torch.Tensor:
    """Labels (N,) long from an idx1 file, which must hold ``n`` of them (one an image)."""
    from torchvision.datasets.mnist import read_label_file

    try:
        labels = read_label_file(str(path))
    except _READ_ERRORS as e:
        raise DataError(_header_problem(path, LABEL_MAGIC, f"{n} labels")) from e
    if len(labels) != n:
        raise DataError(f"{path}: expected an idx file of {n} labels (one an image), got {len(labels)}")
    return labels
