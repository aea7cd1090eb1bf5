"""Walking through a latent space: straight lines, geodesics and axis modulation (paper Figs. 6-7, App. E.1).

A decoder f: R^m -> R^D maps a latent curve z(t) to a curve f(z(t)) in data space. A curve is
discretised into n points z_0 .. z_{n-1} (endpoints z_0, z_{n-1} fixed) and measured by

- its speeds s_k = ||f(z_{k+1}) - f(z_k)||  (data-space step lengths, k = 0 .. n-2),
- its discrete length L_n = sum_k s_k  (the decoded polyline through the n points),
- its energy E = sum_k s_k^2.

By Cauchy-Schwarz L_n^2 <= (n - 1) E, with equality exactly when the speed is constant, so the
curve of least energy is the shortest one, traversed at constant speed: the discrete geodesic
of the pullback metric G = J^T J. For a scaled isometry (G = c I) the straight latent segment
is that geodesic; the length ratio straight / geodesic (>= 1) and the straight line's max/min
speed ratio (1 for an isometry) say how far a decoder is from one.

Certified lengths. L_n only sees the decoder at the n points: on a curved decoder a step can
jump across a region where the decoder stretches, and L_n is then much shorter than the curve
it stands for. So every length reported here is the length of the latent polyline decoded at a
fine resampling (``fine_points``: every segment cut into at least 8 pieces, 256 pieces in all at
least), and it is *certified* when the discrete length agrees with it: L_n >= (1 - tol) L_fine.
A geodesic that is not certified is subdivided (a midpoint inserted in every segment) and
optimised again, until it is certified or ``max_points`` is reached; a straight segment is
measured at more points the same way. ``length`` is L_fine; ``discrete_length`` is L_n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from irvae_core.geometry.metric import DEFAULT_CHUNK_ELEMENTS, Decoder, flat_decoder

# progress(fraction done in [0, 1], best energy of the current discretisation; at the end, the curve's)
GeodesicProgress = Callable[[float, float], None]

LENGTH_TOLERANCE = 0.01  # a length is certified when the discrete and the fine length agree within this
FINE_PIECES = 256  # the fine resampling cuts a curve into at least this many pieces ...
FINE_PIECES_PER_SEGMENT = 8  # ... and each of its segments into at least this many
MAX_POINTS = 513
SEEN_POINTS = 64  # refinement stops here (16 -> 31 -> 61 -> 121 -> 241 -> 481 points)


def fine_points(n: int) -> int:
    """Points of the fine resampling of an n-point polyline: every segment cut into the same number of pieces."""
    per = max(FINE_PIECES_PER_SEGMENT, math.ceil(FINE_PIECES / (n - 1)))
    return (n - 1) * per + 1


@dataclass
class DecodedPath:
    """A discrete latent curve, its decoding and its certified length."""

    path: torch.Tensor  # (n, m) latent points, endpoints included
    decoded: torch.Tensor  # (n, *x_shape) decoder outputs
    speeds: torch.Tensor  # (n - 1,) float64 data-space step lengths ||f(z_{k+1}) - f(z_k)||
    length: float  # the curve's length: its latent polyline decoded at a fine resampling
    certified: bool  # the discrete length agreed with ``length`` within the tolerance (at ``points_needed`` points)
    points_needed: int  # points of the discretisation whose length was certified

    @property
    def discrete_length(self) -> float:
        """Data-space length of the decoded polyline through the path's points, sum_k ||f(z_{k+1}) - f(z_k)||."""
        return float(self.speeds.sum())

    @property
    def energy(self) -> float:
        """Discrete energy sum_k ||f(z_{k+1}) - f(z_k)||^2 (the geodesic's objective)."""
        return float(self.speeds.pow(2).sum())

    @property
    def speed_ratio(self) -> float:
        """max / min step length: 1 for a path decoded at constant speed; inf if some step has length 0."""
        lo = float(self.speeds.min())
        return float(self.speeds.max()) / lo if lo > 0 else float("inf")


@dataclass
class Geodesic(DecodedPath):
    """The discrete geodesic: a DecodedPath of least energy, with the straight line it started beside.

    ``curve`` is the latent polyline found, at the ``points_needed`` points its length was certified
    on; ``path`` shows it at the requested number of points, evenly spaced along it in data-space
    arc length (so its speeds are even), and ``length`` is the curve's.
    """

    straight: DecodedPath  # the straight segment between the same endpoints, its length certified the same way
    iterations: int  # optimiser iterations run, over every refinement
    converged: bool  # the last optimisation stopped on its tolerance (not on the iteration limit or a NaN)
    curve: torch.Tensor  # (points_needed, m) the polyline whose length is ``length``

    @property
    def length_ratio(self) -> float:
        """Straight-line length / geodesic length (both certified): 1 when the straight line is the geodesic."""
        return self.straight.length / self.length


@dataclass
class Geodesics:
    """Geodesics between N pairs of latent points, found in one batched optimisation (``geodesics``)."""

    paths: list[torch.Tensor]  # pair i's curve, (n_points[i], m)
    lengths: torch.Tensor  # (N,) float64 certified lengths
    certified: torch.Tensor  # (N,) bool
    n_points: torch.Tensor  # (N,) int64 points each pair needed
    straight_lengths: torch.Tensor  # (N,) float64 certified lengths of the straight segments
    straight_certified: torch.Tensor  # (N,) bool
    converged: torch.Tensor  # (N,) bool
    iterations: int  # optimiser iterations run, over every refinement

    @property
    def length_ratios(self) -> torch.Tensor:
        """(N,) straight-line length / geodesic length per pair."""
        return self.straight_lengths / self.lengths


def _pairs(z0: torch.Tensor, z1: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Endpoints as (N, m) tensors, checked: same shapes, distinct, finite; n >= 2."""
    z0, z1 = torch.as_tensor(z0).detach(), torch.as_tensor(z1).detach()
    if z0.ndim != 2 or z0.shape != z1.shape:
        raise ValueError(f"the start and end points must both have shape (N, m); got {tuple(z0.shape)} and "
                         f"{tuple(z1.shape)}")
    if n < 2:
        raise ValueError(f"a path needs at least 2 points; got {n}")
    z1 = z1.to(z0)
    same = (z0 == z1).all(1)
    if bool(same.any()):
        i = int(same.nonzero()[0])
        where = "" if len(z0) == 1 else f" (pair {i})"
        raise ValueError(f"the two latent points are the same{where}: there is no path between them to show")
    if not (torch.isfinite(z0).all() and torch.isfinite(z1).all()):
        raise ValueError("a latent point is not finite")
    return z0, z1


def _endpoints(z0: torch.Tensor, z1: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    z0, z1 = torch.as_tensor(z0).detach().reshape(-1), torch.as_tensor(z1).detach().reshape(-1)
    if z0.shape != z1.shape:
        raise ValueError(f"the two latent points have different sizes ({z0.numel()} and {z1.numel()})")
    a, b = _pairs(z0[None], z1[None], n)
    return a[0], b[0]


def straight_line(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """n evenly spaced points of the latent segment from z0 to z1: (n, m), or (N, n, m) for (N, m) endpoints."""
    t = torch.linspace(0, 1, n, dtype=z0.dtype, device=z0.device).unsqueeze(1)
    if z0.ndim == 2:
        return (1 - t) * z0[:, None] + t * z1[:, None]
    return (1 - t) * z0 + t * z1


def _resample(paths: torch.Tensor, k: int) -> torch.Tensor:
    """(N, n, m) polylines with every segment cut into k equal pieces: (N, (n - 1) k + 1, m), the n points kept."""
    N, n, m = paths.shape
    t = torch.arange(k, dtype=paths.dtype, device=paths.device) / k
    start, step = paths[:, :-1, None], (paths[:, 1:] - paths[:, :-1])[:, :, None]
    inner = (start + t[:, None] * step).reshape(N, (n - 1) * k, m)
    return torch.cat([inner, paths[:, -1:]], 1)


def _decoded_lengths(f: Decoder, paths: torch.Tensor) -> torch.Tensor:
    """(N,) float64 lengths of the decoded polylines through (N, n, m) points, decoded in memory-bounded chunks."""
    N, n, m = paths.shape
    with torch.no_grad():
        prev = f(paths[:, 0]).double()
        step = max(1, DEFAULT_CHUNK_ELEMENTS // max(1, N * prev.shape[1]))
        total = torch.zeros(N, dtype=torch.float64, device=prev.device)
        for s in range(1, n, step):
            out = f(paths[:, s:s + step].reshape(-1, m)).double().reshape(N, -1, prev.shape[1])
            seq = torch.cat([prev[:, None], out], 1)
            total += (seq[:, 1:] - seq[:, :-1]).norm(dim=2).sum(1)
            prev = out[:, -1]
    return total


def _speeds(f: Decoder, paths: torch.Tensor) -> torch.Tensor:
    """(N, n - 1) float64 data-space step lengths of (N, n, m) latent polylines."""
    N, n, m = paths.shape
    with torch.no_grad():
        out = f(paths.reshape(N * n, m)).double().reshape(N, n, -1)
    return (out[:, 1:] - out[:, :-1]).norm(dim=2)


def _measure(f: Decoder, paths: torch.Tensor, tol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Speeds (N, n - 1), fine lengths (N,) and whether each discrete length is certified against its fine one."""
    speeds = _speeds(f, paths)
    n = paths.shape[1]
    fine = _decoded_lengths(f, _resample(paths, (fine_points(n) - 1) // (n - 1)))
    fine = torch.maximum(fine, speeds.sum(1))  # a finer polyline is never shorter (triangle inequality; round-off)
    return speeds, fine, speeds.sum(1) >= (1 - tol) * fine


def _subdivide(paths: torch.Tensor) -> torch.Tensor:
    """(N, n, m) -> (N, 2n - 1, m): a midpoint inserted in every segment."""
    return _resample(paths, 2)


@dataclass
class _Found:
    """One pair's result inside the batched search."""

    path: torch.Tensor
    speeds: torch.Tensor
    length: float
    certified: bool
    converged: bool = True


def _certified_straight(f: Decoder, z0: torch.Tensor, z1: torch.Tensor, n: int, tol: float,
                        max_points: int) -> list[_Found]:
    """Each pair's straight segment in n points, its length measured at more points until it is certified."""
    found: list[_Found | None] = [None] * len(z0)
    active, k = torch.arange(len(z0)), n
    while True:
        paths = straight_line(z0[active], z1[active], k)
        speeds, fine, ok = _measure(f, paths, tol)
        last = 2 * k - 1 > max_points
        for row, i in enumerate(active.tolist()):
            if ok[row] or last:
                found[i] = _Found(paths[row], speeds[row], float(fine[row]), bool(ok[row]))
        if last or bool(ok.all()):
            return found  # type: ignore[return-value]
        active, k = active[~ok], 2 * k - 1


def _optimise(f: Decoder, z0: torch.Tensor, z1: torch.Tensor, start: torch.Tensor, max_iter: int, rtol: float,
              check_every: int, progress: Callable[[float, float], None] | None
              ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Least-energy curves for N pairs at once: (N, n, m) from ``start``, each pair's energy independent.

    One L-BFGS over the (N', n - 2, m) interior points of the pairs still moving minimises
    sum_i E_i / E_i(start): the pairs do not interact (the gradient of the sum with respect to
    pair i's points is pair i's own), and dividing by each pair's starting energy keeps one
    pair's scale from swamping another's. A pair whose discrete length (at its best energy so far)
    fell by less than ``rtol`` (relative) over ``check_every`` iterations has stalled and leaves the
    optimisation (the length is what is reported; the energy keeps falling for long after it, while
    the points even out their spacing, and waiting for it cost the distortion suite twice the time:
    bench/geodesics_batched.py measures the length reached against a reference solver) (L-BFGS
    starts afresh on the others), so the batch costs what its slowest pairs need, not N times
    that. Every evaluated energy is a candidate per pair, so no pair ends above its start.
    Returns the curves, per pair whether it stopped on its tolerance, and the iterations run.
    """
    N, n, m = start.shape
    if n == 2:
        return start, torch.ones(N, dtype=torch.bool), 0

    sub = _seen_pieces(n)

    def energies(a: torch.Tensor, b: torch.Tensor, interior: torch.Tensor) -> torch.Tensor:
        k = len(a)
        seen = _resample(torch.cat([a[:, None], interior, b[:, None]], 1), sub)
        out = f(seen.reshape(-1, m)).reshape(k, seen.shape[1], -1)
        return (out[:, 1:] - out[:, :-1]).pow(2).sum(2)  # (k, (n - 1) sub) squared piece lengths

    with torch.no_grad():
        sq = energies(z0, z1, start[:, 1:-1]).double()
    best_e, best_len = sq.sum(1), sq.sqrt().sum(1)
    scale = best_e.clamp_min(torch.finfo(torch.float64).tiny)
    best = start[:, 1:-1].clone()
    iterations, stalled = 0, torch.zeros(N, dtype=torch.bool)
    active = torch.arange(N)
    while iterations < max_iter and len(active):
        a, b, sc = z0[active], z1[active], scale[active]
        interior = best[active].clone(memory_format=torch.contiguous_format).requires_grad_(True)
        state = {"nonfinite": False}

        def closure(a=a, b=b, sc=sc, interior=interior, rows=active, state=state) -> torch.Tensor:
            with torch.enable_grad():
                sq = energies(a, b, interior)
                e = sq.sum(1)
                objective = (e / sc.to(e)).sum()
                (grad,) = torch.autograd.grad(objective, interior)
            interior.grad = grad.contiguous()
            e, sq = e.detach().double(), sq.detach().double()
            if not bool(torch.isfinite(e).all()):
                state["nonfinite"] = True
            better = torch.isfinite(e) & (e < best_e[rows])
            if bool(better.any()):
                best_e[rows[better]] = e[better]
                best_len[rows[better]] = sq[better].sqrt().sum(1)
                best[rows[better]] = interior.detach()[better]
            return objective.detach()

        opt = torch.optim.LBFGS([interior], lr=1, max_iter=check_every, max_eval=10 * check_every, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14)
        done_here = 0
        while iterations < max_iter:
            before = best_len[active].clone()
            opt.param_groups[0]["max_iter"] = min(check_every, max_iter - iterations)
            try:
                opt.step(closure)
            except (IndexError, RuntimeError):  # torch's line search cannot continue from a NaN energy
                if not state["nonfinite"]:
                    raise
                return _kept_below_start(f, z0, z1, best, start), stalled, iterations
            done = opt.state[interior].get("n_iter", 0) - done_here
            done_here += done
            iterations += done
            now = before - best_len[active] <= rtol * before.abs()
            if done == 0:  # L-BFGS met its own tolerances: every pair here is at a stationary point
                now[:] = True
            if progress is not None:
                progress(min(iterations / max_iter, 1.0), float(best_e.sum()))
            if state["nonfinite"] or not bool(torch.isfinite(interior).all()):
                return _kept_below_start(f, z0, z1, best, start), stalled, iterations
            if bool(now.any()):
                stalled[active[now]] = True
                active = active[~now]
                break  # a smaller set: start L-BFGS afresh on it
    return _kept_below_start(f, z0, z1, best, start), stalled, iterations


def _seen_pieces(n: int) -> int:
    """Pieces per segment at which the optimised energy decodes an n-point curve: about SEEN_POINTS points along it."""
    return max(1, -(-SEEN_POINTS // (n - 1)))


def _kept_below_start(f: Decoder, z0: torch.Tensor, z1: torch.Tensor, best: torch.Tensor,
                      start: torch.Tensor) -> torch.Tensor:
    """The curves (N, n, m) from their best interiors, with any pair re-measured above its start put back at it."""
    found = torch.cat([z0[:, None], best, z1[:, None]], 1)
    # energies were compared in the decoder's precision: re-measured in float64, keep no pair above its start
    sub = _seen_pieces(start.shape[1])
    worse = _speeds(f, _resample(found, sub)).pow(2).sum(1) > _speeds(f, _resample(start, sub)).pow(2).sum(1)
    found[worse] = start[worse]
    return found


def _geodesics(f: Decoder, z0: torch.Tensor, z1: torch.Tensor, start: torch.Tensor, max_iter: int, rtol: float,
               check_every: int, progress: GeodesicProgress | None, tol: float, max_points: int
               ) -> tuple[list[_Found], list[_Found], int]:
    """Optimise, measure, and subdivide and re-optimise each pair until its curve is settled: its length is
    certified and the last subdivision shortened it by at most ``tol`` (more points would not bend it further)."""
    N, n, _ = start.shape
    straight = _certified_straight(f, z0, z1, n, tol, max_points)
    found: list[_Found | None] = [None] * N
    before = torch.full((N,), float("inf"), dtype=torch.float64)
    active, paths, iterations, r = torch.arange(N), start, 0, 0
    while True:
        def report(frac: float, energy: float, r: int = r) -> None:
            if progress is not None:  # round r fills the next half of what is left: monotone, whatever the rounds
                progress(1 - 0.5 ** r + 0.5 ** (r + 1) * frac, energy)

        paths, stalled, it = _optimise(f, z0[active], z1[active], paths, max_iter, rtol, check_every, report)
        iterations += it
        k = paths.shape[1]
        seen = _resample(paths, _seen_pieces(k))  # the same curve, at the points its energy was measured at
        speeds, fine, ok = _measure(f, seen, tol)
        fine = fine.cpu()
        settled = ok.cpu() & (before[active] - fine <= tol * fine)
        for row, i in enumerate(active.tolist()):
            here = _Found(seen[row], speeds[row], float(fine[row]), bool(ok[row]), bool(stalled[row]))
            kept = found[i]
            if kept is None or (not here.certified, here.length) < (not kept.certified, kept.length):
                found[i] = here
        before[active] = fine
        if 2 * k - 1 > max_points or bool(settled.all()):
            break
        active, paths, r = active[~settled], _subdivide(paths[~settled]), r + 1
    for i, (geo, line) in enumerate(zip(found, straight)):
        if geo.length > line.length:  # the straight segment is the shorter curve: it is the answer
            found[i] = _Found(line.path, line.speeds, line.length, line.certified, geo.converged)
    return found, straight, iterations  # type: ignore[return-value]


def geodesics(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, n_points: int = 16, *, max_iter: int = 500,
              rtol: float = 1e-6, check_every: int = 10, tol: float = LENGTH_TOLERANCE,
              max_points: int = MAX_POINTS, progress: GeodesicProgress | None = None,
              threads: int | None = 1, batched: bool = False) -> Geodesics:
    """Geodesics between N pairs of latent points (z0[i], z1[i]), (N, m) each, each certified as ``geodesic``
    certifies it: per pair the same curve as ``geodesic(decoder, z0[i], z1[i], n_points)`` (tested).

    ``batched=True`` runs one L-BFGS over the (N, n_points, m) tensor instead (the decoder sees N
    times more codes per call). Each pair's energy is independent of the others', but L-BFGS's
    curvature memory and its line search's one step size are shared: a pair with a stiff curve
    holds back the others, and on 64 pairs of the shipped mnist5k VAE the batched call took 1.7x
    the time of one optimisation per pair and ended up to 29 % longer on some pairs
    (bench/geodesics_batched.py). Hence one optimisation per pair by default; the batched one is
    kept to be measured against.
    """
    z0, z1 = _pairs(z0, z1, n_points)
    with intra_op_threads(threads, z0.device):
        f = flat_decoder(decoder)
        start = straight_line(z0, z1, n_points)
        if batched:
            found, straight, iterations = _geodesics(f, z0, z1, start, max_iter, rtol, check_every, progress, tol,
                                                     max_points)
        else:
            found, straight, iterations = [], [], 0
            for i in range(len(z0)):
                def report(frac: float, energy: float, i: int = i) -> None:
                    if progress is not None:
                        progress((i + frac) / len(z0), energy)

                (geo,), (line,), it = _geodesics(f, z0[i:i + 1], z1[i:i + 1], start[i:i + 1], max_iter, rtol,
                                                 check_every, report, tol, max_points)
                found.append(geo)
                straight.append(line)
                iterations += it
        if progress is not None:
            progress(1.0, sum(g.speeds.pow(2).sum().item() for g in found))
    return Geodesics(paths=[g.path for g in found],
                     lengths=torch.tensor([g.length for g in found], dtype=torch.float64),
                     certified=torch.tensor([g.certified for g in found]),
                     n_points=torch.tensor([len(g.path) for g in found]),
                     straight_lengths=torch.tensor([s.length for s in straight], dtype=torch.float64),
                     straight_certified=torch.tensor([s.certified for s in straight]),
                     converged=torch.tensor([g.converged for g in found]), iterations=iterations)


def _along(curve: torch.Tensor, speeds: torch.Tensor, n: int) -> torch.Tensor:
    """n points on the latent polyline ``curve`` (K, m), whose pieces decode to lengths ``speeds`` (K - 1,), evenly
    spaced in that arc length (linear within a piece: the pieces are the fine ones the length was measured on);
    the endpoints exactly."""
    arc = torch.cat([speeds.new_zeros(1), speeds.cumsum(0)])
    if float(arc[-1]) <= 0:
        return straight_line(curve[0], curve[-1], n)
    target = torch.linspace(0, float(arc[-1]), n, dtype=arc.dtype, device=arc.device)
    k = torch.searchsorted(arc, target, right=True).clamp(1, len(curve) - 1) - 1
    piece = (arc[k + 1] - arc[k]).clamp_min(torch.finfo(arc.dtype).tiny)
    frac = ((target - arc[k]) / piece).clamp(0, 1).to(curve.dtype)[:, None]
    out = curve[k] + frac * (curve[k + 1] - curve[k])
    out[0], out[-1] = curve[0], curve[-1]
    return out


def _decoded(decoder: Decoder, path: torch.Tensor, found: _Found) -> DecodedPath:
    with torch.no_grad():
        decoded = decoder(path)
    return DecodedPath(path=path.detach().clone(), decoded=decoded, speeds=found.speeds, length=found.length,
                       certified=found.certified, points_needed=len(found.path))


def decode_path(decoder: Decoder, path: torch.Tensor, tol: float = LENGTH_TOLERANCE) -> DecodedPath:
    """Decode a given latent curve (n, m) and measure it: its length is the fine resampling's, certified or not."""
    path = torch.as_tensor(path).detach()
    if path.ndim != 2 or len(path) < 2:
        raise ValueError(f"a latent curve must have shape (n, m) with n >= 2; got {tuple(path.shape)}")
    speeds, fine, ok = _measure(flat_decoder(decoder), path[None], tol)
    return _decoded(decoder, path, _Found(path, speeds[0], float(fine[0]), bool(ok[0])))


def interpolate(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, n: int = 16,
                tol: float = LENGTH_TOLERANCE, max_points: int = MAX_POINTS) -> DecodedPath:
    """The straight latent segment z0 -> z1 in n points, decoded, with its certified length.

    ``path``, ``decoded`` and ``speeds`` are the n points'; ``length`` is the segment's length,
    measured at ``points_needed`` points (more than n where n did not certify it). For a scaled
    isometry the speed is constant (``speed_ratio`` 1) and the segment is the geodesic (paper
    Fig. 7: IRVAE's linear interpolants are close to geodesic interpolation).
    """
    z0, z1 = _endpoints(z0, z1, n)
    f = flat_decoder(decoder)
    (line,) = _certified_straight(f, z0[None], z1[None], n, tol, max_points)
    return _shown_straight(decoder, f, z0, z1, n, line)


def _shown_straight(decoder: Decoder, f: Decoder, z0: torch.Tensor, z1: torch.Tensor, n: int,
                    line: _Found) -> DecodedPath:
    """The straight segment shown at n points, with the certified length of ``line`` (measured at as many as needed)."""
    path = straight_line(z0, z1, n)
    speeds = line.speeds if len(line.path) == n else _speeds(f, path[None])[0]
    return _decoded(decoder, path, _Found(line.path, speeds, line.length, line.certified))


@contextmanager
def intra_op_threads(threads: int | None, device: torch.device | None = None) -> Iterator[None]:
    """Run a block on ``threads`` intra-op threads (on the CPU, the default device; None: as set), restoring the
    caller's setting after."""
    if threads is None or (device is not None and device.type != "cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def geodesic(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, n_points: int = 16, *,
             init: torch.Tensor | None = None, max_iter: int = 500, rtol: float = 1e-6, check_every: int = 10,
             progress: GeodesicProgress | None = None, threads: int | None = 1, tol: float = LENGTH_TOLERANCE,
             max_points: int = MAX_POINTS) -> Geodesic:
    """The discrete geodesic from z0 to z1, its length certified: points minimising sum ||f(z_{k+1}) - f(z_k)||^2.

    The n_points - 2 interior points are optimised by L-BFGS with a strong-Wolfe line search
    (torch.optim.LBFGS), starting from the straight segment (or from ``init``, an (n_points, m)
    curve whose endpoints are replaced by z0, z1). Every energy evaluated is a candidate and the
    lowest is kept, so no discretisation ends above its start (a failed line search; a
    non-finite energy, which also ends the search). The optimiser stops after ``max_iter``
    iterations, when L-BFGS meets its own tolerances, or when ``check_every`` iterations lowered
    the discrete length (at the best energy) by less than ``rtol`` relative.

    Then the curve is measured at a fine resampling (module docstring): if its discrete length
    is more than ``tol`` below the fine one, a midpoint is put in every segment and the curve
    optimised again, until the length is certified or ``max_points`` would be passed. The
    returned path has ``points_needed`` points; ``length`` is the curve's certified length and
    ``straight`` the straight segment measured the same way. Should the straight segment be the
    shorter curve, it is returned. ``progress(fraction, energy)`` is called after every
    ``check_every`` iterations (fraction monotone over the refinements) and at the end. The
    decoder's parameters are not touched.

    On a CPU the optimisation runs on ``threads`` intra-op threads (None: the caller's setting,
    restored afterwards either way; it is per calling thread for ATen's OpenMP pool). One is the
    default: the ops are small (n points through the decoder), so a second thread only adds
    synchronisation, and on a busy CPU spinning OpenMP threads slow it down many times over
    (bench/geodesic.py with and without --caller-threads).
    """
    z0, z1 = _endpoints(z0, z1, n_points)
    start = straight_line(z0, z1, n_points) if init is None else torch.as_tensor(init).detach().to(z0).clone()
    if start.shape != (n_points, z0.numel()):
        raise ValueError(f"init must have shape {(n_points, z0.numel())}; got {tuple(start.shape)}")
    start[0], start[-1] = z0, z1
    with intra_op_threads(threads, z0.device):
        f = flat_decoder(decoder)
        (geo,), (line,), iterations = _geodesics(f, z0[None], z1[None], start[None], max_iter, rtol, check_every,
                                                 progress, tol, max_points)
        shown = _along(geo.path, geo.speeds, n_points)
        found = _decoded(decoder, shown, _Found(geo.path, _speeds(f, shown[None])[0], geo.length, geo.certified))
        straight = _shown_straight(decoder, f, z0, z1, n_points, line)
        if progress is not None:
            progress(1.0, float(geo.speeds.pow(2).sum()))  # the curve's energy at the discretisation found
    return Geodesic(path=found.path, decoded=found.decoded, speeds=found.speeds, length=found.length,
                    certified=found.certified, points_needed=found.points_needed, straight=straight,
                    iterations=iterations, converged=geo.converged, curve=geo.path.detach().clone())


@dataclass
class CodeSpread:
    """Directions through the latent space and the training codes' standard deviation along each."""

    directions: torch.Tensor  # (r, m) unit vectors: latent axes or principal directions
    stds: torch.Tensor  # (r,) standard deviation of the training codes along each direction
    labels: list[str]  # "z1", "z2", ... or "PC1", "PC2", ...


def code_spread(codes: torch.Tensor, kind: str = "axes", top: int | None = None) -> CodeSpread:
    """The spread of encoded training codes (N, m): per latent axis, or along the top principal directions.

    ``kind="axes"``: the m coordinate axes and each coordinate's std (the paper's Fig. 6).
    ``kind="pca"``: the ``top`` eigenvectors of the codes' covariance, largest first, and the
    square roots of their eigenvalues (the std along each). Directions are signed so that their
    largest component is positive.
    """
    codes = torch.as_tensor(codes).detach().double()
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"need at least 2 training codes of shape (N, m); got {tuple(codes.shape)}")
    m = codes.shape[1]
    top = m if top is None else max(1, min(int(top), m))
    if kind == "axes":
        return CodeSpread(torch.eye(m, dtype=torch.float64)[:top], codes.std(0)[:top],
                          [f"z{i + 1}" for i in range(top)])
    if kind != "pca":
        raise ValueError(f"kind must be 'axes' or 'pca'; got {kind!r}")
    lam, vec = torch.linalg.eigh(torch.cov(codes.T).reshape(m, m))
    lam, vec = lam.flip(0)[:top].clamp_min(0), vec.flip(1)[:, :top].T
    sign = torch.sign(vec.gather(1, vec.abs().argmax(1, keepdim=True)))
    return CodeSpread(vec * sign, lam.sqrt(), [f"PC{i + 1}" for i in range(top)])


@dataclass
class ModulationGrid:
    """Decoded codes z + c * std_i * d_i: row i walks along direction d_i, column j is multiple c_j."""

    decoded: torch.Tensor  # (r, 2k + 1, *x_shape); the middle column is the reconstruction
    codes: torch.Tensor  # (r, 2k + 1, m)
    multiples: torch.Tensor  # (2k + 1,) -k .. k
    labels: list[str]  # one per row


@torch.no_grad()
def axis_modulation(model, x: torch.Tensor, stds: torch.Tensor | Sequence[float] | float, k: int = 2, *,
                    directions: torch.Tensor | None = None, labels: list[str] | None = None) -> ModulationGrid:
    """Encode x and move along each latent axis by -k .. k times that axis' std, decoded (paper App. E.1, Fig. 6).

    ``stds``: the standard deviation of the encoded *training* codes along each direction, (r,)
    or one number for all; the caller measures it (``code_spread`` on the run's training codes,
    as the page does; the paper: "translated distances are proportional to the standard
    deviations of the encoded training data"). ``directions`` (r, m) defaults to the m latent
    axes; pass ``code_spread(codes, "pca", top).directions`` to move along principal directions.
    ``x`` is one example shaped like the data, without a batch axis.
    """
    if int(k) < 1:
        raise ValueError(f"k (steps on each side) must be at least 1; got {k}")
    x = torch.as_tensor(x)
    if isinstance(model, torch.nn.Module):
        x = x.to(next(model.parameters()).device)
    z = model.encode(x.unsqueeze(0))[0]
    m = z.numel()
    d = torch.eye(m).to(z) if directions is None else torch.as_tensor(directions).to(z)
    if d.ndim != 2 or d.shape[1] != m:
        raise ValueError(f"directions must have shape (r, {m}); got {tuple(d.shape)}")
    s = torch.as_tensor(stds).to(z).reshape(-1)
    s = s.expand(len(d)) if s.numel() == 1 else s
    if len(s) != len(d):
        raise ValueError(f"need one std per direction ({len(d)}); got {len(s)}")
    if labels is None:
        labels = [f"{'z' if directions is None else 'd'}{i + 1}" for i in range(len(d))]
    multiples = torch.arange(-int(k), int(k) + 1).to(z)
    codes = z + multiples[None, :, None] * (s[:, None] * d)[:, None, :]  # (r, 2k + 1, m)
    decoded = model.decode(codes.reshape(-1, m))
    return ModulationGrid(decoded=decoded.reshape(len(d), len(multiples), *decoded.shape[1:]), codes=codes,
                          multiples=multiples, labels=labels)
