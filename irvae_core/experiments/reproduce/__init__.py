"""The paper's experiments end to end: runs from the presets, a markdown table and PNG figures.

``reproduce(name, out, mode, data_root)`` plans an experiment's runs (configs from
``irvae_core.config``'s presets, with the paper's alpha where it has one), trains the runs that
are not finished yet (``run_configs``: a finished run with the same config is reused, so an
interrupted reproduction resumes where it stopped), evaluates them on the test split (MSE, VoR,
MCN; ``evaluation.evaluate_run``) and writes ``results.md``, ``results.json`` and PNG figures
into ``out/EXPERIMENT``, with the paper's numbers beside ours and the paper's claims checked
against our points.

Modes: ``full`` is the paper's settings (Appendix D; full data sets, slow on a CPU), ``quick``
a CPU schedule (fewer epochs, a subset of alpha), ``tiny`` one epoch on two alphas to check the
pipeline end to end (on synthetic stand-ins where a real data set has no root: never a
reproduction).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irvae_core.config import ConfigError
from irvae_core.experiments.reproduce.plan import DEFAULT_SEEDS, EVALUATION, EXPERIMENTS, Plan, plan
from irvae_core.experiments.reproduce.report import (
    collapse_claim,
    experiment_claims,
    label_isometry,
    mean_example_mse,
    render_markdown,
    result_row,
    retrieval_values,
    write_figures,
)
from irvae_core.experiments.reproduce.run import run_configs
from irvae_core.experiments.reproduce.verdicts import aggregate, is_collapsed
from irvae_core.store.files import atomic_write_json
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.resolve import resolve_config

METHOD_ORDER = {"VAE": 0, "FMVAE": 1, "IRVAE": 2, "IRVAE+FM": 3, "GEOMVAE": 4}


def command_line(p: Plan, data_root: str | None) -> str:
    flag = {"full": "", "quick": " --quick", "tiny": " --tiny"}[p.mode]
    seeds = f" --seeds {len(p.seeds)}" if len(p.seeds) != DEFAULT_SEEDS[p.mode] else ""
    split = p.settings.get("cmu_split")
    return (f"python -m irvae_core reproduce {p.experiment}{flag}{seeds}"
            + (f" --data-root {data_root}" if data_root else "")
            + (f" --cmu-split {split}" if split and split != "frames" else ""))


def folder_name(p: Plan) -> str:
    """The experiment's folder under the reproductions: its name, with -trials for CMU's trial split."""
    split = p.settings.get("cmu_split")
    return p.experiment + (f"-{split}" if split and split != "frames" else "")


def _order(r: dict[str, Any]) -> tuple:
    return (METHOD_ORDER.get(r["method"], 4), r["method"], r["k"] or 0, r["latent_dim"], r["alpha"], r.get("seed", 0))


# Experiments whose runs get the distortion suite's geodesic agreement and the spread across seeds (FC decoders;
# the celeba conv decoders' geodesics would cost more than their training), and the suite's size per mode. Tiny mode,
# a pipeline check, also stops its geodesics sooner (at most 65 points, 100 iterations, rtol 1e-3): on a tiny run's
# 4 pairs, 4-5 s -> 0.6-0.75 s, every length still certified.
SUITE_EXPERIMENTS = ("mnist-tradeoff", "cmu-tradeoff", "mnist-latent-dims", "isometry-vs-scaled")
SUITE_SIZE: dict[str, dict[str, Any]] = {
    "full": {"suite_pairs": 64, "suite_points": 1000}, "quick": {"suite_pairs": 64, "suite_points": 1000},
    "tiny": {"suite_pairs": 4, "suite_points": 60,
             "geodesic_options": {"rtol": 1e-3, "max_iter": 100, "max_points": 65}}}
STABILITY_GEODESIC_PAIRS = {"full": 16, "quick": 16, "tiny": 3}


def add_suites(runs: dict[str, Any], mode: str, log: Callable[[str], None] | None = None) -> None:
    """The distortion suite added to each run's evaluation that lacks it (``evaluation.add_distance_suite``)."""
    from irvae_core.train.evaluation import add_distance_suite

    for key, run in runs.items():
        ev = run.evaluation() or {}
        if "distances" not in ev:
            if log is not None:
                log(f"{key}: the distortion suite (geodesic agreement, neighbourhoods)")
            add_distance_suite(run, **SUITE_SIZE[mode])


def add_stability(points: list[dict[str, Any]], by_name: dict[str, Any], mode: str,
                  log: Callable[[str], None] | None = None) -> None:
    """Each point of two or more seeds gets ``stability``: the spread across its seeds of latent distances and
    geodesic lengths between the same test pairs (``train.stability``)."""
    from irvae_core.train.stability import seed_stability

    for point in points:
        members = [by_name[n] for n in point["runs"] if n in by_name]
        if len(members) < 2:
            continue
        try:
            s = seed_stability(members, geodesic_pairs=STABILITY_GEODESIC_PAIRS[mode])
        except ValueError as e:  # e.g. runs whose configs differ beyond their seed: said, not fatal
            if log is not None:
                log(f"{point['key']}: no spread across seeds ({e})")
            continue
        point["stability"] = {k: s[k] for k in ("latent_cv", "geodesic_cv", "pairs", "geodesic_pairs") if k in s}


def reproduce(name: str, out: str | Path | None = None, mode: str = "quick", data_root: str | None = None,
              progress: Callable[[str], ProgressCallback] | None = None,
              log: Callable[[str], None] | None = None, train: bool = True, engine: Any = None,
              seeds: int | None = None, cmu_split: str | None = None) -> dict[str, Any]:
    """Run (or resume) one experiment into out/NAME; returns its results (also in results.json).

    ``train=False`` reports on the runs finished so far and trains nothing. ``engine``: see ``run_configs``.
    ``seeds``: runs per setting (``plan.DEFAULT_SEEDS`` by mode); ``cmu_split``: see ``plan``.
    """
    p = plan(name, mode, data_root, seeds, cmu_split)
    folder = Path(out if out is not None else default_reproductions_dir()) / folder_name(p)
    folder.mkdir(parents=True, exist_ok=True)
    runs = run_configs(p.jobs, folder / "runs", progress, log, train, engine, EVALUATION[mode])
    if train and name in SUITE_EXPERIMENTS:
        add_suites(runs, mode, log)
    rows = sorted((result_row(j.key, runs[j.key], p.latent) for j in p.jobs if j.key in runs), key=_order)
    missing = [j.key for j in p.jobs if j.key not in runs]
    first = next(j.cfg for j in p.jobs if j.cfg is not None)
    mean_mse = mean_example_mse(resolve_config(first)) if rows else None
    for r in rows:
        r["collapsed"] = is_collapsed(r["mse"], mean_mse)
    points = sorted(aggregate(rows, mean_mse), key=_order)
    if name in SUITE_EXPERIMENTS:
        add_stability(points, {r.name: r for r in runs.values()}, mode, log)
    if name == "isometry-vs-scaled":
        label_isometry(points)
    result = {"experiment": name, "name": folder_name(p), "mode": mode, "data": p.data_note,
              "command": command_line(p, data_root), "mean_example_mse": mean_mse, "seeds": p.seeds,
              "latent": p.latent, "settings": p.settings, "rows": rows, "points": points, "missing": missing,
              "collapsed": [r["run"] for r in rows if r["collapsed"]], "folder": str(folder)}
    if name == "celeba-retrieval":
        result["retrieval"] = retrieval_values(rows, runs)
    result["claims"] = judge(result)
    write_figures(result, folder)
    result["figures"] = sorted(f.name for f in folder.glob("*.png"))
    (folder / "results.md").write_text(render_markdown(result))
    atomic_write_json(folder / "results.json", result)
    return result


def judge(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts on the paper's claims from a result's stored rows and points (what ``reproduce`` stores under
    "claims"; recomputed for a shipped result after the rules change, with its tables rendered again)."""
    return experiment_claims(result) + collapse_claim(result["rows"], result["mean_example_mse"])


def _read_reproductions(root: Path, shipped: bool) -> list[dict[str, Any]]:
    found = []
    for f in sorted(root.glob("*/results.json"), key=lambda f: f.stat().st_mtime, reverse=True):
        try:
            res = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        res["folder"], res["shipped"] = str(f.parent), shipped
        res["figure_paths"] = [str(f.parent / name) for name in res.get("figures", []) if (f.parent / name).is_file()]
        found.append(res)
    return found


def list_reproductions(root: str | Path | None = None, shipped: bool = True) -> list[dict[str, Any]]:
    """Finished reproductions under root (newest first), then (``shipped``) those shipped with IRVAE Lab in
    experiment order: results.json plus the paths of its figures and ``shipped``."""
    root = Path(root if root is not None else default_reproductions_dir())
    found = _read_reproductions(root, False)
    ship = shipped_reproductions_dir()
    if shipped and ship.is_dir() and ship.resolve() != root.resolve():
        order = list(EXPERIMENTS)
        found += sorted(_read_reproductions(ship, True),
                        key=lambda r: (order.index(r["experiment"]) if r.get("experiment") in order else len(order),
                                       r.get("name", "")))
    return found


def shipped_reproductions_dir() -> Path:
    """The quick reproductions shipped with IRVAE Lab (results only, no runs): reproductions/ in the examples."""
    from irvae_core.experiments.examples import examples_dir

    return examples_dir() / "reproductions"


def ship_reproduction(folder: str | Path, out: str | Path | None = None) -> Path:
    """A finished reproduction's results copied into the shipped ones (``out``, default shipped_reproductions_dir()):
    results.json with no machine path in it, results.md rendered again from it, and the figures; no runs."""
    folder = Path(folder)
    try:
        res = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{folder / 'results.json'} cannot be read ({e}): give a finished reproduction's "
                          "folder") from e
    if res.get("missing"):
        raise ConfigError(f"{folder}: runs not finished ({', '.join(res['missing'])}); finish the reproduction "
                          "before shipping it")
    dest = Path(out if out is not None else shipped_reproductions_dir()) / folder.name
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.iterdir():
        stale.unlink()
    res["folder"] = folder.name
    atomic_write_json(dest / "results.json", res)
    (dest / "results.md").write_text(render_markdown(res))
    for name in res.get("figures", []):
        shutil.copyfile(folder / name, dest / name)
    return dest


def default_reproductions_dir() -> Path:
    """Where reproductions live: $IRVAE_REPRODUCTIONS, else ./reproductions."""
    return Path(os.environ.get("IRVAE_REPRODUCTIONS", "reproductions")).expanduser()


def check_out(out: str | Path) -> Path:
    """The reproductions folder, refused with one sentence if it is a file."""
    p = Path(out).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out {p} is a file; give a folder for the reproductions")
    return p
