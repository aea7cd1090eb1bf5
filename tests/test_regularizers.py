"""The regularizers' defining properties (paper Proposition 1-2, Appendix C, E.6)."""

import math

import pytest
import torch

from irvae_core.config import REG_KINDS
from irvae_core.geometry.regularizers import (
    fmvae_distortion,
    isometry_distortion,
    metric_with_graph,
    mixup,
    point_terms,
    probe_vectors,
    relaxed_distortion,
    relaxed_from_terms,
    scale_spread,
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


def test_mixup_weights_are_uniform_on_minus_eta_to_one_plus_eta():
    # half the points at 0, half at 1 (1-D): a mixed pair gives d (or 1 - d, the same law for
    # d ~ U[-eta, 1 + eta]), a pair of equal points gives the point itself
    eta = 0.2
    torch.manual_seed(0)
    z = torch.cat([torch.zeros(10_000, 1), torch.ones(10_000, 1)]).double()
    za = mixup(z, eta)[:, 0]
    assert za.shape == (20_000,)
    d = za[(za != 0) & (za != 1)]
    assert 9_000 < len(d) < 11_000  # about half the pairs mix a 0 with a 1
    assert -eta - 1e-12 <= d.min() < -eta + 0.005 and 1 + eta - 0.005 < d.max() <= 1 + eta + 1e-12
    assert d.mean().item() == pytest.approx(0.5, abs=0.02)  # standard error ~0.004
    assert (d < 0).double().mean().item() == pytest.approx(eta / (1 + 2 * eta), abs=0.015)
    assert (d > 1).double().mean().item() == pytest.approx(eta / (1 + 2 * eta), abs=0.015)
    from scipy.stats import kstest

    assert kstest(d.numpy(), "uniform", args=(-eta, 1 + 2 * eta)).pvalue > 1e-3
    torch.manual_seed(1)
    assert mixup(z, 0.0)[:, 0].min() >= 0 and mixup(z, 0.0)[:, 0].max() <= 1  # eta = 0: plain segments


def test_mixup_points_lie_on_segments_between_data_points_extended_by_eta():
    eta = 0.2
    torch.manual_seed(2)
    z = torch.randn(12, 3, dtype=torch.float64)
    for n in (None, 5):
        za = mixup(z, eta, n)
        assert za.shape == (12 if n is None else 5, 3)
        for p in za:  # some pair (a, b) and d in [-eta, 1 + eta] with p = d z_a + (1 - d) z_b
            found = False
            for a in range(len(z)):
                for b in range(len(z)):
                    u = z[a] - z[b]
                    if a == b:
                        found |= bool(torch.allclose(p, z[a], atol=1e-10))
                        continue
                    d = torch.dot(p - z[b], u) / torch.dot(u, u)
                    on_line = torch.allclose(d * u + z[b], p, atol=1e-10)
                    found |= bool(on_line and -eta - 1e-9 <= d <= 1 + eta + 1e-9)
            assert found, p
    z = torch.stack([torch.zeros(500), torch.ones(500)], 1)  # all points equal: mixup is the identity
    torch.testing.assert_close(mixup(z, 0.2), z)
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


@pytest.mark.slow
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
@pytest.mark.parametrize("kind", ["relaxed", "fmvae", "iso"])
def test_regularizers_on_cuda_equal_the_cpu_ones(kind):
    import copy

    dec = mlp_decoder(seed=4)  # float64: no TF32, CPU and CUDA agree to round-off
    z = torch.randn(32, 3, dtype=torch.float64)
    results = []
    for device in ("cpu", "cuda"):
        d, zz = copy.deepcopy(dec).to(device), z.to(device).requires_grad_(True)
        value = ours(kind, d, zz, "exact")
        assert value.device.type == device
        grads = torch.autograd.grad(value, [zz, *list(d.parameters())[:-1]])
        results.append([value.detach().cpu(), *(g.cpu() for g in grads)])
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)
    # Hutchinson on CUDA (probes from the CUDA generator) converges to the CPU's exact value
    torch.manual_seed(0)
    hutchinson = ours(kind, dec.to("cuda"), z[:4].to("cuda").repeat(3000, 1), "hutchinson")
    assert hutchinson.device.type == "cuda"
    assert hutchinson.item() == pytest.approx(ours(kind, dec.cpu(), z[:4], "exact").item(), rel=0.1)


# ---------------------------------------------------------------- gradients against references
# The regularizers' values are checked above; a bug can keep the value and break the gradient
# (e.g. one factor of G detached halves it). These compare gradients with the paper's definitions
# computed independently (reverse-mode Jacobians, per point) and with finite differences.


def reference_metrics(decoder, za):
    """G = J^T J per point from reverse-mode Jacobians (torch.autograd.functional), with their graph."""
    J = torch.stack([torch.autograd.functional.jacobian(lambda q: decoder(q[None]).reshape(-1), p,
                                                        create_graph=True) for p in za])  # (B, D, m)
    return J.transpose(1, 2) @ J


def reference_distortions(G, k=2.0):
    """The paper's definitions on metrics G (B, m, m): F = E||G/c - I||^2 with c = E Tr G / m (eq. 8
    with h = square), FMVAE's E||G - cI||^2, and the strict isometry's E||G - kI||^2 (E.6)."""
    m = G.shape[-1]
    eye = torch.eye(m, dtype=G.dtype)
    c = G.diagonal(dim1=1, dim2=2).sum(1).mean() / m
    return {"relaxed": (G / c - eye).pow(2).sum((1, 2)).mean(),
            "fmvae": (G - c * eye).pow(2).sum((1, 2)).mean(),
            "iso": (G - k * eye).pow(2).sum((1, 2)).mean()}


def ours(kind, decoder, z, estimator, k=2.0):
    if kind == "relaxed":
        return relaxed_distortion(decoder, z, eta=None, estimator=estimator)
    if kind == "fmvae":
        return fmvae_distortion(decoder, z, eta=None, estimator=estimator)
    return isometry_distortion(decoder, z, k=k, eta=None, estimator=estimator)


@pytest.mark.parametrize("kind", ["relaxed", "fmvae", "iso"])
def test_exact_estimator_value_and_gradient_equal_the_reference(kind):
    dec = mlp_decoder(m=3, seed=12)
    z = torch.randn(9, 3, dtype=torch.float64, requires_grad=True)
    params = [z, *dec.parameters()]
    ref = reference_distortions(reference_metrics(dec, z))[kind]
    got = ours(kind, dec, z, "exact")
    assert got.item() == pytest.approx(ref.item(), rel=1e-10)
    # the last bias does not move the Jacobian: no gradient in either
    for a, b in zip(torch.autograd.grad(got, params, allow_unused=True),
                    torch.autograd.grad(ref, params, allow_unused=True)):
        if b is None:
            assert a is None or a.abs().max() == 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kind", ["relaxed", "fmvae", "iso"])
def test_hutchinson_value_and_gradient_converge_to_the_exact_ones(kind):
    # 4 points, each repeated 3,000 times in the batch: the means over the batch average 3,000
    # probes a point, so value and gradient are within a few per cent of the exact ones (over
    # seeds 0-5: value within 6.5%, gradient within 4% in norm)
    dec = mlp_decoder(m=3, seed=13)
    z = torch.randn(4, 3, dtype=torch.float64)
    params = list(dec.parameters())[:-1]  # the last bias does not move the Jacobian
    ref = reference_distortions(reference_metrics(dec, z))[kind]
    g_ref = torch.cat([g.flatten() for g in torch.autograd.grad(ref, params)])
    torch.manual_seed(0)
    got = ours(kind, dec, z.repeat(3000, 1), "hutchinson")
    g_got = torch.cat([g.flatten() for g in torch.autograd.grad(got, params)])
    assert got.item() == pytest.approx(ref.item(), rel=0.1)
    assert (g_got - g_ref).norm() < 0.1 * g_ref.norm()
    assert torch.dot(g_got, g_ref) / g_ref.norm() ** 2 == pytest.approx(1.0, abs=0.1)


def _directional_derivatives(loss_fn, module, n_directions=3, eps=1e-6, seed=0):
    """(autograd, central finite difference) derivatives of loss_fn() along random parameter directions."""
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss_fn(), params, allow_unused=True)
    grad = torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads)])
    theta = torch.nn.utils.parameters_to_vector(params).detach().clone()
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_directions):
        u = torch.randn(theta.shape, generator=g, dtype=theta.dtype)
        u /= u.norm()
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(theta + sign * eps * u, params)
            values.append(loss_fn().item())
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(theta, params)
        out.append((torch.dot(grad, u).item(), (values[0] - values[1]) / (2 * eps)))
    return out


@pytest.mark.parametrize("m, estimator", [(2, "exact"), (3, "hutchinson")])
def test_relaxed_distortion_gradient_matches_finite_differences_with_mixup(m, estimator):
    dec = mlp_decoder(m=m, seed=14)
    z = torch.randn(24, m, dtype=torch.float64)

    def loss():  # the same mixup draw and probes at every call
        torch.manual_seed(5)
        return relaxed_distortion(dec, z, eta=0.2, estimator=estimator)

    for autograd_value, fd in _directional_derivatives(loss, dec):
        assert autograd_value == pytest.approx(fd, rel=1e-5, abs=1e-8)


FMVAE_KIND = "fmvae" if "fmvae" in REG_KINDS else "fm"  # the config's name of FMVAE's term


@pytest.mark.parametrize("reg, m", [("ir", 2), ("ir", 8), (FMVAE_KIND, 3), ("iso", 3)])
def test_the_training_regularizer_gradient_matches_finite_differences(reg, m):
    """irvae_core.training.regularizer as the Trainer calls it (default estimator and sub-batch for m:
    the exact metric on a few mixup points at small m, Hutchinson on the batch above)."""
    from irvae_core.train.trainer import regularizer
    from tests.helpers import tiny_config

    cfg = tiny_config(**{"reg.kind": reg, "reg.alpha": 1.0, "model.latent_dim": m})
    dec = mlp_decoder(m=m, seed=15)
    z = torch.randn(40, m, dtype=torch.float64)

    def loss():  # reseeded: the same mixup points (and probes) at every call
        torch.manual_seed(6)
        return regularizer(cfg, dec, z)

    for autograd_value, fd in _directional_derivatives(loss, dec):
        assert autograd_value == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_the_training_regularizer_is_the_configured_one_with_its_scale():
    """At a decoder with G = 4I: ir and fm vanish (a scaled isometry), iso vanishes only at k = 4
    and is m (4 - k)^2 elsewhere, through irvae_core.training.regularizer as the Trainer calls it."""
    from irvae_core.train.trainer import regularizer
    from tests.helpers import tiny_config

    A = 2.0 * orthonormal(8, 2)

    def f(zz):
        return zz @ A.T

    z = torch.randn(30, 2, dtype=torch.float64)
    cases = [("ir", {}, 0.0), (FMVAE_KIND, {}, 0.0), ("iso", {"reg.k": 4.0}, 0.0), ("iso", {"reg.k": 1.0}, 18.0),
             ("iso", {"reg.k": 6.0}, 8.0)]
    for kind, extra, expected in cases:
        cfg = tiny_config(**{"reg.kind": kind, "reg.alpha": 1.0, **extra})
        torch.manual_seed(0)
        assert regularizer(cfg, f, z).item() == pytest.approx(expected, abs=1e-9), (kind, extra)


# ---------------------------------------------------------------- zero at the optimum, >= 0 for every draw

def rolled_chart(scale, d=10, seed=0):
    """A nonlinear scaled isometry R^2 -> R^d: (u, v) -> scale * (cos u, sin u, v) rotated into R^d; G = scale^2 I."""
    Q = orthonormal(d, 3, seed)

    def f(z):
        return scale * torch.stack([z[:, 0].cos(), z[:, 0].sin(), z[:, 1]], 1) @ Q.T

    return f


def all_values(dec, z, k, estimator, seed):
    """Every regularizer's value on one mixup / probe draw (seeded): relaxed and fmvae (plug-in, jackknife), iso."""
    out = {}
    for name, fn in [("F", lambda: relaxed_distortion(dec, z, estimator=estimator)),
                     ("F_jackknife", lambda: relaxed_distortion(dec, z, estimator=estimator, jackknife=True)),
                     ("F_sub", lambda: relaxed_distortion(dec, z, estimator=estimator, n=7, jackknife=True)),
                     ("fmvae", lambda: fmvae_distortion(dec, z, estimator=estimator)),
                     ("fmvae_jackknife", lambda: fmvae_distortion(dec, z, estimator=estimator, jackknife=True)),
                     ("iso", lambda: isometry_distortion(dec, z, k=k, estimator=estimator))]:
        torch.manual_seed(seed)
        out[name] = fn().item()
    return out


@pytest.mark.parametrize("estimator", ["hutchinson", "exact"])
def test_every_regularizer_is_zero_at_its_optimum_for_every_draw(estimator):
    # a linear scaled isometry (m = 3, G = 9 I) and a curved one (m = 2, G = 0.25 I)
    cases = [(lambda zz: zz @ (3.0 * orthonormal(9, 3)).T, 3, 9.0), (rolled_chart(0.5), 2, 0.25)]
    for dec, m, k in cases:
        for seed in range(12):
            z = torch.randn(64, m, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
            values = all_values(dec, z, k, estimator, seed)
            for name, value in values.items():
                scale = 1.0 if name.startswith("F") else k**2  # F is scale free; the others scale like G^2
                assert 0 <= value <= 1e-12 * scale, (name, seed, value)


def test_regularizers_are_never_negative_near_or_far_from_the_optimum():
    # near-isometric decoders are where an expanded E[Tr G^2] - 2k E[Tr G] + m k^2 went negative
    for seed in range(12):
        g = torch.Generator().manual_seed(seed)
        near = 2.0 * (orthonormal(12, 3, seed) + 1e-3 * torch.randn(12, 3, generator=g, dtype=torch.float64))
        far = mlp_decoder(m=3, d=12, seed=seed, dtype=torch.float32)
        z64 = torch.randn(16, 3, generator=g, dtype=torch.float64)
        for dec, z in [(lambda zz, a=near: zz @ a.T, z64), (far, z64.float())]:
            for est in ["hutchinson", "exact"]:
                values = all_values(dec, z, 4.0, est, seed)
                assert min(values.values()) >= 0, (seed, est, values)


@pytest.mark.slow
def test_hutchinson_means_over_probes_equal_the_exact_values():
    dec = mlp_decoder(seed=3)
    z = torch.randn(32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = {
        "iso": isometry_distortion(dec, z, k=0.5, eta=None, estimator="exact").item(),
        "fmvae": fmvae_distortion(dec, z, eta=None, estimator="exact").item(),
        "fmvae_jackknife": fmvae_distortion(dec, z, eta=None, estimator="exact", jackknife=True).item(),
    }
    # the exact value is the plug-in mean_i ||G_i - c I||_F^2 with c = mean Tr G / m
    G = metric_with_graph(dec, z).detach()
    c = G.diagonal(dim1=1, dim2=2).sum(1).mean() / 3
    assert exact["fmvae"] == pytest.approx((G - c * torch.eye(3)).pow(2).sum((1, 2)).mean().item(), rel=1e-10)
    lam = torch.linalg.eigvalsh(G)
    assert exact["iso"] == pytest.approx((lam - 0.5).pow(2).sum(1).mean().item(), rel=1e-10)
    torch.manual_seed(0)
    draws = {name: [] for name in exact}
    for _ in range(500):
        draws["iso"].append(isometry_distortion(dec, z, k=0.5, eta=None).item())
        draws["fmvae"].append(fmvae_distortion(dec, z, eta=None).item())
        draws["fmvae_jackknife"].append(fmvae_distortion(dec, z, eta=None, jackknife=True).item())
    for name, value in exact.items():
        d = torch.tensor(draws[name], dtype=torch.float64)
        se = d.std() / math.sqrt(len(d))
        assert d.std() > 0 and abs(d.mean() - value) < 4 * se, (name, d.mean().item(), value, se.item())


def test_probe_vectors_have_identity_covariance_and_fixed_length():
    torch.manual_seed(0)
    v = probe_vectors(torch.zeros(200_000, 3, dtype=torch.float64))
    torch.testing.assert_close(v.pow(2).sum(1), torch.full((200_000,), 3.0, dtype=torch.float64))
    torch.testing.assert_close(v.T @ v / len(v), torch.eye(3, dtype=torch.float64), atol=0.02, rtol=0)


# ---------------------------------------------------------------- the U-statistic for E[Tr G]^2

def test_u_statistic_is_unbiased_for_the_squared_mean_where_the_plug_in_is_not():
    g = torch.Generator().manual_seed(0)
    t = torch.empty(20_000, 5, dtype=torch.float64).exponential_(1.0, generator=g)  # E t = 1, Var t = 1
    u, plug = scale_spread(t, ustat=True)[0], scale_spread(t, ustat=False)[0]  # one value per row
    se = u.std() / math.sqrt(len(u))
    assert abs(u.mean() - 1.0) < 4 * se
    assert plug.mean().item() == pytest.approx(1.0 + 1.0 / 5, abs=4 * se.item())  # E[mean^2] = mu^2 + Var/n
    # the matching spread: mean(r) + spread / m = mean(a) - scale^2 / m for either estimate
    row = t[0]
    for ustat in (False, True):
        sq, spread = scale_spread(row, ustat)
        torch.testing.assert_close(spread, row.pow(2).mean() - sq)


def test_jackknife_is_n_F_minus_n_minus_1_times_the_mean_leave_one_out_F():
    dec = mlp_decoder(seed=5)
    z = torch.randn(12, 3, dtype=torch.float64)
    for est in ["exact", "hutchinson"]:
        torch.manual_seed(1)
        jk = relaxed_distortion(dec, z, eta=None, estimator=est, jackknife=True).item()
        torch.manual_seed(1)
        v = probe_vectors(z)  # the same probes for every subset: point i keeps its probe
        t, t2 = (a.detach() for a in trace_estimates(dec, z, est, v=v))

        def F(keep, t=t, t2=t2):
            return (9 * t2[keep].mean() / t[keep].mean() ** 2 - 3).item()

        loo = [F(torch.arange(12) != i) for i in range(12)]
        assert jk == pytest.approx(12 * F(torch.arange(12)) - 11 * sum(loo) / 12, rel=1e-9)
    # for FMVAE's quadratic term the jackknife is the U-statistic form
    G = metric_with_graph(dec, z).detach()

    def fm(keep):
        g = G[keep]
        c = g.diagonal(dim1=1, dim2=2).sum(1).mean() / 3
        return (g - c * torch.eye(3, dtype=g.dtype)).pow(2).sum((1, 2)).mean().item()

    loo = [fm(torch.arange(12) != i) for i in range(12)]
    jk = fmvae_distortion(dec, z, eta=None, estimator="exact", jackknife=True).item()
    assert jk == pytest.approx(12 * fm(torch.arange(12)) - 11 * sum(loo) / 12, rel=1e-9)


def test_the_jackknife_removes_the_sub_batch_bias_of_F():
    # a conformal decoder whose scale varies: f(x, y) = e^x (cos y, sin y) rotated into R^5, G = e^{2x} I
    Q = orthonormal(5, 2, seed=4)

    def dec(z):
        return (z[:, :1].exp() * torch.stack([z[:, 1].cos(), z[:, 1].sin()], 1)) @ Q.T

    g = torch.Generator().manual_seed(2)
    codes = torch.randn(1000, 2, dtype=torch.float64, generator=g) * 0.1
    torch.manual_seed(0)
    points = torch.stack([mixup(codes[torch.randperm(1000)[:100]], 0.2, n=10) for _ in range(2000)])
    t, r, _ = point_terms(dec, points.reshape(-1, 2), "exact")
    t, r = t.detach().view(2000, 10), r.detach().view(2000, 10)
    pooled = relaxed_from_terms(t.flatten(), r.flatten(), 2)  # F of all 20,000 points
    plug_bias = relaxed_from_terms(t, r, 2).mean() / pooled - 1
    jk_bias = relaxed_from_terms(t, r, 2, jackknife=True).mean() / pooled - 1
    assert plug_bias < -0.08  # the plug-in ratio on 10 points is ~12% low here (the spread of the scale)
    assert abs(jk_bias) < abs(plug_bias) / 5
