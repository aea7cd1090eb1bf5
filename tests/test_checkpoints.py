"""checkpoints.py: the one place a run becomes a model, plain or flattened, new runs and old ones."""

import json

import pytest
import torch

from irvae_core.config import ConfigError
from irvae_core.data import load_dataset, load_run_data
from irvae_core.store.checkpoints import build_model, infer_fm_shape, load_model
from irvae_core.train.flattening import FlattenConfig, flatten
from irvae_core.train.trainer import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("checkpoints")
    base = train(tiny_config(**{"train.epochs": 1}), str(tmp))
    flat = flatten(base, FlattenConfig(epochs=1, depth=3, width=24), runs_dir=tmp)
    return base, flat


def test_a_flattened_run_records_its_module_shape_and_loads_from_it(runs):
    base, flat = runs
    raw = flat.raw_config()
    assert raw["type"] == "flatten" and raw["fm"] == {"kind": "realnvp", "dim": 2, "depth": 3, "width": 24}
    assert flat.name.startswith(f"{base.name}-fm")  # named after its base
    model = load_model(flat)
    assert len(model.fm.layers) == 3 and model.fm.layers[0].net[0].out_features == 24
    x = load_dataset("digits").test.x[:50]
    with torch.no_grad():  # the flattened model decodes what the base decodes
        torch.testing.assert_close(model.reconstruct(x), load_model(base).reconstruct(x), rtol=0, atol=1e-4)
    assert raw["train"]["lr"] == FlattenConfig().lr and raw["train"]["lr_schedule"] == "constant"
    assert raw["model"] == base.raw_config()["model"] and raw["data"] == base.raw_config()["data"]


def test_an_old_flattened_run_without_the_recorded_shape_still_loads(runs, tmp_path):
    import shutil

    _, flat = runs
    old = shutil.copytree(flat.path, tmp_path / "old-fm")
    raw = json.loads((old / "config.json").read_text())
    del raw["fm"]
    raw["flatten"] = {}  # nothing to guess from: the shape comes from the weights
    (old / "config.json").write_text(json.dumps(raw))
    from irvae_core.store.runs import open_run

    model = load_model(open_run(old))
    assert len(model.fm.layers) == 3 and model.fm.width == 24
    x = torch.randn(7, 2)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(x), load_model(flat).decode(x), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="no flattening module"):
        infer_fm_shape({"base.decoder.net.0.weight": torch.zeros(3, 2)})


def test_build_model_and_load_run_data_follow_the_config(runs):
    base, _ = runs
    cfg = base.config()
    model = build_model(cfg, (1, 8, 8))
    assert model.latent_dim == 2 and sum(p.numel() for p in model.parameters()) > 0
    data = load_run_data(cfg.data)
    assert data.name == "digits" and data.x_shape == (1, 8, 8)
    sub = load_run_data(tiny_config(**{"data.classes": [0, 1]}).data)
    assert set(sub.train.y.tolist()) == {0, 1}
