"""What the Distances page shows of a run: its distortion suite, read from what ``evaluate`` stored.

``evaluate`` (``train.evaluation``) writes the suite's summary into evaluation.json and its per-pair
and per-point values into distances.json; this module reads both and refuses, in one sentence, a
run the suite cannot describe (not finished, not evaluated, evaluated without the suite, a 1-D
latent space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from irvae_core.geometry.planes import plane_basis
from irvae_core.store.files import RunError, read_json
from irvae_core.store.runs import Run
from irvae_core.store.summaries import example_label, is_finished, method_name
from irvae_core.train.evaluation import DISTANCES_FILE

NEIGHBOURHOOD_COLUMNS = (("trustworthiness", "trustworthiness"), ("continuity", "continuity"),
                         ("knn_recall", "kNN recall"), ("kl_0.1", "KL_0.1"), ("kl_1", "KL_1"), ("kl_10", "KL_10"))


class NoSuite(ValueError):
    """A finished run whose distortion suite has not been computed (not evaluated, or evaluated without it)."""


@dataclass
class DistanceView:
    """One run's suite: pairs (latent distance, certified geodesic length) and points (plane, rank error)."""

    label: str
    method: str
    suite: dict[str, Any]  # evaluation.json's "distances"
    latent: np.ndarray  # (P,)
    geodesic: np.ndarray  # (P,)
    certified: np.ndarray  # (P,) bool
    plane: np.ndarray  # (n, 2) the subset's codes on the page's plane
    plane_label: str
    rank_error: np.ndarray  # (n,) against the inputs
    rank_error_manifold: np.ndarray  # (n,) against the decodings

    @property
    def has_pairs(self) -> bool:
        return len(self.latent) > 0


def _evaluate_hint(run: Run) -> str:
    return (f"`./lab evaluate {run.path}` computes it (about 30 s for a 2-D MNIST run on this CPU: "
            "bench/distance_suite.py)")


def distance_view(run: Run) -> DistanceView:
    """The suite of a finished, evaluated run (ValueError with one sentence otherwise)."""
    name = example_label(run)
    state = run.status().get("state", "unknown")
    if not is_finished(run):
        raise ValueError(f"{name} has not finished training ({state}): the suite measures a trained model")
    try:
        raw, ev = run.raw_config(), run.evaluation()
    except RunError as e:
        raise ValueError(f"{name} cannot be read: {e}") from None
    if (raw.get("model") or {}).get("latent_dim") == 1:
        raise ValueError(f"{name} has a 1-D latent space: every curve between two codes is the segment itself, "
                         "so there is no geodesic to compare")
    if ev is None:
        raise NoSuite(f"{name} is not evaluated yet: {_evaluate_hint(run)}")
    suite = ev.get("distances")
    if suite and "skipped" in suite:
        raise ValueError(f"{name} has no distance suite ({suite['skipped']})")
    if not suite or not run.file(DISTANCES_FILE).is_file():
        raise NoSuite(f"{name} has no distance suite (it was evaluated without it): {_evaluate_hint(run)}")
    try:
        detail = read_json(run.file(DISTANCES_FILE))
        codes = torch.tensor(detail["codes"], dtype=torch.float64)
        origin, basis, label = plane_basis(codes, "pca" if codes.shape[1] > 2 else (0, 1))
        view = DistanceView(
            label=name, method=method_name(raw), suite=suite,
            latent=np.asarray(detail["latent"], float), geodesic=np.asarray(detail["geodesic"], float),
            certified=np.asarray(detail["certified"], bool), plane=((codes - origin) @ basis).numpy(),
            plane_label=label, rank_error=np.asarray(detail["rank_error"], float),
            rank_error_manifold=np.asarray(detail["rank_error_manifold"], float))
    except (RunError, KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name}'s {DISTANCES_FILE} is damaged ({e}): {_evaluate_hint(run)}") from None
    if not (len(view.latent) == len(view.geodesic) == len(view.certified)
            and len(view.plane) == len(view.rank_error) == len(view.rank_error_manifold)):
        raise ValueError(f"{name}'s {DISTANCES_FILE} is damaged (its lists differ in length): {_evaluate_hint(run)}")
    return view


def geodesic_table(views: list[DistanceView]) -> list[dict[str, Any]]:
    """One row per run: the geodesic agreement and how many of its lengths were certified."""
    return [{"run": v.label, "method": v.method, "Spearman": v.suite["geo_spearman"], "Pearson": v.suite["geo_pearson"],
             "CV of ratio": v.suite["geo_ratio_cv"],
             "certified": f"{v.suite['geo_certified']}/{v.suite['geo_pairs']}"} for v in views]


def neighbourhood_table(views: list[DistanceView]) -> list[dict[str, Any]]:
    """Two rows per run: the neighbourhood and density scores against the inputs and against the decodings."""
    rows = []
    for v in views:
        for reference, scores in (("inputs (pixels)", v.suite), ("decodings f(z)", v.suite.get("manifold") or {})):
            rows.append({"run": v.label, "against": reference,
                         **{label: scores.get(key) for key, label in NEIGHBOURHOOD_COLUMNS}})
    return rows


def compute_suite(run: Run) -> None:
    """Compute a run's missing suite: the whole evaluation when there is none, else the suite added to it."""
    from irvae_core.demo import refuse_in_demo
    from irvae_core.train.evaluation import add_distance_suite, evaluate_run

    refuse_in_demo("write into runs")
    if run.evaluation() is None:
        evaluate_run(run, distances=True)
    else:
        add_distance_suite(run)

