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
    if T is None:
        want = J.permute(2, 0, 1)  # the columns J e_i
    else:
        want = torch.einsum("ndm,km->knd" if T.dim() == 2 else "ndm,knm->knd", J, T)
    for graph, codes in ((True, z), (False, z), (False, z[:0])):  # OnePass; its forward alone (evaluation: no codes)
        with torch.set_grad_enabled(graph):
            out, jt = dec.jacobian_pass(codes, pts, T)
            _, recorded = dec.jacobian_pass(codes, pts, T, plain=True)
        torch.testing.assert_close(out, dec(codes), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(jt, want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(jt, recorded, rtol=1e-13, atol=1e-15)
        assert (jt.grad_fn is None) == (not graph)


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
    """The validation's plumbing without a graph (both sides' decoder passes run ``fc_pass.one_pass``'s forward: that
    it equals the recorded forward is the first test's)."""
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


# ---- the hand-differentiated pieces (models/fc_pass.py, irvae_core/geometry/handgrad.py, RealNVP's Jacobian):
# torch.autograd.gradcheck (finite differences in float64) and the recorded path they replace


def steep_decoder(act: str, seed: int) -> FCDecoder:
    """A tiny float64 decoder with weights large enough that the activations' second derivatives matter."""
    dec = decoder(act, out_act="sigmoid" if act == "relu" else act, seed=seed)
    with torch.no_grad():
        for p in dec.parameters():
            p.mul_(2.5)
    return dec


def one_pass_inputs(dec: FCDecoder, tangents: str, seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(3, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    pts = torch.randn(4, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    T = {"axes": None, "shared": torch.randn(2, 3, dtype=torch.float64, generator=g).requires_grad_(True),
         "per point": torch.randn(2, 4, 3, dtype=torch.float64, generator=g).requires_grad_(True)}[tangents]
    layers = list(dec.net)
    return z, pts, T, tuple(layers[1::2]), [p for lin in layers[0::2] for p in (lin.weight, lin.bias)]


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("tangents", ["axes", "shared", "per point"])
def test_the_hand_differentiated_one_pass_passes_gradcheck(act, tangents):
    from models.fc_pass import OnePass

    z, pts, T, acts, params = one_pass_inputs(steep_decoder(act, seed=3), tangents)
    inputs = (z, pts, T, *params)
    assert torch.autograd.gradcheck(lambda z, pts, T, *ps: OnePass.apply(z, pts, T, acts, *ps), inputs)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softplus"])
def test_the_one_pass_gradients_equal_the_recorded_forward_and_skip_frozen_layers(act):
    """``jacobian_pass`` with a graph runs ``OnePass``; ``plain=True`` records the same forward with autograd. Same
    gradients; a frozen layer (the flattening module's decoder) gets none and changes nothing else."""
    dec = steep_decoder(act, seed=4)
    z, pts, T, _, params = one_pass_inputs(dec, "per point")
    weights = torch.randn(2, 4, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def grads(plain):
        out, jt = dec.jacobian_pass(z, pts, T, plain=plain)
        assert (type(jt.grad_fn).__name__ == "OnePassBackward") != plain
        value = out.pow(2).sum() + (jt * weights).sum().pow(2)
        live = [q for q in (z, pts, T, *params) if q.requires_grad]
        return torch.autograd.grad(value, live)

    for a, b in zip(grads(False), grads(True)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)
    dec.net[0].weight.requires_grad_(False)
    dec.net[2].bias.requires_grad_(False)
    for a, b in zip(grads(False), grads(True)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)


def test_the_hand_differentiated_metric_terms_and_jackknife_pass_gradcheck_and_equal_the_plain_formulas():
    from irvae_core.geometry import handgrad

    g = torch.Generator().manual_seed(2)
    for m, n in [(2, 10), (3, 6), (5, 4)]:  # m = 5: the batched product
        cols = torch.randn(m, n, 7, dtype=torch.float64, generator=g).requires_grad_(True)
        assert torch.autograd.gradcheck(handgrad.column_terms, (cols,))
        for a, b in zip(handgrad.column_terms(cols), handgrad.plain_column_terms(cols)):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
        t, a, _ = handgrad.plain_column_terms(cols)
        assert torch.autograd.gradcheck(lambda t, a, m=m: handgrad.jackknife_F(t, a, m),
                                        (t.detach().requires_grad_(True), a.detach().requires_grad_(True)))
        want = handgrad.plain_jackknife_F(t, a, m)
        got = handgrad.jackknife_F_from_columns(cols, m)  # the small path in Python floats (m n <= 64)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
        for x, y in zip(torch.autograd.grad(got, cols), torch.autograd.grad(want, cols)):
            torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-14)
        assert torch.autograd.gradcheck(lambda c, m=m: handgrad.jackknife_F_from_columns(c, m), (cols,))
    big = torch.randn(2, 40, 7, dtype=torch.float64, generator=g)  # m n = 80: the tensor path
    torch.testing.assert_close(handgrad.jackknife_F_from_columns(big, 2),
                               handgrad.plain_jackknife_F(*handgrad.plain_column_terms(big)[:2], 2))


def test_the_small_jackknife_is_zero_at_an_isometry_and_nan_where_the_metric_vanishes():
    from irvae_core.geometry import handgrad

    q = torch.linalg.qr(torch.randn(9, 2, dtype=torch.float64))[0].T  # two orthonormal columns
    cols = (3.0 * q[:, None, :].expand(2, 6, 9)).clone().requires_grad_(True)  # G = 9 I at six points
    value = handgrad.jackknife_F_from_columns(cols, 2)
    assert value.item() == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(torch.autograd.grad(value, cols)[0], torch.zeros_like(cols), atol=1e-10, rtol=0)
    dead = torch.zeros(2, 6, 9, dtype=torch.float64, requires_grad=True)  # a decoder that has collapsed
    assert torch.isnan(handgrad.jackknife_F_from_columns(dead, 2))  # as with tensors: the NaN guard stops training


class _InverseAndJacobian(torch.nn.Module):
    def __init__(self, fm):
        super().__init__()
        self.fm = fm

    def forward(self, w):
        return self.fm.inverse_and_jacobian(w)


def test_the_realnvp_jacobian_passes_gradcheck_in_its_parameters():
    from models import RealNVP

    torch.manual_seed(7)
    fm = RealNVP(3, depth=2, width=4).double()
    for layer in fm.layers:
        torch.nn.init.normal_(layer.net[-1].weight, std=0.5)
    params = list(fm.parameters())
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)

    names = [name for name, _ in fm.named_parameters()]

    def f(w, *ps):
        return functional_call(_InverseAndJacobian(fm), {f"fm.{k}": v for k, v in zip(names, ps)}, (w,))

    assert torch.autograd.gradcheck(f, (w, *params))


def test_the_hand_differentiated_pass_of_a_single_linear_layer():
    """No hidden layer (``model.hidden: []``): one layer is the first and the output one."""
    from models.fc_pass import OnePass

    torch.manual_seed(9)
    dec = FCDecoder(3, (4,), hidden=(), out_act="sigmoid").double()
    z, pts, T, acts, params = one_pass_inputs(dec, "per point")
    assert torch.autograd.gradcheck(lambda z, pts, T, *ps: OnePass.apply(z, pts, T, acts, *ps), (z, pts, T, *params))
