"""Bench: the pullback metric of P_Z's 100,000 points without a graph (what every evaluation computes), through the FC
decoder's recorded forward (``jacobian_pass(plain=True)``: a concatenation a layer) and through its one pass
(``fc_pass.one_pass``: each layer's rows and tangents written into one matrix), on the shipped mocap and MNIST VAEs.

Arms alternate (bench/_timing.py), so the ratio compares passes taken under the same load; both give the same
metrics (checked here, and in tests/test_fast_paths.py on every activation).

    .venv/bin/python bench/pullback_pass.py [--points 100000] [--iters 6] [--budget 60] [--threads 1]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._timing import alternating_times, fmt_ratio, timing_args  # noqa: E402
from irvae_core.experiments.examples import examples_dir  # noqa: E402
from irvae_core.geometry.metric import DEFAULT_CHUNK_ELEMENTS  # noqa: E402
from irvae_core.store.checkpoints import load_model  # noqa: E402
from irvae_core.store.runs import open_run  # noqa: E402


def metric(decoder, z: torch.Tensor, plain: bool) -> torch.Tensor:
    """G = J^T J at every point of z, chunked as ``pullback_metric`` does, through either pass."""
    d = decoder(z[:1]).reshape(1, -1).shape[1]
    chunk = max(1, DEFAULT_CHUNK_ELEMENTS // (z.shape[1] * d))
    with torch.no_grad():
        blocks = []
        for part in z.split(chunk):
            jt = decoder.jacobian_pass(part[:0], part, None, plain=plain)[1].transpose(0, 1)
            blocks.append(jt @ jt.transpose(1, 2))
    return torch.cat(blocks)


def main() -> None:
    args = timing_args(__doc__, iters=6, extra=lambda ap: ap.add_argument("--points", type=int, default=100_000))
    z = torch.randn(args.points, 2, generator=torch.Generator().manual_seed(0))
    print(f"{args.points} points, {torch.get_num_threads()} thread(s)")
    print(f"{'example':14s} {'recorded s':>10s} {'one pass s':>10s}   one pass / recorded   paired [IQR]")
    for name in ("mocap-vae", "mnist5k-vae"):
        decoder = load_model(open_run(examples_dir() / name)).eval().decoder
        same = torch.equal(metric(decoder, z[:5000], True), metric(decoder, z[:5000], False))
        times = alternating_times({"recorded": lambda d=decoder: metric(d, z, True),
                                   "one pass": lambda d=decoder: metric(d, z, False)},
                                  max_iters=args.iters, budget_s=args.budget, min_iters=3, warmup=1)
        print(f"{name:14s} {statistics.median(times['recorded']):10.2f} {statistics.median(times['one pass']):10.2f}"
              f"   {fmt_ratio(times, 'one pass', 'recorded')}   same metrics: {same}")


if __name__ == "__main__":
    main()
