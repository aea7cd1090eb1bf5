"""Bench: 64 geodesics in one batched call against 64 calls of geodesic(), and against stochman.

On the shipped mnist5k VAE example (784-256x4-2 FC, m = 2) and ``--pairs`` random pairs of its
test digits (seed 0):

- ``geodesics(decoder, z0, z1, n, batched=True)``: one certified batched optimisation over all pairs
  (the default ``geodesics`` runs one optimisation per pair: the loop below, by another route);
- a loop of ``geodesic(decoder, z0[i], z1[i], n)``: the same certification, one pair at a time;
- stochman 0.3.0's ``EmbeddedManifold.connecting_geodesic`` (cubic spline, Adam, its defaults) when
  ``import stochman`` works (``pip install --no-deps stochman==0.3.0``, or ``--stochman-path DIR``).

Every curve (ours a latent polyline, stochman's a spline evaluated at 2,049 points) is measured by
the same reference: its latent polyline cut into >= 4,096 equal-parameter pieces and decoded. The
goals: the batched call >= 5x faster than the loop at equal lengths (+-0.5%), and ours never longer
than stochman's by more than 1% on any pair. Wall times are in one process, arms back to back.

    .venv/bin/python bench/geodesics_batched.py [--pairs 64] [--points 16] [--run RUN_DIR] [--stochman-path DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irvae_core.data import load_run_data  # noqa: E402
from irvae_core.geometry.curves import geodesic, geodesics  # noqa: E402
from irvae_core.store.checkpoints import load_model  # noqa: E402
from irvae_core.store.runs import open_run  # noqa: E402
from irvae_core.views.interpolation import encode_test_examples  # noqa: E402

REFERENCE_PIECES = 4096


def reference_length(decode, path: torch.Tensor, pieces: int = REFERENCE_PIECES) -> float:
    """Length of the latent polyline ``path`` (n, m) cut into >= ``pieces`` equal pieces per parameter and decoded."""
    n = len(path)
    k = -(-pieces // (n - 1))
    t = torch.arange(k, dtype=path.dtype) / k
    inner = (path[:-1, None] + t[:, None] * (path[1:] - path[:-1])[:, None]).reshape(-1, path.shape[1])
    fine = torch.cat([inner, path[-1:]])
    with torch.no_grad():
        x = torch.cat([decode(part).reshape(len(part), -1).double() for part in fine.split(8192)])
    return float((x[1:] - x[:-1]).norm(dim=1).sum())


def stochman_lengths(decode, z0: torch.Tensor, z1: torch.Tensor) -> tuple[list[float], float] | None:
    try:
        from stochman.manifold import EmbeddedManifold
    except ImportError:
        return None

    class Decoded(EmbeddedManifold):
        def embed(self, points, jacobian=False):
            shape = points.shape
            return decode(points.reshape(-1, shape[-1])).reshape(*shape[:-1], -1)

    manifold, lengths = Decoded(), []
    t0 = time.perf_counter()
    curves = []
    for a, b in zip(z0, z1):
        curve, _ = manifold.connecting_geodesic(a[None], b[None])
        curves.append(curve)
    seconds = time.perf_counter() - t0
    grid = torch.linspace(0, 1, 2049, dtype=z0.dtype)
    for curve in curves:
        with torch.no_grad():
            lengths.append(reference_length(decode, curve(grid).reshape(len(grid), -1).detach(), REFERENCE_PIECES))
    return lengths, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=64, help="random test pairs (default 64)")
    ap.add_argument("--points", type=int, default=16, help="points per curve to start from (default 16)")
    ap.add_argument("--run", default=str(ROOT / "examples" / "mnist5k-vae"), help="run (default: the shipped VAE)")
    ap.add_argument("--stochman-path", help="a folder holding the stochman package (pip install --target DIR)")
    args = ap.parse_args()
    if args.stochman_path:
        sys.path.insert(0, args.stochman_path)
    torch.set_num_threads(1)
    run = open_run(args.run)
    data, model = load_run_data(run.config().data), load_model(run)
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    pairs = [torch.randperm(len(data.test), generator=g)[:2].tolist() for _ in range(args.pairs)]
    z = torch.stack([encode_test_examples(model, data, p) for p in pairs])  # (N, 2, m)
    z0, z1 = z[:, 0].contiguous(), z[:, 1].contiguous()
    geodesic(model.decode, z0[0], z1[0], args.points)  # warm-up

    t0 = time.perf_counter()
    batch = geodesics(model.decode, z0, z1, args.points, batched=True)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = [geodesic(model.decode, a, b, args.points) for a, b in zip(z0, z1)]
    t_loop = time.perf_counter() - t0

    ref_batch = [reference_length(model.decode, p) for p in batch.paths]
    ref_loop = [reference_length(model.decode, g.path) for g in loop]
    agree = [abs(a / b - 1) for a, b in zip(ref_batch, ref_loop)]
    reported = [abs(float(batch.lengths[i]) / ref_batch[i] - 1) for i in range(args.pairs)]
    print(f"{run.name}: {args.pairs} pairs of test codes, {args.points} points to start from, 1 thread")
    print(f"batched geodesics(): {t_batch:.2f} s ({int(batch.certified.sum())}/{args.pairs} certified, points "
          f"needed median {int(batch.n_points.median())}, max {int(batch.n_points.max())}, {batch.iterations} "
          f"iterations)")
    print(f"loop of geodesic(): {t_loop:.2f} s ({sum(g.certified for g in loop)}/{args.pairs} certified)")
    print(f"time ratio loop / batched: {t_loop / t_batch:.1f}x (goal >= 5x)")
    print(f"reference lengths, batched vs loop: max |rel diff| {max(agree):.2%}, median {statistics.median(agree):.3%}"
          f" (goal <= 0.5%); pairs over 0.5%: {sum(a > 0.005 for a in agree)}")
    print(f"batched reported length vs its reference: max |rel diff| {max(reported):.2%}")
    ratios = batch.length_ratios
    print(f"straight / geodesic (certified): median {float(ratios.median()):.3f}, max {float(ratios.max()):.3f}")
    ref = stochman_lengths(model.decode, z0, z1)
    if ref is None:
        print("stochman: not importable (pip install --no-deps stochman==0.3.0, or --stochman-path DIR); skipped")
        return
    lengths, seconds = ref
    print(f"stochman connecting_geodesic (cubic spline, Adam, defaults): {seconds:.1f} s for {args.pairs} pairs")
    for label, ours in (("one optimisation per pair (the default)", ref_loop), ("batched=True", ref_batch)):
        over = [a / b - 1 for a, b in zip(ours, lengths)]
        print(f"ours ({label}) / stochman's length: worst {1 + max(over):.4f}, best {1 + min(over):.4f}, median "
              f"{1 + statistics.median(over):.4f}; pairs where ours is longer by > 1%: "
              f"{sum(o > 0.01 for o in over)} (goal 0)")


if __name__ == "__main__":
    main()
