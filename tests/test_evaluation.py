"""Test-split evaluation (MSE, VoR, MCN) against closed forms and computations written here."""

import json
import math

import numpy as np
import pytest
import torch

from irvae_core.cli import main
from irvae_core.data import load_dataset
from irvae_core.geometry.metric import mean_condition_number, variance_of_riemannian_metric
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import load_checkpoint, save_checkpoint
from irvae_core.store.runs import new_run
from irvae_core.train.evaluation import evaluate_model, evaluate_run, geometry_summary
from irvae_core.train.trainer import Trainer
from models import build_autoencoder
from tests.helpers import tiny_config, tiny_images

pytestmark = pytest.mark.slow  # trains runs


def reference(model, x: torch.Tensor) -> dict[str, float]:
    """MSE of decode(encode(x)), and MCN / VoR of the encoded points, in float64: Jacobians by
    central differences, VoR = mean sum log^2 eig(Gbar^-1/2 G Gbar^-1/2) with Gbar the mean metric."""
    model = model.double()
    x = x.double()
    with torch.no_grad():
        z = model.encode(x)
        mse = (model.decode(z) - x).pow(2).mean().item()
        h = 1e-6
        J = torch.stack([(model.decode(z + h * e) - model.decode(z - h * e)).reshape(len(z), -1) / (2 * h)
                         for e in torch.eye(z.shape[1], dtype=torch.float64)], -1)
    G = (J.transpose(1, 2) @ J).numpy()
    lam = np.linalg.eigvalsh(G)
    s, U = np.linalg.eigh(G.mean(0))
    w = U @ np.diag(s**-0.5) @ U.T
    vor = float((np.log(np.linalg.eigvalsh(w @ G @ w)) ** 2).sum(1).mean())
    model.float()
    return {"mse": mse, "mcn": float((lam[:, -1] / lam[:, 0]).mean()), "vor": vor}


def test_evaluate_model_equals_an_independent_computation():
    torch.manual_seed(0)
    data = tiny_images()
    model = build_autoencoder("ae", "fc", (1, 8, 8), latent_dim=3, hidden=(16,), out_act="sigmoid")
    result = evaluate_model(model, data)
    expected = reference(model, data.test.x)
    assert (result["split"], result["n"], result["latent"]) == ("test", len(data.test), "encoded")
    assert result["mse"] == pytest.approx(expected["mse"], rel=1e-5)
    assert result["mcn"] == pytest.approx(expected["mcn"], rel=1e-4)
    assert result["vor"] == pytest.approx(expected["vor"], rel=1e-3)
    # the augmented block is measured on mixup points of the codes: other points, other numbers
    assert result["augmented"]["mcn"] != result["mcn"] and result["augmented"]["vor"] != result["vor"]
    val = evaluate_model(model, data, split="val")
    assert val["mse"] == pytest.approx(reference(model, data.val.x)["mse"], rel=1e-5)


def test_a_linear_decoder_has_its_closed_form_geometry_on_encoded_and_augmented_codes():
    torch.manual_seed(1)
    data = tiny_images()
    model = build_autoencoder("ae", "fc", (1, 8, 8), latent_dim=2, hidden=(), out_act="linear")
    W = model.decoder.net[0].weight.detach().double()  # (64, 2): G = W^T W everywhere
    lam = torch.linalg.eigvalsh(W.T @ W)
    result = evaluate_model(model, data)
    for geometry in (result, result["augmented"]):
        assert geometry["mcn"] == pytest.approx((lam[1] / lam[0]).item(), rel=1e-4)
        assert geometry["vor"] == pytest.approx(0.0, abs=1e-9)
        assert geometry["cond_std"] == pytest.approx(0.0, abs=1e-4)


def test_evaluate_run_measures_the_best_checkpoint_and_saves_it(tmp_path):
    cfg = tiny_config(**{"model.kind": "ae", "train.epochs": 1})
    run = new_run(tmp_path, cfg)
    Trainer(cfg, run).fit()
    # a last epoch that went astray: last.pt holds other weights than best.pt
    state = load_checkpoint(run.file("last.pt"))
    g = torch.Generator().manual_seed(0)
    state["model"] = {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in state["model"].items()}
    save_checkpoint(run.file("last.pt"), state)
    result = evaluate_run(run)  # the run's own data: the digits' test split
    test_x = load_dataset("digits").test.x
    best, last = reference(load_model(run, "best"), test_x), reference(load_model(run, "last"), test_x)
    assert abs(best["mse"] - last["mse"]) > 0.01 * best["mse"]  # the two checkpoints differ
    assert result["mse"] == pytest.approx(best["mse"], rel=1e-5)
    assert result["mcn"] == pytest.approx(best["mcn"], rel=1e-3)
    assert run.evaluation() == result


def test_singular_metrics_are_counted_and_left_out():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 3, 3, dtype=torch.float64, generator=g)
    regular = A @ A.transpose(1, 2) + 0.1 * torch.eye(3, dtype=torch.float64)
    singular = torch.stack([torch.diag(torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)),
                            torch.zeros(3, 3, dtype=torch.float64)])
    s = geometry_summary(torch.cat([regular[:3], singular, regular[3:]]))
    assert s["singular_points"] == 2
    assert s["mcn"] == s["cond_mean"] == mean_condition_number(regular)
    assert s["vor"] == variance_of_riemannian_metric(regular)
    assert geometry_summary(regular)["singular_points"] == 0
    none = geometry_summary(singular)
    assert none["singular_points"] == 2 and math.isinf(none["vor"]) and math.isinf(none["mcn"])


def test_evaluate_reports_singular_points_in_json_and_text(tmp_path, capsys):
    # a ReLU decoder whose first layer passes each code coordinate, shifted by its median, to one unit
    # (the other units are off): where a code lies below the median in some coordinate, that unit is
    # off too and the decoder's Jacobian loses rank
    cfg = tiny_config(**{"model.kind": "ae", "model.hidden": [16], "train.epochs": 3})
    run = new_run(tmp_path, cfg)
    Trainer(cfg, run).fit()
    model = load_model(run)
    z = model.encode(load_dataset("digits").test.x).detach()
    state = load_checkpoint(run.file("best.pt"))
    weight, bias = torch.zeros(16, 2), torch.full((16,), -1e3)
    weight[0, 0] = weight[1, 1] = 1.0
    bias[:2] = -z.median(0).values
    state["model"]["decoder.net.0.weight"], state["model"]["decoder.net.0.bias"] = weight, bias
    save_checkpoint(run.file("best.pt"), state)

    assert main(["evaluate", str(run.path), "--json", "--no-distances"]) == 0
    result = json.loads(capsys.readouterr().out)
    k, n = result["singular_points"], result["geometry_points"]
    assert 0 < k < n and math.isfinite(result["vor"]) and math.isfinite(result["mcn"])
    assert main(["evaluate", str(run.path), "--no-distances"]) == 0
    text = capsys.readouterr().out
    assert f"({k} of {n} points have a singular metric: left out)" in text
