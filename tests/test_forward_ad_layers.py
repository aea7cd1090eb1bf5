"""The forward-AD-friendly layers (models.networks) and the regularizers' fast paths.

The layers must be drop-in replacements for torch's: same parameters and state_dict keys, the
same outputs, and under forward-mode AD the same tangents and the same reverse-mode gradients
of anything computed from those tangents (which is what a training step differentiates).
"""

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn
from torch.func import functional_call, jacfwd, jvp

from irvae_core.geometry.regularizers import (
    mixup,
    relaxed_distortion,
    resolve_estimator,
    trace_estimates,
    training_defaults,
)
from models import build_autoencoder
from models.networks import Conv2d, ConvTranspose2d, Linear


def _pairs():
    torch.manual_seed(0)
    yield nn.Linear(5, 7), Linear(5, 7), (6, 5)
    yield nn.Linear(5, 7, bias=False), Linear(5, 7, bias=False), (6, 5)
    yield nn.Linear(5, 7), Linear(5, 7), (2, 6, 5)
    yield nn.Conv2d(3, 4, 3, 2, 1), Conv2d(3, 4, 3, 2, 1), (2, 3, 9, 9)
    yield nn.ConvTranspose2d(3, 4, 4, 2, 1), ConvTranspose2d(3, 4, 4, 2, 1), (2, 3, 5, 5)


@pytest.mark.parametrize("stock, ours, shape", list(_pairs()))
def test_layers_match_torch_with_and_without_forward_ad(stock, ours, shape):
    stock, ours = stock.double(), ours.double()
    ours.load_state_dict(stock.state_dict())
    assert list(ours.state_dict()) == list(stock.state_dict())
    assert isinstance(ours, type(stock))
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    t = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(ours(x), stock(x), rtol=0, atol=0)

    def loss_and_grads(layer):
        with fwAD.dual_level():
            p, jt = fwAD.unpack_dual(torch.tanh(layer(fwAD.make_dual(x, t))))
        loss = (jt**2).sum() + (p**3).sum()  # depends on the tangent and the primal
        return [loss, *torch.autograd.grad(loss, [x, *layer.parameters()])]

    for a, b in zip(loss_and_grads(ours), loss_and_grads(stock)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # torch.func.jvp sees the same tangents
    torch.testing.assert_close(jvp(ours, (x,), (t,))[1], jvp(stock, (x,), (t,))[1], rtol=1e-12, atol=1e-12)


def test_linear_falls_back_when_the_parameters_carry_tangents():
    torch.manual_seed(1)
    stock, ours = nn.Linear(4, 3).double(), Linear(4, 3).double()
    ours.load_state_dict(stock.state_dict())
    x = torch.randn(5, 4, dtype=torch.float64)
    params = dict(stock.named_parameters())
    tangents = {k: torch.randn_like(v) for k, v in params.items()}

    def f(layer):
        return lambda p: functional_call(layer, p, (x,))

    got = jvp(f(ours), (params,), (tangents,))[1]
    torch.testing.assert_close(got, jvp(f(stock), (params,), (tangents,))[1])


def test_nested_forward_mode_matches_torch():
    torch.manual_seed(2)
    stock = build_autoencoder("ae", "fc", (6,), latent_dim=2, hidden=(8, 8), out_act="sigmoid").double()
    ours_dec = stock.decoder
    ref = nn.Sequential(*[nn.Linear(m.in_features, m.out_features).double() if isinstance(m, Linear) else m
                          for m in ours_dec.net])
    ref.load_state_dict(ours_dec.net.state_dict())
    z = torch.randn(2, dtype=torch.float64)
    h_ours = jacfwd(jacfwd(lambda q: ours_dec.net(q)))(z)  # second derivatives (nested levels)
    h_ref = jacfwd(jacfwd(lambda q: ref(q)))(z)
    torch.testing.assert_close(h_ours, h_ref)


def test_exact_trace_estimates_match_full_jacobians():
    torch.manual_seed(3)
    dec = build_autoencoder("ae", "fc", (1, 3, 3), latent_dim=3, hidden=(16, 16)).double().decoder
    z = torch.randn(7, 3, dtype=torch.float64)
    tr, tr2 = trace_estimates(dec, z, "exact")
    J = torch.stack([torch.autograd.functional.jacobian(lambda q: dec(q[None]).flatten(), p) for p in z])
    G = J.transpose(1, 2) @ J
    torch.testing.assert_close(tr, G.diagonal(dim1=1, dim2=2).sum(1))
    torch.testing.assert_close(tr2, (G @ G).diagonal(dim1=1, dim2=2).sum(1))


def test_sub_batch_and_auto_estimator():
    torch.manual_seed(4)
    dec = build_autoencoder("ae", "fc", (5,), latent_dim=2, hidden=(8,)).decoder
    z = torch.randn(40, 2, requires_grad=True)
    assert mixup(z, 0.2, n=10).shape == (10, 2)
    assert resolve_estimator("auto", 2) == "exact" and resolve_estimator("auto", 16) == "hutchinson"
    est, n = training_defaults(2)
    assert est == "exact" and 2 <= n <= 100 and training_defaults(16)[0] == "hutchinson"
    with pytest.raises(ValueError, match="estimator"):
        resolve_estimator("bogus", 2)
    torch.manual_seed(5)
    a = relaxed_distortion(dec, z, estimator="auto", n=10)
    torch.manual_seed(5)
    b = relaxed_distortion(dec, z, estimator="exact", n=10)
    assert a.item() == b.item()
    (g,) = torch.autograd.grad(a, z)
    assert g[10:].abs().sum() > 0  # sub-batch points still pair with the whole batch
