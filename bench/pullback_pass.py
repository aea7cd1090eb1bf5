"""Bench: the pullback metric of P_Z's 100,000 points without a graph (what every evaluation computes), through the FC
decoder's recorded forward (``jacobian_pass(plain=True)``: a concatenation a layer) and through its one pass
(``fc_pass.one_pass``: each layer's rows and tangents written into one matrix), on the shipped mocap and MNIST VAEs.

Both arms are ``pullback_metric`` (its chunks of ~2**22 Jacobian entries); they alternate (bench/_timing.py), so the
ratio compares passes taken under the same load. Both give the same metrics (checked here on 5,000 points, bit for
bit; in tests/test_fast_paths.py on every activation).

    .venv/bin/python bench/pullback_pass.py [--points 100000] [--iters 6] [--budget 60] [--threads 1]
"""

from __future__ import annotations

import functools
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._timing import alternating_times, fmt_ratio, timing_args  # noqa: E402
from irvae_core.experiments.examples import examples_dir  # noqa: E402
from irvae_core.geometry.metric import pullback_metric  # noqa: E402
from irvae_core.store.checkpoints import load_model  # noqa: E402
from irvae_core.store.runs import open_run  # noqa: E402


class Recorded:
    """The decoder whose one pass is the recorded forward (``jacobian_pass(plain=True)``), for ``pullback_metric``."""

    def __init__(self, decoder):
        self.decoder = decoder
        self.jacobian_pass = functools.partial(decoder.jacobian_pass, plain=True)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


def main() -> None:
    args = timing_args(__doc__, iters=6, extra=lambda ap: ap.add_argument("--points", type=int, default=100_000))
    print(f"{args.points} points, {torch.get_num_threads()} thread(s)")
    print(f"{'example':14s} {'recorded s':>10s} {'one pass s':>10s}   one pass / recorded   paired [IQR]")
    for name in ("mocap-vae", "mnist5k-vae"):
        model = load_model(open_run(examples_dir() / name)).eval()
        z = torch.randn(args.points, model.latent_dim, generator=torch.Generator().manual_seed(0))
        fast, recorded = model.decoder, Recorded(model.decoder)
        same = torch.equal(pullback_metric(fast, z[:5000]), pullback_metric(recorded, z[:5000]))
        times = alternating_times({"recorded": lambda d=recorded, z=z: pullback_metric(d, z),
                                   "one pass": lambda d=fast, z=z: pullback_metric(d, z)},
                                  max_iters=args.iters, budget_s=args.budget, min_iters=3, warmup=1)
        print(f"{name:14s} {statistics.median(times['recorded']):10.2f} {statistics.median(times['one pass']):10.2f}"
              f"   {fmt_ratio(times, 'one pass', 'recorded')}   same metrics: {same}")


if __name__ == "__main__":
    main()
