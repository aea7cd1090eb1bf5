"""Summaries of the run store for listings and tradeoff curves (no UI here).

Methods are named as in the paper: the regularizer's prefix on the model (VAE, FMVAE, IRVAE;
AE, IRAE, ...) and "+FM" for a flattening module trained on such a run (IRVAE+FM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irvae_core.config import paper_alpha
from irvae_core.store.files import RunError, read_json
from irvae_core.store.runs import Run

# "fm": runs from before the rename; geomae: GEOMAE (Nazari et al.'s Geometric Autoencoder), GEOMVAE
REG_PREFIX = {"none": "", "ir": "IR", "fmvae": "FM", "fm": "FM", "iso": "ISO", "geomae": "GEOM"}


def method_name(raw_config: dict[str, Any]) -> str:
    """VAE / FMVAE / IRVAE / IRVAE+FM ... from a run's config.json."""
    model = str(raw_config.get("model", {}).get("kind", "?")).upper()
    reg = str(raw_config.get("reg", {}).get("kind", "none"))
    name = REG_PREFIX.get(reg, reg.upper()) + model
    return f"{name}+FM" if raw_config.get("type") == "flatten" else name


def checkpoint_mtime(run: Run) -> float | None:
    """Modification time of best.pt (else last.pt): a cache key that changes when the model does."""
    for name in ("best.pt", "last.pt"):
        if run.file(name).is_file():
            return run.file(name).stat().st_mtime
    return None


def example_label(run: Run) -> str:
    """A run's name as listed: a shipped example (read-only) is marked "(example)"."""
    return f"{run.name} (example)" if run.is_example else run.name


def is_finished(run: Run) -> bool:
    """Done and holding a checkpoint."""
    return run.status().get("state") == "done" and checkpoint_mtime(run) is not None


def run_row(run: Run) -> dict[str, Any]:
    """One line of the runs table, every column present. A run whose config, status or evaluation cannot be read
    is "unreadable" with the reason in ``error`` (the columns it could read filled in); a run without a status
    yet is "unknown"."""
    row: dict[str, Any] = {"run": example_label(run), "example": run.is_example, "state": "unknown", "epoch": "?",
                           "error": None, "type": None, "dataset": None, "method": "?", "alpha": None,
                           "latent": None, "mse": None, "vor": None, "mcn": None}
    problems = []
    try:
        status = read_json(run.file("status.json")) if run.file("status.json").exists() else {"state": "unknown"}
        row.update({"state": status.get("state", "unknown"),
                    "epoch": f"{status.get('epoch', 0)}/{status.get('epochs', '?')}",
                    "error": status.get("error") if status.get("state") == "failed" else None})
    except RunError as e:
        problems.append(str(e))
    try:
        raw = run.raw_config()
        row.update({"type": raw.get("type", "train"), "dataset": raw.get("data", {}).get("name"),
                    "method": method_name(raw), "alpha": paper_alpha(raw),
                    "latent": raw.get("model", {}).get("latent_dim")})
    except RunError as e:
        problems.append(str(e))
    try:
        ev = run.evaluation() or {}
        row.update({"mse": ev.get("mse"), "vor": ev.get("vor"), "mcn": ev.get("mcn")})
    except RunError as e:
        problems.append(str(e))
    if problems:
        row.update({"state": "unreadable", "error": "; ".join(problems)})
    return row


# The distortion suite's columns of the tradeoff table (None for a run evaluated without it): geodesic agreement,
# and the neighbourhood scores against the inputs.
TRADEOFF_DISTANCES = ("geo_spearman", "geo_ratio_cv", "trustworthiness", "knn_recall")


def tradeoff_rows(runs: list[Run], latent: str = "encoded") -> list[dict[str, Any]]:
    """MSE, VoR and MCN of every evaluated, finished run, with the distortion suite's columns where it was
    measured (TRADEOFF_DISTANCES), sorted by dataset, method and alpha.

    ``latent`` chooses the geometry measured on the encoded test data ("encoded") or on its
    mixup augmentation ("augmented"), both written by ``evaluate_run``. A flattened run's alpha
    is its base run's. Alphas are in the paper's units, also for runs written before the units
    changed (config version 1).
    """
    rows = []
    for run in runs:
        try:
            ev, raw = run.evaluation(), run.raw_config()
        except RunError:
            continue
        if ev is None or run.status().get("state") != "done":
            continue
        geo = ev if latent == "encoded" else ev.get("augmented", {})
        suite = ev.get("distances") or {}
        rows.append({"dataset": raw.get("data", {}).get("name"), "method": method_name(raw),
                     "alpha": float(paper_alpha(raw) or 0.0), "mse": ev.get("mse"),
                     "vor": geo.get("vor"), "mcn": geo.get("mcn"),
                     **{key: suite.get(key) for key in TRADEOFF_DISTANCES}, "run": example_label(run)})
    return sorted(rows, key=lambda r: (str(r["dataset"]), r["method"], r["alpha"]))


def sweep_progress(run_paths: list[str]) -> list[dict[str, Any]]:
    """Per-run progress of a sweep from each run's status.json (wherever it trains: a thread or a Ray
    worker writing to the shared run store): alpha, state, epoch, percent done and the error if failed."""
    rows = []
    for path in run_paths:
        run = Run(Path(path))
        status = run.status()
        try:
            alpha = paper_alpha(run.raw_config())
        except RunError:
            alpha = None
        done = status.get("state") == "done"
        rows.append({"alpha": alpha, "state": status.get("state", "unknown"),
                     "epoch": f"{status.get('epoch', 0)}/{status.get('epochs', '?')}",
                     "progress %": 100.0 if done else round(100 * float(status.get("progress") or 0.0), 1),
                     "error": status.get("error") if status.get("state") == "failed" else None, "run": run.name})
    return rows
