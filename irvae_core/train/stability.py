"""Stability across seeds: do runs of one config, trained from different seeds, give the same distances?

For P random test pairs (fixed seed), each run's latent Euclidean distances and its decoder's certified
geodesic lengths (``geometry.curves.geodesics``, the suite's search) are divided by their mean over the
pairs (the scale a model picks is not its geometry), and per pair the coefficient of variation across
runs is taken (``geometry.distances.distance_cv``); the mean over pairs is reported. An isometric
representation gives latent distances proportional to geodesic lengths, which do not depend on the
chart, so its latent CV is as small as its geodesic one; a VAE's latent CV need not be.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from irvae_core.data import load_run_data
from irvae_core.geometry.curves import geodesics
from irvae_core.geometry.distances import SUITE_GEODESIC_OPTIONS, distance_cv, random_pairs
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import Run, open_run
from irvae_core.store.summaries import example_label, is_finished
from irvae_core.train.encoding import encode_split

STABILITY_PAIRS = 64
STABILITY_GEODESIC_PAIRS = 16
_FREE = {"name", "version", "parameters", "base_run", "run", "created", "label"}  # not part of "one config"
_FREE_TRAIN = {"seed", "device", "tensorboard"}


def _setting(run: Run, raw: dict[str, Any]) -> dict[str, Any]:
    """What makes runs "one config": a training run's config as read (older versions filled in), a flattening
    run's record, each without names, seeds and devices."""
    if raw.get("type", "train") == "train":
        raw = {**run.config().to_dict(), "type": "train", "x_shape": raw.get("x_shape")}
    out = {k: v for k, v in raw.items() if k not in _FREE}
    for block in ("train", "flatten"):
        if isinstance(out.get(block), dict):
            out[block] = {k: v for k, v in out[block].items() if k not in _FREE_TRAIN}
    return out


def _seed(raw: dict[str, Any]) -> int | None:
    return (raw.get("flatten") or raw.get("train") or {}).get("seed")


def seed_stability(runs: Sequence[Run | str | Path], pairs: int = STABILITY_PAIRS,
                   geodesic_pairs: int = STABILITY_GEODESIC_PAIRS, seed: int = 0) -> dict[str, Any]:
    """The spread across ``runs`` (one config, different seeds) of latent distances (``pairs`` test pairs) and of
    geodesic lengths (the first ``geodesic_pairs`` of them; 0 skips them). ValueError in one sentence when the
    runs are fewer than 2, unfinished, of different configs or of the same seed."""
    runs = [r if isinstance(r, Run) else open_run(r) for r in runs]
    if len(runs) < 2:
        raise ValueError(f"stability compares runs of one config trained from different seeds: give at least 2 "
                         f"runs; got {len(runs)}")
    for r in runs:
        if not is_finished(r):
            raise ValueError(f"{example_label(r)} has not finished training ({r.status().get('state', 'unknown')})")
    raws = [r.raw_config() for r in runs]
    first = _setting(runs[0], raws[0])
    for r, raw in zip(runs[1:], raws[1:]):
        here = _setting(r, raw)
        if here != first:
            keys = sorted(k for k in set(first) | set(here) if first.get(k) != here.get(k))
            raise ValueError(f"{example_label(r)} is not of the same config as {example_label(runs[0])} (they differ "
                             f"in {', '.join(keys)}): stability compares seeds of one config")
    seeds = [_seed(raw) for raw in raws]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"two of these runs have the same seed ({seeds}): their spread would be 0 by construction")
    data = load_run_data(runs[0].config().data)
    models = [load_model(r) for r in runs]
    codes = [encode_split(m.eval(), data.test)[0].double() for m in models]
    n = len(codes[0])
    idx = random_pairs(n, pairs, seed)
    latent = np.stack([(z[idx[:, 1]] - z[idx[:, 0]]).norm(dim=1).numpy() for z in codes])
    apart = (latent > 0).all(0)  # a pair whose two test points share a code in some model has no ratio
    latent, idx = latent[:, apart], idx[apart]
    out: dict[str, Any] = {"runs": [example_label(r) for r in runs], "seeds": seeds, "dataset": data.name,
                           "test_points": n, "pairs": int(apart.sum()), "seed": seed}
    cv = distance_cv(latent)
    out.update(latent_cv=float(cv.mean()), latent_cv_median=float(np.median(cv)))
    g = min(geodesic_pairs, len(idx))
    if g >= 1:
        lengths = []
        for m, z in zip(models, codes):
            for p in m.parameters():
                p.requires_grad_(False)
            zz = z.to(next(m.parameters()).dtype)
            found = geodesics(m.decode, zz[idx[:g, 0]], zz[idx[:g, 1]], **SUITE_GEODESIC_OPTIONS)
            lengths.append(found.lengths.numpy())
        gcv = distance_cv(np.stack(lengths))
        # the same pairs' latent spread, for a like-for-like comparison with the geodesic one
        out.update(geodesic_pairs=g, geodesic_cv=float(gcv.mean()), latent_cv_on_geodesic_pairs=float(cv[:g].mean()))
    out["measured_on"] = (f"{out['pairs']} random pairs of the {n} test points of {data.name} (seed {seed}); "
                          f"geodesics on the first {g} (certified lengths); each run's distances divided by their "
                          "mean before the spread across runs")
    return out
