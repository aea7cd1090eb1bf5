"""The training step's fast paths give the plain answers: the FC decoder's one-pass decoding-and-Jacobian against
``torch.func`` (values and gradients), the Trainer's one-pass step against decoding and then regularizing, and
validation without an autograd graph against the same values with one."""

import pytest
import torch
from torch.func import functional_call, jacfwd

from irvae_core.config import RunConfig, apply_overrides
from irvae_core.data import DatasetSplits, TensorSplit
from irvae_core.geometry.metric import jacobian, jacobian_pass
from irvae_core.store.runs import new_run
from irvae_core.train.loop import VALIDATION_SEED, iterate_batches
from irvae_core.train.trainer import Trainer, regularizer
from models import build_autoencoder
from models.networks import ACTIVATIONS, FCDecoder


def decoder(act: str, out_act: str, seed: int = 0) -> FCDecoder:
    torch.manual_seed(seed)
    return FCDecoder(3, (2, 5), hidden=(7, 6), act=act, out_act=out_act).double()


def points(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = 2 * torch.randn(6, 3, generator=g, dtype=torch.float64)
    p[0] *= 40  # far out: softplus past its threshold, every sigmoid and tanh saturating, ReLUs all off or on
    return p


def plain_jacobians(dec, params, pts: torch.Tensor) -> torch.Tensor:
    """(n, D, m): torch.func.jacfwd of the decoder at each point, one point at a time."""
    return torch.stack([jacfwd(lambda q: functional_call(dec, params, (q[None],)).reshape(-1))(q) for q in pts])


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("tangents", ["axes", "shared", "per point"])
def test_the_one_pass_decoding_and_jacobian_equal_torch_func(act, tangents):
    dec = decoder(act, out_act="sigmoid" if act == "relu" else act)
    z, pts = torch.randn(4, 3, dtype=torch.float64), points()
    J = plain_jacobians(dec, dict(dec.named_parameters()), pts)  # (n, D, m)
    T = {"axes": None, "shared": torch.randn(2, 3, dtype=torch.float64),
         "per point": torch.randn(2, 6, 3, dtype=torch.float64)}[tangents]
    out, jt = dec.jacobian_pass(z, pts, T)
    if T is None:
        want = J.permute(2, 0, 1)  # the columns J e_i
    else:
        want = torch.einsum("ndm,km->knd" if T.dim() == 2 else "ndm,knm->knd", J, T)
    torch.testing.assert_close(out, dec(z), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(jt, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_the_one_pass_gradients_equal_torch_func(act):
    """Reverse mode through the one pass (what training differentiates) gives torch.func's gradients w.r.t. the
    decoder's parameters, the decoded codes, the points and the tangents."""
    dec = decoder(act, out_act="sigmoid" if act == "relu" else act, seed=2)
    params = dict(dec.named_parameters())
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    pts = points(3).requires_grad_(True)
    T = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)

    def objective(out, jt):  # a reconstruction term and a quadratic term of the metric along the tangents
        return out.pow(2).sum() + (jt[:, None] * jt[None]).sum(-1).pow(2).sum()

    inputs = [*params.values(), z, pts, T]

    def grads(value):  # a linear decoder's Jacobian does not depend on the points: their gradient is 0
        return [torch.zeros_like(i) if g is None else g
                for g, i in zip(torch.autograd.grad(value, inputs, allow_unused=True), inputs)]

    want = grads(objective(functional_call(dec, params, (z,)),
                           torch.einsum("ndm,knm->knd", plain_jacobians(dec, params, pts), T)))
    got = grads(objective(*dec.jacobian_pass(z, pts, T)))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_jacobian_takes_the_one_pass_for_an_fc_autoencoder_and_forward_mode_otherwise():
    torch.manual_seed(4)
    ae = build_autoencoder("vae", "fc", (12,), latent_dim=2, hidden=(8, 8)).double()
    z = torch.randn(5, 2, dtype=torch.float64)
    assert jacobian_pass(ae.decode) is not None and jacobian_pass(ae.decoder) is not None
    assert jacobian_pass(lambda q: ae.decode(q)) is None  # a plain callable: the stacked forward-mode pass
    conv = build_autoencoder("vae", "conv", (1, 28, 28), latent_dim=2)
    assert jacobian_pass(conv.decode) is None
    torch.testing.assert_close(jacobian(ae.decode, z), jacobian(lambda q: ae.decode(q), z), rtol=1e-12, atol=1e-14)


def tiny_data(n: int = 60, d: int = 12) -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    part = TensorSplit(torch.rand(n, d, generator=g, dtype=torch.float64), torch.zeros(n, dtype=torch.long))
    return DatasetSplits("tiny", part, part, part, x_shape=(d,), label_kind="class", label_names=["0"])


def tiny_trainer(tmp_path, **overrides) -> Trainer:
    cfg = apply_overrides(RunConfig(), {"data.name": "mnist5k", "model.arch": "fc", "model.latent_dim": 2,
                                        "model.hidden": [16, 16], "model.out_act": "sigmoid", "reg.kind": "ir",
                                        "reg.alpha": 3.0, "train.epochs": 1, "train.batch_size": 30,
                                        "train.tensorboard": False, "train.device": "cpu", **overrides})
    trainer = Trainer(cfg, new_run(tmp_path, cfg), data=tiny_data())
    trainer.model.double()
    return trainer


@pytest.mark.parametrize("overrides", [
    {"reg.kind": "ir"},  # the CPU default: exact metric on 10 mixup points, jackknife
    {"reg.kind": "ir", "reg.samples": "batch"},  # the paper's whole batch, plug-in
    {"reg.kind": "ir", "reg.h": "log"},
    {"reg.kind": "fmvae"},
    {"reg.kind": "iso", "reg.k": 0.5},
    {"model.kind": "ae"},
    {"model.kind": "dae"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_the_trainers_one_pass_step_equals_decoding_then_regularizing(tmp_path, overrides):
    trainer = tiny_trainer(tmp_path, **overrides)
    model, x = trainer.model, trainer.data.train.x[:30]
    assert trainer._metric_decode(len(x), trainer.generator) is not None
    params = [p for p in model.parameters() if p.requires_grad]

    g1 = torch.Generator().manual_seed(7)
    fused, parts = trainer.loss(x, generator=g1)
    g2 = torch.Generator().manual_seed(7)
    out = model.loss(x, generator=g2)
    reg = regularizer(trainer.cfg, lambda q: model.decode(q), out.z, generator=g2)  # forward mode, after the loss
    plain = out.loss + trainer.weight * reg

    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    assert parts["reg"] == pytest.approx(reg.item(), rel=1e-10)
    for a, b in zip(torch.autograd.grad(fused, params), torch.autograd.grad(plain, params)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert torch.equal(g1.get_state(), g2.get_state())  # the same draws, in the same order


@pytest.mark.parametrize("overrides, why", [
    ({"model.kind": "wae"}, "its MMD draws prior samples after decoding"),
    ({"reg.estimator": "hutchinson"}, "Hutchinson's probes are not the exact metric"),
    ({"reg.kind": "geomae"}, "the determinant loss is taken at the codes themselves"),
    ({"reg.alpha": 0.0}, "no regularizer"),
])
def test_the_trainer_keeps_the_separate_regularizer_where_one_pass_would_change_it(tmp_path, overrides, why):
    trainer = tiny_trainer(tmp_path, **overrides)
    assert trainer._metric_decode(30, trainer.generator) is None, why


@pytest.mark.parametrize("estimator", ["exact", "hutchinson"])
def test_validation_without_a_graph_gives_the_values_with_one(tmp_path, estimator):
    trainer = tiny_trainer(tmp_path, **{"reg.estimator": estimator, "reg.samples": "batch"})
    got = trainer.validate()
    sums, count = {}, 0
    g = torch.Generator().manual_seed(VALIDATION_SEED)
    trainer.model.eval()
    for xb, _ in iterate_batches(trainer.data.val, 30, None):
        loss, parts = trainer.loss(xb, generator=g)  # with autograd on
        assert loss.requires_grad
        for k, v in {**parts, "loss": loss.item()}.items():
            sums[k] = sums.get(k, 0.0) + v * len(xb)
        count += len(xb)
    for k, v in sums.items():
        assert got[f"val_{k}"] == pytest.approx(v / count, rel=1e-9), k
