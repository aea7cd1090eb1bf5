"""The dataset registry and the types every loader returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset

from irvae_core.config import DataConfig
from irvae_core.errors import DataError


class TensorSplit(Dataset):
    """An in-memory split: inputs (N, *shape) float32 and labels (N,) long or (N, K) float."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


@dataclass
class DatasetSplits:
    """Train / validation / test splits of one dataset, with what is needed to show it."""

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    x_shape: tuple[int, ...]  # one example, e.g. (1, 28, 28) or (50,)
    label_kind: Literal["class", "attributes"]
    label_names: list[str]  # class names, or attribute names
    value_range: tuple[float, float] = (0.0, 1.0)
    synthetic: bool = False
    meta: dict = field(default_factory=dict)  # loader-specific extras (e.g. mocap skeleton)

    @property
    def is_image(self) -> bool:
        return len(self.x_shape) == 3


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to load it and what it is."""

    name: str
    loader: Callable[..., DatasetSplits]
    description: str
    needs_root: bool  # True: reads files from a folder; False: ships with a dependency or is generated
    synthetic: bool = False
    arch: str = "fc"  # default network family for this data: "fc" or "conv"
    out_act: str = "sigmoid"  # decoder output activation matching the value range


DATASETS: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    DATASETS[info.name] = info
    return info


def list_datasets() -> list[DatasetInfo]:
    return list(DATASETS.values())


def load_dataset(name: str, root: str | Path | None = None, *, classes: Sequence | None = None,
                 download: bool = False, seed: int = 0, **options) -> DatasetSplits:
    """Load dataset ``name`` from ``root`` (ignored by embedded and synthetic sets).

    ``classes`` keeps only those class labels (e.g. the digits 0 and 1); ``download`` lets a
    loader fetch missing files where the network allows; ``seed`` fixes any random split.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    info = DATASETS[name]
    if info.needs_root:
        if root is None:
            raise DataError(f"dataset {name!r} reads files from a folder: give its root (--data-root)")
        root = Path(root).expanduser()
        if not root.is_dir() and not download:
            raise DataError(f"data root {str(root)!r} for {name!r} does not exist or is not a folder")
    return info.loader(root=root, classes=classes, download=download, seed=seed, **options)


def load_run_data(data: DataConfig, root: str | Path | None = None) -> DatasetSplits:
    """The dataset a run's config names (``cfg.data``): its name, root, classes, download and loader
    options, as training loaded it; ``root`` replaces the recorded folder (data that moved since)."""
    return load_dataset(data.name, root or data.root, classes=data.classes, download=data.download, **data.options)


def select_classes(x: torch.Tensor, y: torch.Tensor, classes: Sequence | None,
                   n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the examples whose class index is in ``classes`` (labels are left unchanged)."""
    if classes is None:
        return x, y
    wanted = [int(c) for c in classes]
    bad = [c for c in wanted if not 0 <= c < n_classes]
    if bad:
        raise DataError(f"class subset {bad} is out of range: this dataset has classes 0..{n_classes - 1}")
    keep = torch.isin(y, torch.tensor(wanted, dtype=y.dtype))
    return x[keep], y[keep]


def random_split(x: torch.Tensor, y: torch.Tensor, sizes: Sequence[int], seed: int
                 ) -> list[TensorSplit]:
    """Shuffle with ``seed`` and cut into consecutive splits of the given sizes."""
    if sum(sizes) > len(x):
        raise DataError(f"asked for {sum(sizes)} examples in splits {list(sizes)}, only {len(x)} exist")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=g)
    out, start = [], 0
    for n in sizes:
        idx = order[start:start + n]
        out.append(TensorSplit(x[idx], y[idx]))
        start += n
    return out
