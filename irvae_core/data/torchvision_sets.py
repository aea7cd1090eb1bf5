"""MNIST, Fashion-MNIST, SVHN and CIFAR-10 from a local folder in torchvision's published layout.

Layouts (what ``torchvision.datasets`` writes when it downloads):

- ``mnist``: ``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or the ``.gz`` files);
- ``fmnist``: the same under ``root/FashionMNIST/raw``;
- ``svhn``: ``root/train_32x32.mat`` and ``root/test_32x32.mat``;
- ``cifar10``: ``root/cifar-10-batches-py/data_batch_1..5`` and ``test_batch``.

Splits follow the paper (Appendix E.2): the official test set is the test split and a validation
split is cut from the official training set with the seed: MNIST / Fashion-MNIST 50k/10k/10k,
CIFAR-10 45k/5k/10k, SVHN 63,257/10,000/26,032 (10k validation, the rest of the 73,257 for
training). With a class subset or a smaller set the validation share stays the same (1/6,
1/10, 10,000/73,257 of the training set). Images are float32 in [0, 1], shape (C, H, W).
Nothing is downloaded unless ``download=True``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from irvae_core.data.byte_images import ByteImageSplit, byte_splits
from irvae_core.data.idx_files import idx_path, read_images, read_labels
from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, register, select_classes

DIGITS = [str(i) for i in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _download(make, root: Path, what: str) -> None:
    """Let torchvision fetch a dataset (``make(root, torchvision.datasets)``); any failure becomes one sentence.
    torchvision is imported here, not with the module: it costs ~2 s, and reading the files needs none of it."""
    import torchvision.datasets

    try:
        make(root, torchvision.datasets)
    except Exception as e:  # torchvision raises RuntimeError, URLError, OSError, ... by mirror
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not download {what} into {root} ({first}); check the network, "
                        "or put the files there in torchvision's layout") from e


def _splits(name: str, train_x, train_y, test_x, test_y, val_share: float, label_names, classes, seed,
            files: list[Path]) -> DatasetSplits:
    train_x, train_y = select_classes(train_x, train_y, classes, len(label_names))
    test_x, test_y = select_classes(test_x, test_y, classes, len(label_names))
    n_val = round(len(train_x) * val_share)
    train, val = byte_splits(train_x, train_y, [len(train_x) - n_val, n_val], seed)
    test = ByteImageSplit(test_x, test_y)
    meta = {"files": [str(f) for f in files],
            "split": f"validation: {n_val} of the {len(train_x)} training images (seed {seed}); "
                     f"test: the official {len(test_x)}"}
    return DatasetSplits(name, train, val, test, tuple(train_x.shape[1:]), "class", label_names, meta=meta)


def _load_idx_set(name: str, folder: str, label_names, root, classes, download, seed) -> DatasetSplits:
    """An idx set in root/folder/raw (``folder``: its torchvision class's name, which downloads it)."""
    root = Path(root)
    raw = root / folder / "raw"
    names = [f"{part}-{kind}-ubyte" for part in ("train", "t10k") for kind in ("images-idx3", "labels-idx1")]
    if download and not all((raw / n).is_file() or (raw / f"{n}.gz").is_file() for n in names):
        _download(lambda r, sets: getattr(sets, folder)(str(r), train=True, download=True), root, folder)
    files, arrays = [], []
    for part in ("train", "t10k"):
        images_file = idx_path(raw, f"{part}-images-idx3-ubyte")
        labels_file = idx_path(raw, f"{part}-labels-idx1-ubyte")
        images = read_images(images_file)
        arrays += [images.unsqueeze(1), read_labels(labels_file, len(images))]
        files += [images_file, labels_file]
    return _splits(name, *arrays, 10_000 / 60_000, label_names, classes, seed, files)


def load_mnist(root=None, classes=None, download=False, seed=0, **_) -> DatasetSplits:
    """MNIST (root/MNIST/raw), 28x28 grey digits in [0, 1]; 50k/10k/10k."""
    return _load_idx_set("mnist", "MNIST", DIGITS, root, classes, download, seed)


def load_fmnist(root=None, classes=None, download=False, seed=0, **_) -> DatasetSplits:
    """Fashion-MNIST (root/FashionMNIST/raw), 28x28 grey in [0, 1]; 50k/10k/10k."""
    return _load_idx_set("fmnist", "FashionMNIST", FASHION, root, classes, download, seed)


def _cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected the CIFAR-10 python batches in {path.parent}")
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = torch.tensor(entry["labels"], dtype=torch.int64)
    except Exception as e:  # unpickling a bad file can raise nearly anything
        raise DataError(f"{path}: expected a CIFAR-10 python batch (a pickled dict with 'data', N x 3072 "
                        f"bytes, and 'labels'), could not read it ({type(e).__name__}: {e})") from e
    if len(data) != len(labels):
        raise DataError(f"{path}: expected one label an image, "
                        f"got {len(data)} images and {len(labels)} labels")
    return torch.from_numpy(data.copy()), labels


def load_cifar10(root=None, classes=None, download=False, seed=0, **_) -> DatasetSplits:
    """CIFAR-10 (root/cifar-10-batches-py), 32x32 colour in [0, 1]; 45k/5k/10k."""
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    files = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    if download and not all(f.is_file() for f in files):
        _download(lambda r, sets: sets.CIFAR10(str(r), train=True, download=True), root, "CIFAR-10")
    batches = [_cifar_batch(f) for f in files]
    train_x = torch.cat([b[0] for b in batches[:5]])
    train_y = torch.cat([b[1] for b in batches[:5]])
    return _splits("cifar10", train_x, train_y, *batches[5], 5_000 / 50_000, CIFAR10, classes, seed, files)


def _svhn_file(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    import scipy.io

    if not path.is_file():
        raise DataError(f"{path}: file not found; expected SVHN's {path.name} in {path.parent}")
    try:
        mat = scipy.io.loadmat(str(path))
        x = np.asarray(mat["X"], dtype=np.uint8)
        y = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    except Exception as e:  # scipy raises ValueError, KeyError, MatReadError, ... on bad files
        raise DataError(f"{path}: expected a MATLAB file with 'X' (32x32x3xN images) and 'y' (N labels), "
                        f"could not read it ({type(e).__name__}: {e})") from e
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise DataError(f"{path}: expected 'X' of shape 32x32x3xN with N = {len(y)} labels, got {x.shape}")
    y[y == 10] = 0  # SVHN stores the digit 0 as label 10
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1))), torch.from_numpy(y)


def load_svhn(root=None, classes=None, download=False, seed=0, **_) -> DatasetSplits:
    """SVHN (root/{train,test}_32x32.mat), 32x32 colour in [0, 1]; 10k validation cut from train."""
    root = Path(root)
    files = [root / "train_32x32.mat", root / "test_32x32.mat"]
    for split, f in zip(("train", "test"), files):
        if download and not f.is_file():
            _download(lambda r, sets, s=split: sets.SVHN(str(r), split=s, download=True),
                      root, "SVHN")
    (train_x, train_y), (test_x, test_y) = (_svhn_file(f) for f in files)
    return _splits("svhn", train_x, train_y, test_x, test_y, 10_000 / 73_257, DIGITS, classes, seed, files)


register(DatasetInfo(
    "mnist", load_mnist,
    "MNIST from a local torchvision folder (root/MNIST/raw): 28x28 digits in [0, 1], 50k/10k/10k; "
    "FC networks by default (the paper's MNIST experiment, Section 5.1.1)", needs_root=True, arch="fc"))
register(DatasetInfo(
    "fmnist", load_fmnist,
    "Fashion-MNIST from a local torchvision folder (root/FashionMNIST/raw): 28x28 in [0, 1], 50k/10k/10k; "
    "conv networks (Appendix E.2)", needs_root=True, arch="conv"))
register(DatasetInfo(
    "svhn", load_svhn,
    "SVHN from a local torchvision folder (root/train_32x32.mat, test_32x32.mat): 32x32 colour in [0, 1], "
    "63,257/10,000/26,032 (10k validation from train); conv networks (Appendix E.2)",
    needs_root=True, arch="conv"))
register(DatasetInfo(
    "cifar10", load_cifar10,
    "CIFAR-10 from a local torchvision folder (root/cifar-10-batches-py): 32x32 colour in [0, 1], "
    "45k/5k/10k; conv networks (Appendix E.2)", needs_root=True, arch="conv"))
