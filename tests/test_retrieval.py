"""Retrieval protocol (paper Section 5.2) on hand-made embeddings whose P@K is counted by hand."""

import itertools

import numpy as np
import pytest
import torch

from irvae_core.retrieval.protocol import (
    Embeddings,
    RetrievalError,
    attribute_pairs,
    double_attribute_retrieval,
    paper_row,
    query_by_attributes,
    query_by_codes,
    query_vectors,
    rank,
    rank_by_sorting,
    retrieve_sets,
    similarity,
    single_attribute_retrieval,
)

NAMES = ["A", "B", "C", "D"]
KS = (1, 2, 3, 4)


def fixture() -> tuple[Embeddings, Embeddings]:
    """Queries t0..t3 and gallery g0..g5 in the plane; D is in the gallery but in no training image.

    Summed unit vectors of the query sets: A = t0 + t1 -> (1, 1); B = t1 + t2 -> (-1, 1); C = t0 -> (1, 0).
    g0, g5 point the same way (1, 0) and g1 is at (0, 1): under A all three score exactly 1, a tie.
    """
    train = Embeddings(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.0, -3.0]]),
                       torch.tensor([[1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]), NAMES)
    gallery = Embeddings(torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-3.0, 0.0], [0.0, -1.0], [5.0, 0.0]]),
                         torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1],
                                       [0, 0, 1, 0]]), NAMES)
    return train, gallery


def test_single_attribute_retrieval_counted_by_hand():
    train, gallery = fixture()
    sar = single_attribute_retrieval(train, gallery, ks=KS)
    # A: scores g2 sqrt2 > g0 = g1 = g5 = 1 (ties by index) > g3 = g4 = -1 -> g2+ g0+ g1- g5-
    # B: g1 = g3 = 1 > g2 = 0 > g0 = g4 = g5 = -1 -> g1+ g3+ g2+ g0-
    # C: g0 = g5 = 1 > g2 > g1 = g4 = 0 > g3 -> g0+ g5+ g2- g1-
    expected = np.array([[1, 1, 2 / 3, 1 / 2], [1, 1, 1, 3 / 4], [1, 1, 2 / 3, 1 / 2]])
    assert sar.queries == ["A", "B", "C"] and sar.skipped == ["D"]
    assert sar.n_queries == [2, 2, 1] and sar.n_relevant == [2, 3, 2]
    np.testing.assert_allclose(sar.precision, expected)
    np.testing.assert_allclose(sar.mean, [1, 1, 7 / 9, 7 / 12])


def test_ties_are_broken_by_gallery_index():
    train, gallery = fixture()
    scores = similarity(gallery.z, query_vectors(train.z, train.attributes[:, :1]))[:, 0]
    assert scores[[0, 1, 5]].tolist() == [1.0, 1.0, 1.0]
    assert rank(scores[:, None], 6)[0].tolist() == [2, 0, 1, 5, 3, 4]
    # the same scores with the tied images' order reversed: the earlier index still comes first
    assert rank(scores.flip(0)[:, None], 6)[0].tolist() == [3, 0, 4, 5, 1, 2]


def test_the_fast_top_k_equals_a_stable_sort_of_every_column():
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 6, (300, 40), generator=g).double()  # many ties
    scores[:, 0] = 1.0  # a column of ties only
    for k in (1, 5, 20, 300, 500):
        assert torch.equal(rank(scores, k), rank_by_sorting(scores, k))
    real = torch.randn(1000, 7, generator=g, dtype=torch.float64)
    assert torch.equal(rank(real, 20), rank_by_sorting(real, 20))


def test_double_attribute_retrieval_counted_by_hand():
    train, gallery = fixture()
    dar = double_attribute_retrieval(train, gallery, ks=KS)
    # gallery shares: A&B 1/6, A&C 1/6 (kept); every other pair 0 (dropped)
    # A&B: query t1 -> (0, 1): g1 1 > g2 .71 > g0 = g3 = g5 = 0 > g4; only g2 has both
    # A&C: query t0 -> (1, 0): g0 = g5 = 1 > g2 > g1 = g4 = 0 > g3; only g0 has both
    assert dar.queries == ["A & B", "A & C"]
    np.testing.assert_allclose(dar.precision, [[0, 1 / 2, 1 / 3, 1 / 4], [1, 1 / 2, 1 / 3, 1 / 4]])
    np.testing.assert_allclose(dar.mean, [1 / 2, 1 / 2, 1 / 3, 1 / 4])


def test_double_attribute_pairs_lie_strictly_between_one_and_fifty_percent():
    a = torch.zeros(200, 6, dtype=torch.bool)
    a[:, 0] = True  # every image has attribute 0: pair (0, j) has attribute j's share
    a[:2, 1] = True  # 2 / 200 = 1%: dropped
    a[:3, 2] = True  # 1.5%: kept
    a[:100, 3] = True  # 50%: dropped
    a[:99, 4] = True  # 49.5%: kept
    # by hand: (0, 1) 1% no, (0, 2) 1.5%, (0, 3) 50% no, (0, 4) 49.5%, (1, j) 2 rows = 1% no,
    # (2, 3) and (2, 4) 3 rows = 1.5%, (3, 4) 99 rows = 49.5%; attribute 5 is in no image
    assert attribute_pairs(a) == [(0, 2), (0, 4), (2, 3), (2, 4), (3, 4)]
    shares = {(i, j): float((a[:, i] & a[:, j]).double().mean()) for i, j in itertools.combinations(range(6), 2)}
    assert all(0.01 < shares[p] < 0.5 for p in attribute_pairs(a))
    assert all(not 0.01 < s < 0.5 for p, s in shares.items() if p not in attribute_pairs(a))


def brute_force_precision(train: Embeddings, gallery: Embeddings, ks, metric: str) -> np.ndarray:
    """P@K from one score per (gallery image, query image) pair: the paper's definition, written plainly."""
    rows = []
    for a in range(len(train.names)):
        queries = train.z[train.attributes[:, a]].double()
        if metric == "cosine":  # summed cosine similarity to every query image
            scores = [sum(float(torch.dot(g.double(), q) / (g.double().norm() * q.norm())) for q in queries)
                      for g in gallery.z]
        else:  # summed squared distance to every query image (lower is better)
            scores = [-sum(float((g.double() - q).pow(2).sum()) for q in queries) for g in gallery.z]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        rel = gallery.attributes[:, a]
        rows.append([float(rel[order[:k]].double().mean()) for k in ks])
    return np.array(rows)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_chunked_matrix_products_equal_the_per_image_definition(metric):
    g = torch.Generator().manual_seed(0)
    train = Embeddings(torch.randn(57, 5, generator=g), torch.rand(57, 6, generator=g) < 0.4, list("abcdef"))
    gallery = Embeddings(torch.randn(41, 5, generator=g), torch.rand(41, 6, generator=g) < 0.4, list("abcdef"))
    ks = (1, 5, 10, 20)
    chunked = retrieve_sets(train.z, train.attributes, gallery.z, gallery.attributes, ks, metric, query_chunk=4)
    np.testing.assert_allclose(chunked.numpy(), brute_force_precision(train, gallery, ks, metric))
    q_small = query_vectors(train.z, train.attributes, metric, chunk=7)  # several chunks of training rows
    torch.testing.assert_close(q_small, query_vectors(train.z, train.attributes, metric), rtol=1e-6, atol=1e-6)


def test_one_query_for_the_page_marks_each_result():
    train, gallery = fixture()
    r = query_by_attributes(train, gallery, ["A", "B"], k=3)
    assert r.query_index.tolist() == [1]  # only t1 has A and B
    assert r.top.tolist() == [1, 2, 0]  # query (0, 1): g1 1, g2 .71, then the first of the zeros
    assert r.marks.tolist() == [[False, True], [True, True], [True, False]]
    assert r.precision == {1: 0.0, 3: 1 / 3}
    with pytest.raises(RetrievalError, match="no training image has D"):
        query_by_attributes(train, gallery, ["D"])
    with pytest.raises(RetrievalError, match="unknown attribute 'Smiling'"):
        query_by_attributes(train, gallery, ["Smiling"])
    by_codes = query_by_codes(torch.tensor([[0.0, 5.0]]), gallery, k=2, attributes=["B"])
    assert by_codes.top.tolist() == [1, 2] and by_codes.precision == {1: 1.0, 2: 1.0}


def test_euclidean_ranks_by_distance_to_the_query_mean():
    train, gallery = fixture()
    q = query_vectors(train.z, train.attributes[:, 1:2], "euclidean")  # B: t1, t2 -> mean (-0.5, 1)
    torch.testing.assert_close(q, torch.tensor([[-0.5, 1.0]], dtype=torch.float64))
    scores = similarity(gallery.z, q, "euclidean")[:, 0]
    torch.testing.assert_close(scores[1], -torch.tensor(0.5, dtype=torch.float64))


def test_paper_rows_are_table_1():
    assert paper_row("IRVAE+FM")["SAR"]["P@5"] == 79.0 and paper_row("VAE")["DAR"]["P@20"] == 34.7
    assert paper_row("BR")["SAR"]["P@1"] == 87.5 and paper_row("AE") is None
