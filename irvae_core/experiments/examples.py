"""Shipped example runs: finished VAE / IRVAE pairs that every page can show before anyone trains.

The examples live in ``examples/`` beside the code (or ``$IRVAE_EXAMPLES``), one folder each with config.json,
metrics.jsonl, status.json, evaluation.json, the distortion suite's distances.json (for the Distances page)
and one checkpoint (best.pt: weights only, no optimizer state), plus ``example.json`` (EXAMPLE_MARKER), which
makes the run store refuse every write to the folder. ``EXAMPLES`` below is the one place their configs are
written; ``python -m irvae_core examples`` regenerates them from it. Generation is deterministic on one CPU
thread with the configs' seeds: the same torch version gives the same best.pt bytes (saved through an
in-memory buffer, so no temp-file name enters the archive) and the same metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from irvae_core.config import RunConfig, apply_overrides, preset_config, quick_start_config
from irvae_core.geometry.curves import intra_op_threads
from irvae_core.store.files import (
    EXAMPLE_MARKER,
    RunError,
    atomic_write_bytes,
    atomic_write_json,
    load_checkpoint,
    save_tensors,
)
from irvae_core.store.runs import Run, default_runs_dir, list_runs, new_run
from irvae_core.store.summaries import is_finished
from irvae_core.train.evaluation import DISTANCES_FILE

# Files an example keeps; everything else a run writes (last.pt with its optimizer state, caches,
# TensorBoard logs) is left out, but for an example of a data set with attributes the train and test embeddings
# that Face retrieval reads (retrieval.embeddings.ship_embeddings: cache/embeddings-*.pt).
KEPT_FILES = ("config.json", "metrics.jsonl", "status.json", "evaluation.json", DISTANCES_FILE, "best.pt")


@dataclass(frozen=True)
class Example:
    """One shipped run: its folder name, a line saying what it shows, and how it is made."""

    name: str
    title: str
    config: Callable[[], RunConfig] | None  # a trained run's config; None for a flattened one
    base: str | None = None  # a flattened run: the example it flattens
    flatten: dict[str, Any] | None = None  # a flattened run: FlattenConfig fields
    # add_distance_suite's options (suite_pairs, suite_points, geodesic_options); empty: the suite's defaults, which
    # every shipped example uses (the Distances page draws its pairs)
    suite: dict[str, Any] = field(default_factory=dict, hash=False)


# The face examples: the CPU face preset's conv networks narrowed to width 8 (three runs fit the size budget), a
# 2-D latent (drawn as is on the Latent page; the exact metric makes IRVAE as cheap as the VAE) and the decoder
# sigma fixed at FACES_SIGMA: with the preset's sigma 1, or a learned one starting at 1, a VAE stays on the mean
# face for the 8 epochs (test MSE = the faces' variance, 0.187).
FACES_SIGMA = 0.2
FACES_ALPHA = 20000.0


def _faces(reg: str, alpha: float = FACES_ALPHA) -> RunConfig:
    cfg = apply_overrides(preset_config("celeba-conv"), {
        "data.name": "synthetic-faces", "model.conv_width": 8, "model.latent_dim": 2, "model.fixed_sigma": FACES_SIGMA,
        "reg.kind": reg, "reg.alpha": alpha if reg == "ir" else None, "train.epochs": 8,
        "train.batch_size": 25, "train.tensorboard": False})
    cfg.name = f"faces-{'irvae' if reg == 'ir' else 'vae'}"
    return cfg


def _mocap(index: int) -> RunConfig:
    from irvae_core.views.mocap import offered_runs

    return offered_runs()[index]


def _quick(name: str) -> RunConfig:
    cfg = quick_start_config(name)  # the Home page's own quick start
    cfg.name = name.replace("quickstart", "mnist5k")
    return cfg


EXAMPLES: tuple[Example, ...] = (
    Example("mnist5k-vae", "VAE on 5,000 MNIST digits, 2-D latent (the Home page's quick start)",
            lambda: _quick("quickstart-vae")),
    Example("mnist5k-irvae", "IRVAE on 5,000 MNIST digits, 2-D latent (the Home page's quick start)",
            lambda: _quick("quickstart-irvae")),
    Example("mocap-vae", "VAE on six real CMU motion capture trials (cmu-sample; the Motion capture page's offer)",
            lambda: _mocap(0)),
    Example("mocap-irvae", "IRVAE on six real CMU motion capture trials (cmu-sample; the Motion capture page's offer)",
            lambda: _mocap(1)),
    Example("faces-vae", "VAE on 3,000 synthetic faces, conv, 2-D latent", lambda: _faces("none")),
    Example("faces-irvae", "IRVAE on 3,000 synthetic faces, conv, 2-D latent", lambda: _faces("ir")),
    Example("faces-irvae-fm", "IRVAE+FM: a flattening module trained on the faces IRVAE", None, base="faces-irvae",
            flatten={"epochs": 5, "depth": 4, "width": 64}),
)

# The example pair each page opens on when the visitor has no runs of their own for it.
PAGE_EXAMPLES = {
    "home": ("mnist5k-vae", "mnist5k-irvae"),
    "latent": ("mnist5k-vae", "mnist5k-irvae"),
    "interpolation": ("mnist5k-vae", "mnist5k-irvae"),
    "tradeoff": ("mnist5k-vae", "mnist5k-irvae"),
    "distances": ("mnist5k-vae", "mnist5k-irvae"),
    "mocap": ("mocap-vae", "mocap-irvae"),
    "retrieval": ("faces-vae", "faces-irvae"),
}


def examples_dir() -> Path:
    """Where the shipped examples are: $IRVAE_EXAMPLES, else ``examples/`` beside the code."""
    env = os.environ.get("IRVAE_EXAMPLES")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "examples"


def example_runs(folder: str | Path | None = None) -> list[Run]:
    """The shipped examples present on disk, in EXAMPLES order (a missing or unmarked folder is skipped)."""
    root = Path(folder) if folder is not None else examples_dir()
    runs = [Run(root / e.name) for e in EXAMPLES]
    return [r for r in runs if r.is_example and r.file("config.json").is_file()]


def all_runs(runs_dir: str | Path | None = None) -> list[Run]:
    """What the pages list: the user's runs (newest first), then the shipped examples."""
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    own = list_runs(root)
    seen = {r.path.resolve() for r in own}
    return own + [r for r in example_runs() if r.path.resolve() not in seen]


def page_default(page: str, paths: Sequence[str], own: int = 1) -> list[str]:
    """The runs a page opens on: the user's ``own`` newest runs among ``paths``, else the page's example pair
    (those of it present), else the first run listed."""
    mine = [p for p in paths if not Run(Path(p)).is_example]
    if mine:
        return mine[:own]
    by_name = {Path(p).name: p for p in paths}
    pair = [by_name[n] for n in PAGE_EXAMPLES.get(page, ()) if n in by_name]
    return pair or list(paths)[:1]


def page_dataset(rows: Sequence[dict]) -> str | None:
    """The data set a page of run rows (``summaries.tradeoff_rows``) opens on: the first of the user's own runs'
    (rows not marked "(example)"), else the examples' MNIST (the paper's first experiment), else the first listed;
    None without rows."""
    own = [str(r["dataset"]) for r in rows if not str(r["run"]).endswith("(example)")]
    names = [str(r["dataset"]) for r in rows]
    return own[0] if own else "mnist5k" if "mnist5k" in names else names[0] if names else None


def page_examples(page: str) -> list[Run]:
    """The example pair a page shows (those of it present; both, or none when one is missing)."""
    found = {r.name: r for r in example_runs() if is_finished(r)}
    pair = [found[n] for n in PAGE_EXAMPLES.get(page, ()) if n in found]
    return pair if len(pair) == len(PAGE_EXAMPLES.get(page, ())) else []


# ----------------------------------------------------------------------------------------- generation
def _portable_checkpoint(src: Path, dest: Path) -> None:
    """best.pt reduced to its weights, serialized through a buffer: the bytes depend on the weights alone."""
    state = load_checkpoint(src)
    save_tensors(dest, {"model": state["model"], "epoch": int(state.get("epoch", 0))})


def _finish(run: Run, dest: Path, example: Example) -> Run:
    """Copy a trained run into ``dest`` as a read-only example: kept files only, no machine paths or times."""
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    raw = run.raw_config()
    if example.base is not None:
        raw["base_run"] = example.base  # a sibling example, not a path on the machine that made it
    atomic_write_json(tmp / "config.json", raw)
    records = [{k: v for k, v in r.items() if k != "time"} for r in run.metrics()]
    atomic_write_bytes(tmp / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())
    status = run.status()
    atomic_write_json(tmp / "status.json", {"state": status["state"], "epoch": status.get("epoch"),
                                            "epochs": status.get("epochs"), "best_val": status.get("best_val")})
    evaluation = {**run.evaluation(), "run": example.name}
    atomic_write_json(tmp / "evaluation.json", evaluation)
    if run.file(DISTANCES_FILE).is_file():
        shutil.copyfile(run.file(DISTANCES_FILE), tmp / DISTANCES_FILE)
    _portable_checkpoint(run.file("best.pt"), tmp / "best.pt")
    atomic_write_json(tmp / EXAMPLE_MARKER, {"name": example.name, "title": example.title,
                                             "torch": torch.__version__, "regenerate": "./lab examples"})
    from irvae_core.retrieval.embeddings import ATTRIBUTE_DATASETS, ship_embeddings
    if raw.get("data", {}).get("name") in ATTRIBUTE_DATASETS:  # Face retrieval opens on it without encoding
        ship_embeddings(Run(tmp))
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return Run(dest)


def generate_example(example: Example, out: Path, work: Path) -> Run:
    """Train (or flatten), evaluate and store one example under ``out``; ``work`` holds the scratch runs."""
    from irvae_core.experiments.runner import train_and_evaluate
    from irvae_core.train.evaluation import add_distance_suite
    from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer, new_flattened_run
    from irvae_core.train.loop import TrainingFailed
    from irvae_core.train.resolve import resolve_config
    from irvae_core.train.trainer import Trainer

    if example.base is not None:
        base = Run(out / example.base)
        if not base.is_example:
            raise RunError(f"example {example.name} flattens {example.base}, which is not generated yet")
        run, fcfg = new_flattened_run(base, FlattenConfig(**(example.flatten or {})), work)
        trainer = FlatteningTrainer(base, run, fcfg)
    else:
        cfg = resolve_config(example.config())
        run = new_run(work, cfg, label=example.name)
        trainer = Trainer(cfg, run)
    if train_and_evaluate(trainer).get("state") != "done":
        raise TrainingFailed(f"example {example.name} did not finish: {run.status().get('error', '')}")
    add_distance_suite(run, **example.suite)  # the distortion suite the Distances page shows, beside the evaluation
    return _finish(run, out / example.name, example)


def generate_examples(names: Sequence[str] | None = None, out: str | Path | None = None,
                      examples: Sequence[Example] = EXAMPLES,
                      on_done: Callable[[Run], None] | None = None) -> list[Run]:
    """Regenerate the named examples (all by default) into ``out`` (default examples_dir()), on one thread."""
    known = {e.name: e for e in examples}
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise ValueError(f"unknown example {unknown[0]!r}; choose from {', '.join(known)}")
    chosen = [known[n] for n in names] if names else list(examples)
    out = Path(out) if out is not None else examples_dir()
    out.mkdir(parents=True, exist_ok=True)
    done = []
    # one thread: the same float sums in the same order, run after run
    with intra_op_threads(1), tempfile.TemporaryDirectory(prefix="irvae-examples-") as work:
        for example in chosen:
            done.append(generate_example(example, out, Path(work)))
            if on_done is not None:
                on_done(done[-1])
    return done


# ----------------------------------------------------------------------------------------- checking
METRIC_KEYS = ("mse", "vor", "mcn", "cond_mean", "cond_std")


# The P_Z statistics (``augmented``) are sums over 100,000 float32 metrics, whose rounding depends on the
# CPU's vector kernels: the shipped mnist5k and mocap IRVAEs' VoR and cond std, evaluated on another 2-core
# machine with the same torch, moved by up to 2e-5 relative (the encoded ones not at all).
AUGMENTED_RTOL = 1e-4


def evaluation_mismatches(run: Run, rtol: float = 1e-6, augmented_rtol: float = AUGMENTED_RTOL) -> list[str]:
    """The stored evaluation of an example against a fresh one: one sentence per metric that differs
    (relative ``rtol`` on the encoded test data, ``augmented_rtol`` on P_Z)."""
    from irvae_core.train.evaluation import evaluate_run

    stored = run.evaluation()
    if stored is None:
        return [f"{run.name} has no evaluation.json"]
    fresh = evaluate_run(run, save=False)
    out = []
    for where, a, b, tol in (("", stored, fresh, rtol),
                             ("augmented ", stored.get("augmented", {}), fresh["augmented"], augmented_rtol)):
        for key in (k for k in METRIC_KEYS if k in a or k in b):
            s, f = a.get(key), b.get(key)
            if s is None or f is None or abs(f - s) > tol * max(abs(s), abs(f), 1e-12):
                out.append(f"{run.name}: {where}{key} stored {s}, evaluated now {f}")
    return out
