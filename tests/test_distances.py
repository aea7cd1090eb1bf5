"""The distortion suite: analytic cases (an isometric linear decoder), brute-force references, scikit-learn."""

import math

import numpy as np
import pytest
import torch

from irvae_core.geometry.distances import (
    agreement_scores,
    density_kl,
    distance_suite,
    geodesic_agreement,
    kl_key,
    knn_recall,
    neighbourhood_scores,
    random_pairs,
    rank_errors,
)

D64 = torch.float64


def isometric_linear(m: int = 2, D: int = 5, scale: float = 3.0, seed: int = 0):
    """f(z) = scale * Q z with Q (D, m) orthonormal columns: G = scale^2 I everywhere."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(D, m, generator=g, dtype=D64))
    return (lambda z: scale * z @ q.T), q


def test_isometric_linear_decoder_scores_perfectly():
    f, _ = isometric_linear()
    z = torch.randn(60, 2, generator=torch.Generator().manual_seed(1), dtype=D64)
    agree = geodesic_agreement(f, z, random_pairs(60, 20), n_points=8)
    assert agree.spearman == pytest.approx(1.0) and agree.pearson == pytest.approx(1.0)
    assert agree.ratio_cv == pytest.approx(0.0, abs=1e-6) and agree.certified.all()
    assert agree.geodesic == pytest.approx(3.0 * agree.latent, rel=1e-6)  # length = scale * latent distance
    x = f(z)
    scores = neighbourhood_scores(x, z, k=5)
    assert scores == pytest.approx({"trustworthiness": 1.0, "continuity": 1.0, "knn_recall": 1.0})
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in density_kl(x, z).values())  # same up to scale
    assert np.allclose(rank_errors(x, z, 5), 0.0)


@pytest.mark.slow
def test_a_curved_decoder_lowers_the_geodesic_agreement():
    """On a decoder that stretches one region, geodesic length is not proportional to latent distance."""
    def f(z):
        r = z.norm(dim=1, keepdim=True)
        return torch.cat([z, 3 * torch.exp(-4 * r ** 2)], 1)  # a bump over the origin
    z = torch.randn(80, 2, generator=torch.Generator().manual_seed(2), dtype=D64)
    agree = geodesic_agreement(f, z, random_pairs(80, 30), n_points=8)
    assert agree.ratio_cv > 0.01 and agree.pearson < 0.999
    assert (agree.geodesic >= agree.latent * (1 - 1e-9)).all()  # the decoder never shrinks: f(z) contains z


def test_agreement_scores_against_direct_formulas():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([2.0, 1.0, 6.0, 9.0])
    spearman, pearson, cv = agreement_scores(a, b)
    assert spearman == pytest.approx(0.8)  # ranks (1,2,3,4) vs (2,1,3,4): 1 - 6*2 / (4*15)
    assert pearson == pytest.approx(np.corrcoef(a, b)[0, 1])
    r = b / a
    assert cv == pytest.approx(np.std(r, ddof=1) / np.mean(r))
    with pytest.raises(ValueError, match="at least 3 pairs"):
        agreement_scores(a[:2], b[:2])


def test_random_pairs_are_distinct_and_reproducible():
    p = random_pairs(5, 200, seed=3)
    assert (p[:, 0] != p[:, 1]).all() and p.min() >= 0 and p.max() < 5
    assert np.array_equal(p, random_pairs(5, 200, seed=3))
    with pytest.raises(ValueError, match="at least 2 points"):
        random_pairs(1, 3)


def brute_knn_recall(x, z, k_max):
    n, out = len(x), []
    for k in range(1, k_max + 1):
        per = []
        for i in range(n):
            dx = sorted((float(np.linalg.norm(x[i] - x[j])), j) for j in range(n) if j != i)
            dz = sorted((float(np.linalg.norm(z[i] - z[j])), j) for j in range(n) if j != i)
            per.append(len({j for _, j in dx[:k]} & {j for _, j in dz[:k]}) / k)
        out.append(np.mean(per))
    return float(np.mean(out))


def brute_kl(x, z, sigma):
    def dens(a):
        d = np.array([[np.linalg.norm(a[i] - a[j]) for j in range(len(a))] for i in range(len(a))])
        d = d / d.max()
        f = np.array([sum(math.exp(-d[i, j] ** 2 / sigma) for j in range(len(a))) for i in range(len(a))])
        return f / f.sum()
    p, q = dens(x), dens(z)
    return float(sum(pi * math.log(pi / qi) for pi, qi in zip(p, q)))


def test_hand_written_scores_equal_brute_force_references():
    from sklearn.manifold import trustworthiness  # here: its import (~1.4 s) would be every worker's at collection

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6))
    z = x[:, :2] + 0.3 * rng.normal(size=(30, 2))  # a lossy projection
    assert knn_recall(x, z, 4) == pytest.approx(brute_knn_recall(x, z, 4))
    for s, v in density_kl(x, z, (0.1, 1.0, 10.0)).items():
        assert v == pytest.approx(brute_kl(x, z, s)) and v > 0
    # each point's rank error averages to scikit-learn's trustworthiness
    assert 1 - rank_errors(x, z, 5).mean() == pytest.approx(trustworthiness(x, z, n_neighbors=5))
    scores = neighbourhood_scores(x, z, 5)
    assert scores["continuity"] == pytest.approx(trustworthiness(z, x, n_neighbors=5))
    assert 0 < scores["trustworthiness"] < 1 and 0 < scores["knn_recall"] < 1
    with pytest.raises(ValueError, match="k < n / 2"):
        neighbourhood_scores(x, z, 15)


def test_kl_reads_density_not_scale():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 2))
    assert density_kl(5.0 * z, z)[1.0] == pytest.approx(0.0, abs=1e-12)
    clumped = z.copy()
    clumped[:20] *= 0.1  # half the points crowd together
    assert density_kl(z, clumped)[0.1] > 1e-3
    with pytest.raises(ValueError, match="same place"):
        density_kl(np.zeros((4, 2)), z[:4])
    assert [kl_key(s) for s in (0.1, 1.0, 10.0)] == ["kl_0.1", "kl_1", "kl_10"]


def test_distance_suite_columns_and_subsets():
    f, _ = isometric_linear(D=4)
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(4), dtype=D64)
    x = f(z)
    out = distance_suite(f, x, z, pairs=12, points=30, k=5, n_points=6)
    assert out["suite_points"] == 30 and out["geo_pairs"] == 12 and out["k"] == 5
    assert out["geo_spearman"] == pytest.approx(1.0) and out["trustworthiness"] == pytest.approx(1.0)
    assert out["manifold"]["continuity"] == pytest.approx(1.0) and out["kl_10"] == pytest.approx(0.0, abs=1e-12)
    assert out == distance_suite(f, x, z, pairs=12, points=30, k=5, n_points=6)  # a fixed seed: same result
    dataset = [(row, 0) for row in x]  # a dataset of (x, label) pairs reads the same inputs
    assert distance_suite(f, dataset, z, pairs=12, points=30, k=5, n_points=6) == out
    with pytest.raises(ValueError, match="at least 4 test points"):
        distance_suite(f, x[:3], z[:3])


def test_a_suite_without_geodesic_pairs_says_so_and_measures_the_rest():
    f, _ = isometric_linear(D=4)
    z = torch.randn(40, 2, generator=torch.Generator().manual_seed(5), dtype=D64)
    out, detail = distance_suite(f, f(z), z, pairs=0, points=30, k=5, detail=True)
    assert out["geo_pairs"] == 0 and out["geo_spearman"] is None and out["geo_ratio_cv"] is None
    assert out["trustworthiness"] == pytest.approx(1.0) and "geodesics: none" in out["measured_on"]
    assert detail["latent"] == [] and len(detail["rank_error"]) == 30


def test_the_default_number_of_geodesic_pairs_follows_the_decoders_size():
    from irvae_core.train.evaluation import SUITE_PAIRS, SUITE_PAIRS_LARGE, suite_pairs_for

    assert suite_pairs_for(2 * 784) == SUITE_PAIRS == 64  # MNIST FC at m = 2
    assert suite_pairs_for(2 * 3 * 64 * 64) == SUITE_PAIRS_LARGE == 8  # the shipped faces' conv decoder
    assert suite_pairs_for(64 * 3 * 64 * 64) == 0  # CelebA at the paper's m = 64: asked for with --pairs
