"""The paper's experiments as lists of runs: configs from the presets (the paper's alpha where it gives one)
for each mode: ``full`` (the paper's settings, Appendix D), ``quick`` (a CPU schedule) and ``tiny`` (one epoch
on two alphas, on synthetic stand-ins where a real data set has no root: a pipeline check, never a
reproduction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from irvae_core.config import RunConfig, apply_overrides, preset_config
from irvae_core.train.flattening import FlattenConfig

MODES = ("full", "quick", "tiny")


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
    seeds: list[int] = field(default_factory=lambda: [0])
    latent: str = "augmented"  # where VoR / MCN are read: P_Z ("augmented", Section 5.1) or "encoded" (Table 3)


# Seeds per point by mode (``--seeds`` overrides): a verdict needs a spread, so at least 2 outside tiny mode.
DEFAULT_SEEDS = {"full": 3, "quick": 3, "tiny": 1}

# How each run is evaluated, by mode (``runner.train_and_evaluate``'s ``evaluate``): the paper's P_Z of 100,000
# points (``evaluation.PZ_POINTS``), except in tiny mode, a pipeline check, where 2,000 points do: the P_Z metrics
# were half a tiny mnist-tradeoff's time (40 of 82 s, cProfile).
EVALUATION: dict[str, bool | dict[str, int]] = {"full": True, "quick": True, "tiny": {"pz_points": 2000}}


def with_seeds(jobs: list[Job], seeds: list[int]) -> list[Job]:
    """Every job once per seed (training seed and flattening seed), seed by seed: an interrupted reproduction
    has whole sets. Seed 0 keeps the job's key; seed s adds "-sS" (a flattening job's base key too)."""
    out = []
    for s in seeds:
        tag = "" if s == 0 else f"-s{s}"
        for j in jobs:
            if j.cfg is not None:
                out.append(Job(j.key + tag, apply_overrides(j.cfg, {"train.seed": s})))
            else:
                out.append(Job(j.key + tag, flatten_of=j.flatten_of + tag, fcfg=dataclasses.replace(j.fcfg, seed=s)))
    return out


# ---------------------------------------------------------------------------------------- planning
def _base(preset: str, mode: str, data_root: str | None, real: str, stand_in: str, epochs: dict[str, int],
          needs_root: bool, real_subset: bool = False) -> tuple[RunConfig, str]:
    """The preset's config for a mode: the paper's (full), the CPU one (quick), one epoch (tiny).

    Without a root, an experiment that ``needs_root`` runs on ``stand_in``: a real subset shipped with IRVAE Lab
    (``real_subset``, in quick and tiny modes) or a synthetic set (tiny mode only: a pipeline check)."""
    cfg = preset_config(preset, paper=mode == "full")
    over: dict[str, Any] = {"train.epochs": epochs[mode], "train.tensorboard": False}
    if needs_root and data_root is None:
        if mode == "full" or (mode == "quick" and not real_subset):
            raise ReproductionError(f"this experiment reads the {real} data set: give --data-root DIR "
                                    "(its files in their published layout); "
                                    + (f"--quick and --tiny run on {stand_in} without it" if real_subset else
                                       "only --tiny runs without it"))
        over["data.name"] = stand_in
        note = (f"{stand_in} (a real subset shipped with IRVAE Lab)" if real_subset else
                f"{stand_in} (synthetic stand-in: a pipeline check, not a reproduction)")
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
    geom = middle_out(alphas.get("geomae", []))
    jobs = [Job("vae", _with(base, "none", None))]
    for i in range(max(len(ir), len(fmvae))):
        jobs += [Job(f"irvae-a{a:g}", _with(base, "ir", a)) for a in ir[i:i + 1]]
        jobs += [Job(f"fmvae-a{a:g}", _with(base, "fmvae", a)) for a in fmvae[i:i + 1]]
        jobs += [Job(f"irvae-a{a:g}-fm", flatten_of=f"irvae-a{a:g}", fcfg=fm) for a in ir[i:i + 1]]
    # the Geometric Autoencoder (Nazari et al. 2023) last: a method after the paper, compared on the same protocol
    jobs += [Job(f"geomvae-a{a:g}", _with(base, "geomae", a)) for a in geom]
    return jobs


def _pick(mode: str, full: list[float], quick: list[float]) -> list[float]:
    return {"full": full, "quick": quick, "tiny": quick[:2]}[mode]


def _fm(mode: str, quick_epochs: int, full_epochs: int = 100) -> FlattenConfig:
    if mode == "tiny":
        return FlattenConfig(epochs=1, depth=2, width=64)
    return FlattenConfig(epochs=full_epochs if mode == "full" else quick_epochs)


# alpha grids in the paper's units. The paper plots curves without listing its alphas; these span
# the CPU defaults (config.DEFAULT_ALPHA) by a decade each way.
MNIST_ALPHAS = {"ir": [10.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0], "fmvae": [0.01, 0.1, 1.0, 10.0, 100.0],
                "geomae": [60.0, 200.0, 600.0, 2000.0, 6000.0]}


# GeomAE's lambda for a VAE base: a decade each way of its CPU default (config.DEFAULT_ALPHA: 600, Nazari et al.'s
# 0.1 scaled from their per-pixel MSE to the VAE's summed Gaussian loss); no pilot has chosen it yet.
GEOMAE_ALPHAS = MNIST_ALPHAS["geomae"]


# The quick grids are the pilot's choice (``reproduce EXPERIMENT --quick --pilot``; its rule in pilot.py and
# docs/REPRODUCTION.md): five values per method from where the regularizer acts to the largest alpha that
# still reconstructs with a margin on the 60-epoch schedule.
MNIST_QUICK = {"ir": [3.0, 9.5, 30.0, 95.0, 300.0], "fmvae": [0.01, 0.1, 1.0, 10.0, 100.0], "geomae": GEOMAE_ALPHAS}


# CMU on a CPU: the mocap page's offered runs (README, "Motion capture"): decoder sigma fixed at 0.05,
# constant learning rate, 20 epochs, IRVAE alpha 40; with a learned sigma the quick VAE's codes
# collapsed (std 1e-3) and its MSE was the data's variance.
CMU_SIGMA = 0.05


CMU_QUICK = {"ir": [10.0, 74.0, 550.0, 4100.0, 30000.0], "fmvae": [0.01, 0.1, 1.0, 10.0, 100.0],  # the pilot's
             "geomae": GEOMAE_ALPHAS}


# IRVAE's alpha per latent size in quick (and tiny) mode, chosen by the pilot (``pilot.py``; docs/REPRODUCTION.md):
# the largest of 1e-3 ... 1 times default_alpha(m) whose test MSE stays within 5% of the VAE's. default_alpha's
# (m/2)^2 growth collapses IRVAE at m = 8 and 16 in 60 epochs.
QUICK_LATENT_ALPHA = {2: 150.0, 8: 2400.0, 16: 960.0}


EPOCHS = {"mnist": {"full": 300, "quick": 60, "tiny": 1}, "cmu": {"full": 300, "quick": 20, "tiny": 1},
          "dims": {"full": 100, "quick": 60, "tiny": 1}, "celeba": {"full": 100, "quick": 20, "tiny": 1}}


def plan_mnist_tradeoff(mode: str, data_root: str | None) -> Plan:
    base, note = _base("mnist-fc", mode, data_root, "mnist", "mnist5k", EPOCHS["mnist"], needs_root=mode == "full")
    alphas = {k: _pick(mode, MNIST_ALPHAS[k], MNIST_QUICK[k]) for k in MNIST_ALPHAS}
    return Plan("mnist-tradeoff", mode, note, _tradeoff_jobs(base, alphas, _fm(mode, 10)), {"alphas": alphas})


def plan_cmu_tradeoff(mode: str, data_root: str | None, split: str = "frames") -> Plan:
    base, note = _base("cmu-fc", mode, data_root, "cmu", "cmu-sample", EPOCHS["cmu"], needs_root=True,
                       real_subset=True)
    if mode != "full":  # a learned decoder sigma collapses the CPU schedule's VAE to the mean pose
        base = apply_overrides(base, {"model.fixed_sigma": CMU_SIGMA, "train.lr_schedule": "constant"})
    if mode == "tiny":
        base = apply_overrides(base, {"data.options": {"max_poses": 700}})
    if split != "frames":  # the paper's random frame split is the loader's default
        base = apply_overrides(base, {"data.options": {**base.data.options, "split": split}})
        note += ", split by trials (no trial in two splits)"
    alphas = {k: _pick(mode, MNIST_ALPHAS[k], CMU_QUICK[k]) for k in MNIST_ALPHAS}
    return Plan("cmu-tradeoff", mode, note, _tradeoff_jobs(base, alphas, _fm(mode, 10, full_epochs=300)),
                {"alphas": alphas, "cmu_split": split})


def plan_latent_dims(mode: str, data_root: str | None) -> Plan:
    base, note = _base("mnist-fc", mode, data_root, "mnist", "mnist5k", EPOCHS["dims"], needs_root=mode == "full")
    jobs = []
    for m in (8, 16, 2):  # the latent sizes the paper's claim is about first
        alpha = None if mode == "full" else QUICK_LATENT_ALPHA[m]  # full: default_alpha(m)
        jobs.append(Job(f"vae-m{m}", _with(base, "none", None, **{"model.latent_dim": m})))
        jobs.append(Job(f"irvae-m{m}", _with(base, "ir", alpha, **{"model.latent_dim": m})))
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


def plan(name: str, mode: str = "quick", data_root: str | None = None, seeds: int | None = None,
         cmu_split: str | None = None) -> Plan:
    """The experiment's runs for a mode, each setting once per seed (``seeds``: DEFAULT_SEEDS by mode);
    ``cmu_split`` ("frames", the paper's, or "trials") for cmu-tradeoff."""
    if name not in EXPERIMENTS:
        raise ReproductionError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    if mode not in MODES:
        raise ReproductionError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    n = DEFAULT_SEEDS[mode] if seeds is None else seeds
    if n < 1:
        raise ReproductionError(f"--seeds must be at least 1; got {n}")
    if cmu_split is not None and name != "cmu-tradeoff":
        raise ReproductionError("--cmu-split goes with cmu-tradeoff")
    p = EXPERIMENTS[name][1](mode, data_root) if cmu_split is None else plan_cmu_tradeoff(mode, data_root, cmu_split)
    p.seeds = list(range(n))
    p.jobs = with_seeds(p.jobs, p.seeds)
    p.latent = "encoded" if name in ("mnist-latent-dims", "celeba-retrieval") else "augmented"
    return p
