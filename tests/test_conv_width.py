"""The conv networks' width option (models/networks.py), the presets that use it, and a run that records it.

Expected shapes and parameter counts are written out here from the paper's layer lists
(Appendix D.3 for 64x64 CelebA, E.2 for 28x28 / 32x32 images), not taken from the code.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from irvae_core.cli import main
from irvae_core.config import CPU_CONV_WIDTH, ConfigError, apply_overrides, preset_config
from irvae_core.data.synthetic_faces import write_celeba_layout
from irvae_core.store.checkpoints import build_model, load_model
from irvae_core.store.runs import new_run, open_run
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import Trainer
from models import ConvDecoder, ConvEncoder, build_autoencoder

ROOT = Path(__file__).resolve().parents[1]


def d3_layers(w: int, m: int, c: int = 3):
    """(kind, in, out, kernel) of D.3's VAE: encoder w-2w-4w-8w (k5 s2) then 1x1 to 2m; decoder back to c."""
    enc = [("conv", c, w, 5), ("conv", w, 2 * w, 5), ("conv", 2 * w, 4 * w, 5), ("conv", 4 * w, 8 * w, 5),
           ("conv", 8 * w, 2 * m, 1)]
    dec = [("convT", m, 8 * w, 8), ("convT", 8 * w, 4 * w, 4), ("convT", 4 * w, 2 * w, 4), ("convT", 2 * w, w, 4),
           ("convT", w, c, 1)]
    return enc, dec


def e2_layers(w: int, m: int, c: int, size: int):
    third = 4 if size == 32 else 3
    enc = [("conv", c, w, 4), ("conv", w, 2 * w, 4), ("conv", 2 * w, 4 * w, third), ("conv", 4 * w, 8 * w, 2),
           ("conv", 8 * w, 2 * m, 1)]
    dec = [("convT", m, 8 * w, size // 4), ("convT", 8 * w, 4 * w, 4), ("convT", 4 * w, 2 * w, 4),
           ("convT", 2 * w, c, 1)]
    return enc, dec


def expected_shapes(enc, dec) -> dict[str, tuple]:
    """State-dict shapes: Conv2d weight (out, in, k, k), ConvTranspose2d weight (in, out, k, k); layers at 0, 2, 4..."""
    shapes = {}
    for part, layers in (("encoder", enc), ("decoder", dec)):
        for i, (kind, cin, cout, k) in enumerate(layers):
            shapes[f"{part}.net.{2 * i}.weight"] = (cout, cin, k, k) if kind == "conv" else (cin, cout, k, k)
            shapes[f"{part}.net.{2 * i}.bias"] = (cout,)
    return shapes


def vae_parameters(enc, dec) -> int:
    """Weights + biases of every layer, plus the VAE's scalar log sigma."""
    return sum(cin * cout * k * k + cout for _, cin, cout, k in enc + dec) + 1


def shapes_of(model) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if k != "log_sigma"}


def test_the_paper_celeba_network_is_unchanged_by_default_and_by_paper():
    enc, dec = d3_layers(128, 128)
    default = build_autoencoder("vae", "conv", (3, 64, 64), 128, out_act="tanh", fixed_sigma=1.0)
    assert shapes_of(default) == expected_shapes(enc, dec)
    cfg = resolve_config(apply_overrides(preset_config("celeba-conv", paper=True), {"data.root": "/nowhere"}))
    assert cfg.model.conv_width is None and cfg.model.latent_dim == 128
    paper = build_model(cfg, (3, 64, 64))
    assert sum(p.numel() for p in paper.parameters()) == vae_parameters(enc, dec) == 36_878_084
    assert shapes_of(paper) == expected_shapes(enc, dec)
    assert isinstance(paper.decoder.net[-1], torch.nn.Tanh)  # outputs in [-1, 1], the data's range


@pytest.mark.parametrize("size,c", [(28, 1), (32, 3)])
def test_the_paper_e2_networks_and_a_narrower_one(size, c):
    for width in (None, 32, 8):
        model = build_autoencoder("vae", "conv", (c, size, size), 16, conv_width=width)
        enc, dec = e2_layers(width or 32, 16, c, size)
        assert shapes_of(model) == expected_shapes(enc, dec)
        assert sum(p.numel() for p in model.parameters()) == vae_parameters(enc, dec)
        assert model.decode(torch.zeros(2, 16)).shape == (2, c, size, size)


@pytest.mark.parametrize("width", [4, 16, 40])
def test_width_doubles_per_layer_and_keeps_the_image_shape(width):
    enc = ConvEncoder((3, 64, 64), 10, width=width)
    dec = ConvDecoder(5, (3, 64, 64), out_act="tanh", width=width)
    convs = [layer.out_channels for layer in enc.net if hasattr(layer, "out_channels")]
    assert convs == [width, 2 * width, 4 * width, 8 * width, 10]
    assert enc(torch.zeros(2, 3, 64, 64)).shape == (2, 10)
    x = dec(torch.randn(2, 5) * 10)
    assert x.shape == (2, 3, 64, 64) and x.abs().max() <= 1


def test_width_errors_are_one_sentence():
    with pytest.raises(ValueError, match=r"conv width \(the first layer's channels\) must be >= 1; got 0"):
        ConvEncoder((3, 64, 64), 10, width=0)
    with pytest.raises(ConfigError, match="conv width .* must be >= 1; got -3"):
        apply_overrides(preset_config("celeba"), {"model.conv_width": -3})
    cfg = resolve_config(apply_overrides(preset_config("celeba"), {"data.name": "mnist5k", "model.arch": "fc"}))
    assert cfg.model.conv_width is None  # a conv preset's width means nothing to FC networks


def test_cpu_presets_use_the_cpu_width_and_celeba_is_an_alias():
    cpu = preset_config("celeba")
    assert cpu == preset_config("celeba-conv")
    assert (cpu.data.name, cpu.model.conv_width, cpu.model.out_act, cpu.model.fixed_sigma) == ("celeba", 16, "tanh",
                                                                                              1.0)
    assert preset_config("images-conv").model.conv_width == CPU_CONV_WIDTH == 16
    assert preset_config("images-conv", paper=True).model.conv_width is None


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irvae_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_one_epoch_of_the_cpu_celeba_preset_records_its_width_and_parameter_count(tmp_path):
    """Must hold (issue 18): the CPU celeba preset trains an epoch on a CelebA-layout folder and records its network."""
    write_celeba_layout(tmp_path / "data", n=40, seed=7, image_size=(89, 109))
    r = cli("train", "--preset", "celeba", "--data-root", str(tmp_path / "data"), "--reg", "ir", "--epochs", "1",
            "--no-tensorboard", "--out", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["conv_width"] == CPU_CONV_WIDTH and config["model"]["latent_dim"] == 32
    assert config["data"]["name"] == "celeba" and config["x_shape"] == [3, 64, 64]
    enc, dec = d3_layers(CPU_CONV_WIDTH, 32)
    assert config["parameters"] == vae_parameters(enc, dec) == 712_964
    model = load_model(open_run(run_dir))
    assert shapes_of(model) == expected_shapes(enc, dec)
    assert config["model"]["out_act"] == "tanh" and isinstance(model.decoder.net[-1], torch.nn.Tanh)  # [-1, 1]
    assert model.log_sigma.exp().item() == pytest.approx(1.0) and not model.log_sigma.requires_grad
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["epoch"] == 1


def test_a_paper_preset_run_records_the_paper_width(tmp_path):
    write_celeba_layout(tmp_path / "data", n=10, seed=8, image_size=(89, 109))
    cfg = apply_overrides(preset_config("celeba-conv", paper=True), {"data.root": str(tmp_path / "data"),
                                                                      "model.latent_dim": 4})
    run = new_run(tmp_path / "runs", cfg)
    Trainer(cfg, run)  # builds the model and writes the run's config
    config = json.loads(run.file("config.json").read_text())
    assert config["model"]["conv_width"] == 128
    assert config["parameters"] == vae_parameters(*d3_layers(128, 4))


def test_conv_width_on_fully_connected_data_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "digits", "--conv-width", "8", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--conv-width sets conv networks' channels, but this run uses fully connected ones" in err
