"""What the Face retrieval page shows: the runs it offers, each run's model, data and embeddings, and one
query (by attributes or by uploaded photos) answered by one or two runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from irvae_core.data import DatasetSplits, load_run_data
from irvae_core.retrieval.embeddings import ATTRIBUTE_DATASETS, Embeddings, Progress, RetrievalError, run_embeddings
from irvae_core.retrieval.protocol import QueryResult, query_by_attributes, query_by_codes
from irvae_core.retrieval.uploads import image_from_bytes
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import RunError
from irvae_core.store.runs import Run
from irvae_core.store.summaries import is_finished, method_name
from irvae_core.views.latent import to_image

# --------------------------------------------------------------------------- the page's query, for one or two runs


@dataclass
class RetrievalSource:
    """What a run needs to answer queries: its model, its data, and its cached train / test embeddings."""

    run: Run
    model: torch.nn.Module
    data: DatasetSplits
    train: Embeddings
    test: Embeddings

    @property
    def label(self) -> str:
        return f"{method_name(self.run.raw_config())} · {self.run.name}"


@dataclass
class RunAnswer:
    """One run's answer to a query: the retrieval and the retrieved test images (H, W[, 3]) in [0, 1]."""

    label: str
    result: QueryResult
    images: list[np.ndarray]


@dataclass
class QueryView:
    """A query put to one or two runs: a preview of the query images, and each run's answer."""

    query_images: list[np.ndarray]
    query_count: int
    answers: list[RunAnswer]


def retrieval_runs(runs: Sequence[Run]) -> list[Run]:
    """The finished runs trained on a data set with attribute labels (those retrieval can query)."""
    keep = []
    for run in runs:
        try:
            name = run.raw_config().get("data", {}).get("name")
        except RunError:
            continue
        if name in ATTRIBUTE_DATASETS and is_finished(run):
            keep.append(run)
    return keep


def retrieval_source(run: Run, data_root: str | None = None, progress: Progress | None = None) -> RetrievalSource:
    """Load a run's model and data and embed its train and test splits (cached on disk)."""
    data = load_run_data(run.config().data, data_root)
    model = load_model(run)
    train, test = (run_embeddings(run, s, data=data, data_root=data_root, model=model, progress=progress)
                   for s in ("train", "test"))
    return RetrievalSource(run, model, data, train, test)


def split_images(data: DatasetSplits, split: str, indices: Sequence[int]) -> list[np.ndarray]:
    """Images of a split as displayable arrays in [0, 1]."""
    ds = getattr(data, split)
    return [to_image(torch.as_tensor(ds[int(i)][0]), data.value_range) for i in indices]


@torch.no_grad()
def encode_uploads(source: RetrievalSource, uploads: Sequence[tuple[str, bytes]]) -> torch.Tensor:
    """Uploaded (name, bytes) images preprocessed like the run's data and encoded; UploadError names a bad file."""
    x = torch.stack([image_from_bytes(b, source.data.x_shape, source.data.value_range, name=name)
                     for name, b in uploads])
    return source.model.encode(x).float()


def query_runs(sources: Sequence[RetrievalSource], attributes: Sequence[str] = (),
               uploads: Sequence[tuple[str, bytes]] = (), k: int = 10, preview: int = 8,
               metric: str = "cosine") -> QueryView:
    """Put one query to each run: the training images having ``attributes`` or, when given, ``uploads``
    (whose results are then marked for ``attributes``); the same query for every run."""
    if not sources:
        raise RetrievalError("choose a run")
    if len({s.data.name for s in sources}) > 1:
        raise RetrievalError("the runs were trained on different data sets: compare runs of one data set")
    if not uploads and not attributes:
        raise RetrievalError("choose one or two attributes, or upload photos")
    first = sources[0]
    answers = []
    for s in sources:
        if uploads:
            result = query_by_codes(encode_uploads(s, uploads), s.test, k, metric, attributes)
        else:
            result = query_by_attributes(s.train, s.test, attributes, k, metric)
        answers.append(RunAnswer(s.label, result, split_images(s.data, "test", result.top)))
    if uploads:
        shown = [to_image(image_from_bytes(b, first.data.x_shape, first.data.value_range, name=n),
                          first.data.value_range) for n, b in uploads[:preview]]
        return QueryView(shown, len(uploads), answers)
    index = answers[0].result.query_index
    pick = np.random.default_rng(0).choice(index, size=min(preview, len(index)), replace=False)
    return QueryView(split_images(first.data, "train", np.sort(pick)), len(index), answers)
