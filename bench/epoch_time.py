"""Bench: seconds per epoch through the command line, validation included, for VAE, IRVAE and the flattening module.

What a user waits for: each arm is ``python -m irvae_core train`` (or ``flatten``) as a subprocess on one thread
(OMP/MKL threads 1), the default mnist5k settings (FC 784-256x4-2, batch 100, 4,000 training and 500 validation
digits), no evaluation, no TensorBoard. An epoch's cost is the difference of two runs' wall times divided by the
difference of their epoch counts, so start-up, data loading and the run's fixed costs cancel; everything an epoch
does (its steps, validation, checkpoints, snapshots, progress) stays. Arms alternate, ``--repeats`` times each
(medians reported). The flattening module trains on a 1-epoch VAE base run (its RealNVP: depth 8, width 512).

    .venv/bin/python bench/epoch_time.py [--short 2] [--long 7] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "irvae_core", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0, done.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=2, help="epochs of the short run of each pair")
    ap.add_argument("--long", type=int, default=7, help="epochs of the long run of each pair")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    train = ["train", "--dataset", "mnist5k", "--no-evaluate", "--no-tensorboard"]
    with tempfile.TemporaryDirectory(prefix="irvae-epoch-bench-") as tmp:
        _, base = run([*train, "--reg", "none", "--epochs", "1", "--out", tmp])
        arms = {"vae": [*train, "--reg", "none", "--out", tmp],
                "irvae": [*train, "--reg", "ir", "--out", tmp],
                "flattening": ["flatten", base, "--no-evaluate", "--out", tmp]}
        per_epoch: dict[str, list[float]] = {k: [] for k in arms}
        for r in range(args.repeats):
            for name in (arms if r % 2 == 0 else reversed(list(arms))):
                short, _ = run([*arms[name], "--epochs", str(args.short)])
                long, _ = run([*arms[name], "--epochs", str(args.long)])
                per_epoch[name].append((long - short) / (args.long - args.short))
    vae = statistics.median(per_epoch["vae"])
    print(f"seconds per epoch through the command line (one thread; {args.long} - {args.short} epochs, "
          f"{args.repeats} repeats, medians [min-max])")
    for name, values in per_epoch.items():
        med = statistics.median(values)
        print(f"{name:11s} {med:6.3f} s [{min(values):.3f}-{max(values):.3f}]  {med / vae:5.2f}x vae")
    bars = {"irvae": 1.3, "flattening": 6.0}
    for name, bar in bars.items():
        ratio = statistics.median(per_epoch[name]) / vae
        print(f"bar ({name} <= {bar:g}x vae): {ratio:.2f}x -> {'met' if ratio <= bar else 'NOT met'}")


if __name__ == "__main__":
    main()
