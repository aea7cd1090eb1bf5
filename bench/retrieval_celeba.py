"""VAE vs IRVAE face retrieval on real faces: SAR and DAR P@1/5/10/20 per seed, beside the paper's Table 1.

Trains (or reuses, when a finished run with the same config is in --runs) one VAE and one IRVAE
per seed on a CelebA folder in torchvision's layout (or, with --dataset synthetic-faces, on the
offline synthetic faces), then measures retrieval exactly as
`python -m irvae_core retrieve RUN_DIR` does (queries: every training image with the
attribute(s); gallery: the test split). Network and schedule come from the celeba-conv preset's
CPU variant unless overridden (--arch, --latent-dim, --epochs, --alpha, --set FIELD=VALUE).

  .venv/bin/python bench/retrieval_celeba.py --data-root ../shared/data/celeba --seeds 0,1 --epochs 3
  .venv/bin/python bench/retrieval_celeba.py --dataset synthetic-faces --arch fc --set model.hidden=[64] \
      --latent-dim 2 --epochs 3 --alpha 400 --seeds 0,1,2,3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.cli import _Progress  # noqa: E402
from irvae_core.config import apply_overrides, preset_config  # noqa: E402
from irvae_core.retrieval.evaluation import evaluate_retrieval
from irvae_core.retrieval.protocol import KS, PAPER_TABLE1
from irvae_core.store.runs import list_runs
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import train

METHODS = {"VAE": "none", "IRVAE": "ir"}


def value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run_for(cfg, runs_dir: Path):
    """A finished run of exactly these settings in runs_dir, else a new one trained now."""
    want = {**resolve_config(cfg).to_dict(), "name": None}  # any finished run of these settings, whatever its name
    for run in list_runs(runs_dir):
        try:
            same = {**run.config().to_dict(), "name": None} == want
        except Exception:  # an unreadable folder is not ours to reuse
            continue
        if same and run.status().get("state") == "done":
            print(f"reusing {run.path}", file=sys.stderr)
            return run
    run = train(cfg, str(runs_dir), callback=_Progress(cfg.name or "train"))
    if run.status().get("state") != "done":
        raise SystemExit(f"training failed: {run.status().get('error')}")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", help="CelebA folder (root/celeba/... or the celeba folder itself)")
    ap.add_argument("--dataset", choices=("celeba", "synthetic-faces"), default="celeba")
    ap.add_argument("--runs", default="runs/retrieval-celeba", help="runs folder (finished runs are reused)")
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--arch", choices=("conv", "fc"), default=None, help="default: the preset's (conv)")
    ap.add_argument("--alpha", type=float, default=None, help="IRVAE weight, paper's units (default: the default)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="any other config field, e.g. --set model.hidden=[256,256] (JSON values)")
    ap.add_argument("--json", action="store_true", help="print the per-run reports as JSON")
    a = ap.parse_args()
    if a.data_root is None and a.dataset == "celeba":  # `./lab bench` runs every script without arguments
        print("skipped: give --data-root DIR (a CelebA folder) to train and measure VAE and IRVAE retrieval")
        return

    base = {"data.name": a.dataset, "data.root": a.data_root, "model.latent_dim": a.latent_dim,
            "train.epochs": a.epochs, "train.tensorboard": False}
    if a.arch:
        base["model.arch"] = a.arch
    base.update({k: value(v) for k, v in (s.split("=", 1) for s in a.set)})
    rows = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        for method, reg in METHODS.items():
            over = {**base, "train.seed": seed, "reg.kind": reg}
            if reg == "ir" and a.alpha is not None:
                over["reg.alpha"] = a.alpha
            cfg = apply_overrides(preset_config("celeba-conv"), over)
            cfg.name = f"retrieval-{a.dataset}-{method.lower()}-s{seed}"
            run = run_for(cfg, Path(a.runs))
            rep = evaluate_retrieval(run)
            rows.append({"method": method, "seed": seed, "alpha": run.config().reg.alpha, "run": str(run.path),
                         **{f"{kind} P@{k}": 100 * rep[kind]["mean"][f"P@{k}"] for kind in ("SAR", "DAR")
                            for k in KS}, "pairs": rep["DAR"]["count"], "gallery": rep["n_gallery"],
                         "queries": rep["n_train"]})
    if a.json:
        print(json.dumps(rows, indent=2))
    cols = [f"{kind} P@{k}" for kind in ("SAR", "DAR") for k in KS]
    print(f"{a.dataset}: gallery {rows[0]['gallery']} test images, queries from {rows[0]['queries']} training images, "
          f"DAR over {rows[0]['pairs']} pairs; m = {a.latent_dim}, {a.epochs} epochs")
    print(f"{'method':22s} {'seed':>4s} {'alpha':>7s} " + " ".join(f"{c:>9s}" for c in cols))
    for r in rows:
        print(f"{r['method']:22s} {r['seed']:>4d} {r['alpha']:>7g} " + " ".join(f"{r[c]:9.1f}" for c in cols))
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        print(f"{method + ' (mean)':22s} {'':>4s} {'':>7s} "
              + " ".join(f"{statistics.mean(r[c] for r in mine):9.1f}" for c in cols))
    for method in METHODS:
        paper = PAPER_TABLE1[method]
        print(f"{method + ' (paper, CelebA)':22s} {'':>4s} {'':>7s} "
              + " ".join(f"{v:9.1f}" for kind in ("SAR", "DAR") for v in paper[kind]))


if __name__ == "__main__":
    main()
