"""The pilot that chooses an experiment's alpha grid, by a rule stated before any reproduction runs.

The paper plots its tradeoff curves without listing its alphas, and on a CPU schedule a weight that is
harmless at 300 epochs can collapse a run at 60. So each quick grid is chosen by a pilot: one seed of the
experiment's own schedule over a wide half-decade grid per method (PILOT_GRIDS), measured as the
reproduction measures (test MSE; VoR and MCN where the experiment reads them), and then, per method:

- the top of the grid is the largest pilot alpha whose run reconstructs with a margin: test MSE at most
  RECONSTRUCTS (75%) of the mean example's, so that other seeds stay clear of the collapse rule's 90%;
- the bottom is the smallest pilot alpha at which the regularizer acts: MCN at most ACTS (90%) of the
  VAE's (the pilot's smallest alpha when every one acts), and at least two decades below the top;
- the grid is GRID_SIZE values evenly spaced in log alpha from bottom to top, to two significant digits.

For ``mnist-latent-dims`` the pilot trains the VAE and IRVAE at each latent size over decades below
``default_alpha(m)`` and keeps the largest alpha whose test MSE is at most LATENT_RECONSTRUCTS (1.05) times the
VAE's at that size (the reproduction's reconstruction claim allows 1.1). Nothing here reads a verdict.
``reproduce EXPERIMENT --quick --pilot`` runs it and writes pilot.md and pilot.json beside the results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irvae_core.config import apply_overrides, default_alpha
from irvae_core.experiments.reproduce.plan import EVALUATION, Job, Plan, plan
from irvae_core.experiments.reproduce.report import _table, mean_example_mse, result_row
from irvae_core.experiments.reproduce.run import run_configs
from irvae_core.experiments.reproduce.verdicts import fmt
from irvae_core.store.files import atomic_write_json
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.resolve import resolve_config

PILOT_GRIDS = {"ir": [10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0],
               "fmvae": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]}
PILOT_EXPERIMENTS = ("mnist-tradeoff", "cmu-tradeoff", "mnist-latent-dims")
RECONSTRUCTS, ACTS, GRID_SIZE, MIN_DECADES = 0.75, 0.9, 5, 2.0
LATENT_RECONSTRUCTS = 1.05
LATENT_FACTORS = (1e-3, 1e-2, 1e-1, 1.0)  # pilot alphas at latent size m: these times default_alpha(m)


def round2(x: float) -> float:
    """x to two significant digits."""
    return float(f"{x:.2g}")


def choose_grid(pilot_rows: list[dict[str, Any]], vae_mcn: float | None, mean_mse: float,
                size: int = GRID_SIZE) -> dict[str, Any]:
    """The rule of the module docstring on one method's pilot rows (alpha, mse, mcn): its grid and why."""
    rows = sorted(pilot_rows, key=lambda r: r["alpha"])
    good = [r for r in rows if r["mse"] is not None and r["mse"] <= RECONSTRUCTS * mean_mse]
    if not good:
        raise ValueError(f"no pilot alpha reconstructs (test MSE <= {RECONSTRUCTS:.0%} of the mean example's)")
    top = max(r["alpha"] for r in good)
    acting = [r["alpha"] for r in rows if vae_mcn is not None and r["mcn"] is not None and r["mcn"] <= ACTS * vae_mcn]
    bottom = min(acting) if acting else rows[0]["alpha"]
    bottom = min(bottom, top / 10**MIN_DECADES)
    step = (math.log10(top) - math.log10(bottom)) / (size - 1)
    grid = [round2(10 ** (math.log10(bottom) + i * step)) for i in range(size)]
    return {"grid": grid, "top": top, "bottom": bottom, "acting_from": min(acting) if acting else None}


def pilot_jobs(p: Plan, grids: dict[str, list[float]]) -> list[Job]:
    """The plan's VAE (seed 0) and one training job per pilot alpha and method; no flattening."""
    vae = next(j for j in p.jobs if j.key == "vae")
    jobs = [vae]
    for reg, alphas in grids.items():
        for a in alphas:
            jobs.append(Job(f"{'irvae' if reg == 'ir' else reg}-a{a:g}",
                            apply_overrides(vae.cfg, {"reg.kind": reg, "reg.alpha": a})))
    return jobs


def latent_pilot_jobs(p: Plan, mode: str) -> list[Job]:
    jobs = []
    for m in p.settings["latent_dims"]:
        vae = next(j for j in p.jobs if j.key == f"vae-m{m}")
        jobs.append(vae)
        factors = LATENT_FACTORS if mode != "tiny" else LATENT_FACTORS[-2:]
        for f in factors:
            a = round2(default_alpha("vae", "ir", m) * f)
            jobs.append(Job(f"irvae-m{m}-a{a:g}", apply_overrides(vae.cfg, {"reg.kind": "ir", "reg.alpha": a})))
    return jobs


def run_pilot(name: str, out: str | Path, mode: str = "quick", data_root: str | None = None,
              progress: Callable[[str], ProgressCallback] | None = None, log: Callable[[str], None] | None = None,
              engine: Any = None) -> dict[str, Any]:
    """Train the pilot of experiment ``name`` into out/NAME/runs and write out/NAME/pilot.md and pilot.json."""
    if name not in PILOT_EXPERIMENTS:
        raise ValueError(f"the pilot chooses the grids of {', '.join(PILOT_EXPERIMENTS)}; {name} has none")
    p = plan(name, mode, data_root, seeds=1)
    folder = Path(out) / name
    folder.mkdir(parents=True, exist_ok=True)
    grids = PILOT_GRIDS if mode != "tiny" else {k: v[3:5] for k, v in PILOT_GRIDS.items()}
    jobs = latent_pilot_jobs(p, mode) if name == "mnist-latent-dims" else pilot_jobs(p, grids)
    runs = run_configs(jobs, folder / "runs", progress, log, True, engine, EVALUATION[mode])
    rows = [result_row(j.key, runs[j.key], p.latent) for j in jobs if j.key in runs]
    mean_mse = mean_example_mse(resolve_config(jobs[0].cfg))
    result: dict[str, Any] = {"experiment": name, "mode": mode, "rows": rows, "mean_example_mse": mean_mse,
                              "rule": __doc__}
    if name == "mnist-latent-dims":
        result["alphas"] = {}
        for m in p.settings["latent_dims"]:
            vae = next((r for r in rows if r["method"] == "VAE" and r["latent_dim"] == m), None)
            ok = [r["alpha"] for r in rows if r["method"] == "IRVAE" and r["latent_dim"] == m and vae
                  and r["mse"] <= LATENT_RECONSTRUCTS * vae["mse"]]
            result["alphas"][m] = max(ok) if ok else None
    else:
        vae = next((r for r in rows if r["method"] == "VAE"), None)
        result["grids"] = {}
        for reg, method in (("ir", "IRVAE"), ("fmvae", "FMVAE")):
            try:
                result["grids"][reg] = choose_grid([r for r in rows if r["method"] == method],
                                                   vae["mcn"] if vae else None, mean_mse)
            except ValueError as e:
                result["grids"][reg] = {"grid": None, "error": str(e)}
    lines = [f"# Pilot of {name} ({mode} mode, one seed)", "", "Rule (stated before the run):", "",
             *(line for line in (__doc__ or "").splitlines()), "",
             f"Mean example's test MSE: {fmt(mean_mse)}", ""]
    lines += _table(["method", "m", "alpha", "MSE", "MSE / mean example's", "VoR", "MCN"],
                    [[r["method"], r["latent_dim"], r["alpha"], r["mse"], r["mse"] / mean_mse if mean_mse else None,
                      r["vor"], r["mcn"]] for r in rows])
    lines += ["", "Chosen:", ""] + [f"- {k}: {v}" for k, v in (result.get("grids") or result["alphas"]).items()]
    (folder / "pilot.md").write_text("\n".join(lines) + "\n")
    atomic_write_json(folder / "pilot.json", result)
    return result
