"""Datasets by name, each with train / validation / test splits and labels.

``load_dataset(name, root)`` is the one entry point (``load_run_data(cfg.data)``: a run's dataset).
Labels (classes or attribute vectors) are used only for plots and evaluation, never for training.
Every problem with files on disk raises :class:`DataError`, whose message names the file and what was expected.
"""

from __future__ import annotations

from irvae_core.data.registry import (
    DATASETS,
    DataError,
    DatasetInfo,
    DatasetSplits,
    TensorSplit,
    list_datasets,
    load_dataset,
    load_run_data,
    register,
)

# importing the loader modules fills the registry
from irvae_core.data import embedded  # noqa: E402,F401  isort: skip
from irvae_core.data import celeba, cmu, synthetic_faces, synthetic_mocap, torchvision_sets  # noqa: E402,F401  isort: skip

__all__ = ["DATASETS", "DataError", "DatasetInfo", "DatasetSplits", "TensorSplit",
           "list_datasets", "load_dataset", "load_run_data", "register"]
