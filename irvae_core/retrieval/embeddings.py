"""Embeddings of a data split for retrieval, cached on disk (paper Section 5.2).

A run's representation is ``model.encode``: the mean code of a VAE, the code after the
flattening map i(g(x)) for a flattened run, the normalised attribute scores of a supervised
binary-relevance run. The baseline ``resnet50`` is torchvision's ImageNet ResNet-50 (its
2048-d pooled features), used only when its weights already sit in the local torch cache:
nothing is ever downloaded.

Cache: one file per (representation, split), named by a key over the checkpoint's bytes, the
data set's identity and the split, so a changed checkpoint or data folder is never served old
codes. ``cache_dir`` is the one place that decides where the files go.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from irvae_core.data import DatasetSplits, load_run_data
from irvae_core.store.checkpoints import checkpoint_path, load_model
from irvae_core.store.files import CheckpointError, load_tensors, save_tensors
from irvae_core.store.runs import Run, default_runs_dir
from irvae_core.train.loop import iterate_batches

SPLITS = ("train", "val", "test")
ATTRIBUTE_DATASETS = ("celeba", "synthetic-faces")  # data sets with attribute labels to retrieve by
CACHE_VERSION = 1
Progress = Callable[[int, int], None]  # (images done, images in the split)
RESNET50_FILES = ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth")  # torchvision's IMAGENET1K_V1, V2
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class RetrievalError(ValueError):
    """Retrieval cannot run on these inputs; the message says why in one sentence."""


@dataclass
class Embeddings:
    """One split seen through a representation: codes (N, d) and binary attributes (N, A)."""

    z: torch.Tensor
    attributes: torch.Tensor  # bool
    names: list[str]

    def __post_init__(self) -> None:
        self.z = torch.as_tensor(self.z).float()
        self.attributes = torch.as_tensor(self.attributes) > 0
        if self.z.ndim != 2 or self.attributes.ndim != 2 or len(self.z) != len(self.attributes):
            raise RetrievalError(f"expected codes (N, d) and attributes (N, A) of the same N; got "
                                 f"{tuple(self.z.shape)} and {tuple(self.attributes.shape)}")
        if self.attributes.shape[1] != len(self.names):
            raise RetrievalError(f"{self.attributes.shape[1]} attribute columns but {len(self.names)} names")

    def __len__(self) -> int:
        return len(self.z)



# A shipped example's embeddings travel with it in RUN/cache (``ship_embeddings``), read before ``cache_dir``: the
# Face retrieval page then opens on an example without encoding (or drawing) its 3,000 faces.
SHIPPED_CACHE = "cache"


def cache_root() -> Path:
    """Shared cache folder: $IRVAE_CACHE, else ``.cache`` under the runs folder."""
    env = os.environ.get("IRVAE_CACHE")
    return Path(env).expanduser() if env else default_runs_dir() / ".cache"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def cache_dir(run: Run) -> Path:
    """Where a run's embeddings are cached: ``RUN/cache``, or, when the run folder is read-only
    (e.g. a shipped example run), a folder named after the run under ``cache_root()``."""
    own = run.path / "cache"
    if not run.is_example and _writable(own):
        return own
    where = hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:10]
    return cache_root() / f"{run.name}-{where}"


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (the cache key of a checkpoint or a weights file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str).encode()).hexdigest()[:20]


def _read_cache(path: Path) -> Embeddings | None:
    if not path.is_file():
        return None
    try:
        state = load_tensors(path, what="embedding cache")
        return Embeddings(state["z"], state["attributes"], list(state["names"]))
    except (CheckpointError, KeyError, TypeError, ValueError):  # a torn or foreign cache file is recomputed
        return None


def _write_cache(path: Path, emb: Embeddings) -> None:
    try:
        save_tensors(path, {"z": emb.z, "attributes": emb.attributes, "names": emb.names})
    except OSError:
        pass  # a cache that cannot be written only costs time


def _split(data: DatasetSplits, split: str):
    if split not in SPLITS:
        raise RetrievalError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if data.label_kind != "attributes":
        raise RetrievalError(f"{data.name} has class labels, not attributes: face retrieval needs an attribute "
                             "data set (celeba or synthetic-faces)")
    return getattr(data, split)


@torch.no_grad()
def encode_images(encode: Callable[[torch.Tensor], torch.Tensor], dataset, batch_size: int = 256,
                  progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes (N, d) and attributes (N, A) of every item of ``dataset`` under ``encode``."""
    zs, ys, done = [], [], 0
    for x, y in iterate_batches(dataset, batch_size, None):
        zs.append(encode(x).float().cpu())
        ys.append(torch.as_tensor(y))
        done += len(x)
        if progress is not None:
            progress(done, len(dataset))
    if not zs:
        raise RetrievalError("the split is empty: there is nothing to retrieve from")
    return torch.cat(zs), torch.cat(ys)


def _checkpoint(run: Run) -> Path:
    """The checkpoint ``load_model(run)`` reads (its digest keys the cache)."""
    path = checkpoint_path(run)
    if not path.is_file():
        raise RetrievalError(f"run {run.path} has no checkpoint (best.pt or last.pt): train it first")
    return path


def _cache_name(run: Run, split: str, n: int, data_root: str | None = None) -> str:
    """The cache file of a run's split of ``n`` items: keyed by the checkpoint's bytes and the data set's identity."""
    d = run.config().data
    root = str(Path(data_root or d.root).expanduser().resolve()) if (data_root or d.root) else None
    key = _key(file_digest(_checkpoint(run)), d.name, root, d.classes, d.options, split, n)
    return f"embeddings-{split}-{key}.pt"


def run_embeddings(run: Run, split: str = "test", data: DatasetSplits | None = None, data_root: str | None = None,
                   model: torch.nn.Module | None = None, progress: Progress | None = None) -> Embeddings:
    """``model.encode`` of every image of a split of the run's data set, from the cache when it holds them."""
    data = data or load_run_data(run.config().data, data_root)
    dataset = _split(data, split)
    name = _cache_name(run, split, len(dataset), data_root)
    path = cache_dir(run) / name
    for where in dict.fromkeys([run.path / SHIPPED_CACHE / name, path]):  # a shipped example's own first
        cached = _read_cache(where)
        if cached is not None:
            return cached
    model = model or load_model(run)
    z, y = encode_images(model.eval().encode, dataset, progress=progress)
    emb = Embeddings(z, y, list(data.label_names))
    _write_cache(path, emb)
    return emb


def ship_embeddings(run: Run, splits: tuple[str, ...] = ("train", "test")) -> list[Path]:
    """Write a run's embeddings of ``splits`` into RUN/cache, where ``run_embeddings`` looks first (an example
    made by ``./lab examples`` ships them); returns the files."""
    data = load_run_data(run.config().data)
    model = load_model(run)
    folder = run.path / SHIPPED_CACHE
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for split in splits:
        dataset = _split(data, split)
        z, y = encode_images(model.eval().encode, dataset)
        written.append(folder / _cache_name(run, split, len(dataset)))
        save_tensors(written[-1], {"z": z, "attributes": y, "names": list(data.label_names)})
    return written


# --------------------------------------------------------------------------- ImageNet ResNet-50
def resnet50_weights() -> Path:
    """The ImageNet ResNet-50 weights file in the local torch cache, or a RetrievalError saying where to put it."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for name in RESNET50_FILES:
        if (folder / name).is_file():
            return folder / name
    raise RetrievalError(f"the ImageNet ResNet-50 baseline needs torchvision's weights file {RESNET50_FILES[0]} in "
                         f"{folder} (nothing is downloaded here): copy it there from a machine that has it")


def resnet50_encoder(weights: Path | None = None, value_range: tuple[float, float] = (-1.0, 1.0)
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
    """x (B, C, H, W) in ``value_range`` -> 2048-d pooled ImageNet features (input mapped to [0, 1], then
    ImageNet-normalised; one channel is repeated three times)."""
    import torchvision

    path = weights or resnet50_weights()
    net = torchvision.models.resnet50(weights=None)
    try:
        net.load_state_dict(load_tensors(path, what="weights file"))
    except CheckpointError as e:
        raise RetrievalError(str(e)) from None
    except RuntimeError as e:
        raise RetrievalError(f"{path} does not hold ResNet-50 weights ({str(e).splitlines()[0]})") from e
    net.fc = torch.nn.Identity()
    net.eval()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def encode(x: torch.Tensor) -> torch.Tensor:
        lo, hi = value_range
        x = (x - lo) / (hi - lo)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return net((x - mean) / std)

    return encode


def resnet50_embeddings(data: DatasetSplits, split: str = "test", progress: Progress | None = None,
                        identity: dict | None = None) -> Embeddings:
    """ImageNet ResNet-50 features of a split, cached under ``cache_root()/resnet50`` by weights and data."""
    weights = resnet50_weights()
    dataset = _split(data, split)
    if len(data.x_shape) != 3:
        raise RetrievalError(f"{data.name} does not hold images: the ResNet-50 baseline embeds images only")
    key = _key(file_digest(weights), data.name, identity or data.meta, split, len(dataset))
    path = cache_root() / "resnet50" / f"embeddings-{split}-{key}.pt"
    cached = _read_cache(path)
    if cached is not None:
        return cached
    z, y = encode_images(resnet50_encoder(weights, data.value_range), dataset, batch_size=64, progress=progress)
    emb = Embeddings(z, y, list(data.label_names))
    _write_cache(path, emb)
    return emb
