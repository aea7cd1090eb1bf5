"""Test-split evaluation: reconstruction MSE, VoR and MCN (paper Section 5.1) of a model or a run.

Geometry is measured twice and labelled: on the encoded test data (``latent: "encoded"``,
as Table 3 does; also under ``encoded``) and on P_Z, the mixup augmentation of the encoded test
data with eta = 0.2 (``augmented``: where Section 5.1 measures VoR and MCN, and what the
regularizer sees, Section 4.3). P_Z is sampled with a fixed seed at PZ_POINTS points (pairs of
test codes drawn with replacement; ``pz_points`` another size; a decoder of more than PZ_MAX_PER_POINT Jacobian
entries a point gets as many as the encoded test points), so a rerun gives the same numbers.

Under ``distances``, the distortion suite (``geometry.distances``): geodesic agreement on
SUITE_PAIRS random pairs of the test codes, neighbourhoods (trustworthiness, continuity, kNN
recall) and KL_sigma on SUITE_POINTS test points, against the inputs and against their
decodings; the headline columns are copied to the top level (``DISTANCE_COLUMNS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from irvae_core.data import DatasetSplits, load_dataset, load_run_data
from irvae_core.geometry.distances import distance_suite
from irvae_core.geometry.metric import condition_numbers, pullback_metric, variance_of_riemannian_metric
from irvae_core.geometry.regularizers import mixup
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import atomic_write_json
from irvae_core.store.runs import Run, open_run
from irvae_core.train.encoding import encode_split
from irvae_core.train.resolve import run_device

# Above LARGE_JACOBIAN Jacobian entries per point (m * D), geometry uses GEOMETRY_POINTS_LARGE points.
LARGE_JACOBIAN = 200_000
GEOMETRY_POINTS_LARGE = 2000


# Points drawn from P_Z below that size. Another seed moves MCN by 0.1-0.2% on the shipped IRVAEs
# (MNIST, mocap) and ~2% on the MNIST VAE, whose condition numbers are heavy-tailed between the
# clusters (5 seeds: 20,000 points 6%, 100,000 2.2%, 200,000 1.3%); VoR by < 0.3%. Only for decoders of
# at most PZ_MAX_PER_POINT Jacobian entries a point (m * D: MNIST FC at m = 2 has 1,568, mocap 100):
# a 64x64 conv decoder took 4 minutes for 100,000 points; larger ones get as many P_Z points as encoded ones.
PZ_POINTS = 100_000
PZ_MAX_PER_POINT = 4096

# The distortion suite's subsets (fixed seed): geodesics between SUITE_PAIRS random pairs of test codes,
# neighbourhood and density scores on SUITE_POINTS test points (their cost grows as its square).
SUITE_PAIRS = 64
SUITE_POINTS = 1000
# Geodesics cost a decoder pass per ~64 codes per L-BFGS evaluation: 0.1-0.5 s a pair for MNIST's FC decoder, ~9 s
# for the shipped faces' small conv decoder (64x64x3, m = 2). By default the suite takes SUITE_PAIRS pairs for a
# decoder of at most PZ_MAX_PER_POINT Jacobian entries a point (m * D), SUITE_PAIRS_LARGE up to
# LARGE_JACOBIAN, and none above (``--pairs N`` asks for them); the neighbourhood scores always.
SUITE_PAIRS_LARGE = 8


def suite_pairs_for(per_point: int) -> int:
    """The suite's default number of geodesic pairs for a decoder of ``per_point`` = m * D Jacobian entries a point."""
    if per_point <= PZ_MAX_PER_POINT:
        return SUITE_PAIRS
    return SUITE_PAIRS_LARGE if per_point <= LARGE_JACOBIAN else 0
ONE_D = "a 1-D latent space: every curve between two codes is the segment itself, so there is no geodesic to compare"
DISTANCES_FILE = "distances.json"  # the suite's pairs and points, for the Distances page
DISTANCE_COLUMNS = ("geo_spearman", "geo_pearson", "geo_ratio_cv", "trustworthiness", "continuity", "knn_recall",
                    "kl_0.1", "kl_1", "kl_10")


def geometry_summary(G: torch.Tensor) -> dict[str, Any]:
    """VoR, MCN and the condition numbers' mean and std over the points whose metric is regular.

    A point where the decoder's Jacobian is rank-deficient has a singular metric: its condition
    number and its affine-invariant distance are infinite, so one such point would make VoR and
    MCN infinite. Those points are counted in ``singular_points`` and left out of the statistics;
    all four are inf only when no point (or the mean metric) is regular.
    """
    cond = condition_numbers(G).double()
    regular = torch.isfinite(cond)
    inf = float("inf")
    summary: dict[str, Any] = {"vor": inf, "mcn": inf, "cond_mean": inf, "cond_std": inf,
                               "singular_points": int((~regular).sum())}
    if not regular.any():
        return summary
    cond = cond[regular]
    try:
        summary["vor"] = variance_of_riemannian_metric(G[regular])
    except ValueError:  # the mean metric of the regular points is itself singular (round-off)
        pass
    summary.update({"mcn": float(cond.mean()), "cond_mean": float(cond.mean()),
                    "cond_std": float(cond.std()) if len(cond) > 1 else 0.0})
    return summary


def sample_pz(z: torch.Tensor, n: int, eta: float = 0.2, seed: int = 0) -> torch.Tensor:
    """``n`` points of P_Z: mixup d z_i + (1 - d) z_j of codes drawn with replacement from ``z``,
    d ~ U[-eta, 1 + eta]; all of ``z`` in order when ``n`` is its length."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(z), (n,), generator=g) if n != len(z) else torch.arange(len(z))
    return mixup(z[idx], eta, generator=g)


def pz_summary(decode, z: torch.Tensor, n: int, device, seed: int = 0, chunk: int = 20_000) -> dict[str, Any]:
    """geometry_summary on ``n`` points of P_Z (metrics computed ``chunk`` points at a time)."""
    z_aug = sample_pz(z, n, seed=seed)
    G = torch.cat([pullback_metric(decode, part.to(device)).cpu() for part in z_aug.split(chunk)])
    return {**geometry_summary(G), "latent": "P_Z", "points": len(z_aug), "eta": 0.2, "seed": seed}


def evaluate_model(model, data: DatasetSplits, split: str = "test", max_points: int | None = None,
                   seed: int = 0, pz_points: int | None = None, distances: bool = False,
                   suite_pairs: int | None = None, suite_points: int | None = None,
                   detail: dict | None = None) -> dict[str, Any]:
    """MSE on the split, and VoR / MCN / cond mean & std on the encoded latents and on P_Z (``augmented``);
    with ``distances``, the distortion suite (module docstring).

    P_Z gets ``pz_points`` points (default PZ_POINTS) for a small Jacobian, else as many as the encoded
    points (PZ_MAX_PER_POINT). A ``detail`` dict receives the suite's per-pair and per-point values
    (``distances.json``)."""
    ds = {"train": data.train, "val": data.val, "test": data.test}[split]
    if len(ds) == 0:
        raise ValueError(f"the {split} split of {data.name} is empty")
    model = model.eval()
    device = next(model.parameters()).device
    z, _, mse = encode_split(model, ds, device=device)
    z_all = z
    g = torch.Generator().manual_seed(seed)
    d = data.x_shape
    per_point = z.shape[1] * int(torch.tensor(d).prod())
    limit = max_points or (GEOMETRY_POINTS_LARGE if per_point > LARGE_JACOBIAN else None)
    if limit is not None and len(z) > limit:
        z = z[torch.randperm(len(z), generator=g)[:limit]]
    n_pz = (pz_points or PZ_POINTS) if per_point <= PZ_MAX_PER_POINT else len(z)
    result = {"dataset": data.name, "split": split, "n": len(ds), "geometry_points": len(z), "mse": mse,
              "latent": "encoded"}
    result.update(geometry_summary(pullback_metric(model.decode, z.to(device)).cpu()))
    result["encoded"] = {k: result[k] for k in ("vor", "mcn", "cond_mean", "cond_std", "singular_points")}
    result["encoded"].update(latent="encoded", points=len(z))
    result["augmented"] = pz_summary(model.decode, z, n_pz, device, seed)
    if distances and (len(z_all) >= 4 or z_all.shape[1] < 2):
        suite, more = _suite(model, ds, z_all.to(device), d, suite_pairs, suite_points, seed)
        if detail is not None:
            detail.update(more)
        result.update(_with_suite(suite))
    return result


def _suite(model, ds, z: torch.Tensor, x_shape, pairs: int | None, points: int | None,
           seed: int, geodesic_options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The distortion suite of codes ``z`` of split ``ds`` (pairs by the decoder's size unless given) and its
    per-pair and per-point detail; a 1-D latent space is skipped, with the reason."""
    if z.shape[1] < 2:
        return {"skipped": ONE_D}, {}
    per_point = z.shape[1] * int(torch.tensor(x_shape).prod())
    return distance_suite(model.decode, ds, z, pairs=pairs if pairs is not None else suite_pairs_for(per_point),
                          points=points or SUITE_POINTS, seed=seed, geodesic_options=geodesic_options, detail=True)


def _with_suite(suite: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's entries for a suite: under ``distances``, and its headline columns at the top level."""
    return {"distances": suite, **{key: suite[key] for key in DISTANCE_COLUMNS if key in suite}}


def evaluate_run(run: Run | str | Path, dataset: str | None = None, data_root: str | None = None,
                 split: str = "test", max_points: int | None = None, save: bool = True,
                 device: str | None = None, distances: bool = False, suite_pairs: int | None = None,
                 suite_points: int | None = None, pz_points: int | None = None) -> dict[str, Any]:
    """Evaluate a run's best model on its own test split (or on another dataset of the same shape),
    on the device the run trained on (``run_device``) unless ``device`` says otherwise. With
    ``distances``, the suite's per-pair and per-point values go to the run's distances.json;
    ``pz_points``: see ``evaluate_model``."""
    run = run if isinstance(run, Run) else open_run(run)
    cfg = run.config()
    where = run_device(run, device)
    model = load_model(run, device=where)
    if dataset is None:
        data = load_run_data(cfg.data)
    else:
        data = load_dataset(dataset, data_root)
    expected = tuple(run.raw_config().get("x_shape") or ())
    if tuple(data.x_shape) != expected:
        raise ValueError(f"dataset {data.name!r} has inputs of shape {tuple(data.x_shape)}, but the run "
                         f"was trained on shape {expected}")
    detail: dict = {}
    result = evaluate_model(model, data, split, max_points, pz_points=pz_points, distances=distances,
                            suite_pairs=suite_pairs, suite_points=suite_points, detail=detail)
    result["run"], result["device"] = str(run.path), str(where)
    if save and dataset is None and not run.is_example:  # an example keeps the evaluation it shipped with
        if detail:
            atomic_write_json(run.file(DISTANCES_FILE), {"split": split, **detail})
        atomic_write_json(run.file("evaluation.json"), result)
    return result


def add_distance_suite(run: Run | str | Path, suite_pairs: int | None = None, suite_points: int | None = None,
                       seed: int = 0, example: bool = False,
                       geodesic_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The distortion suite of an evaluated run's test split, merged into its evaluation.json (its other numbers
    untouched: no second P_Z) and its pairs and points into distances.json; the updated evaluation. A shipped
    example is refused unless ``example`` (tools/example_distances.py, which maintains them). ``geodesic_options``:
    ``distance_suite``'s (default the suite's own, SUITE_GEODESIC_OPTIONS)."""
    run = run if isinstance(run, Run) else open_run(run)
    if run.is_example and not example:
        raise ValueError(f"{run.name} is a shipped example: it keeps the evaluation it shipped with")
    ev = run.evaluation()
    if ev is None:
        raise ValueError(f"{run.name} is not evaluated yet: evaluate it (with the suite) instead")
    model = load_model(run, device=run_device(run, None)).eval()
    data = load_run_data(run.config().data)
    device = next(model.parameters()).device
    z, _, _ = encode_split(model, data.test, device=device)
    suite, detail = _suite(model, data.test, z.to(device), data.x_shape, suite_pairs, suite_points, seed,
                           geodesic_options)
    ev = {**ev, **_with_suite(suite)}
    if detail:
        atomic_write_json(run.file(DISTANCES_FILE), {"split": "test", **detail})
    atomic_write_json(run.file("evaluation.json"), ev)
    return ev

