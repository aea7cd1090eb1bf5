"""The flattening module (Section 4.2): exact inverse, unchanged reconstructions, flatter latents."""

import pytest
import torch

from irvae_core.config import ConfigError
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import new_run, open_run
from irvae_core.train.evaluation import evaluate_model
from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer, flatten
from irvae_core.train.trainer import Trainer
from models import RealNVP
from tests.helpers import rolled_sheet, tiny_config


def test_realnvp_has_an_exact_inverse_and_starts_as_identity():
    torch.manual_seed(0)
    fm = RealNVP(3, depth=4, width=16)
    z = torch.randn(50, 3)
    torch.testing.assert_close(fm(z), z)  # zero-initialised last layers
    for layer in fm.layers:  # perturb away from the identity
        torch.nn.init.normal_(layer.net[-1].weight, std=0.5)
    w = fm(z)
    assert (w - z).abs().max() > 0.1
    torch.testing.assert_close(fm.inverse(w), z, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        RealNVP(1)


@pytest.fixture(scope="module")
def sheet_ae(tmp_path_factory):
    """A plain (unregularized) AE on the rolled sheet: far from isometric."""
    tmp = tmp_path_factory.mktemp("fm")
    data = rolled_sheet()
    cfg = tiny_config(**{"model.kind": "ae", "model.hidden": [64, 64], "model.out_act": "linear",
                         "train.epochs": 30, "train.batch_size": 50})
    run = new_run(tmp, cfg)
    Trainer(cfg, run, data=data).fit()
    return run, data


@pytest.mark.slow
def test_flattening_keeps_reconstructions_and_lowers_distortion(sheet_ae, tmp_path):
    base_run, data = sheet_ae
    fcfg = FlattenConfig(epochs=15, depth=4, width=64, lr=1e-3, batch_size=50)
    run = new_run(tmp_path, base_run.config(), label="fm")
    FlatteningTrainer(base_run, run, fcfg, data=data).fit()
    raw = run.raw_config()
    assert raw["type"] == "flatten" and raw["base_run"] == str(base_run.path.resolve())

    base, flat = load_model(base_run), load_model(run)
    x = data.test.x
    with torch.no_grad():
        torch.testing.assert_close(flat.reconstruct(x), base.reconstruct(x), atol=1e-4, rtol=0)
        assert (flat.encode(x) - base.encode(x)).abs().max() > 1e-2  # the coordinates did move
    before, after = evaluate_model(base, data), evaluate_model(flat, data)
    assert after["mse"] == pytest.approx(before["mse"], rel=1e-3)
    assert after["vor"] < before["vor"] or after["mcn"] < before["mcn"]
    assert after["augmented"]["vor"] < before["augmented"]["vor"]


def test_flatten_refuses_an_already_flattened_run(sheet_ae, tmp_path):
    base_run, data = sheet_ae
    run = new_run(tmp_path, base_run.config())
    FlatteningTrainer(base_run, run, FlattenConfig(epochs=1, depth=2, width=8), data=data).fit()
    with pytest.raises(Exception, match="already flattened"):
        flatten(open_run(run.path), FlattenConfig(epochs=1))


def test_sub_batch_runs_the_flow_on_the_mixup_rows_only_with_the_same_loss_and_gradient(sheet_ae, tmp_path):
    """With beta = 0 the FM loss computes i(z) on the 2n rows it mixes; the result must equal the
    loss (and gradient) of the same mixup draw computed from i(z) on the whole batch."""
    from irvae_core.geometry.regularizers import mixup_pairs, relaxed_distortion

    base_run, data = sheet_ae
    fcfg = FlattenConfig(epochs=1, depth=2, width=16, batch_size=50, samples=6, estimator="exact")
    tr = FlatteningTrainer(base_run, new_run(tmp_path, base_run.config()), fcfg, data=data)
    assert tr.samples == 6 and tr.estimator == "exact"
    assert FlatteningTrainer(base_run, new_run(tmp_path, base_run.config()), FlattenConfig(), data=data).samples is None
    for layer in tr.model.fm.layers:  # move away from the identity
        torch.nn.init.normal_(layer.net[-1].weight, std=0.3)
    z = tr.data.train.x[:50].to(tr.device)
    params = list(tr.model.fm.parameters())

    loss, parts = tr.loss(z, generator=torch.Generator().manual_seed(3))
    fast = torch.autograd.grad(loss, params)

    i, j, d = mixup_pairs(50, fcfg.eta, 6, z.device, generator=torch.Generator().manual_seed(3))
    w = tr.model.fm(z)
    ref = relaxed_distortion(tr.model.decode, torch.lerp(w[j], w[i], d), eta=None, estimator="exact")
    scaled = ref / w.shape[1] ** 2  # the loss is on the scale of E[Tr G^2] / E[Tr G]^2 (beta's unit)
    slow = torch.autograd.grad(scaled, params)
    torch.testing.assert_close(loss, scaled, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert parts["reg"] == pytest.approx(ref.item(), rel=1e-5)  # logged: F itself

    with pytest.raises(ConfigError, match="samples"):
        FlattenConfig(samples=1).validated()
    with pytest.raises(ConfigError, match="estimator"):
        FlattenConfig(estimator="bogus").validated()


def test_realnvp_forward_mode_jacobian_matches_reverse_mode():
    from irvae_core.geometry.metric import jacobian

    torch.manual_seed(5)
    fm = RealNVP(3, depth=4, width=16).double()
    for layer in fm.layers:
        torch.nn.init.normal_(layer.net[-1].weight, std=0.5)
    w = torch.randn(6, 3, dtype=torch.float64)
    cols = jacobian(fm.inverse, w).transpose(0, 1)  # (B, m, m): row i is J e_i
    x, jac = fm.inverse_and_jacobian(w)  # the hand-written Jacobian the FM loss uses
    torch.testing.assert_close(x, fm.inverse(w))
    for b in range(6):
        J = torch.autograd.functional.jacobian(lambda v: fm.inverse(v[None])[0], w[b])
        torch.testing.assert_close(cols[b].T, J)
        torch.testing.assert_close(jac[b], J)
