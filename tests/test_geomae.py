"""The Geometric Autoencoder's determinant loss Var log det G (Nazari et al. 2023), ``--reg geomae``."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from irvae_core.config import REG_KINDS, ConfigError, RunConfig, apply_overrides, default_alpha
from irvae_core.geometry.regularizers import geomae_distortion, metric_with_graph, relaxed_distortion
from irvae_core.regularizers import geomae_distortion as public_geomae_distortion
from irvae_core.store.summaries import method_name
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import reg_weight, regularizer
from models import FCDecoder
from tests.helpers import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def orthonormal(d, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(d, m, generator=g, dtype=torch.float64))[0]


def codes(b=40, m=2, seed=0):
    return torch.randn(b, m, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def shear(d=7):
    """(z1, z2) -> (z1, z2 + sin z1) placed in R^d by an orthonormal Q: G = [[1 + cos^2, cos], [cos, 1]], det G = 1."""
    Q = orthonormal(d, 2, seed=3)

    def f(z):
        return torch.stack([z[:, 0], z[:, 1] + z[:, 0].sin()], 1) @ Q.T

    return f


def test_the_public_path_is_the_geometry_function():
    assert public_geomae_distortion is geomae_distortion
    assert "geomae" in REG_KINDS


def test_zero_for_a_linear_decoder_of_full_column_rank():
    A = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))  # not an isometry
    value = geomae_distortion(lambda z: z @ A.T, codes(m=3))
    assert 0 <= value.item() <= 1e-24


def test_zero_for_a_volume_preserving_shear_whose_metric_is_not_constant():
    f, z = shear(), codes(b=50, seed=2)
    G = metric_with_graph(f, z).detach()
    assert torch.allclose(torch.linalg.det(G), torch.ones(50, dtype=torch.float64), atol=1e-12)
    assert (G[:, 0, 0] - G[:, 0, 0].mean()).abs().max() > 0.3  # G itself varies: not a scaled isometry
    assert 0 <= geomae_distortion(f, z).item() <= 1e-24
    torch.manual_seed(0)
    assert relaxed_distortion(f, z, estimator="exact").item() > 0.1  # the relaxed distortion is not 0 here


def test_the_value_is_the_unbiased_variance_of_log_det_in_an_analytic_case():
    # f(z) = (exp z1, z2): J = diag(e^z1, 1), log det G = 2 z1, so Var log det G = 4 Var z1 (divisor B - 1)
    def f(z):
        return torch.stack([z[:, 0].exp(), z[:, 1]], 1)

    z = codes(b=9, seed=4)
    z1 = z[:, 0]
    expected = 4 * ((z1 - z1.mean()) ** 2).sum() / (len(z1) - 1)
    assert geomae_distortion(f, z).item() == pytest.approx(expected.item(), rel=1e-12)
    assert geomae_distortion(f, z).item() == pytest.approx(4 * torch.var(z1).item(), rel=1e-12)


def test_invariant_to_output_scale_and_to_affine_latent_changes():
    dec = FCDecoder(2, (6,), hidden=(16, 16), act="tanh", out_act="linear").double()
    z = codes(b=30, seed=5)
    base = geomae_distortion(dec, z).item()
    assert base > 1e-4
    A = torch.tensor([[2.0, 0.7], [-0.3, 0.5]], dtype=torch.float64)  # det 1.21, not orthogonal
    b = torch.tensor([0.4, -1.0], dtype=torch.float64)
    w = torch.linalg.solve(A, (z - b).T).T  # z = A w + b
    assert geomae_distortion(lambda ww: 3.0 * dec(ww @ A.T + b), w).item() == pytest.approx(base, rel=1e-9)


def reference_value(dec, z):
    """Var log det J^T J with J of each point by torch.autograd.functional.jacobian (a graph kept), torch.var."""
    log_dets = []
    for zi in z:
        J = torch.autograd.functional.jacobian(lambda v: dec(v[None]).reshape(-1), zi, create_graph=True)  # (D, m)
        log_dets.append(torch.logdet(J.T @ J))
    return torch.var(torch.stack(log_dets))


def test_value_and_gradients_equal_a_plain_autograd_reference_in_float64():
    torch.manual_seed(7)
    dec = FCDecoder(2, (5,), hidden=(8, 8), act="elu", out_act="linear").double()
    z0 = codes(b=12, seed=6)
    grads = []
    for fn in (geomae_distortion, reference_value):
        dec.zero_grad()
        z = z0.clone().requires_grad_(True)  # the codes carry a graph to the encoder in training
        value = fn(dec, z)
        value.backward()
        # the output layer's bias does not move J: no gradient (None) on either side
        grads.append((value.item(), [p.grad for p in dec.parameters()], z.grad.clone()))
    (v, gp, gz), (v_ref, gp_ref, gz_ref) = grads
    assert v > 1e-3 and v == pytest.approx(v_ref, rel=1e-10)
    assert [g is None for g in gp] == [g is None for g in gp_ref] and sum(g is not None for g in gp) >= 5
    for a, b in zip(gp, gp_ref):
        assert a is None or torch.allclose(a, b, rtol=1e-8, atol=1e-12)
    assert torch.allclose(gz, gz_ref, rtol=1e-8, atol=1e-12)


def test_the_trainer_uses_it_on_the_codes_as_given_with_alpha_as_its_weight():
    dec = FCDecoder(2, (6,), hidden=(16,), act="tanh", out_act="linear").double()
    z = codes(b=25, seed=8)
    cfg = tiny_config(**{"reg.kind": "geomae", "reg.alpha": 0.1, "reg.eta": 0.5})
    values = set()
    for seed in range(3):  # no mixup, no probes: no randomness
        torch.manual_seed(seed)
        values.add(regularizer(cfg, dec, z).item())
    assert values == {geomae_distortion(dec, z).item()}
    assert reg_weight("geomae", 0.1, 2) == reg_weight("geomae", 0.1, 16) == 0.1


def test_a_batch_of_one_point_has_no_variance():
    with pytest.raises(ValueError, match="variance over the batch"):
        geomae_distortion(lambda z: z, torch.zeros(1, 2))


# ---------------------------------------------------------------- config and command line

def test_config_round_trip_and_defaults(tmp_path):
    cfg = resolve_config(tiny_config(**{"reg.kind": "geomae", "model.kind": "ae"}))
    assert cfg.reg.kind == "geomae" and cfg.reg.alpha == 0.1  # Nazari et al.'s MNIST lambda, per-pixel MSE units
    assert default_alpha("vae", "geomae") == 600.0 and default_alpha("vae", "geomae", 16) == 600.0
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    again = RunConfig.load(path)
    assert again == cfg and again.reg.kind == "geomae"
    assert apply_overrides(cfg, {"reg.samples": "batch"}).reg.samples == "batch"  # --paper's setting is fine


def test_unknown_kind_and_options_geomae_does_not_take_are_one_sentence():
    with pytest.raises(ConfigError) as e:
        tiny_config(**{"reg.kind": "geometric"})
    assert str(e.value) == "regularizer must be one of none, ir, fmvae, iso, geomae; got 'geometric'"
    with pytest.raises(ConfigError, match="needs log det G, so the exact metric"):
        tiny_config(**{"reg.kind": "geomae", "reg.estimator": "hutchinson"})
    with pytest.raises(ConfigError, match="variance over the whole batch"):
        tiny_config(**{"reg.kind": "geomae", "reg.samples": 10})
    assert method_name({"model": {"kind": "ae"}, "reg": {"kind": "geomae"}}) == "GEOMAE"
    assert method_name({"model": {"kind": "vae"}, "reg": {"kind": "geomae"}}) == "GEOMVAE"


def train_args(tmp_path, *extra: str) -> list[str]:
    return ["train", "--dataset", "digits", "--reg", "geomae", "--epochs", "1", "--no-tensorboard", "--no-evaluate",
            "--out", str(tmp_path), *extra]


def test_train_geomae_through_the_command_line(tmp_path, capsys):
    from irvae_core.cli import main

    assert main(train_args(tmp_path, "--model", "vae", "--alpha", "600")) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["reg"]["kind"] == "geomae" and config["reg"]["alpha"] == 600.0
    [record] = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert math.isfinite(record["train_reg"]) and record["train_reg"] >= 0
    for split in ("train", "val"):  # the objective is L + alpha R, alpha the weight itself (paper eq. 9)
        parts = record[f"{split}_nll"] + record[f"{split}_kl"]
        assert record[f"{split}_loss"] == pytest.approx(parts + 600.0 * record[f"{split}_reg"], rel=1e-6), split


def test_bad_alpha_and_estimator_for_geomae_exit_2_with_one_sentence(tmp_path, capsys):
    from irvae_core.cli import main

    assert main(train_args(tmp_path, "--alpha", "-1")) == 2
    assert capsys.readouterr().err.strip() == "error: alpha must be >= 0; got -1.0"
    assert main(train_args(tmp_path, "--estimator", "hutchinson")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: the geomae regularizer needs log det G")
    assert not list(tmp_path.iterdir())  # no run folder for a bad config


@pytest.mark.slow
def test_python_m_irvae_core_train_geomae_exits_0(tmp_path):
    r = subprocess.run([sys.executable, "-m", "irvae_core", *train_args(tmp_path, "--model", "ae")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    config = json.loads((Path(r.stdout.strip().splitlines()[-1]) / "config.json").read_text())
    assert config["reg"] == {**config["reg"], "kind": "geomae", "alpha": 0.1}
