"""Bench: the Ray sweep engine against the local one (irvae_core/engines.py), wall time per sweep.

1. Overhead per run: N tiny runs (digits, 1 epoch) one at a time, local engine vs Ray with one
   run at a time (each task reserves both CPUs of the local Ray instance); (Ray - local) / N.
2. Parallel workers: 4 runs (digits, a few epochs) on Ray with 2 runs at a time (1 CPU each) vs
   1 at a time (2 CPUs each); the wall-time ratio. Every run uses 1 torch thread in both arms,
   so both arms do the same work and only the parallelism differs.

The arms alternate (order reversed every repeat), each sweep into a fresh folder (nothing is
reused); medians over repeats, and the median of the per-repeat ratios. Ray's start and the
workers' first import of torch are one-time costs, reported apart (a warm-up sweep).

    .venv/bin/python bench/ray_engine.py [--repeats R] [--runs N] [--epochs E]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.config import RunConfig, apply_overrides  # noqa: E402
from irvae_core.experiments.engines import LocalEngine, RayEngine, run_sweep


def configs(n: int, epochs: int) -> list[RunConfig]:
    base = {"data.name": "digits", "model.hidden": [32, 32], "model.latent_dim": 2, "reg.kind": "ir",
            "train.epochs": epochs, "train.batch_size": 20, "train.tensorboard": False}
    return [apply_overrides(RunConfig(), {**base, "reg.alpha": 10.0 * (i + 1)}) for i in range(n)]


def wall(cfgs: list[RunConfig], engine, root: Path, tag: str) -> float:
    out = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=root))
    t0 = time.perf_counter()
    rows = run_sweep(cfgs, out, engine)
    elapsed = time.perf_counter() - t0
    if any(r["state"] != "done" for r in rows):
        raise SystemExit(f"a {tag} run did not finish: {rows}")
    return elapsed


def alternate(arms: dict, cfgs: list[RunConfig], repeats: int, root: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in arms}
    names = list(arms)
    for i in range(repeats):
        for k in names if i % 2 == 0 else names[::-1]:
            times[k].append(wall(cfgs, arms[k], root, k))
    return times


def summary(times: dict[str, list[float]], a: str, b: str) -> str:
    ratios = [x / y for x, y in zip(times[a], times[b])]
    ma, mb = statistics.median(times[a]), statistics.median(times[b])
    return (f"  {a}: median {ma:.2f} s   {b}: median {mb:.2f} s   {a} / {b}: {ma / mb:.2f} "
            f"(per-repeat: median {statistics.median(ratios):.2f}, min {min(ratios):.2f}, max {max(ratios):.2f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--runs", type=int, default=6, help="runs of the overhead sweep")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each run of the parallel sweep")
    a = p.parse_args()
    try:
        import ray
    except ImportError:
        print("skipped: Ray is not installed (pip install -r requirements-ray.txt)")
        return

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    print(f"ray {ray.__version__}: local instance with 2 CPUs started in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = wall(configs(2, 1), RayEngine(cpus_per_run=1, threads=1), root, "warmup")
        print(f"warm-up sweep (2 one-epoch runs, 2 workers importing torch): {cold:.1f} s")
        tiny = configs(a.runs, 1)
        t = alternate({"local": LocalEngine(threads=1), "ray": RayEngine(cpus_per_run=2, threads=1)},
                      tiny, a.repeats, root)
        extra = (statistics.median(t["ray"]) - statistics.median(t["local"])) / a.runs
        print(f"1. {a.runs} one-epoch runs one at a time, {a.repeats} repeats:")
        print(summary(t, "ray", "local"))
        print(f"  overhead of the Ray engine per run: {extra:+.2f} s "
              f"(local run: {statistics.median(t['local']) / a.runs:.2f} s each)")
        t = alternate({"2 workers": RayEngine(cpus_per_run=1, threads=1),
                       "1 worker": RayEngine(cpus_per_run=2, threads=1)}, configs(4, a.epochs), a.repeats, root)
        print(f"2. 4 runs of {a.epochs} epochs on Ray, {a.repeats} repeats:")
        print(summary(t, "2 workers", "1 worker"))
    ray.shutdown()


if __name__ == "__main__":
    main()
