"""Retrieval at CelebA's full size: 19,962 test codes against all 162,770 training queries (m = 128).

Random codes and random attributes of that size (shares spread from 1% to 80%, so that the DAR
filter keeps a few hundred pairs, as on CelebA); embeddings are in memory, as they are once the
cache holds them. Times every one of the 40 SAR attributes (bar: <= 5 s) and the DAR pairs, and
the peak extra memory of the run. Run: .venv/bin/python bench/retrieval.py [--threads N]
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._timing import timing_args  # noqa: E402
from irvae_core.retrieval.protocol import Embeddings, double_attribute_retrieval, single_attribute_retrieval

N_TRAIN, N_TEST, DIM, ATTRIBUTES = 162_770, 19_962, 128, 40
BAR_S = 5.0


def random_split(n: int, shares: torch.Tensor, g: torch.Generator) -> Embeddings:
    attributes = torch.rand(n, len(shares), generator=g) < shares
    return Embeddings(torch.randn(n, DIM, generator=g), attributes, [f"attr{i}" for i in range(len(shares))])


def main() -> None:
    args = timing_args(__doc__, iters=3)
    g = torch.Generator().manual_seed(0)
    shares = torch.logspace(-2, -0.1, ATTRIBUTES)  # 1% ... 79%
    train, test = random_split(N_TRAIN, shares, g), random_split(N_TEST, shares, g)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{N_TEST:,} test x {N_TRAIN:,} training codes, m = {DIM}, {ATTRIBUTES} attributes, "
          f"{torch.get_num_threads()} threads; best of {args.iters}")
    for name, fn in (("SAR", single_attribute_retrieval), ("DAR", double_attribute_retrieval)):
        best, table = float("inf"), None
        for _ in range(args.iters):
            t0 = time.perf_counter()
            table = fn(train, test)
            best = min(best, time.perf_counter() - t0)
        print(f"{name}: {len(table.queries)} query sets in {best:.2f} s ({best / len(table.queries) * 1e3:.1f} ms "
              f"each); mean P@10 {table.mean[2]:.3f} (random codes: about the attributes' shares)")
        if name == "SAR":
            print(f"SAR of all {ATTRIBUTES} attributes <= {BAR_S:g} s: {best:.2f} s -> "
                  f"{'met' if best <= BAR_S else 'NOT met'}")
    extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    print(f"peak memory above the embeddings: {extra:.0f} MB")


if __name__ == "__main__":
    main()
