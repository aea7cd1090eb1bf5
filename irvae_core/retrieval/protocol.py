"""Face retrieval by example and its precision at K (paper Section 5.2, Table 1, Appendix F).

Protocol. The queries for an attribute (single-attribute retrieval, SAR) or a pair of
attributes (double-attribute retrieval, DAR) are ALL training images having it (both); every
image of the gallery split (the test split) is scored against that query set and the top K
are retrieved; P@K is the share of those K that have the attribute(s). SAR covers every
attribute of the data set; DAR the pairs whose share of gallery images lies strictly between
1% and 50% (``paper.DAR_PAIRS_KEPT`` of ``paper.DAR_PAIRS_POSSIBLE`` pairs on CelebA's test split in the
paper). Ties in the score are broken by gallery index (a stable sort: the earlier image ranks first).

Similarity of a gallery embedding z to a query set {q_i}:

- ``cosine`` (the paper's): the summed cosine similarity, sum_i <z/|z|, q_i/|q_i|>, which is
  <z/|z|, s> with s = sum_i q_i/|q_i|: one matrix product per query set, however many images
  it holds (``query_vectors`` builds every s at once, in chunks of training rows).
- ``euclidean``: minus the distance to the query set's mean, -|z - mean_i q_i|. It ranks the
  gallery exactly as the summed squared distance sum_i |z - q_i|^2 does (that sum is
  n |z - mean|^2 plus a constant), so it is again one vector per query set. The paper uses
  the Euclidean metric for its ImageNet ResNet-50 baseline only.

The query vectors are summed in float32 within a chunk of training rows and in float64 across
chunks; scores are float64. Memory stays bounded by chunking both the training rows (building
s) and the query sets (scoring the gallery and finding its top K).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from irvae_core.paper import KS, TABLE1
from irvae_core.retrieval.embeddings import Embeddings, RetrievalError

METRICS = ("cosine", "euclidean")


DAR_SHARE = (0.01, 0.50)  # a pair is kept when low < share of gallery images having both < high


TRAIN_CHUNK = 16_384  # training rows per step while building the query vectors


QUERY_CHUNK = 64  # query sets scored and sorted together (a gallery x chunk score matrix)




# --------------------------------------------------------------------------- scoring
def _unit(z: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length (a zero row stays zero: it is similar to nothing)."""
    z = z.double()
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-300)


def query_vectors(z_train: torch.Tensor, masks: torch.Tensor, metric: str = "cosine",
                  chunk: int = TRAIN_CHUNK) -> torch.Tensor:
    """One vector per query set (column of ``masks`` (N_train, Q)): (Q, d) float64.

    cosine: the sum of the query images' unit vectors; euclidean: the query images' mean.
    """
    if metric not in METRICS:
        raise RetrievalError(f"unknown similarity {metric!r}; choose one of {', '.join(METRICS)}")
    if len(z_train) != len(masks):
        raise RetrievalError(f"{len(z_train)} training codes but {len(masks)} rows of query membership")
    out = torch.zeros(masks.shape[1], z_train.shape[1], dtype=torch.float64)
    for start in range(0, len(z_train), chunk):  # float32 products within a chunk, float64 sums across chunks
        zc = z_train[start:start + chunk].float()
        zc = _unit(zc).float() if metric == "cosine" else zc
        out += (masks[start:start + chunk].float().T @ zc).double()
    if metric == "euclidean":
        out /= masks.sum(0).clamp_min(1).double()[:, None]
    return out


def similarity(z_gallery: torch.Tensor, queries: torch.Tensor, metric: str = "cosine") -> torch.Tensor:
    """Scores (N, Q) of every gallery code against every query vector (higher = more similar)."""
    if metric == "cosine":
        return _unit(z_gallery) @ queries.T
    return -torch.cdist(z_gallery.double(), queries)


def rank(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (Q, k) of the k highest scores of each column of (N, Q); ties: lower index first.

    Equal to the first k rows of a stable descending sort of each column (``rank_by_sorting``, the
    plain version a test compares with), but sorts only the candidates: the scores at or above each
    column's k-th largest value.
    """
    n, q = scores.shape
    k = min(k, n)
    kth = torch.topk(scores, k, dim=0).values[-1]
    col, row = (scores.T >= kth[:, None]).nonzero(as_tuple=True)  # by column, then by gallery index
    order = torch.sort(scores.T[col, row], descending=True, stable=True).indices
    order = order[torch.sort(col[order], stable=True).indices]  # regroup by column, keeping score, index order
    col, row = col[order], row[order]
    first = torch.searchsorted(col, torch.arange(q, device=col.device))
    return row[first[:, None] + torch.arange(k, device=col.device)]


def rank_by_sorting(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The plain definition of ``rank``: a stable descending sort of every column, first k rows."""
    order = torch.sort(scores, dim=0, descending=True, stable=True).indices
    return order[: min(k, scores.shape[0])].T.contiguous()


def precision_at_k(top: torch.Tensor, relevant: torch.Tensor, ks: Sequence[int] = KS) -> torch.Tensor:
    """P@K (Q, len(ks)): the share of the first K of each ranking ``top`` (Q, >=max K) that is relevant.

    ``relevant`` (N, Q) says which gallery image has the query's attribute(s). Where the gallery
    holds fewer than K images, K is the gallery size.
    """
    hits = torch.gather(relevant.T, 1, top).double()  # (Q, k_max): 1 where the i-th result is relevant
    return torch.stack([hits[:, :k].mean(1) for k in ks], 1)


def retrieve_sets(z_train: torch.Tensor, train_masks: torch.Tensor, z_gallery: torch.Tensor,
                  gallery_masks: torch.Tensor, ks: Sequence[int] = KS, metric: str = "cosine",
                  query_chunk: int = QUERY_CHUNK) -> torch.Tensor:
    """P@K (Q, len(ks)) of every query set; column q of the masks is query set q (train) and its relevance."""
    k_max = max(ks)
    queries = query_vectors(z_train, train_masks, metric)  # one pass over the training rows for every set
    gallery = _unit(z_gallery) if metric == "cosine" else z_gallery.double()
    rows = []
    for start in range(0, train_masks.shape[1], query_chunk):
        sl = slice(start, start + query_chunk)
        scores = gallery @ queries[sl].T if metric == "cosine" else -torch.cdist(gallery, queries[sl])
        rows.append(precision_at_k(rank(scores, k_max), gallery_masks[:, sl], ks))
    return torch.cat(rows) if rows else torch.zeros(0, len(ks), dtype=torch.float64)


# --------------------------------------------------------------------------- the protocol
@dataclass
class RetrievalTable:
    """P@K of SAR or DAR: one row per query (attribute or pair), and the average over them."""

    kind: str  # "SAR" or "DAR"
    ks: tuple[int, ...]
    queries: list[str]  # "Smiling" or "Smiling & Male"
    n_queries: list[int]  # training images in each query set
    n_relevant: list[int]  # gallery images having the attribute(s)
    precision: np.ndarray  # (len(queries), len(ks)) in [0, 1]
    skipped: list[str] = field(default_factory=list)  # query sets with no training image

    @property
    def mean(self) -> np.ndarray:
        """P@K averaged over the queries (nan when there are none)."""
        return self.precision.mean(0) if len(self.queries) else np.full(len(self.ks), np.nan)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ks": list(self.ks), "count": len(self.queries),
                "mean": {f"P@{k}": float(v) for k, v in zip(self.ks, self.mean)},
                "per_query": [{"query": q, "n_queries": nq, "n_relevant": nr,
                               **{f"P@{k}": float(v) for k, v in zip(self.ks, row)}}
                              for q, nq, nr, row in zip(self.queries, self.n_queries, self.n_relevant,
                                                        self.precision)],
                "skipped": self.skipped}


def _table(kind: str, labels: list[str], train_masks: torch.Tensor, gallery_masks: torch.Tensor,
           train: Embeddings, gallery: Embeddings, ks: Sequence[int], metric: str) -> RetrievalTable:
    n_q = train_masks.sum(0)
    keep = n_q > 0
    p = retrieve_sets(train.z, train_masks[:, keep], gallery.z, gallery_masks[:, keep], ks, metric)
    kept = keep.nonzero().flatten().tolist()
    return RetrievalTable(kind, tuple(ks), [labels[i] for i in kept], [int(n_q[i]) for i in kept],
                          [int(gallery_masks[:, i].sum()) for i in kept], p.numpy(),
                          [labels[i] for i in (~keep).nonzero().flatten().tolist()])


def _check(train: Embeddings, gallery: Embeddings) -> None:
    if train.names != gallery.names:
        raise RetrievalError("the training and gallery splits have different attribute names")
    if train.z.shape[1] != gallery.z.shape[1]:
        raise RetrievalError(f"training codes are {train.z.shape[1]}-d but gallery codes {gallery.z.shape[1]}-d")
    if len(gallery) == 0 or len(train) == 0:
        raise RetrievalError("retrieval needs a non-empty training split and gallery split")


def single_attribute_retrieval(train: Embeddings, gallery: Embeddings, ks: Sequence[int] = KS,
                               metric: str = "cosine") -> RetrievalTable:
    """SAR: every attribute; queries = the training images having it (paper Section 5.2)."""
    _check(train, gallery)
    return _table("SAR", list(train.names), train.attributes, gallery.attributes, train, gallery, ks, metric)


def attribute_pairs(attributes: torch.Tensor, share: tuple[float, float] = DAR_SHARE) -> list[tuple[int, int]]:
    """Pairs (i < j) whose share of rows having both lies strictly between ``share`` (1% and 50%)."""
    a = torch.as_tensor(attributes).double()
    frac = (a.T @ a) / max(len(a), 1)  # (A, A): share of rows with both i and j
    lo, hi = share
    return [(i, j) for i, j in itertools.combinations(range(a.shape[1]), 2) if lo < frac[i, j] < hi]


def double_attribute_retrieval(train: Embeddings, gallery: Embeddings, ks: Sequence[int] = KS,
                               metric: str = "cosine", share: tuple[float, float] = DAR_SHARE) -> RetrievalTable:
    """DAR: pairs whose share of gallery images lies strictly in (1%, 50%); queries = training images with both."""
    _check(train, gallery)
    pairs = attribute_pairs(gallery.attributes, share)
    if not pairs:
        return RetrievalTable("DAR", tuple(ks), [], [], [], np.zeros((0, len(ks))))
    i, j = torch.tensor(pairs).T
    labels = [f"{train.names[a]} & {train.names[b]}" for a, b in pairs]
    both = lambda e: e.attributes[:, i] & e.attributes[:, j]  # noqa: E731
    return _table("DAR", labels, both(train), both(gallery), train, gallery, ks, metric)


def retrieval_report(train: Embeddings, gallery: Embeddings, ks: Sequence[int] = KS, metric: str = "cosine",
                     method: str | None = None) -> dict[str, Any]:
    """SAR and DAR tables as a JSON-ready dict, with the paper's Table 1 row of ``method`` when it has one."""
    sar = single_attribute_retrieval(train, gallery, ks, metric)
    dar = double_attribute_retrieval(train, gallery, ks, metric)
    return {"method": method, "metric": metric, "n_train": len(train), "n_gallery": len(gallery),
            "attributes": len(train.names), "pairs_possible": math.comb(len(train.names), 2),
            "SAR": sar.to_dict(), "DAR": dar.to_dict(), "paper": paper_row(method)}


def paper_row(method: str | None) -> dict[str, dict[str, float]] | None:
    """The paper's Table 1 row for ``method`` (VAE, FMVAE, IRVAE, IRVAE+FM, ResNet-50, BR), in percent."""
    key = {"BR": "supervised BR", "RESNET50": "ResNet-50 (ImageNet)"}.get(str(method).upper(), method)
    row = TABLE1.get(str(key))
    if row is None:
        return None
    return {kind: {f"P@{k}": v for k, v in zip(KS, values)} for kind, values in row.items()}


# --------------------------------------------------------------------------- one query (the page)
@dataclass
class QueryResult:
    """One retrieval: the query images used, the top-K gallery images and how many are right."""

    query_index: np.ndarray  # training indices of the query images (all of them)
    top: np.ndarray  # (K,) gallery indices, best first
    scores: np.ndarray  # (K,) their scores
    marks: np.ndarray  # (K, len(attributes)) True where the result has that attribute
    attributes: list[str]
    precision: dict[int, float]  # P@K of this query for K in KS and K = the number of results shown

    @property
    def all_match(self) -> np.ndarray:
        return self.marks.all(1) if self.marks.size else np.zeros(len(self.top), dtype=bool)


def query_by_attributes(train: Embeddings, gallery: Embeddings, attributes: Sequence[str], k: int = 10,
                        metric: str = "cosine") -> QueryResult:
    """Retrieve with every training image having all ``attributes`` (one or two names) as the query."""
    if not 1 <= len(attributes) <= 2:
        raise RetrievalError("choose one or two attributes")
    unknown = [a for a in attributes if a not in train.names]
    if unknown:
        raise RetrievalError(f"unknown attribute {unknown[0]!r}; this data set has: {', '.join(train.names)}")
    cols = [train.names.index(a) for a in attributes]
    mask = train.attributes[:, cols].all(1)
    if not mask.any():
        raise RetrievalError(f"no training image has {' and '.join(attributes)}: there is nothing to query with")
    q = query_vectors(train.z, mask[:, None], metric)
    return _result(similarity(gallery.z, q, metric)[:, 0], gallery, cols, k, mask.nonzero().flatten().numpy())


def query_by_codes(codes: torch.Tensor, gallery: Embeddings, k: int = 10, metric: str = "cosine",
                   attributes: Sequence[str] = ()) -> QueryResult:
    """Retrieve with arbitrary query codes (e.g. uploaded images, encoded); marks for ``attributes``."""
    if len(codes) == 0:
        raise RetrievalError("no query images")
    q = query_vectors(torch.as_tensor(codes).float(), torch.ones(len(codes), 1, dtype=torch.bool), metric)
    cols = [gallery.names.index(a) for a in attributes]
    return _result(similarity(gallery.z, q, metric)[:, 0], gallery, cols, k, np.arange(len(codes)))


def _result(scores: torch.Tensor, gallery: Embeddings, cols: list[int], k: int, query_index: np.ndarray
            ) -> QueryResult:
    top = rank(scores[:, None], k)[0]
    marks = gallery.attributes[top][:, cols].numpy() if cols else np.zeros((len(top), 0), dtype=bool)
    match = marks.all(1) if cols else np.zeros(len(top), dtype=bool)
    shown = sorted({*KS, len(top)})
    precision = {kk: float(match[:kk].mean()) for kk in shown if kk <= len(top)} if cols else {}
    return QueryResult(query_index, top.numpy(), scores[top].numpy(), marks,
                       [gallery.names[c] for c in cols], precision)
