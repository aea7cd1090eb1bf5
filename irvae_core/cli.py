"""Command line: ``python -m irvae_core {train,flatten,evaluate,sweep,retrieve,reproduce} ...``.

Exit codes: 0 success, 1 a run failed (e.g. a non-finite loss), 2 bad usage or bad data.
Errors are one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from tqdm import tqdm

from irvae_core import paper
from irvae_core.config import (
    DEFAULT_ALPHA,
    DEFAULT_EPOCHS,
    DEPRECATED_REG_KINDS,
    ESTIMATORS,
    H_CHOICES,
    LR_SCHEDULES,
    MODEL_KINDS,
    PRESET_ALIASES,
    PRESETS,
    REG_KINDS,
    SELECT_BY,
    SUPERVISED_KINDS,
    WHOLE_BATCH,
    ConfigError,
    RunConfig,
    apply_overrides,
    preset_config,
)
from irvae_core.data import DATASETS, DataError, list_datasets
from irvae_core.store.files import RunError
from irvae_core.store.runs import default_runs_dir, open_run
from irvae_core.train.progress import Progress

EXIT_FAILED, EXIT_USAGE = 1, 2


class UsageError(Exception):
    """Bad usage detected after parsing; exits 2."""


def _floats(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _samples(text: str) -> int | str:
    """--samples: an integer, or 'batch' (the whole batch on every device)."""
    if text == WHOLE_BATCH:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2 or '{WHOLE_BATCH}', got {text!r}") from None


def _pz_points(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}")
    return n


def _add_pz_points(p: argparse.ArgumentParser, when: str = "after training") -> None:
    p.add_argument("--pz-points", type=_pz_points, metavar="N",
                   help=f"points of P_Z (mixup of the encoded test data) for VoR and MCN{' ' * bool(when)}{when} "
                        "(default 100,000, "
                        "the paper's Section 5.1; fewer are faster and noisier: the MNIST VAE's MCN moved 6%% "
                        "across P_Z seeds at 20,000 points, 2.2%% at 100,000); decoders of more than 4,096 "
                        "Jacobian entries a point always get as many as the encoded test data")


def _evaluate(a: argparse.Namespace) -> bool | dict[str, int]:
    """``train_and_evaluate``'s ``evaluate`` from --no-evaluate and --pz-points."""
    if getattr(a, "no_evaluate", False):
        return False
    return {"pz_points": a.pz_points} if a.pz_points else True


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_train_args(p: argparse.ArgumentParser) -> None:
    datasets = ", ".join(d.name for d in list_datasets())
    alphas = ", ".join(f"{m}+{r}: {a:g}" for (m, r), a in DEFAULT_ALPHA.items())
    p.add_argument("--dataset", help=f"dataset name ({datasets}); default mnist5k (embedded, offline)")
    p.add_argument("--data-root", help="folder holding the dataset's files in their published layout")
    p.add_argument("--cmu-all-trials", action="store_true",
                   help="cmu: keep every trial under the root (default: only the paper's four classes walking, "
                        "jogging, balancing, punching); trials of no class are labelled by subject")
    p.add_argument("--cmu-split", choices=("frames", "trials"),
                   help="cmu: frames (default, the paper's: a random frame split, near-duplicate neighbouring "
                        "frames land in different splits) or trials (no trial in two splits)")
    p.add_argument("--download", action="store_true", help="download missing files where the network allows")
    p.add_argument("--classes", type=_ints, help="keep only these classes, e.g. 0,1,5")
    p.add_argument("--model", choices=MODEL_KINDS + SUPERVISED_KINDS,
                   help="autoencoder (default vae); br: the supervised binary-relevance baseline of face retrieval "
                        "(the encoder trained on the attributes; needs an attribute data set and --reg none)")
    p.add_argument("--reg", choices=REG_KINDS + tuple(DEPRECATED_REG_KINDS), metavar="{" + ",".join(REG_KINDS) + "}",
                   help="geometric regularizer: none, ir (relaxed distortion, IRVAE), fmvae (FMVAE's flatness "
                        "term), iso (strict isometry to k I), geomae (the Geometric Autoencoder's Var log det G "
                        "on the batch's codes, Nazari et al. 2023: exact metric, no mixup); default none")
    p.add_argument("--alpha", type=float,
                   help="regularization weight in the paper's units (for ir: on the official code's "
                        "E[Tr G^2]/E[Tr G]^2; for geomae: Nazari et al.'s lambda on Var log det G), so the "
                        "paper's values copy over; defaults by model family: "
                        f"{alphas} (ir: at m = 2, times (m/2)^2 at latent size m); a --preset with --paper "
                        "uses the paper's alpha")
    p.add_argument("--latent-dim", type=int, help="latent size m (default 2)")
    p.add_argument("--arch", choices=("fc", "conv"), help="network family (default: the dataset's)")
    p.add_argument("--conv-width", type=int, metavar="C",
                   help="conv networks: the first layer's channels, doubled per layer (default: the preset's, "
                        "else the paper's: 32 for 28x28/32x32 images, 128 for 64x64)")
    p.add_argument("--epochs", type=int, help=f"epochs (CPU default {DEFAULT_EPOCHS}; the paper: 100-300)")
    p.add_argument("--lr", type=float, help="Adam learning rate (CPU default 1e-3; the paper: 1e-4)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="learning rate over the run: cosine decay to 0 (CPU default) or constant (the paper)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default 100, as the paper)")
    p.add_argument("--eta", type=float, help="mixup parameter eta (default 0.2)")
    p.add_argument("--estimator", choices=ESTIMATORS,
                   help="trace estimator: exact metric or Hutchinson (auto: exact for m <= 4)")
    p.add_argument("--samples", type=_samples,
                   help="mixup points per step for the regularizer, or 'batch' for the whole batch on every "
                        "device (--paper's); default: on CPU 10 with the exact estimator, else the whole batch")
    p.add_argument("--h", choices=H_CHOICES,
                   help="h of the relaxed distortion: square, (lambda - 1)^2, the official code's and the "
                        "default; log, (log lambda)^2 (needs the exact metric); paper: log at m = 2, square "
                        "above (Section 4.3; --paper's)")
    p.add_argument("--select-by", choices=SELECT_BY,
                   help="best.pt is the epoch of lowest validation reconstruction MSE (reconstruction, the "
                        "default and the official code's) or of lowest validation loss, regularizer included")
    p.add_argument("--k", type=float, help="target scale k for --reg iso (default 1)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--device", help="auto (default), cpu, cuda or mps")
    p.add_argument("--preset", choices=sorted([*PRESETS, *PRESET_ALIASES]),
                   help="a paper experiment: " + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
                   + ". CPU schedule unless --paper")
    p.add_argument("--paper", action="store_true", help="with --preset: the paper's full settings (slow on CPU)")
    p.add_argument("--config", help="a run config file (.json or .yaml) to start from")
    p.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard scalars")
    p.add_argument("--out", help=f"runs folder (default $IRVAE_RUNS or {default_runs_dir()})")


def config_from_args(a: argparse.Namespace) -> RunConfig:
    if a.config:
        cfg = RunConfig.load(a.config)
    elif a.preset:
        cfg = preset_config(a.preset, paper=a.paper, reg=a.reg)
    else:
        if a.paper:
            raise UsageError("--paper needs --preset")
        cfg = RunConfig()
    fields = {"data.name": a.dataset, "data.root": a.data_root, "data.classes": a.classes,
              "model.kind": a.model, "model.arch": a.arch, "model.latent_dim": a.latent_dim,
              "model.conv_width": a.conv_width,
              "reg.kind": a.reg, "reg.alpha": a.alpha, "reg.eta": a.eta, "reg.estimator": a.estimator,
              "reg.samples": a.samples,
              "reg.h": a.h, "reg.k": a.k, "train.epochs": a.epochs, "train.lr": a.lr,
              "train.lr_schedule": a.lr_schedule, "train.select_by": a.select_by,
              "train.batch_size": a.batch_size, "train.seed": a.seed, "train.device": a.device}
    overrides: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if a.download:
        overrides["data.download"] = True
    if a.cmu_all_trials:
        if (a.dataset or cfg.data.name) not in ("cmu", "cmu-sample"):
            raise UsageError("--cmu-all-trials goes with --dataset cmu or cmu-sample")
        overrides["data.options"] = {**cfg.data.options, "all_trials": True}
    if a.cmu_split:
        if (a.dataset or cfg.data.name) not in ("cmu", "cmu-sample"):
            raise UsageError("--cmu-split goes with --dataset cmu or cmu-sample")
        overrides["data.options"] = {**overrides.get("data.options", cfg.data.options), "split": a.cmu_split}
    if a.no_tensorboard:
        overrides["train.tensorboard"] = False
    cfg = apply_overrides(cfg, overrides)
    if a.conv_width is not None and _arch(cfg) != "conv":
        raise UsageError(f"--conv-width sets conv networks' channels, but this run uses fully connected ones "
                         f"(dataset {cfg.data.name}); add --arch conv or drop --conv-width")
    return cfg


def _arch(cfg: RunConfig) -> str | None:
    """The network family a run will use: its own, else its dataset's default."""
    info = DATASETS.get(cfg.data.name)
    return cfg.model.arch or (info.arch if info else None)


class _Progress:
    """Progress events on stderr: a tqdm bar per run while it trains here (its steps), a line whenever a run of
    a sweep trained elsewhere (a Ray worker) changes state or epoch, and a line as each run of a sweep ends
    (``[2/3] done RUN``; ``reused`` for a finished run of the same config)."""

    def __init__(self, desc: str | None = None):
        self.desc = desc
        self.bars: dict[int, tqdm] = {}
        self.shown: dict[int, tuple] = {}

    def __call__(self, e: Progress) -> None:
        where = f"[{e.index + 1}/{e.total}]"
        if e.total_steps:
            bar = self.bars.get(e.index)
            if bar is None:
                bar = self.bars[e.index] = tqdm(total=e.total_steps, desc=self.desc or where, unit="step",
                                                file=sys.stderr, dynamic_ncols=True, leave=False)
            if e.phase == "epoch":
                shown = {k: e.record[k] for k in ("train_loss", "val_loss", "val_mse") if k in e.record}
                bar.set_postfix({"epoch": f"{e.epoch}/{e.epochs}", **{k: f"{v:.4g}" for k, v in shown.items()}},
                                refresh=False)
            bar.update(e.step - bar.n)
        if e.ended:
            if e.index in self.bars:
                self.bars.pop(e.index).close()
            if e.total > 1 or e.phase == "failed":
                what = "reused (a finished run of the same config)" if e.phase == "reused" else e.phase
                error = f" ({e.error})" if e.error else ""
                tqdm.write(f"{where} {what} {e.run}{error}", file=sys.stderr)
        elif not e.total_steps and self.shown.get(e.index) != (e.phase, e.epoch):
            self.shown[e.index] = (e.phase, e.epoch)
            epoch = f" epoch {e.epoch}/{e.epochs}" if e.epochs and e.phase == "epoch" else ""
            tqdm.write(f"{where} {'running' if e.phase == 'epoch' else e.phase}{epoch} {e.run}", file=sys.stderr)


# what `train --resume` accepts (and how to evaluate it); the rest is the run's own
RESUME_FLAGS = ("resume", "epochs", "device", "no_evaluate", "pz_points")


def _refuse_flags_with_resume(a: argparse.Namespace) -> None:
    given = [f"--{k.replace('_', '-')}" for k, v in vars(a).items()
             if k not in (*RESUME_FLAGS, "func", "command") and v not in (None, False)]
    if given:
        raise UsageError(f"--resume continues a run with its own settings, so only --epochs (to extend it) and "
                         f"--device may be given (and --no-evaluate or --pz-points, how to evaluate it); drop "
                         f"{', '.join(given)}")


def cmd_train(a: argparse.Namespace) -> int:
    from irvae_core.experiments.runner import train_and_evaluate
    from irvae_core.store.runs import new_run
    from irvae_core.train.loop import Cancelled, TrainingFailed
    from irvae_core.train.resolve import resolve_config
    from irvae_core.train.resume import open_for_resume
    from irvae_core.train.trainer import Trainer

    if a.resume:
        _refuse_flags_with_resume(a)
        job = open_for_resume(a.resume, epochs=a.epochs, device=a.device)  # locked and checked, nothing written
        run, lock = job.run, job.lock
    else:
        cfg = resolve_config(config_from_args(a))
        run = new_run(a.out or default_runs_dir(), cfg)
        lock = run.lock()
    try:
        trainer = job.trainer(_Progress(run.name)) if a.resume else Trainer(cfg, run, callback=_Progress(run.name))
        train_and_evaluate(trainer, resume=bool(a.resume), evaluate=_evaluate(a))
    except TrainingFailed as e:
        print(f"error: training failed: {e}", file=sys.stderr)
        print(run.path)
        return EXIT_FAILED
    except (KeyboardInterrupt, Cancelled):
        run.set_status("cancelled")
        print(f"cancelled; resume with: python -m irvae_core train --resume {run.path}", file=sys.stderr)
        return 130
    finally:
        lock.release()
    print(run.path)
    return 0


def add_flatten_parser(sub: Any) -> None:
    from irvae_core.train.flattening import FlattenConfig

    d = FlattenConfig()
    p = sub.add_parser("flatten", help="train a flattening module on a run; prints the new run folder")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trained run (the base autoencoder, kept frozen)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's settings for the base run's data set (Appendix D): epochs 100 (MNIST, "
                        "CelebA) or 300 (CMU), learning rate 1e-4 (CelebA 1e-5), beta 0 (CelebA 100); "
                        "--epochs, --lr, --beta still override")
    p.add_argument("--epochs", type=int, help=f"epochs (CPU default {d.epochs}; paper 100-300)")
    p.add_argument("--beta", type=float,
                   help=f"weight of E||i(z)||^2 in the paper's units, beside E[Tr G^2]/E[Tr G]^2 as --alpha "
                        f"(default {d.beta:g}; paper: 0, CelebA 100)")
    p.add_argument("--lr", type=float, help=f"Adam learning rate (default {d.lr:g}; paper 1e-4, CelebA 1e-5)")
    p.add_argument("--depth", type=int, default=d.depth, help="RealNVP coupling layers (paper 8)")
    p.add_argument("--width", type=int, default=d.width, help="RealNVP hidden width (paper 512)")
    p.add_argument("--estimator", choices=ESTIMATORS, default=d.estimator,
                   help="metric estimator (auto: exact for latent size <= 4)")
    p.add_argument("--samples", type=int, default=d.samples,
                   help="mixup points a step (default: the whole batch)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", help="runs folder for the new run (default: beside the base run)")
    p.add_argument("--no-evaluate", action="store_true",
                   help="skip the test-split evaluation (MSE, VoR, MCN into evaluation.json) after training")
    _add_pz_points(p)
    p.set_defaults(func=cmd_flatten)


def cmd_flatten(a: argparse.Namespace) -> int:
    from irvae_core.experiments.runner import train_and_evaluate
    from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer, new_flattened_run, paper_flatten_config
    from irvae_core.train.loop import Cancelled, TrainingFailed

    base = open_run(a.run_dir)
    given = {k: v for k, v in {"epochs": a.epochs, "beta": a.beta, "lr": a.lr}.items() if v is not None}
    more = {"depth": a.depth, "width": a.width, "seed": a.seed, "estimator": a.estimator, "samples": a.samples}
    fcfg = (paper_flatten_config(base.config().data.name, **given, **more) if a.paper
            else FlattenConfig(**given, **more))
    run, fcfg = new_flattened_run(base, fcfg, a.out)
    try:
        train_and_evaluate(FlatteningTrainer(base, run, fcfg, callback=_Progress(f"{base.name} FM")),
                           evaluate=_evaluate(a))
    except TrainingFailed as e:
        print(f"error: flattening failed: {e}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, Cancelled):
        print("cancelled", file=sys.stderr)
        return 130
    print(run.path)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from irvae_core.train.evaluation import evaluate_run

    if bool(a.dataset) != bool(a.data_root) and a.data_root:
        raise UsageError("--data-root goes with --dataset")
    result = evaluate_run(a.run_dir, dataset=a.dataset, data_root=a.data_root, split=a.split,
                          max_points=a.max_points, device=a.device, distances=a.distances,
                          suite_pairs=a.pairs, suite_points=a.suite_points, pz_points=a.pz_points)
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        aug = result["augmented"]
        print(f"{result['dataset']} {result['split']} split, {result['n']} examples "
              f"(geometry on {result['geometry_points']} points)")
        print(f"  MSE {result['mse']:.6g}")
        for label, geo in (("encoded test data: ", result), ("mixup-augmented:   ", aug)):
            singular = geo.get("singular_points", 0)
            note = (f"  ({singular} of {result['geometry_points']} points have a singular metric: left out)"
                    if singular else "")
            print(f"  {label} VoR {geo['vor']:.4g}  MCN {geo['mcn']:.4g}  "
                  f"cond {geo['cond_mean']:.4g} +- {geo['cond_std']:.4g}{note}")
        d = result.get("distances")
        if d and "skipped" in d:
            print(f"  distance suite skipped: {d['skipped']}")
        elif d:
            man = d["manifold"]
            if d["geo_pairs"]:
                print(f"  geodesic agreement: Spearman {d['geo_spearman']:.3f}  Pearson {d['geo_pearson']:.3f}  "
                      f"ratio CV {d['geo_ratio_cv']:.3f}  ({d['geo_certified']}/{d['geo_pairs']} lengths certified)")
            else:
                print("  geodesic agreement: not measured (a costly decoder gets no geodesic pairs by default: "
                      "--pairs N asks for them)")
            for label, sc in (("vs inputs:   ", d), ("vs decodings:", man)):
                print(f"  {label} trustworthiness {sc['trustworthiness']:.3f}  continuity {sc['continuity']:.3f}  "
                      f"kNN recall {sc['knn_recall']:.3f}  KL_0.1 {sc['kl_0.1']:.4f}  KL_1 {sc['kl_1']:.4f}  "
                      f"KL_10 {sc['kl_10']:.5f}")
            print(f"  (distances measured on {d['measured_on']})")
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from irvae_core.experiments.engines import EngineError, make_engine
    from irvae_core.experiments.sweep import run_sweep

    cfg = config_from_args(a)
    if cfg.reg.kind == "none":
        raise UsageError("a sweep varies the regularization weight: give --reg ir, fmvae, iso or geomae")
    if a.engine == "local" and (a.cpus_per_run is not None or a.gpus_per_run is not None):
        raise UsageError("--cpus-per-run and --gpus-per-run go with --engine ray")
    engine = make_engine(a.engine, a.address, a.cpus_per_run or 1, a.gpus_per_run or 0, a.threads,
                         evaluate=_evaluate(a))
    cfgs = [apply_overrides(cfg, {"reg.alpha": float(alpha)}) for alpha in a.alphas]
    try:
        rows = run_sweep(cfgs, a.out or default_runs_dir(), engine, on_event=_Progress(), evaluate=_evaluate(a))
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'alpha':>10} {'MSE':>12} {'VoR':>10} {'MCN':>10}  run")
        for r in rows:
            if "mse" in r:
                print(f"{r['alpha']:>10g} {r['mse']:>12.6g} {r['vor']:>10.4g} {r['mcn']:>10.4g}  {r['run']}")
            else:
                print(f"{r['alpha']:>10g} {r['state'] or 'failed':>12} {'':>10} {'':>10}  {r['run']} ({r['error']})")
    return 0 if all("mse" in r for r in rows) else EXIT_FAILED


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """--engine and its options (sweep, reproduce): where the runs of a sweep are trained."""
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: one run after the other in this process (default); ray: one Ray task per run, "
                        "on a local Ray instance or the cluster at --address / $RAY_ADDRESS "
                        "(pip install -r requirements-ray.txt)")
    p.add_argument("--address", help="with --engine ray: an existing cluster's address, e.g. 10.0.0.5:6379 "
                                      "(default $RAY_ADDRESS, else start Ray on this machine)")
    p.add_argument("--cpus-per-run", type=float, help="with --engine ray: CPUs each run reserves (default 1)")
    p.add_argument("--gpus-per-run", type=float, help="with --engine ray: GPUs each run reserves (default 0)")
    p.add_argument("--threads", type=int,
                   help="torch threads per run (ray default: the CPUs per run; local default: torch's); the same "
                        "value on both engines gives the same weights for the same seed")


def retrieval_lines(r: dict[str, Any], per_query: bool = False) -> list[str]:
    """SAR and DAR P@K of a retrieval report, ours and the paper's Table 1 row, as printed lines."""
    ks = r["SAR"]["ks"]
    head = f"{'':26s}" + "".join(f"{f'P@{k}':>8s}" for k in ks)
    lines = [f"{r['method']} on {r['dataset']}: gallery = {r['split']} split ({r['n_gallery']} images), "
             f"queries from {r['n_train']} training images, {r['metric']} similarity", head]
    for kind, what in (("SAR", "attributes"), ("DAR", "pairs")):
        t = r[kind]
        label = f"{kind} ({t['count']} {what})"
        lines.append(f"{label:26s}" + "".join(f"{100 * t['mean'][f'P@{k}']:8.1f}" for k in ks) + "   ours")
        if r.get("paper"):
            lines.append(f"{'':26s}" + "".join(f"{r['paper'][kind].get(f'P@{k}', float('nan')):8.1f}" for k in ks)
                         + "   paper, Table 1 (CelebA)")
        if t["skipped"]:
            lines.append(f"  skipped (no training image has it): {', '.join(t['skipped'])}")
    lines.append(f"DAR keeps the pairs held by more than 1% and less than 50% of the gallery "
                 f"({r['DAR']['count']} of {r['pairs_possible']}; the paper: {paper.DAR_PAIRS_KEPT} of "
                 f"{paper.DAR_PAIRS_POSSIBLE} on CelebA)")
    if per_query:
        for kind in ("SAR", "DAR"):
            lines.append(f"{kind} per query (n queries / n relevant in the gallery):")
            for q in r[kind]["per_query"]:
                lines.append(f"  {q['query'][:40]:40s}" + "".join(f"{100 * q[f'P@{k}']:7.1f}" for k in ks)
                             + f"   {q['n_queries']} / {q['n_relevant']}")
    return lines


def cmd_stability(a: argparse.Namespace) -> int:
    from irvae_core.train.stability import seed_stability

    result = seed_stability(a.runs, pairs=a.pairs, geodesic_pairs=a.geodesic_pairs)
    if a.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{len(result['runs'])} runs (seeds {', '.join(str(s) for s in result['seeds'])}) on {result['dataset']}")
    print(f"  latent distances: CV across seeds {result['latent_cv']:.4f} (mean over {result['pairs']} pairs; "
          f"median {result['latent_cv_median']:.4f})")
    if "geodesic_cv" in result:
        print(f"  geodesic lengths: CV across seeds {result['geodesic_cv']:.4f} (mean over {result['geodesic_pairs']} "
              f"pairs; latent CV on those pairs {result['latent_cv_on_geodesic_pairs']:.4f})")
    print(f"  (measured on {result['measured_on']})")
    return 0


def cmd_retrieve(a: argparse.Namespace) -> int:
    from irvae_core.retrieval.evaluation import evaluate_retrieval

    if (a.run_dir is None) == (a.baseline is None):
        raise UsageError("give either RUN_DIR or --baseline resnet50 (with --dataset)")
    if a.baseline and not a.dataset:
        raise UsageError("--baseline resnet50 needs --dataset (and --data-root for celeba)")
    bars: dict[int, tqdm] = {}

    def progress(done: int, total: int) -> None:
        bar = bars.get(total)
        if bar is None:
            bar = bars[total] = tqdm(total=total, desc="embedding", unit="img", file=sys.stderr, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    metric = a.metric or ("euclidean" if a.baseline else "cosine")  # the paper's choice for each
    result = evaluate_retrieval(a.run_dir, split=a.split, metric=metric, data_root=a.data_root,
                                baseline=a.baseline, dataset=a.dataset, progress=progress)
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        print("\n".join(retrieval_lines(result, a.per_attribute)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    prog = "irvae" if Path(sys.argv[0]).name == "irvae" else "python -m irvae_core"  # the console script, or -m
    parser = argparse.ArgumentParser(prog=prog,
                                     description="IRVAE Lab: isometric representation learning "
                                                 "(Lee et al., ICLR 2022) from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train an autoencoder; prints the run folder")
    _add_train_args(p)
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted, cancelled or finished run (plain, sweep or flattened) from its "
                        "last.pt with its own settings; only --epochs (a larger total, to extend it) and --device "
                        "may be given, and --no-evaluate or --pz-points")
    p.add_argument("--no-evaluate", action="store_true",
                   help="skip the test-split evaluation (MSE, VoR, MCN into evaluation.json) after training")
    _add_pz_points(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-split MSE, VoR and MCN of a run, and its distortion suite")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--dataset", help="evaluate on another dataset of the same input shape")
    p.add_argument("--data-root", help="folder of that dataset")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--max-points", type=int, help="cap the points used for VoR/MCN")
    p.add_argument("--distances", action=argparse.BooleanOptionalAction, default=True,
                   help="the distortion suite: geodesic agreement, trustworthiness, continuity, kNN recall, KL_sigma "
                        "(default on; about 30 s for a 2-D MNIST run on one CPU core, bench/distance_suite.py)")
    p.add_argument("--pairs", type=int, default=None,
                   help="random test pairs for the geodesic agreement (default 64)")
    p.add_argument("--suite-points", type=int, default=None,
                   help="test points for the neighbourhood and density scores (default 1000)")
    p.add_argument("--device", help="where to evaluate: cpu, cuda or mps (default: the device the run trained on, "
                                    "or cpu where that one is not here)")
    _add_pz_points(p, when="")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("sweep", help="one run per alpha, evaluated: a tradeoff table")
    _add_train_args(p)
    p.add_argument("--alphas", type=_floats, required=True,
                   help="comma-separated weights in the paper's units (as --alpha), e.g. 100,1000,10000")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_pz_points(p, when="after each run")
    add_engine_args(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("retrieve", help="face retrieval by example: SAR and DAR P@1/5/10/20 beside the paper's",
                       description="Single- and double-attribute retrieval (paper Section 5.2): queries are all "
                                   "training images having the attribute(s); the gallery split is ranked by the "
                                   "summed cosine similarity in the run's latent space; P@K is the share of the "
                                   "top K having the attribute(s). Embeddings are cached per checkpoint.")
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="a trained run on an attribute data set")
    p.add_argument("--split", choices=("test", "val"), default="test", help="the gallery split (default test)")
    p.add_argument("--metric", choices=("cosine", "euclidean"), default=None,
                   help="similarity: cosine (summed cosine similarity, the paper's; default) or euclidean "
                        "(minus the distance to the query images' mean; default for --baseline resnet50)")
    p.add_argument("--data-root", help="the data set's folder, when it moved since training (or for --baseline)")
    p.add_argument("--baseline", choices=("resnet50",),
                   help="ImageNet ResNet-50 features instead of a run (weights must be in the local torch cache)")
    p.add_argument("--dataset", help="with --baseline: the data set to retrieve from (celeba, synthetic-faces)")
    p.add_argument("--per-attribute", action="store_true", help="also print P@K of every attribute and pair")
    p.add_argument("--json", action="store_true", help="print JSON (means, per attribute and pair, the paper's row)")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("stability", help="the spread across seeds of latent distances and geodesic lengths")
    p.add_argument("runs", nargs="+", metavar="RUN", help="finished runs of one config with different seeds")
    p.add_argument("--pairs", type=int, default=64, help="random test pairs for latent distances (default 64)")
    p.add_argument("--geodesic-pairs", type=int, default=16,
                   help="how many of them also get geodesic lengths (default 16; 0 skips geodesics)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_stability)

    add_flatten_parser(sub)
    add_examples_parser(sub)
    add_reproduce_parser(sub)
    return parser


def add_examples_parser(sub: Any) -> None:
    from irvae_core.experiments.examples import EXAMPLES

    p = sub.add_parser("examples", help="regenerate (or check) the shipped example runs in examples/",
                       description="Trains the shipped example runs from their configs (experiments/examples.py) on "
                                   "one CPU thread, evaluates them and stores each with one checkpoint. --check "
                                   "instead re-evaluates the stored ones and compares.")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"examples to make (default all: "
                   f"{', '.join(e.name for e in EXAMPLES)})")
    p.add_argument("--out", help="folder to write them to (default: examples/ beside the code, or $IRVAE_EXAMPLES)")
    p.add_argument("--list", action="store_true", help="list the examples and whether each is present")
    p.add_argument("--check", action="store_true",
                   help="re-evaluate the stored examples; exit 1 if an evaluation differs (relative 1e-6; 1e-4 on P_Z)")
    p.set_defaults(func=cmd_examples)


def cmd_examples(a: argparse.Namespace) -> int:
    from irvae_core.experiments.examples import (
        EXAMPLES,
        evaluation_mismatches,
        example_runs,
        examples_dir,
        generate_examples,
    )

    out = Path(a.out) if a.out else examples_dir()
    present = {r.name for r in example_runs(out)}
    if a.list:
        for e in EXAMPLES:
            print(f"{e.name:16s} {'present' if e.name in present else 'missing'}  {e.title}")
        return 0
    if a.check:
        missing = [n for n in a.names or [e.name for e in EXAMPLES] if n not in present]
        if missing:
            raise RunError(f"example {missing[0]} is not in {out}: run `./lab examples {missing[0]}` to make it")
        problems = [p for r in example_runs(out) if r.name in (a.names or present) for p in evaluation_mismatches(r)]
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            print(f"{len(problems)} stored evaluation value(s) differ from a fresh evaluation", file=sys.stderr)
            return 1
        print(f"{len(a.names or present)} example(s) match their stored evaluation (relative 1e-6; 1e-4 on P_Z)")
        return 0
    generate_examples(a.names or None, out, on_done=lambda r: print(r.path, flush=True))
    return 0


def add_reproduce_parser(sub: Any) -> None:
    from irvae_core.experiments.reproduce import default_reproductions_dir
    from irvae_core.experiments.reproduce.plan import EXPERIMENTS

    p = sub.add_parser("reproduce", help="one of the paper's experiments end to end: a table and figures beside the "
                                         "paper's numbers",
                       description="Trains the experiment's runs from the paper's presets (finished runs in OUT are "
                                   "reused, so an interrupted reproduction resumes), evaluates them on the test "
                                   "split and writes OUT/EXPERIMENT/results.md, results.json and PNG figures. "
                                   "Experiments: " + "; ".join(f"{k}: {v[0]}" for k, v in EXPERIMENTS.items()))
    p.add_argument("experiment", metavar="EXPERIMENT", choices=list(EXPERIMENTS), help=", ".join(EXPERIMENTS))
    p.add_argument("--data-root", help="the real data set's folder (cmu, celeba; mnist in full mode)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="CPU schedule: fewer epochs, a subset of alpha, embedded MNIST-5k for the MNIST experiments")
    mode.add_argument("--tiny", action="store_true",
                      help="one epoch on two alphas (synthetic stand-ins without --data-root): checks the pipeline, "
                           "reproduces nothing")
    p.add_argument("--seeds", type=int,
                   help="runs per setting, each point a mean ± std over them (default 3; --tiny 1): a claim "
                        "holds or does not only beyond the seeds' spread, else it is undecided")
    p.add_argument("--cmu-split", choices=("frames", "trials"),
                   help="cmu-tradeoff: frames (the paper's random frame split, the default) or trials (no trial "
                        "in two splits; results in OUT/cmu-tradeoff-trials)")
    p.add_argument("--pilot", action="store_true",
                   help="run the pilot that chooses the quick alpha grid (one seed over a wide grid; the rule in "
                        "docs/REPRODUCTION.md) and write OUT/EXPERIMENT/pilot.md, instead of the reproduction")
    p.add_argument("--report-only", action="store_true",
                   help="write the table and figures from the runs finished so far; train nothing")
    p.add_argument("--out", help=f"folder for the reproductions (default $IRVAE_REPRODUCTIONS or "
                                 f"{default_reproductions_dir()})")
    p.add_argument("--ship", action="store_true",
                   help="then copy the finished results (tables, figures, results.json; no runs) into the "
                        "reproductions shipped with IRVAE Lab (examples/reproductions), which the Tradeoff page "
                        "shows on a fresh install")
    add_engine_args(p)
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(a: argparse.Namespace) -> int:
    from irvae_core.experiments.engines import EngineError, make_engine
    from irvae_core.experiments.reproduce import check_out, default_reproductions_dir, reproduce, ship_reproduction
    from irvae_core.experiments.reproduce.plan import EVALUATION, ReproductionError
    from irvae_core.experiments.reproduce.report import claim_lines

    mode = "quick" if a.quick else "tiny" if a.tiny else "full"
    if a.engine == "local" and (a.cpus_per_run is not None or a.gpus_per_run is not None):
        raise UsageError("--cpus-per-run and --gpus-per-run go with --engine ray")
    try:
        engine = make_engine(a.engine, a.address, a.cpus_per_run or 1, a.gpus_per_run or 0, a.threads,
                             evaluate=EVALUATION[mode])
        engine = None if a.engine == "local" else engine
        out, say = check_out(a.out or default_reproductions_dir()), (lambda line: tqdm.write(line, file=sys.stderr))
        if a.pilot:
            from irvae_core.experiments.reproduce.pilot import run_pilot

            if a.report_only or a.seeds is not None or a.cmu_split is not None:
                raise UsageError("--pilot runs one seed of its own grid: it takes no --report-only, --seeds or "
                                 "--cmu-split")
            try:
                pilot = run_pilot(a.experiment, out, mode, a.data_root, progress=_Progress, log=say, engine=engine)
            except ValueError as e:
                raise UsageError(str(e)) from None
            print(json.dumps(pilot.get("grids") or pilot.get("alphas"), default=str))
            print(out / a.experiment / "pilot.md")
            return 0
        result = reproduce(a.experiment, out, mode, a.data_root, progress=_Progress, log=say,
                           train=not a.report_only, engine=engine, seeds=a.seeds, cmu_split=a.cmu_split)
    except ReproductionError as e:
        raise UsageError(str(e)) from None
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cancelled; run the same command again to resume (finished runs are reused)", file=sys.stderr)
        return 130
    print("\n".join(claim_lines(result)))
    print(Path(result["folder"]) / "results.md")
    if a.ship:
        print(ship_reproduction(result["folder"]) / "results.md")
    return EXIT_FAILED if result["missing"] and not a.report_only else 0


def _warn_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warn_one_line  # a sentence on stderr, not a source line
            return a.func(a)
    except UsageError as e:
        parser.error(str(e))
    except (ConfigError, DataError, RunError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # e.g. an unwritable runs folder, or a disk full before the first checkpoint
        print(f"error: {e.filename or 'a file'}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    return 0
