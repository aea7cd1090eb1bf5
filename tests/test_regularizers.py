"""The regularizers' defining properties (paper Proposition 1-2, Appendix C, E.6)."""

import math

import pytest
import torch

from irvae_core.regularizers import (
    fmvae_distortion,
    isometry_distortion,
    mixup,
    relaxed_distortion,
    trace_estimates,
)
from models import FCDecoder
from tests.helpers import official_relaxed_distortion


def mlp_decoder(m=3, d=12, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return FCDecoder(m, (d,), hidden=(32, 32), act="tanh", out_act="linear").to(dtype)


def orthonormal(d, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(d, m, generator=g, dtype=torch.float64))[0]


def test_mixup_stays_on_segments_extended_by_eta():
    torch.manual_seed(0)
    z = torch.stack([torch.zeros(500), torch.ones(500)], 1)  # all points equal: mixup is identity
    torch.testing.assert_close(mixup(z, 0.2), z)
    z = torch.randn(1000, 1)
    za = mixup(z, eta=0.2)
    assert za.shape == z.shape
    # every augmented point lies within [-eta, 1 + eta] of a segment between two data points
    span = z.max() - z.min()
    assert za.min() >= z.min() - 0.2 * span - 1e-6 and za.max() <= z.max() + 0.2 * span + 1e-6
    assert mixup(z, None) is z
    with pytest.raises(ValueError, match="eta"):
        mixup(z, -0.1)


def test_exact_relaxed_distortion_is_zero_at_a_scaled_isometry():
    A = 5.0 * orthonormal(9, 3)
    z = torch.randn(40, 3, dtype=torch.float64)
    f = lambda zz: zz @ A.T  # noqa: E731
    assert relaxed_distortion(f, z, estimator="exact").item() == pytest.approx(0.0, abs=1e-10)
    assert relaxed_distortion(f, z, estimator="exact", h="log").item() == pytest.approx(0.0, abs=1e-10)


def test_exact_relaxed_distortion_matches_eq_10_by_eigenvalues():
    dec = mlp_decoder()
    z = torch.randn(30, 3, dtype=torch.float64)
    torch.manual_seed(5)
    F = relaxed_distortion(dec, z, estimator="exact").item()
    torch.manual_seed(5)
    za = mixup(z, 0.2)
    J = torch.stack([torch.autograd.functional.jacobian(lambda q: dec(q[None])[0], p) for p in za])
    lam = torch.linalg.eigvalsh(J.transpose(1, 2) @ J)
    c = lam.sum(1).mean() / 3  # E[sum lambda / m]
    assert F == pytest.approx(((lam / c - 1) ** 2).sum(1).mean().item(), rel=1e-8)


def test_hutchinson_traces_are_unbiased_and_F_is_consistent():
    dec = mlp_decoder(seed=3)
    z = torch.randn(64, 3, dtype=torch.float64)
    tr_exact, tr2_exact = (t.detach() for t in trace_estimates(dec, z, "exact"))
    F_exact = (9 * tr2_exact.mean() / tr_exact.mean() ** 2 - 3).item()
    torch.manual_seed(0)
    draws_tr, draws_tr2, draws_F = [], [], []
    for _ in range(400):
        tr, tr2 = (t.detach() for t in trace_estimates(dec, z, "hutchinson"))
        draws_tr.append(tr.mean())
        draws_tr2.append(tr2.mean())
        draws_F.append(9 * tr2.mean() / tr.mean() ** 2 - 3)
    for draws, exact in [(draws_tr, tr_exact.mean()), (draws_tr2, tr2_exact.mean()), (draws_F, F_exact)]:
        d = torch.stack(draws)
        se = d.std() / math.sqrt(len(d))
        assert abs(d.mean() - exact) < 3 * se, (d.mean().item(), float(exact), se.item())


def test_relaxed_distortion_is_scale_invariant_but_fmvae_is_not():
    dec = mlp_decoder(seed=1)
    z = torch.randn(50, 3, dtype=torch.float64)

    def scaled(zz):
        return 4.0 * dec(zz)

    for est in ["exact", "hutchinson"]:
        torch.manual_seed(7)
        f1 = relaxed_distortion(dec, z, estimator=est).item()
        torch.manual_seed(7)
        f2 = relaxed_distortion(scaled, z, estimator=est).item()
        assert f2 == pytest.approx(f1, rel=1e-9)
    torch.manual_seed(7)
    g1 = fmvae_distortion(dec, z, estimator="exact").item()
    torch.manual_seed(7)
    g2 = fmvae_distortion(scaled, z, estimator="exact").item()
    assert g2 == pytest.approx(4.0**4 * g1, rel=1e-9)  # G scales by 16, the Frobenius term by 256
    assert g2 > 10 * g1


def test_relaxed_distortion_is_invariant_to_orthogonal_latent_change():
    dec = mlp_decoder(seed=2)
    Q = orthonormal(3, 3, seed=9)
    z = torch.randn(50, 3, dtype=torch.float64)

    def rotated(w):  # the same decoder in coordinates w = Q^T z
        return dec(w @ Q.T)

    torch.manual_seed(3)
    f1 = relaxed_distortion(dec, z, estimator="exact").item()
    torch.manual_seed(3)
    f2 = relaxed_distortion(rotated, z @ Q, estimator="exact").item()
    assert f2 == pytest.approx(f1, rel=1e-9)


def test_h_log_needs_exact_estimator():
    with pytest.raises(ValueError, match="exact"):
        relaxed_distortion(mlp_decoder(), torch.randn(4, 3, dtype=torch.float64), h="log")


def test_isometry_distortion_is_zero_only_at_the_chosen_scale():
    A = 2.0 * orthonormal(8, 2)  # G = 4 I
    z = torch.randn(20, 2, dtype=torch.float64)

    def f(zz):
        return zz @ A.T

    assert isometry_distortion(f, z, k=4.0, estimator="exact").item() == pytest.approx(0.0, abs=1e-10)
    # sum_i (4 - 1)^2 = 18 at k = 1
    assert isometry_distortion(f, z, k=1.0, estimator="exact").item() == pytest.approx(18.0)
    with pytest.raises(ValueError, match="k"):
        isometry_distortion(f, z, k=0.0)


def test_gradients_match_the_official_formulation_in_float64():
    # guards against torch.func gradient differences (PyTorch issue 145356)
    m = 3
    dec = FCDecoder(m, (1, 4, 4), hidden=(24, 24), act="relu", out_act="sigmoid").double()
    torch.manual_seed(11)
    z = torch.randn(16, m, dtype=torch.float64, requires_grad=True)
    params = [z, *dec.parameters()]

    torch.manual_seed(0)
    za = mixup(z, 0.2)
    v = torch.randn_like(za)
    ours_tr, ours_tr2 = trace_estimates(dec, za, "hutchinson", v=v)
    ours = (m**2 * ours_tr2.mean() / ours_tr.mean() ** 2 - m) / m**2 + 1 / m  # = official value
    g_ours = torch.autograd.grad(ours, params)

    torch.manual_seed(0)
    za2 = mixup(z, 0.2)
    official = official_relaxed_distortion(dec, za2, v)
    g_off = torch.autograd.grad(official, params)

    assert ours.item() == pytest.approx(official.item(), rel=1e-12)
    for a, b in zip(g_ours, g_off):
        torch.testing.assert_close(a, b, atol=1e-8, rtol=0)


def test_regularizers_are_differentiable_for_training():
    dec = mlp_decoder(seed=4, dtype=torch.float32)
    z = torch.randn(32, 3, requires_grad=True)
    for loss in [relaxed_distortion(dec, z), relaxed_distortion(dec, z, estimator="exact", h="log"),
                 fmvae_distortion(dec, z), isometry_distortion(dec, z, k=1.0)]:
        # the last bias does not move the Jacobian: it is unused
        grads = torch.autograd.grad(loss, [z, *dec.parameters()], allow_unused=True)
        used = [g for g in grads if g is not None]
        assert all(torch.isfinite(g).all() for g in used)
        assert grads[0].abs().sum() > 0 and sum(g.abs().sum() for g in used[1:]) > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_regularizers_run_on_cuda():
    dec = mlp_decoder(seed=4, dtype=torch.float32).cuda()
    z = torch.randn(32, 3, device="cuda", requires_grad=True)
    for loss in [relaxed_distortion(dec, z), fmvae_distortion(dec, z, estimator="exact")]:
        loss.backward()
        assert loss.device.type == "cuda"
