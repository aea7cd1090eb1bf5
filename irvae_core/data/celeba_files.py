"""CelebA's text files: ``list_attr_celeba.txt`` and ``list_eval_partition.txt``.

The attribute file is a count line, a line of attribute names, then one row an image: its file
name and one value a attribute, 1 or -1. The partition file gives each image 0 (train),
1 (validation) or 2 (test). Any mismatch raises :class:`DataError` naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irvae_core.data.registry import DataError


def _read(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from e


def read_attributes(path: Path, images: set[str] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(attribute names, image names, attributes (N, K) as 0/1 uint8) from ``list_attr_celeba.txt``.

    ``images``, when given, is the set of image files present: every row must name one of them.
    """
    lines = _read(path)
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line and a line of attribute names, "
                        f"got {len(lines)} lines")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{path}, line 1: expected the number of images, got {lines[0].strip()!r}") from None
    names = lines[1].split()
    k = len(names)
    files, values = [], []
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != k + 1:
            raise DataError(f"{path}, line {n}: expected an image name and {k} values of 1 or -1, "
                            f"got {len(parts) - 1} values")
        if not set(parts[1:]) <= {"1", "-1"}:
            raise DataError(f"{path}, line {n}: expected attribute values of 1 or -1, got {line.strip()!r}")
        if images is not None and parts[0] not in images:
            raise DataError(f"{path}, line {n}: image {parts[0]} is listed but not found in the image folder")
        files.append(parts[0])
        values.append([v == "1" for v in parts[1:]])
    if len(files) != count:
        raise DataError(f"{path}, line 1: says {count} images, but the file lists {len(files)}")
    return names, files, np.array(values, dtype=np.uint8).reshape(len(files), k)


def read_partition(path: Path, files: list[str], attr_path: Path) -> np.ndarray:
    """Partition (N,) in {0, 1, 2} for ``files`` (in that order) from ``list_eval_partition.txt``."""
    part: dict[str, int] = {}
    for n, line in enumerate(_read(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(f"{path}, line {n}: expected an image name and 0, 1 or 2, got {line.strip()!r}")
        part[parts[0]] = int(parts[1])
    missing = [f for f in files if f not in part]
    if missing:
        raise DataError(f"{path}: no partition for image {missing[0]} (listed in {attr_path})")
    return np.array([part[f] for f in files], dtype=np.int64)
