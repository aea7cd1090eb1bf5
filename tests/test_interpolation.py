"""Straight lines, geodesics and axis modulation against decoders whose geometry is known in closed form."""

import math

import pytest
import torch
from torch import nn

from irvae_core.data import load_dataset
from irvae_core.geometry.curves import (
    axis_modulation,
    code_spread,
    decode_path,
    fine_points,
    geodesic,
    geodesics,
    interpolate,
    straight_line,
)
from irvae_core.store.checkpoints import build_model
from irvae_core.train.resolve import resolve_config
from irvae_core.views.interpolation import example_geodesic, example_modulation
from models import AE
from tests.helpers import tiny_config

D64 = torch.float64


def embed(d: int, k: int, seed: int = 0) -> torch.Tensor:
    """A (d, k) matrix with orthonormal columns: embeds R^k isometrically in R^d."""
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=torch.Generator().manual_seed(seed), dtype=D64))
    return q


Q16 = embed(16, 3)


def polar(z: torch.Tensor) -> torch.Tensor:
    """(r, theta) -> (r cos theta, r sin theta) in R^16, as 4x4 images: metric diag(1, r^2)."""
    r, t = z[:, 0], z[:, 1]
    return (torch.stack([r * t.cos(), r * t.sin()], 1) @ Q16[:, :2].T).reshape(-1, 1, 4, 4)


def sphere(z: torch.Tensor) -> torch.Tensor:
    """(latitude, longitude) -> the unit sphere in R^16: metric diag(1, cos^2 lat), curvature 1."""
    u, v = z[:, 0], z[:, 1]
    return torch.stack([u.cos() * v.cos(), u.cos() * v.sin(), u.sin()], 1) @ Q16.T


def mlp(seed: int, act: nn.Module, m: int = 2, d: int = 30) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(m, 64), act, nn.Linear(64, 64), act, nn.Linear(64, d)).double()


def t64(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=D64)


def test_interpolate_decodes_the_straight_segment_and_measures_it_for_a_linear_decoder():
    a = torch.randn(12, 3, generator=torch.Generator().manual_seed(1), dtype=D64)
    z0, z1 = t64(0.5, -1.0, 2.0), t64(-1.0, 0.25, 1.0)
    line = interpolate(lambda z: (z @ a.T).reshape(-1, 3, 2, 2), z0, z1, 7)
    assert line.decoded.shape == (7, 3, 2, 2)
    assert torch.allclose(line.path, torch.stack([z0 + t * (z1 - z0) for t in torch.linspace(0, 1, 7, dtype=D64)]))
    step = float((a @ (z1 - z0)).norm()) / 6
    assert torch.allclose(line.speeds, torch.full((6,), step, dtype=D64))
    assert line.length == pytest.approx(6 * step) and line.energy == pytest.approx(6 * step**2)
    assert line.speed_ratio == pytest.approx(1.0)


def test_the_straight_lines_speed_profile_follows_the_metric():
    line = interpolate(polar, t64(1.0, 0.0), t64(3.0, 0.0), 5)  # along r: speed 1 per unit of r
    assert torch.allclose(line.speeds, torch.full((4,), 0.5, dtype=D64))
    arc = interpolate(polar, t64(1.0, 0.0), t64(1.0, 1.0), 3)  # along theta at r = 1: chords of a unit circle
    assert torch.allclose(arc.speeds, torch.full((2,), 2 * math.sin(0.25), dtype=D64))
    skew = interpolate(polar, t64(0.5, 0.0), t64(2.0, 1.0), 9)  # r grows: the angular speed grows with it
    assert skew.speed_ratio > 1.5 and bool((skew.speeds.diff() > 0).all())


def test_for_a_linear_decoder_the_geodesic_is_the_evenly_spaced_straight_segment():
    a = torch.randn(10, 3, generator=torch.Generator().manual_seed(2), dtype=D64) * t64(3.0, 1.0, 0.2)
    z0, z1 = t64(1.0, -2.0, 0.5), t64(-1.0, 1.0, 2.0)
    bent = straight_line(z0, z1, 12) + 0.4 * torch.sin(torch.linspace(0, math.pi, 12, dtype=D64))[:, None]
    geo = geodesic(lambda z: z @ a.T, z0, z1, 12, init=bent)
    assert geo.converged
    assert torch.allclose(geo.path, straight_line(z0, z1, 12), atol=1e-6)
    assert geo.length == pytest.approx(float((a @ (z1 - z0)).norm()), rel=1e-9)
    assert geo.length_ratio == pytest.approx(1.0, abs=1e-9) and geo.speed_ratio == pytest.approx(1.0, abs=1e-5)


def test_polar_geodesic_is_the_chord_shorter_than_the_straight_arc():
    z0, z1 = t64(1.0, 0.0), t64(1.0, 2.0)  # the straight latent line is the unit-circle arc of length 2
    geo = geodesic(polar, z0, z1, 16)
    chord = 2 * math.sin(1.0)  # closed form: the flat metric's geodesic is the Cartesian segment
    assert geo.length == pytest.approx(chord, rel=0.02)
    assert geo.straight.discrete_length == pytest.approx(15 * 2 * math.sin(1 / 15))  # 15 chords of the arc ...
    pieces = fine_points(16) - 1  # ... and its certified length: the arc, measured at the fine resampling
    assert geo.straight.length == pytest.approx(pieces * 2 * math.sin(1 / pieces)) and geo.straight.certified
    assert geo.certified and geo.length == pytest.approx(geo.discrete_length, rel=0.01)
    assert geo.length < geo.straight.length and geo.length_ratio > 1.15
    # shown at the 16 points asked, evenly spaced along the curve found (its ``points_needed`` points)
    assert geo.decoded.shape == (16, 1, 4, 4) and geo.speed_ratio == pytest.approx(1.0, abs=1e-3)
    assert geo.curve.shape == (geo.points_needed, 2) and geo.points_needed > 16
    assert torch.equal(geo.path[0], z0) and torch.equal(geo.path[-1], z1)
    r = geo.path[:, 0]  # the chord passes the origin at distance cos(1): r dips below 1 in the middle
    assert float(r.min()) == pytest.approx(math.cos(1.0), rel=0.02)


def test_sphere_geodesic_is_the_great_circle_not_the_latitude():
    z0, z1 = t64(0.6, -1.2), t64(0.6, 1.2)
    geo = geodesic(sphere, z0, z1, 32)
    great = math.acos(math.sin(0.6) ** 2 + math.cos(0.6) ** 2 * math.cos(2.4))  # closed-form great-circle distance
    latitude = math.cos(0.6) * 2.4
    assert geo.length == pytest.approx(great, rel=0.02)
    assert geo.straight.length == pytest.approx(latitude, rel=0.01) and geo.length < geo.straight.length
    assert float(geo.path[:, 0].max()) > 0.8  # the great circle bends towards the pole


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("act", [nn.Tanh(), nn.ReLU(), nn.Softplus(beta=20)], ids=["tanh", "relu", "softplus"])
def test_the_geodesics_energy_is_never_above_the_straight_lines(seed, act):
    decoder = mlp(seed, act)
    z = torch.randn(2, 2, generator=torch.Generator().manual_seed(seed), dtype=D64) * 2
    for kwargs in ({}, {"max_iter": 1, "check_every": 1}):
        geo = geodesic(decoder, z[0], z[1], 16, **kwargs)
        assert geo.length <= geo.straight.length  # certified lengths: never a longer curve than the straight one
        if len(geo.path) == 16:  # not refined: the same discretisation as the straight line's
            assert geo.energy <= geo.straight.energy
        assert geo.energy == pytest.approx(decode_path(decoder, geo.path).energy, rel=1e-12)
        assert math.sqrt((len(geo.path) - 1) * geo.energy) >= geo.discrete_length - 1e-9  # Cauchy-Schwarz
        assert geo.length >= geo.discrete_length - 1e-12  # a finer polyline is never shorter


def bump(z: torch.Tensor, height: float = 5.0, width: float = 0.05) -> torch.Tensor:
    """The plane with a narrow tall bump at the origin: far from it the identity (metric I), near it steep."""
    return torch.cat([z, height * torch.exp(-(z.pow(2).sum(1, keepdim=True)) / width**2)], 1)


def fine_length(decoder, path: torch.Tensor, pieces: int = 64) -> float:
    """The decoded length of a latent polyline cut into ``pieces`` per segment: an independent measurement."""
    t = torch.arange(pieces, dtype=path.dtype)[:, None] / pieces
    pts = torch.cat([(path[:-1, None] + t * (path[1:] - path[:-1])[:, None]).reshape(-1, path.shape[1]), path[-1:]])
    out = decoder(pts)
    return float((out[1:] - out[:-1]).norm(dim=1).sum())


def test_a_coarse_straight_line_across_a_narrow_bump_is_measured_at_the_points_it_needs():
    z0, z1 = t64(-1.0, 0.0), t64(1.0, 0.0)
    line = interpolate(bump, z0, z1, 16)  # 16 points step over the bump (width 0.05, steps 0.13)
    exact = fine_length(bump, torch.stack([z0, z1]), 200_000)  # the integral of sqrt(1 + h'(x)^2): up and down
    assert 11 < exact < 12 and line.discrete_length < 5  # what the 16 points see ...
    assert line.length == pytest.approx(exact, rel=0.01) and line.certified  # ... and the curve's length
    assert line.points_needed > 16 and len(line.path) == 16 and len(line.speeds) == 15
    arc = interpolate(polar, t64(1.0, 0.0), t64(1.0, 5.0), 4)  # chords of an arc of length 5: 4.44, 4.86, 4.96
    assert arc.points_needed == 13 and arc.certified and arc.length == pytest.approx(5.0, rel=1e-3)


def test_a_geodesic_on_a_curved_decoder_reports_the_length_of_its_own_curve():
    z0, z1 = t64(-1.0, 0.01), t64(1.0, -0.01)
    exact = fine_length(bump, torch.stack([z0, z1]), 200_000)
    for n in (4, 16):
        geo = geodesic(bump, z0, z1, n)
        # the length is the curve's (geo.curve); the n points shown lie on it, their chords may cut the bump
        assert geo.certified and geo.length == pytest.approx(fine_length(bump, geo.curve), rel=0.01)
        assert len(geo.path) == n and torch.equal(geo.path[0], z0) and torch.equal(geo.path[-1], z1)
        assert geo.discrete_length >= 0.99 * geo.length
        assert 2.0 <= geo.length < 2.3  # around the bump, not over it (12)
        assert geo.straight.length == pytest.approx(exact, rel=0.01) and geo.length_ratio > 5
    coarse = decode_path(bump, straight_line(z0, z1, 16))
    assert not coarse.certified and coarse.length == pytest.approx(exact, rel=0.05)


def test_batched_geodesics_match_one_call_per_pair():
    decoder = mlp(3, nn.Tanh())
    g = torch.Generator().manual_seed(5)
    z0, z1 = torch.randn(4, 2, generator=g, dtype=D64) * 2, torch.randn(4, 2, generator=g, dtype=D64) * 2
    batch = geodesics(decoder, z0, z1, 12)
    one = [geodesic(decoder, a, b, 12) for a, b in zip(z0, z1)]
    assert batch.lengths.shape == (4,) and bool(batch.certified.all())
    assert batch.lengths.tolist() == [o.length for o in one]  # one optimisation per pair: the same curves
    shared = geodesics(decoder, z0, z1, 12, batched=True)  # one L-BFGS over all pairs: close, not equal
    assert bool(shared.certified.all())
    assert torch.allclose(shared.lengths, batch.lengths, rtol=5e-3)
    assert torch.allclose(batch.straight_lengths, torch.tensor([o.straight.length for o in one], dtype=D64))
    assert batch.n_points.tolist() == [len(p) for p in batch.paths]  # (a pair may settle one subdivision apart)
    assert bool((batch.length_ratios >= 1).all())
    for path, a, b in zip(batch.paths, z0, z1):
        assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_batched_geodesics_say_which_pair_is_wrong():
    z = torch.zeros(3, 2, dtype=D64)
    z1 = torch.ones(3, 2, dtype=D64)
    z1[1] = 0
    with pytest.raises(ValueError, match=r"the two latent points are the same \(pair 1\)"):
        geodesics(polar, z, z1, 8)
    with pytest.raises(ValueError, match="must both have shape"):
        geodesics(polar, z, z1[:2], 8)


def test_a_decoder_that_fails_off_the_line_still_gives_a_path_no_worse_than_the_straight_one():
    base = mlp(0, nn.Tanh())

    def fragile(z: torch.Tensor) -> torch.Tensor:  # NaN outside a thin band around the straight segment
        out = base(z)
        return torch.where((z[:, 1:].abs() < 0.05), out, torch.full_like(out, math.nan))

    geo = geodesic(fragile, t64(-1.0, 0.0), t64(1.0, 0.0), 10)
    assert math.isfinite(geo.energy) and geo.energy <= geo.straight.energy
    assert bool((geo.path[:, 1].abs() < 0.05).all())


def test_progress_reports_fractions_and_the_best_energy_so_far():
    calls = []
    geo = geodesic(mlp(1, nn.Tanh()), t64(-2.0, 1.0), t64(2.0, -1.0), 16, check_every=5,
                   progress=lambda f, e: calls.append((f, e)))
    fractions, energies = zip(*calls)
    with torch.no_grad():
        out = mlp(1, nn.Tanh())(geo.curve)
    pieces = (out[1:] - out[:-1]).norm(dim=1)
    assert len(calls) >= 2 and fractions[-1] == 1.0 and energies[-1] == pytest.approx(float(pieces.pow(2).sum()))
    assert all(0 <= a <= b <= 1 for a, b in zip(fractions, fractions[1:]))
    assert all(b <= a * (1 + 1e-12) for a, b in zip(energies, energies[1:]))  # the last one re-measured: round-off
    assert energies[0] < geo.straight.energy


def test_geodesic_runs_on_one_thread_and_gives_the_callers_setting_back():
    threads = torch.get_num_threads()
    seen = []
    geodesic(mlp(1, nn.Tanh()), t64(-2.0, 1.0), t64(2.0, -1.0), 8, progress=lambda f, e: seen.append(
        torch.get_num_threads()))
    assert seen and set(seen) == {1} and torch.get_num_threads() == threads


def test_geodesic_leaves_the_decoders_parameters_alone():
    decoder = mlp(2, nn.Tanh()).float()
    before = [p.detach().clone() for p in decoder.parameters()]
    geodesic(decoder, torch.tensor([-1.0, 0.5]), torch.tensor([1.0, -0.5]), 8)
    assert all(p.grad is None for p in decoder.parameters())
    assert all(torch.equal(a, p) for a, p in zip(before, decoder.parameters()))


def test_the_same_point_twice_is_one_clear_sentence():
    with pytest.raises(ValueError, match="the two latent points are the same"):
        geodesic(polar, t64(1.0, 0.5), t64(1.0, 0.5), 8)
    with pytest.raises(ValueError, match="the two latent points are the same"):
        interpolate(polar, t64(1.0, 0.5), t64(1.0, 0.5), 8)
    with pytest.raises(ValueError, match="at least 2 points"):
        interpolate(polar, t64(1.0, 0.5), t64(1.0, 0.6), 1)


def linear_ae(d: int = 6, m: int = 3, seed: int = 0) -> AE:
    torch.manual_seed(seed)
    return AE(nn.Linear(d, m), nn.Linear(m, d), m).double().eval()


def test_axis_modulation_steps_each_axis_by_multiples_of_its_std():
    model = linear_ae()
    x = torch.randn(6, dtype=D64)
    stds = t64(0.5, 2.0, 0.1)
    grid = axis_modulation(model, x, stds, 2)
    assert grid.decoded.shape == (3, 5, 6) and grid.labels == ["z1", "z2", "z3"]
    assert grid.multiples.tolist() == [-2, -1, 0, 1, 2]
    with torch.no_grad():
        recon = model.decode(model.encode(x[None]))[0]
        w = model.decoder.weight  # (6, 3): the decoder moves by std_i * W[:, i] per step along axis i
    assert all(torch.allclose(grid.decoded[i, 2], recon) for i in range(3))
    for i in range(3):
        assert torch.allclose(grid.decoded[i].diff(dim=0), (stds[i] * w[:, i]).expand(4, 6), atol=1e-12)
    one = axis_modulation(model, x, 0.5, 1)  # one std for every axis
    assert torch.allclose(one.codes[1, 2] - one.codes[1, 1], t64(0.0, 0.5, 0.0))


def test_code_spread_finds_the_axes_stds_and_the_principal_directions():
    v1, v2 = t64(1.0, 1.0, 0.0) / math.sqrt(2), t64(0.0, 0.0, 1.0)
    codes = torch.stack([3 * v1, -3 * v1, v2, -v2]) + t64(5.0, -1.0, 2.0)  # sample covariance known exactly
    axes = code_spread(codes)
    assert torch.allclose(axes.stds, codes.std(0)) and torch.equal(axes.directions, torch.eye(3, dtype=D64))
    pca = code_spread(codes, "pca", top=2)
    assert pca.labels == ["PC1", "PC2"]
    assert torch.allclose(pca.directions, torch.stack([v1, v2]), atol=1e-12)
    assert torch.allclose(pca.stds, t64(3.0, 1.0) * math.sqrt(2 / 3))  # sqrt(2 a^2 / (N - 1))
    grid = axis_modulation(linear_ae(), torch.zeros(6, dtype=D64), pca.stds, 1, directions=pca.directions,
                           labels=pca.labels)
    assert torch.allclose(grid.codes[0, 2] - grid.codes[0, 1], pca.stds[0] * v1)


def test_example_helpers_refuse_bad_picks_in_one_sentence():
    data = load_dataset("synthetic-mocap")
    model = build_model(resolve_config(tiny_config(**{"data.name": "synthetic-mocap"})), data.x_shape).eval()
    with pytest.raises(ValueError, match="#3 was picked twice"):
        example_geodesic(model, data, 3, 3)
    with pytest.raises(ValueError, match="does not exist: the test split has 2000 examples"):
        example_geodesic(model, data, 3, 2000)
    flat = build_model(resolve_config(tiny_config(**{"data.name": "synthetic-mocap", "model.latent_dim": 1})),
                       data.x_shape).eval()
    with pytest.raises(ValueError, match="latent space of size 1"):
        example_geodesic(flat, data, 3, 4)
    geo = example_geodesic(model, data, 3, 4, 8)
    assert geo.decoded.shape == (8, 50) and geo.energy <= geo.straight.energy
    grid = example_modulation(model, data, 3, k=1)
    assert grid.decoded.shape == (2, 3, 50) and grid.labels == ["z1", "z2"]

