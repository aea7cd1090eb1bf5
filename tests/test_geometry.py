"""Pullback metric and the paper's isometry metrics on cases with known answers."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from irvae_core.geometry.metric import (
    condition_numbers,
    mean_condition_number,
    metric_ellipse,
    pullback_metric,
    restrict_metric,
    riemannian_distances_sq,
    variance_of_riemannian_metric,
)
from models import build_autoencoder


def linear_decoder(A: torch.Tensor):
    return lambda z: z @ A.T


def orthonormal(d: int, m: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, m, generator=g, dtype=dtype))
    return q


def test_linear_decoder_metric_is_AtA():
    torch.manual_seed(0)
    A = torch.randn(10, 3)
    z = torch.randn(64, 3)
    G = pullback_metric(linear_decoder(A), z)
    assert G.shape == (64, 3, 3)
    torch.testing.assert_close(G, (A.T @ A).expand(64, 3, 3), atol=1e-5, rtol=1e-5)


def test_scaled_orthonormal_decoder_is_perfectly_isometric():
    A = 3.0 * orthonormal(12, 4)
    G = pullback_metric(linear_decoder(A), torch.randn(50, 4, dtype=torch.float64))
    torch.testing.assert_close(condition_numbers(G), torch.ones(50, dtype=torch.float64))
    assert mean_condition_number(G) == pytest.approx(1.0, abs=1e-9)
    assert variance_of_riemannian_metric(G) == pytest.approx(0.0, abs=1e-12)


def test_pullback_metric_keeps_no_graph_and_handles_image_outputs():
    ae = build_autoencoder("ae", "fc", (1, 6, 6), latent_dim=3, hidden=(16,))
    z = torch.randn(7, 3, requires_grad=True)
    G = pullback_metric(ae.decode, z)
    assert not G.requires_grad
    J = torch.autograd.functional.jacobian(lambda zz: ae.decode(zz[None])[0].flatten(), z[0].detach())
    torch.testing.assert_close(G[0], J.T @ J, atol=1e-5, rtol=1e-4)


def test_chunking_gives_the_same_metric():
    torch.manual_seed(1)
    ae = build_autoencoder("ae", "fc", (20,), latent_dim=3, hidden=(32, 32), out_act="tanh")
    z = torch.randn(37, 3)
    torch.testing.assert_close(pullback_metric(ae.decode, z, chunk_size=5), pullback_metric(ae.decode, z))


def test_condition_number_of_a_known_metric():
    G = torch.diag(torch.tensor([1.0, 9.0]))[None]
    assert condition_numbers(G).item() == pytest.approx(9.0)
    rot = torch.tensor([[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]])
    assert condition_numbers((rot @ G[0] @ rot.T)[None]).item() == pytest.approx(9.0, rel=1e-5)


def _metrics_with_eigenvalues(eigenvalues: list[list[float]], seed: int = 0) -> torch.Tensor:
    """Q diag(lambda) Q^T for each row of eigenvalues, one random rotation Q each (float64)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for lam in eigenvalues:
        q, _ = torch.linalg.qr(torch.randn(len(lam), len(lam), generator=g, dtype=torch.float64))
        out.append(q @ torch.diag(torch.tensor(lam, dtype=torch.float64)) @ q.T)
    return torch.stack(out)


def test_condition_numbers_at_m3_use_the_largest_and_smallest_eigenvalues():
    # eigenvalues (1, 4, 9): cond 9 (the middle eigenvalue would give 4 or 9/4); (2, 3, 4): cond 2
    G = _metrics_with_eigenvalues([[1.0, 4.0, 9.0], [2.0, 3.0, 4.0], [4.0, 9.0, 1.0]])
    assert not torch.allclose(G[0], torch.diag(torch.diagonal(G[0])))  # really rotated
    torch.testing.assert_close(condition_numbers(G), torch.tensor([9.0, 2.0, 9.0], dtype=torch.float64))
    assert mean_condition_number(G) == pytest.approx(20.0 / 3.0, rel=1e-12)
    assert mean_condition_number(G.float()) == pytest.approx(20.0 / 3.0, rel=1e-5)


def test_vor_at_m3_against_hand_values_and_an_independent_matrix_logarithm():
    # Q diag(1, 4, 9) Q^T and Q diag(9, 4, 1) Q^T (the same Q): mean Q diag(5, 4, 5) Q^T, and
    # d^2 = log^2(1/5) + log^2(4/4) + log^2(9/5) for both
    q = orthonormal(3, 3, seed=7)
    G = torch.stack([q @ torch.diag(torch.tensor(lam, dtype=torch.float64)) @ q.T
                     for lam in ([1.0, 4.0, 9.0], [9.0, 4.0, 1.0])])
    assert variance_of_riemannian_metric(G) == pytest.approx(math.log(5) ** 2 + math.log(1.8) ** 2, rel=1e-10)
    assert mean_condition_number(G) == pytest.approx(9.0)
    # metrics with different eigenvectors: d^2(A, B) = ||logm(B^-1/2 A B^-1/2)||_F^2 by scipy
    from scipy.linalg import fractional_matrix_power, logm

    Gs = _metrics_with_eigenvalues([[1.0, 4.0, 9.0], [0.5, 2.0, 3.0], [1.0, 1.0, 6.0], [2.0, 5.0, 7.0]], seed=3)
    mean = Gs.mean(0).numpy()
    w = fractional_matrix_power(mean, -0.5)
    expected = sum(float(np.linalg.norm(logm(w @ g @ w), "fro") ** 2) for g in Gs.numpy()) / len(Gs)
    assert variance_of_riemannian_metric(Gs) == pytest.approx(expected, rel=1e-8)


def test_singular_metric_has_infinite_condition_number():
    assert condition_numbers(torch.diag(torch.tensor([1.0, 0.0]))[None]).item() == math.inf


@pytest.mark.parametrize("m", [1, 2, 5])
def test_vor_of_I_and_4I_has_its_closed_form(m):
    G = torch.stack([torch.eye(m), 4 * torch.eye(m)])
    # mean metric 2.5 I: d^2 = m log^2(1/2.5) and m log^2(4/2.5)
    expected = m * (math.log(0.4) ** 2 + math.log(1.6) ** 2) / 2
    assert variance_of_riemannian_metric(G) == pytest.approx(expected, rel=1e-9)


def test_vor_is_stable_for_badly_conditioned_metrics():
    # eigenvalues 1e-7 .. 1: an explicit inverse in float32 loses this; eigh in float64 does not
    U = orthonormal(3, 3, seed=4)
    G1 = U @ torch.diag(torch.tensor([1e-7, 1e-3, 1.0], dtype=torch.float64)) @ U.T
    G = torch.stack([G1, 2 * G1]).float()
    # d^2(G1, 1.5 G1) = 3 log^2(1/1.5), d^2(2 G1, 1.5 G1) = 3 log^2(2/1.5)
    expected = 3 * (math.log(1 / 1.5) ** 2 + math.log(2 / 1.5) ** 2) / 2
    assert variance_of_riemannian_metric(G) == pytest.approx(expected, rel=1e-3)


def test_vor_and_condition_numbers_are_scale_invariant():
    torch.manual_seed(2)
    B = torch.randn(20, 3, 3)
    G = B @ B.transpose(1, 2) + 0.1 * torch.eye(3)
    assert variance_of_riemannian_metric(7.0 * G) == pytest.approx(variance_of_riemannian_metric(G), rel=1e-4)
    torch.testing.assert_close(condition_numbers(7.0 * G), condition_numbers(G), rtol=1e-4, atol=0)


def test_affine_invariant_distance_is_symmetric_in_its_arguments():
    A = torch.tensor([[2.0, 0.3], [0.3, 1.0]])
    B = torch.tensor([[1.0, -0.2], [-0.2, 3.0]])
    d_ab = riemannian_distances_sq(A[None], B).item()
    d_ba = riemannian_distances_sq(B[None], A).item()
    assert d_ab == pytest.approx(d_ba, rel=1e-9)


def test_complex_exponential_is_conformal_but_not_isometric():
    # exp(x + iy) = e^x (cos y, sin y): G = e^{2x} I, conformal with a varying factor
    def cexp(z):
        return torch.stack([z[:, 0].exp() * z[:, 1].cos(), z[:, 0].exp() * z[:, 1].sin()], 1)

    z = torch.rand(200, 2, dtype=torch.float64) * 2 - 1
    G = pullback_metric(cexp, z)
    torch.testing.assert_close(G, torch.exp(2 * z[:, 0])[:, None, None] * torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(condition_numbers(G), torch.ones(200, dtype=torch.float64))
    assert variance_of_riemannian_metric(G) > 0.1


def test_ellipse_of_a_known_metric_has_the_right_axes_and_angle():
    theta = 0.4
    R = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]],
                     dtype=torch.float64)
    # eigenvalue 1 along (cos, sin) and 16 along the normal: major semi-axis 2, minor 0.5 for k = 4
    G = R @ torch.diag(torch.tensor([1.0, 16.0], dtype=torch.float64)) @ R.T
    e = metric_ellipse(G, torch.tensor([1.0, -2.0]), k=4.0)
    assert e.center == (1.0, -2.0)
    assert e.semi_axes == pytest.approx((2.0, 0.5))
    assert e.angle == pytest.approx(theta)
    xs, ys = e.points(64)
    pts = torch.tensor([xs, ys], dtype=torch.float64).T - torch.tensor([1.0, -2.0], dtype=torch.float64)
    torch.testing.assert_close(torch.einsum("ni,ij,nj->n", pts, G, pts), torch.full((65,), 4.0,
                               dtype=torch.float64))


def test_restricted_metric_on_coordinate_plane_is_the_submatrix():
    G = torch.tensor([[2.0, 0.5, 0.1], [0.5, 3.0, 0.2], [0.1, 0.2, 4.0]])
    basis = torch.eye(3)[:, [0, 2]]
    torch.testing.assert_close(restrict_metric(G, basis), G[[0, 2]][:, [0, 2]])


@pytest.mark.slow
def test_pullback_metric_of_10000_points_at_m16_fits_in_2_gib():
    # a fresh process, so the peak resident memory measures this computation alone
    code = """
import resource, torch
from models import build_autoencoder
from irvae_core.geometry.metric import pullback_metric
torch.manual_seed(0)
vae = build_autoencoder("vae", "fc", (1, 28, 28), latent_dim=16)
z = torch.randn(10000, 16)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
G = pullback_metric(vae.decode, z)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert G.shape == (10000, 16, 16) and torch.isfinite(G).all()
print((after - before) * 1024)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip().splitlines()[-1]) < 2 * 2**30


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_pullback_metric_on_cuda_matches_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare float32 with float32
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(2)
    ae = build_autoencoder("vae", "conv", (1, 28, 28), latent_dim=4)
    z = torch.randn(64, 4)
    G_cpu = pullback_metric(ae.decode, z, chunk_size=16)
    G_gpu = pullback_metric(ae.cuda().decode, z.cuda(), chunk_size=16)
    assert G_gpu.device.type == "cuda"
    torch.testing.assert_close(G_gpu.cpu(), G_cpu, rtol=1e-3, atol=1e-5)


# ---- the one Jacobian routine: every path against torch.func.jacfwd on the same inputs

def jacfwd_columns(f, z: torch.Tensor) -> torch.Tensor:
    """The plain Jacobian (m, B, D) of f at every row of z: torch.func.jacfwd, one point at a time."""
    from torch.func import jacfwd

    cols = [jacfwd(lambda p: f(p[None]).reshape(-1))(p) for p in z]  # each (D, m)
    return torch.stack(cols).permute(2, 0, 1)


def perturbed_realnvp(dim: int, seed: int):
    from models import RealNVP

    torch.manual_seed(seed)
    fm = RealNVP(dim, depth=4, width=16).double()
    for layer in fm.layers:  # away from the identity it starts as
        torch.nn.init.normal_(layer.net[-1].weight, std=0.5)
    return fm


@pytest.mark.parametrize("arch, shape, m", [("fc", (1, 28, 28), 3), ("conv", (1, 28, 28), 2), ("fc", (50,), 5)])
@pytest.mark.parametrize("path", ["as given", "stacked forward mode"])
def test_jacobian_stacked_tangents_equal_jacfwd(arch, shape, m, path):
    """The FC decoders' one pass and the stacked forward-mode pass (any other callable) both give jacfwd's."""
    from irvae_core.geometry.metric import jacobian

    torch.manual_seed(3)
    model = build_autoencoder("vae", arch, shape, latent_dim=m).double()
    dec = model.decode if path == "as given" else (lambda q: model.decode(q))
    z = torch.randn(4, m, dtype=torch.float64)
    want = jacfwd_columns(dec, z)
    got = jacobian(dec, z)
    assert got.shape == (m, 4, int(np.prod(shape)))
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    directions = torch.randn(2, m, dtype=torch.float64)  # J d for given directions: J @ d
    torch.testing.assert_close(jacobian(dec, z, directions), torch.einsum("ibd,ki->kbd", want, directions),
                               rtol=1e-9, atol=1e-10)


def test_jacobian_keeps_the_graph_with_jacfwds_gradient():
    """The regularizers differentiate through the Jacobian: its gradient w.r.t. the decoder's parameters and z
    must be the plain one's."""
    from torch.func import functional_call, jacfwd

    from irvae_core.geometry.metric import jacobian

    torch.manual_seed(4)
    ae = build_autoencoder("ae", "fc", (20,), latent_dim=3, hidden=(16, 16)).double()
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    params = dict(ae.decoder.named_parameters())

    def plain(p, zz):
        return torch.stack([jacfwd(lambda q: functional_call(ae.decoder, p, (q[None],)).reshape(-1))(q) for q in zz])

    want = torch.autograd.grad(plain(params, z).pow(2).sum(), [*params.values(), z])
    got = torch.autograd.grad(jacobian(ae.decoder, z).pow(2).sum(), [*params.values(), z])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_realnvp_hand_written_jacobian_equals_jacfwd():
    fm = perturbed_realnvp(3, seed=5)
    w = torch.randn(6, 3, dtype=torch.float64)
    x, jac = fm.inverse_and_jacobian(w)  # (B, m, m): jac[b, :, i] = d inverse / d w_i
    torch.testing.assert_close(x, fm.inverse(w))
    torch.testing.assert_close(jac.permute(2, 0, 1), jacfwd_columns(fm.inverse, w), rtol=1e-9, atol=1e-10)


def test_composed_jacobian_equals_jacfwd_of_the_composition():
    from irvae_core.geometry.metric import Composed, jacobian

    fm = perturbed_realnvp(3, seed=6)
    torch.manual_seed(6)
    dec = build_autoencoder("ae", "fc", (30,), latent_dim=3, hidden=(16,)).double().decode
    flat = Composed(dec, fm.inverse, fm.inverse_and_jacobian)  # the flattening module's f o i^{-1}
    w = torch.randn(5, 3, dtype=torch.float64)
    want = jacfwd_columns(lambda q: dec(fm.inverse(q)), w)
    torch.testing.assert_close(flat(w), dec(fm.inverse(w)))
    torch.testing.assert_close(jacobian(flat, w), want, rtol=1e-9, atol=1e-10)
    directions = torch.randn(2, 3, dtype=torch.float64)
    torch.testing.assert_close(jacobian(flat, w, directions), torch.einsum("ibd,ki->kbd", want, directions),
                               rtol=1e-9, atol=1e-10)
