"""Do latent distances stand for distances on the data manifold? The distortion suite.

VoR and MCN measure the pullback metric point by point. These scores test the claim itself, on
held-out points, in the terms the follow-up literature uses:

- **geodesic agreement** (``geodesic_agreement``): for P pairs of codes, the latent Euclidean
  distance ||z_i - z_j|| against the decoded geodesic's certified length (``curves.geodesics``):
  Spearman and Pearson correlation, and the coefficient of variation of their ratio. A scaled
  isometry f (G = c I) has geodesic length sqrt(c) ||z_i - z_j|| for every pair whose straight
  segment stays on the chart: correlation 1 and CV 0.
- **neighbourhoods** (``neighbourhood_scores``): trustworthiness (Venna & Kaski; scikit-learn's
  ``trustworthiness``: are latent neighbours neighbours in the reference space?), continuity (the
  same with the spaces swapped: are reference neighbours kept?) and kNN recall (the share of each
  point's k nearest reference neighbours among its k nearest latent ones, averaged over points
  and over k = 1 .. k_max; Lim et al. 2024 report it).
- **density** (``density_kl``): KL_sigma (Moor et al. 2020, used by Nazari et al. 2023): with
  pairwise distances divided by their maximum, f_sigma(i) = sum_j exp(-d_ij^2 / sigma) normalised
  to a distribution over the points, KL(f^X || f^Z). Small sigma reads local density, large
  sigma global shape; 0 when the two spaces agree up to scale.

The reference space is named by the caller: the data itself (pixel space: its neighbours are
not always manifold neighbours) or the model's decoded points f(z) (the manifold the decoder
learned, where isometry is what IRVAE promises). ``evaluate`` reports both.

scipy's and scikit-learn's modules are imported where they are used: ~1.6 s at every start of the command line
(whose parser imports the evaluation) that a command without the suite never needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from irvae_core.geometry.curves import geodesics
from irvae_core.geometry.metric import Decoder

KL_SIGMAS = (0.1, 1.0, 10.0)
# The suite's geodesic search: a pair stops when 10 L-BFGS iterations shorten its curve by < 0.01 %, and at
# most 300 iterations per discretisation (geodesic()'s defaults are 1e-6 and 500). On 24 pairs of the shipped
# mnist5k VAE this is 1.3x faster than the defaults, and one curve ended 2.9 % longer than stochman's (none
# with the defaults); each length is still certified against its fine resampling (bench/distance_suite.py).
SUITE_GEODESIC_OPTIONS = {"rtol": 1e-4, "max_iter": 300}
NEIGHBOURS = 10  # k of trustworthiness and continuity, and k_max of kNN recall


def _flat(a) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return a.reshape(len(a), -1).astype(np.float64)


def random_pairs(n: int, pairs: int, seed: int = 0) -> np.ndarray:
    """(pairs, 2) indices into n points: distinct within each pair, drawn with a fixed seed."""
    if n < 2:
        raise ValueError(f"pairs need at least 2 points; got {n}")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n  # never i
    return np.stack([i, j], 1)


@dataclass
class Agreement:
    """Latent distances against geodesic lengths for a set of pairs."""

    pairs: np.ndarray  # (P, 2) indices of the pairs measured (those whose two codes differ)
    latent: np.ndarray  # (P,) ||z_i - z_j||
    geodesic: np.ndarray  # (P,) certified geodesic lengths in the decoder's output space
    certified: np.ndarray  # (P,) bool: the length met the tolerance
    spearman: float
    pearson: float
    ratio_cv: float  # std / mean of geodesic / latent (sample std)

    def as_dict(self) -> dict[str, float | int]:
        return {"geo_spearman": self.spearman, "geo_pearson": self.pearson, "geo_ratio_cv": self.ratio_cv,
                "geo_pairs": len(self.latent), "geo_certified": int(self.certified.sum())}


def agreement_scores(latent: np.ndarray, geodesic: np.ndarray) -> tuple[float, float, float]:
    """Spearman and Pearson correlation of two distance lists, and the CV of their ratio geodesic / latent."""
    latent, geodesic = np.asarray(latent, np.float64), np.asarray(geodesic, np.float64)
    if len(latent) < 3:
        raise ValueError(f"correlations need at least 3 pairs; got {len(latent)}")
    ratio = geodesic / latent
    constant = np.ptp(latent) == 0 or np.ptp(geodesic) == 0
    from scipy import stats  # on use (module docstring)

    spearman = float("nan") if constant else float(stats.spearmanr(latent, geodesic).statistic)
    pearson = float("nan") if constant else float(stats.pearsonr(latent, geodesic).statistic)
    return spearman, pearson, float(ratio.std(ddof=1) / ratio.mean())


def geodesic_agreement(decoder: Decoder, z: torch.Tensor, pairs: np.ndarray, n_points: int = 16,
                       **geodesic_options) -> Agreement:
    """Latent distance vs the certified geodesic length between z[i] and z[j] for each (i, j) in ``pairs``."""
    z = torch.as_tensor(z).detach()
    idx = torch.as_tensor(np.asarray(pairs), dtype=torch.long).reshape(-1, 2)
    z0, z1 = z[idx[:, 0]], z[idx[:, 1]]
    apart = (z1 - z0).abs().amax(1) > 0  # two test points with one code (duplicates) have no ratio: left out
    z0, z1 = z0[apart], z1[apart]
    latent = (z1 - z0).double().norm(dim=1).cpu().numpy()
    found = geodesics(decoder, z0, z1, n_points, **geodesic_options)
    length = found.lengths.numpy()
    return Agreement(idx[apart].numpy(), latent, length, found.certified.numpy(), *agreement_scores(latent, length))


def distance_cv(distances: Sequence) -> np.ndarray:
    """Per pair, the coefficient of variation across models of its distance, each model's distances first divided
    by their mean (a model that scales its space stretches every distance alike): (R, P) -> (P,), 0 where every
    model gives the same distances up to scale (Syrota et al. 2024 report its mean)."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or len(d) < 2:
        raise ValueError(f"the spread across models needs distances of at least 2 models; got shape {d.shape}")
    scale = d.mean(1, keepdims=True)
    if not (scale > 0).all():
        raise ValueError("a model put every pair at distance 0: its distances cannot be normalised")
    d = d / scale
    return d.std(0, ddof=1) / d.mean(0)


def _neighbours(d: np.ndarray, k: int) -> np.ndarray:
    """(n, k) indices of each point's k nearest others in a distance matrix (ties by index)."""
    d = d.copy()
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def knn_recall(reference, latent, k_max: int = NEIGHBOURS) -> float:
    """Share of each point's k nearest reference neighbours among its k nearest latent ones, mean over points
    and over k = 1 .. k_max."""
    x, z = _flat(reference), _flat(latent)
    _check_k(len(x), k_max)
    from scipy.spatial.distance import cdist  # on use (module docstring)

    nx, nz = _neighbours(cdist(x, x), k_max), _neighbours(cdist(z, z), k_max)
    recalls = []
    for k in range(1, k_max + 1):
        hits = [len(np.intersect1d(a[:k], b[:k], assume_unique=True)) for a, b in zip(nx, nz)]
        recalls.append(np.mean(hits) / k)
    return float(np.mean(recalls))


def _check_k(n: int, k: int) -> None:
    if not 1 <= k < n / 2:
        raise ValueError(f"neighbourhood scores need k < n / 2: k = {k}, n = {n}")


def rank_errors(reference, latent, k: int = NEIGHBOURS) -> np.ndarray:
    """Each point's share of the trustworthiness penalty, (n,) in [0, 1]: mean(rank_errors) = 1 - trustworthiness.

    For point i, the latent neighbours j that are not among its k reference neighbours are
    penalised by how far down the reference ranking they are, sum_j (r_ij - k), normalised as
    scikit-learn's ``trustworthiness`` normalises its sum (so 0: its latent neighbourhood is a
    reference neighbourhood; 1: the worst possible).
    """
    x, z = _flat(reference), _flat(latent)
    n = len(x)
    _check_k(n, k)
    from scipy.spatial.distance import cdist

    dx = cdist(x, x)
    np.fill_diagonal(dx, np.inf)
    order = np.argsort(dx, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(1, n + 1)[None]  # rank 1 = nearest
    nz = _neighbours(cdist(z, z), k)
    penalty = np.maximum(ranks[np.arange(n)[:, None], nz] - k, 0).sum(1)
    return penalty * 2.0 / (k * (2 * n - 3 * k - 1))


def neighbourhood_scores(reference, latent, k: int = NEIGHBOURS) -> dict[str, float]:
    """Trustworthiness, continuity (scikit-learn, Euclidean, k neighbours) and kNN recall (k = 1 .. k)."""
    from sklearn.manifold import trustworthiness  # on use (module docstring)

    x, z = _flat(reference), _flat(latent)
    _check_k(len(x), k)
    return {"trustworthiness": float(trustworthiness(x, z, n_neighbors=k)),
            "continuity": float(trustworthiness(z, x, n_neighbors=k)),
            "knn_recall": knn_recall(x, z, k)}


def _density(points: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.spatial.distance import pdist

    d = pdist(points)
    top = d.max() if len(d) else 0.0
    if top == 0:
        raise ValueError("every point is at the same place: there is no density to compare")
    full = np.zeros((len(points), len(points)))
    full[np.triu_indices(len(points), 1)] = (d / top) ** 2
    full = full + full.T
    f = np.exp(-full / sigma).sum(1)  # the point itself included (exp 0 = 1), as the definition sums over all y
    return f / f.sum()


def density_kl(reference, latent, sigmas: Sequence[float] = KL_SIGMAS) -> dict[float, float]:
    """KL_sigma(reference || latent) for each sigma (module docstring)."""
    x, z = _flat(reference), _flat(latent)
    out = {}
    for s in sigmas:
        p, q = _density(x, s), _density(z, s)
        out[float(s)] = float(np.sum(p * np.log(p / q)))
    return out


def kl_key(sigma: float) -> str:
    """The evaluation column of KL_sigma: kl_0.1, kl_1, kl_10."""
    return f"kl_{sigma:g}"


def _take(x, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of an array / tensor, or inputs of a dataset of (x, label) pairs, flattened to (len(idx), d)."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return _flat(x[torch.as_tensor(idx)] if isinstance(x, torch.Tensor) else x[idx])
    return _flat(torch.stack([torch.as_tensor(x[int(i)][0]) for i in idx]))


def distance_suite(decoder: Decoder, x, z: torch.Tensor, *, pairs: int = 64, points: int = 1000,
                   k: int = NEIGHBOURS, seed: int = 0, n_points: int = 16,
                   geodesic_options: dict | None = None, detail: bool = False) -> dict | tuple[dict, dict]:
    """The whole suite on test inputs ``x`` (an array, or a dataset of (x, label)) and their codes z (n, m).

    Geodesic agreement on ``pairs`` random pairs of all n codes; neighbourhoods and KL on a fixed
    subset of ``points`` points, against the inputs (pixel space) and, under ``manifold``, against
    their decodings f(z). Fixed seed: a rerun gives the same numbers. Returns the columns and what
    they were measured on; with ``detail``, also a dict of the per-pair values (``pairs``, ``latent``,
    ``geodesic``, ``certified``) and per-point ones (``subset``, its ``codes`` and ``rank_error``
    against the inputs and ``rank_error_manifold`` against the decodings), as lists.
    """
    z = torch.as_tensor(z).detach()
    n = len(z)
    if n < 4:
        raise ValueError(f"the distance suite needs at least 4 test points; got {n}")
    options = SUITE_GEODESIC_OPTIONS if geodesic_options is None else geodesic_options
    if pairs > 0:
        agreement = geodesic_agreement(decoder, z, random_pairs(n, pairs, seed), n_points, **options)
    else:  # geodesics not asked for (a costly decoder): the columns say so, the rest is measured
        none = np.zeros(0)
        agreement = Agreement(np.zeros((0, 2), dtype=np.int64), none, none, none.astype(bool), math.nan, math.nan,
                              math.nan)
    g = np.random.default_rng(seed)
    subset = np.sort(g.choice(n, size=min(points, n), replace=False))
    with torch.no_grad():
        zs_t = z[torch.as_tensor(subset)]
        fs = np.concatenate([_flat(decoder(part)) for part in zs_t.split(1000)])
    xs, zs = _take(x, subset), _flat(zs_t)
    k = min(k, math.ceil(len(subset) / 2) - 1)
    out: dict = {**agreement.as_dict(), "suite_points": len(subset), "k": k, "seed": seed}
    if pairs <= 0:
        out.update(geo_spearman=None, geo_pearson=None, geo_ratio_cv=None)
    def scores(ref: np.ndarray) -> dict[str, float]:
        return {**neighbourhood_scores(ref, zs, k), **{kl_key(s): v for s, v in density_kl(ref, zs).items()}}

    out.update(scores(xs))
    out["manifold"] = scores(fs)
    geo = (f"geodesics: {len(agreement.latent)} random pairs of the {n} test codes ({n_points} points to start, "
           f"a curve stops when it shortens by < {options.get('rtol', 1e-6):g} relative per 10 iterations; lengths "
           "certified)" if pairs > 0 else "geodesics: none (not asked for)")
    out["measured_on"] = (f"{geo}; neighbourhoods (k = {k}) and KL: "
                          f"{len(subset)} test points, against the inputs (pixel space) and, under 'manifold', "
                          f"against their decodings f(z); seed {seed}")
    if not detail:
        return out
    more = {"pairs": agreement.pairs.tolist(), "latent": agreement.latent.tolist(),
            "geodesic": agreement.geodesic.tolist(), "certified": agreement.certified.tolist(),
            "subset": subset.tolist(), "codes": zs.tolist(), "k": k,
            "rank_error": rank_errors(xs, zs, k).tolist(), "rank_error_manifold": rank_errors(fs, zs, k).tolist()}
    return out, more
