"""Verdicts with their uncertainty: runs of one setting over seeds become a point (mean and standard deviation),
collapsed runs are set apart, and each comparison of two points is one of three words.

A comparison "a is lower than b" on a quantity **holds** when the means differ in that direction by more
than the spread (the sum of the two standard deviations over seeds), **does not hold** when they differ the
other way by more than the spread, and is **undecided** otherwise; with fewer than two seeds on either side
there is no spread to compare with, and the answer is undecided. A claim over several points (``majority``,
``every``) combines them so that it holds only if it would still hold whatever the undecided ones turn out to be.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"
VERDICTS = (HOLDS, FAILS, UNDECIDED)

# A run is collapsed when its test MSE is at least this share of the MSE of predicting the mean training
# example: its decoder barely depends on the code, and its geometry says nothing.
COLLAPSE_SHARE = 0.9

QUANTITIES = ("mse", "vor", "mcn", "cond_mean", "cond_std", "geo_spearman", "geo_ratio_cv")
SETTING = ("method", "alpha", "k", "latent_dim")  # what makes runs the same point (the seed aside)


def is_collapsed(mse: float | None, mean_mse: float | None) -> bool:
    """Test MSE at least COLLAPSE_SHARE of the mean example's (False when either is unknown)."""
    return mse is not None and mean_mse is not None and mse >= COLLAPSE_SHARE * mean_mse


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    if any(not math.isfinite(v) for v in values):
        return math.inf, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(rows: Iterable[dict[str, Any]], mean_mse: float | None = None) -> list[dict[str, Any]]:
    """One point per setting (SETTING) over its seeds: each quantity's mean (under its own name) and standard
    deviation (``NAME_std``) over the runs that did not collapse; ``n`` those runs, ``seeds`` theirs, ``runs``
    their names, ``collapsed_runs`` the others. A point all of whose runs collapsed is ``collapsed`` (its
    means are then over the collapsed runs, to draw it greyed)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in SETTING), []).append(r)
    points = []
    for key, runs in groups.items():
        runs = sorted(runs, key=lambda r: r.get("seed") or 0)
        kept = [r for r in runs if not is_collapsed(r.get("mse"), mean_mse)]
        used = kept or runs
        point: dict[str, Any] = dict(zip(SETTING, key))
        point.update(key=used[0]["key"], n=len(kept), seeds=[r.get("seed", 0) for r in kept],
                     runs=[r["run"] for r in kept], collapsed=not kept,
                     collapsed_runs=[r["run"] for r in runs if r not in kept])
        for q in QUANTITIES:
            point[q], point[f"{q}_std"] = _mean_std([r.get(q) for r in used])
        points.append(point)
    return points


def less(a: dict[str, Any], b: dict[str, Any], q: str, scale_b: float = 1.0) -> str:
    """Is point a's ``q`` lower than point b's (times ``scale_b``)? One of VERDICTS (see the module docstring)."""
    if a.get("n", 0) < 2 or b.get("n", 0) < 2:
        return UNDECIDED
    va, vb = a.get(q), b.get(q)
    if va is None or vb is None:
        return UNDECIDED
    gap = scale_b * vb - va
    spread = (a.get(f"{q}_std") or 0.0) + scale_b * (b.get(f"{q}_std") or 0.0)
    if math.isnan(gap) or math.isnan(spread):
        return UNDECIDED if math.isnan(gap) else (HOLDS if gap > 0 else FAILS)
    return HOLDS if gap > spread else FAILS if -gap > spread else UNDECIDED


def lower_paired(after: Sequence[float], before: Sequence[float]) -> str:
    """Is ``after`` lower than ``before``, seed by seed (pairs of one run and the run made from it, as a flattened
    run and its base)? The paired differences' mean against their standard deviation: below it by more than the
    std holds, above by more does not hold, else (or with fewer than two pairs) undecided. Unlike ``less``, the
    seed-to-seed spread of the base runs themselves does not enter: each pair shares its base."""
    diffs = [a - b for a, b in zip(after, before) if a is not None and b is not None]
    if len(diffs) < 2 or any(not math.isfinite(d) for d in diffs):
        return UNDECIDED
    mean, std = statistics.fmean(diffs), statistics.stdev(diffs)
    return HOLDS if -mean > std else FAILS if mean > std else UNDECIDED


def below_value(a: dict[str, Any], q: str, bound: float) -> str:
    """Is point a's ``q`` at most ``bound``: mean + std <= bound holds, mean - std > bound does not."""
    if a.get("n", 0) < 2 or a.get(q) is None:
        return UNDECIDED
    v, s = a[q], a.get(f"{q}_std") or 0.0
    return HOLDS if v + s <= bound else FAILS if v - s > bound else UNDECIDED


def every(verdicts: Sequence[str]) -> str:
    """All hold: holds; any does not: does not hold; else undecided (also for none)."""
    if not verdicts:
        return UNDECIDED
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else UNDECIDED


def majority(verdicts: Sequence[str]) -> str:
    """More than half hold, counting only clear ones: holds; so many do not hold that even every undecided one
    holding would leave no majority: does not hold; else undecided."""
    n = len(verdicts)
    held, unsure = verdicts.count(HOLDS), verdicts.count(UNDECIDED)
    if n and 2 * held > n:
        return HOLDS
    if 2 * (held + unsure) <= n:
        return FAILS
    return UNDECIDED


def counted(verdicts: Sequence[str], what: str) -> str:
    """'3 of 5 WHAT hold, 1 does not, 1 undecided'."""
    held, failed, unsure = (verdicts.count(v) for v in VERDICTS)
    return f"{held} of {len(verdicts)} {what} hold, {failed} do not, {unsure} undecided"


def below_curve(point: dict[str, Any], curve: list[dict[str, Any]], keys: tuple[str, ...] = ("vor", "mcn")) -> str:
    """Is ``point`` below the other method's tradeoff curve: lower VoR and MCN at equal or lower MSE?

    It is compared with every curve point of equal or lower mean MSE (the other method's best at no more
    error): holds if lower than each of them in each key beyond the spread, does not hold if any is clearly
    lower than it in a key, else undecided. When the other method has no such point (``point`` reconstructs
    better than all of it), its lowest-MSE point is the only one near: ``point`` holds if it is also lower in
    each key beyond the spread (it is better in every respect), and is undecided otherwise, never "does not
    hold": a curve point that reconstructs worse and is more regular does not lie below ``point``, it lies
    elsewhere on a tradeoff (the rule until 2026-12-07 counted it against ``point``; docs/REPRODUCTION.md).
    """
    if not curve:
        return UNDECIDED
    rivals = [q for q in curve if q["mse"] <= point["mse"]]
    if rivals:
        return every([less(point, q, k) for q in rivals for k in keys])
    nearest = min(curve, key=lambda q: q["mse"])
    return HOLDS if every([less(point, nearest, k) for k in keys]) == HOLDS else UNDECIDED


def fmt(v: Any) -> str:
    """A number for a table: 4 significant digits, scientific below 1e-3; '-' for none."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if math.isnan(v):
        return "nan"
    if not math.isfinite(v):
        return "inf"
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def mean_std_text(point: dict[str, Any] | None, q: str) -> str:
    """'1.23 ± 0.04' (mean ± std over seeds) for a point's quantity; the mean alone for one seed."""
    if point is None:
        return "no run"
    if point.get("n", 0) < 2:
        return fmt(point.get(q))
    return f"{fmt(point.get(q))} ± {fmt(point.get(f'{q}_std'))}"
