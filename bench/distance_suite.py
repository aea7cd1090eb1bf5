"""Bench: `evaluate` with the distortion suite on 10,000 test points of a 2-D MNIST run, against without it.

The shipped mnist5k VAE (784-256x4-2 FC, its curved decoder the costly case) and IRVAE evaluated on a
10,000-point test split: the 5,000 embedded MNIST digits and the same digits shifted by one pixel (the
embedded set is all the MNIST this machine has; the suite's cost depends on the number of points and the
decoder, not on which digits they are). One process, one thread unless --threads; arms back to back.
The must-hold: evaluate with the suite <= 60 s on this CPU.

    .venv/bin/python bench/distance_suite.py [--threads 1] [--runs examples/mnist5k-vae examples/mnist5k-irvae]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irvae_core.data import load_run_data  # noqa: E402
from irvae_core.store.checkpoints import load_model  # noqa: E402
from irvae_core.store.runs import open_run  # noqa: E402
from irvae_core.train.evaluation import evaluate_model  # noqa: E402


def ten_thousand(data):
    parts = [data.train, data.val, data.test]
    x = torch.stack([ds[i][0] for ds in parts for i in range(len(ds))])
    y = torch.tensor([int(ds[i][1]) for ds in parts for i in range(len(ds))])
    x, y = torch.cat([x, torch.roll(x, 1, dims=-1)])[:10_000], torch.cat([y, y])[:10_000]
    return dataclasses.replace(data, test=TensorDataset(x, y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", nargs="+", default=[str(ROOT / "examples" / n) for n in ("mnist5k-vae", "mnist5k-irvae")])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for path in args.runs:
        run = open_run(path)
        model = load_model(run)
        data = ten_thousand(load_run_data(run.config().data))
        t0 = time.perf_counter()
        evaluate_model(model, data)
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        ev = evaluate_model(model, data, distances=True)
        full = time.perf_counter() - t0
        d = ev["distances"]
        print(f"{run.name}: {ev['n']} test points, {args.threads} thread(s): evaluate {plain:.1f} s, with the suite "
              f"{full:.1f} s (goal <= 60 s); suite {full - plain:.1f} s: Spearman {d['geo_spearman']:.3f}, ratio CV "
              f"{d['geo_ratio_cv']:.3f}, {d['geo_certified']}/{d['geo_pairs']} certified; trustworthiness "
              f"{d['trustworthiness']:.3f} (inputs) {d['manifold']['trustworthiness']:.3f} (decodings)", flush=True)
        print(f"  measured on {d['measured_on']}")


if __name__ == "__main__":
    main()
