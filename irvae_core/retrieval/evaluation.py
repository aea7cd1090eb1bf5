"""The retrieval protocol run end to end on a trained run (its cached embeddings) or on the ImageNet
ResNet-50 baseline: SAR and DAR P@K, with the paper's Table 1 row for the same method.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from irvae_core.data import load_dataset, load_run_data
from irvae_core.retrieval.embeddings import Progress, RetrievalError, resnet50_embeddings, run_embeddings
from irvae_core.retrieval.protocol import KS, retrieval_report
from irvae_core.store.runs import Run, open_run
from irvae_core.store.summaries import method_name


# --------------------------------------------------------------------------- a run or a baseline, end to end
def evaluate_retrieval(run: Run | str | Path | None = None, split: str = "test", metric: str = "cosine",
                       data_root: str | None = None, baseline: str | None = None, dataset: str | None = None,
                       ks: Sequence[int] = KS, progress: Progress | None = None) -> dict[str, Any]:
    """SAR and DAR P@K of a run's representation (or of ``baseline="resnet50"`` on ``dataset``), gallery =
    ``split``, queries = the training split; with the paper's Table 1 row for the same method."""
    if split not in ("test", "val"):
        raise RetrievalError(f"the gallery split must be 'test' or 'val' (queries come from 'train'); got {split!r}")
    if baseline is not None:
        if baseline != "resnet50":
            raise RetrievalError(f"unknown baseline {baseline!r}; the one baseline without a run is 'resnet50'")
        if dataset is None:
            raise RetrievalError("the resnet50 baseline needs a data set (and its folder for celeba)")
        data = load_dataset(dataset, data_root)
        ident = {"root": str(Path(data_root).expanduser().resolve()) if data_root else None}
        train, gallery = (resnet50_embeddings(data, s, progress, ident) for s in ("train", split))
        method, source = "ResNet-50 (ImageNet)", "resnet50"
    else:
        if run is None:
            raise RetrievalError("give a run folder, or --baseline resnet50 with --dataset")
        run = run if isinstance(run, Run) else open_run(run)
        data = load_run_data(run.config().data, data_root)
        train, gallery = (run_embeddings(run, s, data=data, data_root=data_root, progress=progress)
                          for s in ("train", split))
        method, source = method_name(run.raw_config()), str(run.path)
    report = retrieval_report(train, gallery, ks, metric, method)
    return {"run": source, "dataset": data.name, "split": split, **report}
