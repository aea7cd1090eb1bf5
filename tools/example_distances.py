"""Add the distortion suite to shipped examples without touching their stored MSE / VoR / MCN.

    .venv/bin/python tools/example_distances.py mnist5k-vae mnist5k-irvae mocap-vae mocap-irvae

(``./lab examples`` computes the suite when it regenerates an example; this adds it to the ones shipped.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.data import load_run_data  # noqa: E402
from irvae_core.experiments.examples import examples_dir  # noqa: E402
from irvae_core.store.checkpoints import load_model  # noqa: E402
from irvae_core.store.files import atomic_write_json  # noqa: E402
from irvae_core.store.runs import Run  # noqa: E402
from irvae_core.train.evaluation import DISTANCE_COLUMNS, DISTANCES_FILE, evaluate_model  # noqa: E402

torch.set_num_threads(1)
for name in sys.argv[1:]:
    run = Run(examples_dir() / name)
    stored = run.evaluation()
    detail: dict = {}
    fresh = evaluate_model(load_model(run), load_run_data(run.config().data), distances=True, detail=detail)
    stored["distances"] = fresh["distances"]
    stored.update({k: fresh[k] for k in DISTANCE_COLUMNS if k in fresh})
    atomic_write_json(run.file(DISTANCES_FILE), {"split": "test", **detail})
    atomic_write_json(run.file("evaluation.json"), stored)
    d = fresh["distances"]
    print(name, {k: round(d[k], 4) for k in DISTANCE_COLUMNS if k in d}, d["geo_certified"], "/", d["geo_pairs"],
          "manifold", {k: round(v, 4) for k, v in d["manifold"].items()}, flush=True)
