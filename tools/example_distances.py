"""Add the distortion suite to shipped examples without touching their stored MSE / VoR / MCN.

    .venv/bin/python tools/example_distances.py mnist5k-vae mnist5k-irvae mocap-vae mocap-irvae

(``./lab examples`` computes the suite when it regenerates an example; this adds it to the ones shipped.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irvae_core.experiments.examples import examples_dir  # noqa: E402
from irvae_core.store.runs import Run  # noqa: E402
from irvae_core.train.evaluation import DISTANCE_COLUMNS, add_distance_suite  # noqa: E402

torch.set_num_threads(1)
for name in sys.argv[1:]:
    d = add_distance_suite(Run(examples_dir() / name), example=True)["distances"]
    print(name, {k: round(d[k], 4) for k in DISTANCE_COLUMNS if k in d}, d["geo_certified"], "/", d["geo_pairs"],
          "manifold", {k: round(v, 4) for k, v in d["manifold"].items()}, flush=True)
