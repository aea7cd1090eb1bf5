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

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from irvae_core.config import ConfigError, RunConfig, apply_overrides, preset_config
from irvae_core.data import load_dataset
from irvae_core.experiments.sweep import plan_sweep, same_config, sweep
from irvae_core.store.files import atomic_write_bytes, atomic_write_json, read_json
from irvae_core.store.runs import Run, list_runs
from irvae_core.store.summaries import method_name
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer, new_flattened_run
from irvae_core.train.loop import ProgressCallback, TrainingFailed
from irvae_core.train.resolve import resolve_config

MODES = ("full", "quick", "tiny")
FINGERPRINT = "reproduce.json"  # written into a run when it finished: the request it answers

# The paper's numbers our tables stand beside (DIGEST.md; Table 3, Section 5.1.2, Table 1).
PAPER_COND = {2: {"VAE": (5.39, 4.72), "IRVAE": (1.41, 0.55)}, 8: {"VAE": (85.55, 85.69), "IRVAE": (1.87, 0.25)},
              16: {"VAE": (1635018.88, 1789834.25), "IRVAE": (37.28, 42.12)}}
PAPER_CMU_VAE = {"mse": 1.72e-4, "vor": 4.86, "mcn": 20.3}
PAPER_RETRIEVAL = {"VAE": (60.0, 60.5, 61.0, 58.4, 39.8, 38.7, 37.0, 34.7),
                   "FMVAE": (67.5, 66.0, 64.0, 62.6, 41.5, 39.1, 38.8, 36.8),
                   "IRVAE": (82.5, 72.0, 71.5, 69.0, 56.1, 50.8, 47.2, 44.2),
                   "IRVAE+FM": (75.0, 79.0, 75.3, 74.1, 57.3, 54.0, 51.4, 49.4)}
# Quick-mode targets of the issue (MNIST test split, encoded test data): IRVAE MCN at m = 8 and 16.
IRVAE_MCN_TARGET = {8: 1.8, 16: 10.0}


class ReproductionError(ValueError):
    """An experiment cannot run as asked (unknown name, missing data root); one sentence."""


@dataclass
class Job:
    """One run an experiment needs: a training config, or a flattening module on another job's run."""

    key: str  # unique within the experiment, e.g. "irvae-a1000"
    cfg: RunConfig | None = None
    flatten_of: str | None = None  # key of the base job
    fcfg: FlattenConfig | None = None


@dataclass
class Plan:
    experiment: str
    mode: str
    data_note: str  # the data used, in words
    jobs: list[Job] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- planning
def _base(preset: str, mode: str, data_root: str | None, real: str, stand_in: str, epochs: dict[str, int],
          needs_root: bool) -> tuple[RunConfig, str]:
    """The preset's config for a mode: the paper's (full), the CPU one (quick), one epoch (tiny)."""
    cfg = preset_config(preset, paper=mode == "full")
    over: dict[str, Any] = {"train.epochs": epochs[mode], "train.tensorboard": False}
    if needs_root and data_root is None:
        if mode != "tiny":
            raise ReproductionError(f"this experiment reads the {real} data set: give --data-root DIR "
                                    f"(its files in their published layout); only --tiny runs without it")
        over["data.name"], note = stand_in, f"{stand_in} (synthetic stand-in: a pipeline check, not a reproduction)"
    else:
        over["data.name"] = real if (mode == "full" or needs_root) else cfg.data.name
        note = over["data.name"]
    if mode == "tiny" and over["data.name"] == "mnist5k":
        over["data.classes"] = [0, 1]  # ~1,000 real digits: a few steps an epoch
    if data_root is not None and over["data.name"] == real:
        over["data.root"] = str(Path(data_root).expanduser().resolve())
        note = f"{real} from {over['data.root']}"
    return apply_overrides(cfg, over), note


def _with(cfg: RunConfig, reg: str, alpha: float | None, **more: Any) -> RunConfig:
    return apply_overrides(cfg, {"reg.kind": reg, "reg.alpha": alpha, **more})


def _tradeoff_jobs(base: RunConfig, alphas: dict[str, list[float]], fm: FlattenConfig) -> list[Job]:
    """VAE, FMVAE and IRVAE over their alphas, and the flattening module on every IRVAE run.

    Ordered so that an interrupted reproduction already compares the methods: the VAE, then the
    middle alphas of IRVAE and FMVAE and the flattening of that IRVAE, then the rest outward.
    """
    def middle_out(values: list[float]) -> list[float]:
        return sorted(values, key=lambda a: abs(values.index(a) - (len(values) - 1) / 2))

    ir, fmvae = middle_out(alphas["ir"]), middle_out(alphas["fmvae"])
    jobs = [Job("vae", _with(base, "none", None))]
    for i in range(max(len(ir), len(fmvae))):
        jobs += [Job(f"irvae-a{a:g}", _with(base, "ir", a)) for a in ir[i:i + 1]]
        jobs += [Job(f"fmvae-a{a:g}", _with(base, "fmvae", a)) for a in fmvae[i:i + 1]]
        jobs += [Job(f"irvae-a{a:g}-fm", flatten_of=f"irvae-a{a:g}", fcfg=fm) for a in ir[i:i + 1]]
    return jobs


def _pick(mode: str, full: list[float], quick: list[float]) -> list[float]:
    return {"full": full, "quick": quick, "tiny": quick[:2]}[mode]


def _fm(mode: str, quick_epochs: int, full_epochs: int = 100) -> FlattenConfig:
    if mode == "tiny":
        return FlattenConfig(epochs=1, depth=2, width=64)
    return FlattenConfig(epochs=full_epochs if mode == "full" else quick_epochs)


# alpha grids in the paper's units. The paper plots curves without listing its alphas; these span
# the CPU defaults (config.DEFAULT_ALPHA) by a decade each way.
MNIST_ALPHAS = {"ir": [10.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0], "fmvae": [0.01, 0.1, 1.0, 10.0, 100.0]}
MNIST_QUICK = {"ir": [100.0, 1000.0, 10000.0], "fmvae": [0.1, 1.0, 10.0]}
# CMU on a CPU: the mocap page's offered runs (README, "Motion capture"): decoder sigma fixed at 0.05,
# constant learning rate, 20 epochs, IRVAE alpha 40; with a learned sigma the quick VAE's codes
# collapsed (std 1e-3) and its MSE was the data's variance.
CMU_SIGMA = 0.05
CMU_QUICK = {"ir": [10.0, 100.0, 1000.0], "fmvae": [0.1, 1.0, 10.0]}
EPOCHS = {"mnist": {"full": 300, "quick": 60, "tiny": 1}, "cmu": {"full": 300, "quick": 20, "tiny": 1},
          "dims": {"full": 100, "quick": 60, "tiny": 1}, "celeba": {"full": 100, "quick": 20, "tiny": 1}}


def plan_mnist_tradeoff(mode: str, data_root: str | None) -> Plan:
    base, note = _base("mnist-fc", mode, data_root, "mnist", "mnist5k", EPOCHS["mnist"], needs_root=mode == "full")
    alphas = {k: _pick(mode, MNIST_ALPHAS[k], MNIST_QUICK[k]) for k in MNIST_ALPHAS}
    return Plan("mnist-tradeoff", mode, note, _tradeoff_jobs(base, alphas, _fm(mode, 10)), {"alphas": alphas})


def plan_cmu_tradeoff(mode: str, data_root: str | None) -> Plan:
    base, note = _base("cmu-fc", mode, data_root, "cmu", "synthetic-mocap", EPOCHS["cmu"], needs_root=True)
    if mode != "full":  # a learned decoder sigma collapses the CPU schedule's VAE to the mean pose
        base = apply_overrides(base, {"model.fixed_sigma": CMU_SIGMA, "train.lr_schedule": "constant"})
    if base.data.name == "synthetic-mocap":
        base = apply_overrides(base, {"data.options": {"n": 700}})
    alphas = {k: _pick(mode, MNIST_ALPHAS[k], CMU_QUICK[k]) for k in MNIST_ALPHAS}
    return Plan("cmu-tradeoff", mode, note, _tradeoff_jobs(base, alphas, _fm(mode, 10)), {"alphas": alphas})


def plan_latent_dims(mode: str, data_root: str | None) -> Plan:
    base, note = _base("mnist-fc", mode, data_root, "mnist", "mnist5k", EPOCHS["dims"], needs_root=mode == "full")
    jobs = []
    for m in (8, 16, 2):  # the latent sizes the paper's claim is about first
        jobs.append(Job(f"vae-m{m}", _with(base, "none", None, **{"model.latent_dim": m})))
        jobs.append(Job(f"irvae-m{m}", _with(base, "ir", None, **{"model.latent_dim": m})))  # default_alpha(m)
    return Plan("mnist-latent-dims", mode, note, jobs, {"latent_dims": [2, 8, 16]})


def plan_isometry_vs_scaled(mode: str, data_root: str | None) -> Plan:
    base, note = _base("mnist-fc", mode, data_root, "mnist", "mnist5k", EPOCHS["mnist"], needs_root=mode == "full")
    ks = {"full": [1.0, 10.0, 100.0, 1000.0], "quick": [1.0, 10.0, 100.0], "tiny": [1.0, 100.0]}[mode]
    iso = _pick(mode, [1e-4, 1e-3, 1e-2, 1e-1, 1.0], [1e-3, 1e-2, 1e-1])
    ir = _pick(mode, MNIST_ALPHAS["ir"], MNIST_QUICK["ir"])
    jobs = [Job(f"irvae-a{a:g}", _with(base, "ir", a)) for a in ir]
    jobs += [Job(f"iso-k{k:g}-a{a:g}", _with(base, "iso", a, **{"reg.k": k})) for k in ks for a in iso]
    return Plan("isometry-vs-scaled", mode, note, jobs, {"ks": ks, "iso_alphas": iso, "ir_alphas": ir})


def plan_celeba_retrieval(mode: str, data_root: str | None) -> Plan:
    base, note = _base("celeba-conv", mode, data_root, "celeba", "synthetic-faces", EPOCHS["celeba"], needs_root=True)
    paper = mode == "full"
    fm = dataclasses.replace(_fm(mode, 5), beta=100.0, lr=1e-5)  # D.3: FM beta 100, lr 1e-5
    alpha = {r: preset_config("celeba-conv", paper=paper, reg=r).reg.alpha for r in ("ir", "fmvae")}
    if base.data.name == "synthetic-faces":
        base = apply_overrides(base, {"model.latent_dim": 4, "model.conv_width": 4, "data.options": {"n": 140}})
    jobs = [Job("vae", _with(base, "none", None)),
            Job(f"fmvae-a{alpha['fmvae']:g}", _with(base, "fmvae", alpha["fmvae"])),
            Job(f"irvae-a{alpha['ir']:g}", _with(base, "ir", alpha["ir"])),
            Job(f"irvae-a{alpha['ir']:g}-fm", flatten_of=f"irvae-a{alpha['ir']:g}", fcfg=fm)]
    return Plan("celeba-retrieval", mode, note, jobs, {"alpha": alpha})


EXPERIMENTS: dict[str, tuple[str, Callable[[str, str | None], Plan]]] = {
    "mnist-tradeoff": ("VAE, FMVAE, IRVAE over alpha and IRVAE+FM on MNIST: MSE vs VoR / MCN (Figures 1-2)",
                       plan_mnist_tradeoff),
    "mnist-latent-dims": ("VAE vs IRVAE condition numbers at m = 2, 8, 16 on MNIST (Table 3)", plan_latent_dims),
    "cmu-tradeoff": ("the tradeoff on CMU mocap (Figure 3), VAE beside the paper's MSE / VoR / MCN",
                     plan_cmu_tradeoff),
    "isometry-vs-scaled": ("strict isometry for several k against the relaxed distortion (Appendix E.6)",
                           plan_isometry_vs_scaled),
    "celeba-retrieval": ("CelebA retrieval P@K of VAE, FMVAE, IRVAE, IRVAE+FM (Table 1; long, meant for a GPU)",
                         plan_celeba_retrieval),
}


def plan(name: str, mode: str = "quick", data_root: str | None = None) -> Plan:
    if name not in EXPERIMENTS:
        raise ReproductionError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    if mode not in MODES:
        raise ReproductionError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    return EXPERIMENTS[name][1](mode, data_root)


# ------------------------------------------------------------------------------------ running
def _flatten_request(job: Job, base: Run) -> dict[str, Any]:
    """What a flattening job asks for, as stored in its finished run's FINGERPRINT (reuse needs an exact match).
    Training jobs need none: the sweep reuses a finished run of the same config (``sweep.same_config``)."""
    return {"base_run": base.name, "flatten": dataclasses.asdict(job.fcfg)}


def find_flattened(runs_dir: Path, request: dict[str, Any]) -> Run | None:
    """A done, evaluated flattened run under runs_dir made for exactly this request (else None)."""
    for run in list_runs(runs_dir):
        fp = run.file(FINGERPRINT)
        if fp.is_file() and run.status().get("state") == "done" and run.evaluation() is not None:
            try:
                if read_json(fp) == request:
                    return run
            except (OSError, ValueError):
                continue
    return None


def _train_job(job: Job, runs_dir: Path, callback: ProgressCallback | None, train: bool,
               say: Callable[[str], None]) -> Run | None:
    """The finished, evaluated run of a training job: reused, or trained by the one sweep (``sweep.sweep``)."""
    cfg = _job_config(job)
    if not train:
        found = next((r for r in list_runs(runs_dir) if same_config(cfg, r) and r.evaluation() is not None), None)
        say("reusing finished run " + str(found.path) if found else "not finished yet")
        return found
    plan = plan_sweep([cfg], runs_dir)
    if plan[0].reused:
        say(f"reusing finished run {plan[0].run.path}")
    [row] = sweep([cfg], runs_dir, callback=callback, plan=plan)
    if row["state"] != "done":
        say(f"failed ({row.get('error')})")
        return None
    return plan[0].run


def _job_config(job: Job) -> RunConfig:
    cfg = resolve_config(job.cfg)
    cfg.name = job.key
    return cfg


def _flatten_job(job: Job, base: Run, runs_dir: Path, callback: ProgressCallback | None, train: bool,
                 say: Callable[[str], None]) -> Run | None:
    request = _flatten_request(job, base)
    found = find_flattened(runs_dir, request)
    if found is not None or not train:
        say("reusing finished run " + str(found.path) if found else "not finished yet")
        return found
    run, fcfg = new_flattened_run(base, job.fcfg, runs_dir)
    try:
        FlatteningTrainer(base, run, fcfg, callback=callback).fit()
        evaluate_run(run)
    except TrainingFailed as e:
        say(f"failed ({e})")
        return None
    atomic_write_json(run.file(FINGERPRINT), request)
    return run


def run_configs(jobs: list[Job], runs_dir: str | Path, progress: Callable[[str], ProgressCallback] | None = None,
                log: Callable[[str], None] | None = None, train: bool = True, engine: Any = None) -> dict[str, Run]:
    """Train (or reuse) every job's run under runs_dir, in order, each evaluated; {key: run}.

    Training jobs go through the one sweep (a finished run of the same config is reused); a flattening
    job is reused when a finished run carries its request (FINGERPRINT). With ``train=False`` only the
    finished runs are collected (a report while the rest still run). A job whose run fails is left out
    of the result (its folder keeps the reason); a flattening job whose base failed is skipped.
    ``progress(description)`` gives a Trainer callback per run.

    ``engine`` (``engines.make_engine``, e.g. Ray): the training jobs are first run on it, all at once
    (``engines.run_sweep``, finished ones reused); the flattening jobs, which need their base, then run here.
    """
    runs_dir, done = Path(runs_dir), {}
    if engine is not None and train:
        from irvae_core.experiments.engines import run_sweep

        run_sweep([_job_config(j) for j in jobs if j.cfg is not None], runs_dir, engine)
        train_here = {j.key: False for j in jobs if j.cfg is not None}  # what failed there is reported, not redone
    else:
        train_here = {}
    for i, job in enumerate(jobs, 1):
        head = f"[{i}/{len(jobs)}] {job.key}"

        def say(text: str, head: str = head) -> None:
            if log is not None:
                log(f"{head}: {text}")

        base = done.get(job.flatten_of) if job.flatten_of else None
        if job.flatten_of and base is None:
            say(f"skipped, its base run {job.flatten_of} did not finish")
            continue
        callback = progress(head) if progress and train else None
        run = (_train_job(job, runs_dir, callback, train_here.get(job.key, train), say) if job.cfg is not None
               else _flatten_job(job, base, runs_dir, callback, train, say))
        if run is not None:
            done[job.key] = run
    return done


# ------------------------------------------------------------------------------------ reporting
def _row(key: str, run: Run, latent: str = "encoded") -> dict[str, Any]:
    raw, ev = run.raw_config(), run.evaluation() or {}
    geo = ev if latent == "encoded" else ev.get("augmented", {})
    base_raw = raw
    if raw.get("type") == "flatten":
        base_raw = read_json(Path(raw["base_run"]) / "config.json")
    return {"key": key, "method": method_name(raw), "alpha": float(base_raw.get("reg", {}).get("alpha") or 0.0),
            "latent_dim": raw.get("model", {}).get("latent_dim"), "k": base_raw.get("reg", {}).get("k"),
            "mse": ev.get("mse"), "vor": geo.get("vor"), "mcn": geo.get("mcn"),
            "cond_mean": geo.get("cond_mean"), "cond_std": geo.get("cond_std"), "run": run.name}


def below_curve(point: dict[str, Any], curve: list[dict[str, Any]], keys: tuple[str, ...] = ("vor", "mcn")) -> bool:
    """Is ``point`` below the other method's tradeoff curve: lower VoR and MCN at equal or lower MSE?

    It is compared with every curve point of equal or lower MSE (the other method's best at no
    more error); when the other method has none (``point`` reconstructs better than all of it),
    with the curve's lowest-MSE point.
    """
    if not curve:
        return False
    rivals = [q for q in curve if q["mse"] <= point["mse"]] or [min(curve, key=lambda q: q["mse"])]
    return all(point[k] < q[k] for q in rivals for k in keys)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if not math.isfinite(v):
        return "inf"
    return f"{v:.4g}" if abs(v) >= 1e-3 else f"{v:.3e}"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]


def tradeoff_claims(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's tradeoff claims checked on our points (Section 5.1): each with holds / counts."""
    ir = [r for r in rows if r["method"] == "IRVAE"]
    fmvae = [r for r in rows if r["method"] == "FMVAE"]
    below = [r for r in ir if below_curve(r, fmvae)]
    claims = [{"claim": "IRVAE's points lie below FMVAE's (lower VoR and MCN at equal or lower MSE) for most alpha",
               "holds": len(ir) > 0 and 2 * len(below) > len(ir), "count": f"{len(below)} of {len(ir)} alphas"}]
    fm_ok = 0
    for r in (r for r in rows if r["method"] == "IRVAE+FM"):
        b = next((q for q in ir if q["key"] == r["key"].removesuffix("-fm")), None)
        if b and r["vor"] < b["vor"] and r["mcn"] < b["mcn"] and abs(r["mse"] - b["mse"]) <= 1e-6 + 1e-3 * b["mse"]:
            fm_ok += 1
    n_fm = sum(r["method"] == "IRVAE+FM" for r in rows)
    claims.append({"claim": "the flattening module lowers VoR and MCN with MSE unchanged (within 0.1%)",
                   "holds": n_fm > 0 and fm_ok == n_fm, "count": f"{fm_ok} of {n_fm} IRVAE runs"})
    return claims


def report_tradeoff(p: Plan, rows: list[dict[str, Any]], out: Path) -> tuple[list[str], list[dict[str, Any]]]:
    from irvae_core.viz import tradeoff_png

    lines = _table(["method", "alpha", "MSE", "VoR", "MCN", "run"],
                   [[r["method"], r["alpha"] if r["method"] != "VAE" else "-", r["mse"], r["vor"], r["mcn"], r["run"]]
                    for r in rows])
    if p.experiment == "cmu-tradeoff":
        vae = next((r for r in rows if r["method"] == "VAE"), None)
        lines += ["", "VAE beside the paper's (Section 5.1.2):", ""]
        lines += _table(["", "MSE", "VoR", "MCN"], [["paper", *PAPER_CMU_VAE.values()]] +
                        ([["ours", vae["mse"], vae["vor"], vae["mcn"]]] if vae else []))
    atomic_write_bytes(out / "tradeoff.png", tradeoff_png(rows, f"{p.experiment} ({p.mode})"))
    return lines, tradeoff_claims(rows)


def mean_example_mse(cfg: RunConfig) -> float | None:
    """Test MSE of predicting every test example by the mean training example: a model at this
    MSE reconstructs nothing (its geometry then says nothing either). None for a lazily loaded set."""
    data = load_dataset(cfg.data.name, cfg.data.root, classes=cfg.data.classes, **cfg.data.options)
    train, test = getattr(data.train, "x", None), getattr(data.test, "x", None)
    if not isinstance(train, torch.Tensor) or not isinstance(test, torch.Tensor):
        return None
    return float((test.double() - train.double().mean(0)).pow(2).mean())


def reconstruction_claims(rows: list[dict[str, Any]], mean_mse: float | None) -> list[dict[str, Any]]:
    """Each regularized method's runs checked to reconstruct: MSE below 90% of the mean example's."""
    if mean_mse is None:
        return []
    claims = []
    for method in sorted({r["method"] for r in rows} - {"VAE"}):
        runs = [r for r in rows if r["method"] == method]
        bad = [r["key"] for r in runs if not r["mse"] < 0.9 * mean_mse]
        claims.append({"claim": f"every {method} run reconstructs (test MSE below 90% of the mean example's "
                                f"{_fmt(mean_mse)})", "holds": not bad,
                       "count": f"{len(runs) - len(bad)} of {len(runs)}" + (f"; not: {', '.join(bad)}" if bad else "")})
    return claims


def report_latent_dims(p: Plan, rows: list[dict[str, Any]], out: Path) -> tuple[list[str], list[dict[str, Any]]]:
    from irvae_core.viz import condition_numbers_png

    by = {(r["method"], r["latent_dim"]): r for r in rows}
    table, claims = [], []
    for m in p.settings["latent_dims"]:
        v, i = by.get(("VAE", m)), by.get(("IRVAE", m))
        pv, pi = PAPER_COND[m]["VAE"], PAPER_COND[m]["IRVAE"]
        table.append([m, f"{_fmt(v['cond_mean'])} ± {_fmt(v['cond_std'])}" if v else "-",
                      f"{_fmt(i['cond_mean'])} ± {_fmt(i['cond_std'])}" if i else "-",
                      f"{_fmt(pv[0])} ± {_fmt(pv[1])}", f"{_fmt(pi[0])} ± {_fmt(pi[1])}",
                      i["alpha"] if i else "-", v["mse"] if v else "-", i["mse"] if i else "-"])
        if m in IRVAE_MCN_TARGET:
            claims.append({"claim": f"IRVAE MCN <= {IRVAE_MCN_TARGET[m]:g} at m = {m}",
                           "holds": bool(i) and i["cond_mean"] <= IRVAE_MCN_TARGET[m],
                           "count": f"{_fmt(i['cond_mean'])}" if i else "no run"})
            claims.append({"claim": f"IRVAE's condition numbers far below VAE's at m = {m} (at least 10x)",
                           "holds": bool(i and v) and 10 * i["cond_mean"] <= v["cond_mean"],
                           "count": f"{_fmt(i['cond_mean'])} vs {_fmt(v['cond_mean'])}" if i and v else "no run"})
    lines = _table(["m", "VAE cond (ours)", "IRVAE cond (ours)", "VAE (paper)", "IRVAE (paper)", "IRVAE alpha",
                    "VAE MSE", "IRVAE MSE"], table)
    png = condition_numbers_png(rows, PAPER_COND, f"{p.experiment} ({p.mode})")
    atomic_write_bytes(out / "condition_numbers.png", png)
    return lines, claims


def report_isometry(p: Plan, rows: list[dict[str, Any]], out: Path) -> tuple[list[str], list[dict[str, Any]]]:
    from irvae_core.viz import tradeoff_png

    for r in rows:
        if r["method"] == "ISOVAE":
            r["method"] = f"ISOVAE k={r['k']:g}"
    lines = _table(["method", "alpha", "MSE", "VoR", "MCN", "run"],
                   [[r["method"], r["alpha"], r["mse"], r["vor"], r["mcn"], r["run"]] for r in rows])
    ir = [r for r in rows if r["method"] == "IRVAE"]
    claims = []
    for k in p.settings["ks"]:
        iso = [r for r in rows if r["method"] == f"ISOVAE k={k:g}"]
        below = [r for r in ir if below_curve(r, iso)]
        claims.append({"claim": f"IRVAE's points lie below strict isometry's with k = {k:g} for most alpha",
                       "holds": len(ir) > 0 and 2 * len(below) > len(ir), "count": f"{len(below)} of {len(ir)}"})
    atomic_write_bytes(out / "tradeoff.png", tradeoff_png(rows, f"{p.experiment} ({p.mode})"))
    return lines, claims


def report_retrieval(p: Plan, rows: list[dict[str, Any]], out: Path,
                     runs: dict[str, Run]) -> tuple[list[str], list[dict[str, Any]]]:
    from irvae_core.retrieval.evaluation import evaluate_retrieval
    from irvae_core.viz import retrieval_png

    ks = ("P@1", "P@5", "P@10", "P@20")
    table, ours = [], {}
    for r in rows:
        res = evaluate_retrieval(runs[r["key"]].path)
        vals = [100 * res[kind]["mean"].get(k, math.nan) for kind in ("SAR", "DAR") for k in ks]
        ours[r["method"]] = vals
        table.append([f"{r['method']} (ours)", *vals])
        if r["method"] in PAPER_RETRIEVAL:
            table.append([f"{r['method']} (paper)", *PAPER_RETRIEVAL[r["method"]]])
    lines = _table(["method", *(f"SAR {k}" for k in ks), *(f"DAR {k}" for k in ks)], table)
    vae, ir = ours.get("VAE"), ours.get("IRVAE")
    claims = [{"claim": "IRVAE retrieves better than VAE (SAR P@5)", "holds": bool(vae and ir) and ir[1] > vae[1],
               "count": f"{_fmt(ir[1])} vs {_fmt(vae[1])}" if vae and ir else "no run"}]
    atomic_write_bytes(out / "retrieval.png", retrieval_png(ours, PAPER_RETRIEVAL, f"{p.experiment} ({p.mode})"))
    return lines, claims


def claim_lines(result: dict[str, Any]) -> list[str]:
    """One line per checked claim: holds / does NOT hold, the claim, and the numbers behind it."""
    return [f"{'holds' if c['holds'] else 'does NOT hold'}: {c['claim']} ({c['count']})" for c in result["claims"]]


def command_line(p: Plan, data_root: str | None) -> str:
    flag = {"full": "", "quick": " --quick", "tiny": " --tiny"}[p.mode]
    return f"python -m irvae_core reproduce {p.experiment}{flag}" + (f" --data-root {data_root}" if data_root else "")


def reproduce(name: str, out: str | Path | None = None, mode: str = "quick", data_root: str | None = None,
              progress: Callable[[str], ProgressCallback] | None = None,
              log: Callable[[str], None] | None = None, train: bool = True, engine: Any = None) -> dict[str, Any]:
    """Run (or resume) one experiment into out/NAME; returns its results (also in results.json).

    ``train=False`` reports on the runs finished so far and trains nothing. ``engine``: see ``run_configs``.
    """
    p = plan(name, mode, data_root)
    folder = Path(out if out is not None else default_reproductions_dir()) / name
    folder.mkdir(parents=True, exist_ok=True)
    runs = run_configs(p.jobs, folder / "runs", progress, log, train, engine)
    order = {"VAE": 0, "FMVAE": 1, "IRVAE": 2, "IRVAE+FM": 3}
    rows = sorted((_row(j.key, runs[j.key]) for j in p.jobs if j.key in runs),
                  key=lambda r: (order.get(r["method"], 4), r["method"], r["k"] or 0, r["latent_dim"], r["alpha"]))
    missing = [j.key for j in p.jobs if j.key not in runs]
    if name in ("mnist-tradeoff", "cmu-tradeoff"):
        lines, claims = report_tradeoff(p, rows, folder)
    elif name == "mnist-latent-dims":
        lines, claims = report_latent_dims(p, rows, folder)
    elif name == "isometry-vs-scaled":
        lines, claims = report_isometry(p, rows, folder)
    else:
        lines, claims = report_retrieval(p, rows, folder, runs)
    first = next(j.cfg for j in p.jobs if j.cfg is not None)
    mean_mse = mean_example_mse(resolve_config(first)) if rows else None
    claims += reconstruction_claims(rows, mean_mse)
    result = {"experiment": name, "mode": mode, "data": p.data_note, "command": command_line(p, data_root),
              "mean_example_mse": mean_mse,
              "settings": p.settings, "rows": rows, "claims": claims, "missing": missing,
              "figures": sorted(f.name for f in folder.glob("*.png"))}
    head = [f"# {name} ({mode} mode)", "", EXPERIMENTS[name][0] + ".", "",
            f"Command: `{result['command']}`  ", f"Data: {p.data_note}  ",
            "Geometry on the encoded test data; MSE per element on the test split"
            + (f" (predicting the mean training example scores {_fmt(mean_mse)})." if mean_mse else "."), ""]
    checks = ["", "## The paper's claims on these points", ""] + [f"- {line}" for line in claim_lines(result)]
    if missing:
        checks += ["", f"Runs not finished (not trained yet, or failed: see their status.json): {', '.join(missing)}"]
    figs = ["", *(f"![{f}]({f})" for f in result["figures"])]
    (folder / "results.md").write_text("\n".join(head + lines + checks + figs) + "\n")
    atomic_write_json(folder / "results.json", result)
    return result


def list_reproductions(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Finished reproductions under root (newest first): results.json plus the paths of its figures."""
    found = []
    root = Path(root if root is not None else default_reproductions_dir())
    for f in sorted(root.glob("*/results.json"), key=lambda f: f.stat().st_mtime, reverse=True):
        try:
            res = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        res["folder"] = str(f.parent)
        res["figure_paths"] = [str(f.parent / name) for name in res.get("figures", []) if (f.parent / name).is_file()]
        found.append(res)
    return found


def default_reproductions_dir() -> Path:
    """Where reproductions live: $IRVAE_REPRODUCTIONS, else ./reproductions."""
    return Path(os.environ.get("IRVAE_REPRODUCTIONS", "reproductions")).expanduser()


def check_out(out: str | Path) -> Path:
    """The reproductions folder, refused with one sentence if it is a file."""
    p = Path(out).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out {p} is a file; give a folder for the reproductions")
    return p
