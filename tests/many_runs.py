"""A runs folder the size a lab grows to: hundreds of tiny runs with real config, status, metrics and evaluation
files (as a Trainer and ``evaluate`` write them, without the training), a few of them corrupt or half-written.

Used by tests/test_many_runs.py and bench/many_runs.py."""

from __future__ import annotations

import json
import random
from pathlib import Path

from irvae_core.config import RunConfig, apply_overrides
from irvae_core.store.runs import new_run

# Damaged runs, one of each kind a crash, a full disk or a hand edit leaves: what the listing must say about each.
BROKEN = {
    "torn-config": ("config.json", '{"data": {"name": "mnist5k"}, "model": {"ki'),  # cut mid-write
    "garbage-config": ("config.json", "\x00\x01 not json at all"),
    "torn-status": ("status.json", '{"state": "runn'),
    "torn-evaluation": ("evaluation.json", '{"mse": 0.05, "vor"'),
    "torn-metrics": ("metrics.jsonl", '{"epoch": 1, "train_loss": 3.0}\n{"epoch": 2, "tra'),
}


def make_runs(root: Path, n: int = 500, seed: int = 0) -> dict[str, list[Path]]:
    """``n`` runs under ``root``: ``n - len(BROKEN)`` whole ones (done, failed, cancelled, interrupted; most
    evaluated) and one of each kind in ``BROKEN``. Returns {"whole": [...], kind: [path]}."""
    rng = random.Random(seed)
    made: dict[str, list[Path]] = {"whole": []}
    kinds = list(BROKEN)
    for i in range(n):
        reg = rng.choice(["none", "ir", "fmvae", "geomae"])
        alpha = None if reg == "none" else 10.0 ** rng.randint(1, 4)
        cfg = apply_overrides(RunConfig(), {"data.name": rng.choice(["mnist5k", "digits", "synthetic-mocap"]),
                                            "reg.kind": reg, "reg.alpha": alpha, "model.latent_dim": 2,
                                            "train.epochs": 10, "train.seed": i})
        cfg.name = f"run{i:04d}"
        run = new_run(root, cfg)
        run.write_config(cfg, extra={"type": "train", "x_shape": [1, 28, 28], "parameters": 800_000})
        state = rng.choices(["done", "failed", "cancelled", "interrupted"], [0.85, 0.05, 0.05, 0.05])[0]
        epochs = 10 if state == "done" else rng.randint(1, 9)
        for e in range(1, epochs + 1):
            run.log_metrics({"epoch": e, "step": 40 * e, "train_loss": 100.0 / e, "val_loss": 101.0 / e,
                             "val_mse": 0.05 + 0.1 / e, "time": 1.5 * e})
        run.set_status(state, epoch=epochs, epochs=10, progress=epochs / 10,
                       **({"error": "the loss became nan at epoch 3, step 7: try a smaller learning rate"}
                          if state == "failed" else {}))
        if state == "done" and rng.random() < 0.9:
            (run.path / "evaluation.json").write_text(json.dumps(
                {"dataset": cfg.data.name, "split": "test", "n": 500, "mse": rng.uniform(0.03, 0.08),
                 "vor": rng.uniform(0.01, 2.0), "mcn": rng.uniform(1.0, 30.0)}))
        (run.path / "best.pt").write_bytes(b"")  # a checkpoint's presence (its bytes are not read by listings)
        if i % (n // len(BROKEN)) == 0 and kinds:
            kind = kinds.pop()
            name, text = BROKEN[kind]
            (run.path / name).write_text(text)
            made[kind] = [run.path]
        else:
            made["whole"].append(run.path)
    return made
