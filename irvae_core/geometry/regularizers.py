"""Differentiable geometric regularizers for training (paper Sections 3-4, Appendices C, E.6).

All functions take a decoder (callable (B, m) -> (B, ...)) and latent codes z (B, m), draw
the mixup-augmented distribution P_Z from z (Section 4.3) and return a scalar that can be
added to a loss. They run on whatever device z lives on. The one exception is the Geometric
Autoencoder's term (``geomae_distortion``, Nazari et al. 2023), which its authors evaluate on the
batch's codes themselves, with the exact metric: no mixup, no probes.

Zero at the optimum, for every draw. Each regularizer is written as a sum of squares of
per-point terms (``point_terms``), with Hutchinson probes of fixed length (``probe_vectors``):
it is >= 0 for every random probe and mixup draw, and 0 (to rounding) exactly at its optimum.

Relation to the official code's weight. ``relaxed_distortion`` returns the paper's F
(eq. 10), which is 0 exactly at a scaled isometry. The official implementation returns
E[Tr G^2] / E[Tr G]^2 = (F + m) / m^2 instead: the same minimiser, a different scale. The
training loss (``training.reg_weight``) multiplies F by alpha / m^2, so that alpha is the
paper's and the official code's weight at every latent size.
"""

from __future__ import annotations

from typing import Literal

import torch

from irvae_core.geometry.handgrad import column_terms, jackknife_F, jackknife_F_from_columns
from irvae_core.geometry.handgrad import gram as _gram
from irvae_core.geometry.metric import Decoder, jacobian, jvp

Estimator = Literal["hutchinson", "exact", "auto"]

# estimator="auto" uses the exact metric up to this latent size, Hutchinson above it. The exact
# estimator pushes m tangents (and m copies of the primal) through the decoder, Hutchinson one
# tangent and one vjp. Up to m = 4 the exact one costs about as much as Hutchinson on the same
# points (MNIST FC decoder, CPU) and has no estimator noise: on a 25-point sub-batch it gives a
# less noisy gradient than Hutchinson on the whole batch of 100 (bench/subbatch_variance.py).
AUTO_EXACT_MAX_DIM = 4


# Mixup points per training step with the exact estimator on CPU. There the regularizer's cost is
# mostly per call (the MNIST FC decoder at m = 2), so a sub-batch buys speed only down to ~10
# points; bench/train_step.py gives the IRVAE / VAE step ratio per n (README "Speed"). The
# per-point metric is exact; F on n points is jackknife-corrected in training (its plug-in value
# is off by O(1/n), bench/subbatch_bias.py). A smaller n makes the regularizer's gradient noisier
# (bench/subbatch_variance.py).
TRAINING_SUBBATCH = 10


def training_defaults(latent_dim: int, estimator: str = "auto", samples: int | str | None = None,
                      device: str | torch.device = "cpu") -> tuple[str, int | None]:
    """(estimator, n) for the training loss at latent size m, given the configured ones; n None: the whole batch.

    Defaults on CPU: m <= AUTO_EXACT_MAX_DIM, the exact metric on TRAINING_SUBBATCH mixup points;
    above it, Hutchinson on the whole batch (the paper's setting; its noise grows fast when
    sub-batched). On CUDA the whole batch always (there the extra points cost next to nothing).
    An explicit ``samples`` is kept; ``samples="batch"`` is the whole batch on every device (the
    paper's estimator, what ``--paper`` asks for); an explicit estimator gets the sub-batch only if exact.
    """
    est = resolve_estimator(estimator, latent_dim)
    if samples == "batch":
        return est, None
    if samples is not None:
        return est, int(samples)
    return est, TRAINING_SUBBATCH if est == "exact" and torch.device(device).type != "cuda" else None


def resolve_estimator(estimator: str, latent_dim: int) -> str:
    """'hutchinson' or 'exact' for ``estimator`` at latent size m ('auto': exact iff m <= 4)."""
    if estimator == "auto":
        return "exact" if latent_dim <= AUTO_EXACT_MAX_DIM else "hutchinson"
    if estimator not in ("hutchinson", "exact"):
        raise ValueError(f"estimator must be 'hutchinson', 'exact' or 'auto'; got {estimator!r}")
    return estimator


def mixup_pairs(b: int, eta: float, n: int | None = None, device=None,
                dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The draw behind ``mixup``: indices i, j (k each) and weights d (k, 1), k = min(n, b).

    The k augmented points are d z_i + (1 - d) z_j with i = 0..k-1 (the first k points of the
    batch), j drawn without replacement from the whole batch and d ~ U[-eta, 1 + eta]. A caller
    that only needs the k augmented points can compute its codes on rows i and j alone.
    ``generator``: the source of the draw (None: torch's global RNG); a Trainer passes its own.
    """
    if eta < 0:
        raise ValueError(f"the mixup parameter eta must be >= 0; got {eta}")
    k = b if n is None else min(n, b)
    j = torch.randperm(b, device=device, generator=generator)[:k]
    d = torch.rand(k, 1, device=device, dtype=dtype, generator=generator) * (1 + 2 * eta) - eta
    return torch.arange(k, device=device), j, d


def mixup(z: torch.Tensor, eta: float | None = 0.2, n: int | None = None,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Mixup augmentation z' = d z_i + (1 - d) z_j, j a random permutation, d ~ U[-eta, 1+eta].

    Paper Section 4.3 / Appendix E.3. ``eta=None`` returns z unchanged (no augmentation).
    ``n`` draws only the first n augmented points (a sub-batch; each still pairs with any point).
    """
    if eta is None:
        return z if n is None else z[:n]
    i, j, d = mixup_pairs(z.shape[0], eta, n, z.device, z.dtype, generator)
    return torch.lerp(z[j], z[i], d)  # d z_i + (1 - d) z_j


def probe_vectors(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Hutchinson probes for the points z (B, m): v uniform on the sphere of radius sqrt(m).

    E[v v^T] = I, so E[v^T G v] = Tr G and E||G v||^2 = Tr G^2, as with Gaussian probes (the
    official code's); unlike Gaussian probes, ||v||^2 = m for every draw, which makes every
    regularizer below exactly 0 at its optimum and >= 0 for every draw (Cauchy-Schwarz:
    ||G v||^2 >= (v^T G v)^2 / m). The law is rotation invariant, like the measure itself.
    """
    g = torch.randn(z.shape, dtype=z.dtype, device=z.device, generator=generator)
    return g * (z.shape[1] ** 0.5 / g.norm(dim=1, keepdim=True))


def _probed_metric(decoder: Decoder, z: torch.Tensor, estimator: Estimator, v: torch.Tensor | None,
                   generator: torch.Generator | None = None):
    """("columns", J as (m, B, D): G = J^T J) or ("hutchinson", (v, v^T G v, G v)), differentiable."""
    if z.ndim != 2:
        raise ValueError(f"z must have shape (B, m); got {tuple(z.shape)}")
    if resolve_estimator(estimator, z.shape[1]) == "exact":
        return "columns", jacobian(decoder, z)
    if v is None:
        v = probe_vectors(z, generator)
    graph = torch.is_grad_enabled()  # under no_grad (validation) J^T J v still needs one reverse pass
    with torch.enable_grad():
        if not z.requires_grad:
            z = z.detach().requires_grad_(True)
        out, jv = jvp(decoder, z, v)
        (gv,) = torch.autograd.grad(out, z, grad_outputs=jv, create_graph=graph)  # J^T J v
    if not graph:
        jv = jv.detach()
    return "hutchinson", (v, jv.pow(2).sum(1), gv)


def trace_estimates(
    decoder: Decoder,
    z: torch.Tensor,
    estimator: Estimator = "hutchinson",
    v: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point estimates of (Tr G, Tr G^2), each (B,), differentiable.

    ``hutchinson``: Tr G = E||Jv||^2 and Tr G^2 = E||J^T J v||^2 for probes with E[v v^T] = I
    (default ``probe_vectors``; pass ``v`` for others, e.g. the official Gaussian ones): one
    forward-mode jvp and one reverse-mode vjp per point; each estimate is unbiased.
    ``exact``: the full Jacobian (``metric.jacobian``: ~ m more rows through the decoder), for small m.
    ``auto``: exact for m <= AUTO_EXACT_MAX_DIM, else Hutchinson.
    """
    return _traces(_probed_metric(decoder, z, estimator, v, generator))


def _traces(probed) -> tuple[torch.Tensor, torch.Tensor]:
    """(Tr G, Tr G^2) per point of a ``_probed_metric`` result (exact or Hutchinson estimates)."""
    kind, value = probed
    if kind == "columns":
        return column_terms(value)[:2]
    _, t, gv = value
    return t, gv.pow(2).sum(1)


def point_terms(decoder: Decoder, z: torch.Tensor, estimator: Estimator = "hutchinson",
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Per point (B,): t ~ Tr G, and the anisotropy r ~ ||G - (Tr G / m) I||_F^2 >= 0; and whether
    the values are Hutchinson estimates.

    ``exact``: t = Tr G, r = ||G - (t/m) I||_F^2. ``hutchinson`` (probes of ``probe_vectors``):
    t = v^T G v, r = ||G v - (t/m) v||^2, whose expectation is m/(m+2) of the exact r. Every
    quadratic regularizer is a sum of squares of these two, so it is >= 0 in floating point too
    and vanishes (to rounding) where G = cI: t = mc, r = 0, for every probe.
    """
    return _terms(_probed_metric(decoder, z, estimator, None, generator), z.shape[1])


def _terms(probed, m: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``point_terms`` of a ``_probed_metric`` result."""
    kind, value = probed
    if kind == "columns":
        t, _, r = column_terms(value)
        return t, r, False
    v, t, gv = value
    return t, (gv - v * (t / m)[:, None]).pow(2).sum(1), True


def scale_spread(t: torch.Tensor, ustat: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(an estimate of E[Tr G]^2, the spread of Tr G over the points) from per-point traces t.

    ``t`` holds the points along its last dimension (leading dimensions are separate sets).

    Plug-in (``ustat=False``): mean(t)^2 and the variance with 1/n, so that
    mean(r) + spread / m = mean_i ||G_i - c I||_F^2 with c = mean(t) / m. The plug-in square is
    biased high by Var(t) / n, which biases ratios like F low by about 1/n.
    U-statistic (``ustat=True``): sum_{i != j} t_i t_j / (n (n-1)), unbiased for E[Tr G]^2 over
    independent points (and independent probes), with the matching spread, the sample variance
    s^2 = sum (t_i - mean t)^2 / (n - 1) (mean(t^2) - U = s^2).
    """
    n = t.shape[-1]
    mean = t.mean(-1)
    dev2 = (t - mean[..., None]).pow(2).sum(-1)
    if not ustat or n < 2:
        return mean.pow(2), dev2 / n
    s2 = dev2 / (n - 1)
    # = sum_{i != j} t_i t_j / (n (n-1)) >= 0; clamped against round-off (one point holding all)
    return (mean.pow(2) - s2 / n).clamp_min(torch.finfo(t.dtype).tiny), s2


def metric_with_graph(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """G(z) = J^T J (B, m, m) keeping the autograd graph (for losses; cf. geometry.pullback_metric)."""
    return _gram(jacobian(decoder, z)).permute(2, 0, 1)


def relaxed_from_terms(t: torch.Tensor, r: torch.Tensor, m: int, jackknife: bool = False) -> torch.Tensor:
    """F (eq. 10) of points given their ``point_terms`` t, r (points along the last dimension).

    Plug-in: F_n = m^2 (mean r + spread / m) / mean(t)^2 with the plug-in spread (``scale_spread``),
    i.e. m^2 E[Tr G^2] / E[Tr G]^2 - m on the points: a sum of squares over a square, >= 0.
    ``jackknife``: ``jackknife_F`` of the same points.
    """
    if jackknife:
        return jackknife_F(t, r + t.pow(2) / m, m)
    scale_sq, spread = scale_spread(t, ustat=False)
    return m**2 * (r.mean(-1) + spread / m) / scale_sq


def relaxed_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    h: Literal["square", "log"] = "square",
    n: int | None = None,
    jackknife: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The relaxed distortion measure F of the decoder over mixup samples of z (eq. 8).

    h = "square": F = E sum_i (lambda_i / c - 1)^2, c = E[Tr G] / m (eq. 10; equal to
    m^2 E[Tr G^2] / E[Tr G]^2 - m), computed from ``point_terms`` by ``relaxed_from_terms``:
    >= 0 for every draw, 0 (to rounding) iff G = cI on the samples, also with Hutchinson probes.
    h = "log": F = E sum_i log^2(lambda_i / c); needs the exact estimator ("exact" or "auto").
    F is invariant to scaling the decoder and to orthogonal changes of latent coordinates.
    ``n``: number of mixup points (a sub-batch, see ``mixup``); None = as many as z has.
    The default, the plug-in on the given points, is the paper's and the official code's
    estimator. F is a ratio of means: on n points its expectation differs from F of the whole
    mixup distribution by O(1/n) (a few per cent low at n = 10 on a trained MNIST decoder: README,
    bench/subbatch_bias.py); ``jackknife`` removes that term (square only). ``generator``: the
    source of the mixup draw and the probes (None: torch's global RNG).
    """
    if h == "log" and estimator not in ("exact", "auto"):
        raise ValueError("h='log' needs the eigenvalues of G: use estimator='exact'")
    if h not in ("square", "log"):
        raise ValueError(f"h must be 'square' or 'log'; got {h!r}")
    za = mixup(z, eta, n, generator)
    return relaxed_value(_probed_metric(decoder, za, "exact" if h == "log" else estimator, None, generator),
                         z.shape[1], h, jackknife)


def relaxed_value(probed, m: int, h: Literal["square", "log"] = "square", jackknife: bool = False) -> torch.Tensor:
    """F (``relaxed_distortion``) from the metric at its points: ``_probed_metric``'s ("columns", J as (m, n, D))
    or ("hutchinson", (v, v^T G v, G v)); the Trainer passes the Jacobian columns of its one-pass decoding."""
    if h == "log":  # needs the exact metric: the columns
        lam = torch.linalg.eigvalsh(_gram(probed[1]).permute(2, 0, 1))
        c = lam.sum(-1).mean() / m
        return (lam / c).log().pow(2).sum(-1).mean()
    if jackknife:
        kind, value = probed
        return jackknife_F_from_columns(value, m) if kind == "columns" else jackknife_F(*_traces(probed), m)
    t, r, _ = _terms(probed, m)
    return relaxed_from_terms(t, r, m)


def fmvae_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    n: int | None = None,
    jackknife: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """FMVAE's flatness term E||G - cI||_F^2, c = E[Tr G] / m (Chen et al. 2020; Appendix C).

    Computed as mean(r) + spread / m (``point_terms``, ``scale_spread``): a sum of squares, so
    >= 0 for every draw and 0 (to rounding) where G = cI. With the exact metric the plug-in value
    is mean_i ||G_i - c I||_F^2 over the samples; with Hutchinson probes it adds 2 mean(r) / (m n),
    which cancels the probe noise in c^2, so its mean over probes is that exact value.
    ``jackknife``: for this quadratic term the jackknife of the plug-in is exactly the U-statistic
    form (``scale_spread(..., ustat=True)``), unbiased for E||G - cI||_F^2 over the mixup
    distribution with either estimator.
    Not scale invariant: it favours small Jacobians. ``n``: mixup points, as in
    ``relaxed_distortion``; ``generator`` too.
    """
    za = mixup(z, eta, n, generator)
    return fmvae_value(_probed_metric(decoder, za, estimator, None, generator), z.shape[1], jackknife)


def fmvae_value(probed, m: int, jackknife: bool = False) -> torch.Tensor:
    """FMVAE's term (``fmvae_distortion``) from the metric at its points (see ``relaxed_value``)."""
    t, r, probed = _terms(probed, m)
    _, spread = scale_spread(t, ustat=jackknife)
    value = r.mean() + spread / m
    if probed and not jackknife:
        value = value + 2 * r.mean() / (m * t.shape[0])  # E[mean(t)^2] = (E mean t)^2 + 2 E[mean r] / n
    return value


def isometry_distortion(
    decoder: Decoder,
    z: torch.Tensor,
    k: float,
    eta: float | None = 0.2,
    estimator: Estimator = "hutchinson",
    n: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Distortion from a strict isometry to kI: E sum_i (lambda_i - k)^2 = E||G - kI||_F^2 (Appendix E.6).

    Per point ||G - kI||_F^2 (exact) or ||G v - k v||^2 (Hutchinson, unbiased for it), written
    as r + (t - m k)^2 / m: >= 0 for every draw and 0 (to rounding) at G = kI.
    ``n``: mixup points (sub-batch) and ``generator``, as in ``relaxed_distortion``.
    """
    if k <= 0:
        raise ValueError(f"the target scale k must be > 0; got {k}")
    return isometry_value(_probed_metric(decoder, mixup(z, eta, n, generator), estimator, None, generator),
                          z.shape[1], k)


def isometry_value(probed, m: int, k: float) -> torch.Tensor:
    """The strict isometry's distortion (``isometry_distortion``) from the metric at its points."""
    t, r, _ = _terms(probed, m)
    return (r + (t - m * k).pow(2) / m).mean()


class MetricDecode:
    """A model's decoding that also gives the exact metric at mixup points of the codes it decodes.

    Called as ``model.loss(x, decode=MetricDecode(...))``: on the codes z of the step it draws the mixup
    points (``mixup(z, eta, n, generator)``, the draw the regularizer makes after the loss otherwise) and
    runs the decoder's ``jacobian_pass`` once on the codes, the points and the coordinate tangents; the
    reconstruction is returned, the metric G = J^T J at the points kept in ``metric`` as ("columns", J) for
    ``relaxed_value`` and its siblings. Same values and gradients as decoding and then calling the
    regularizer (tests), in one pass through the decoder instead of two.
    """

    def __init__(self, one_pass, eta: float | None, n: int | None, generator: torch.Generator | None = None):
        self.one_pass, self.eta, self.n, self.generator = one_pass, eta, n, generator
        self.metric = None

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        za = mixup(z, self.eta, self.n, self.generator)
        out, jt = self.one_pass(z, za, None)
        self.metric = ("columns", jt)
        return out


def geomae_distortion(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """The Geometric Autoencoder's determinant loss Var_z[log det G(z)] over the batch's codes z (B >= 2).

    Nazari, Damrich & Hamprecht, "Geometric Autoencoders - What You See is What You Decode", ICML 2023
    (https://proceedings.mlr.press/v202/nazari23a.html, arXiv 2306.17638). Read in the official code,
    https://github.com/phnazari/GeometricAutoencoder at c032280 (src/criterions.py ``DeterminantLoss``,
    src/diffgeo/manifolds.py ``metric_logdet``, src/diffgeo/metrics.py ``PullbackMetric.metric_matrix``):
    (a) the points: the batch's latent codes, all of them (the encoder's outputs, caught by a forward
        hook and not detached, so the gradient reaches the encoder too); no mixup, no sub-sampling.
        Here: the codes the decoder saw in the step (``LossOutput.z``), whole batch, as given.
    (b) the value per point: torch.logdet(J^T J), the natural log of det G itself (no factor 1/2; the
        code's comments call it the log of the generalized Jacobian determinant). Before the commit
        9bb076e (2023-06-30) it was log10(det G), with dets outside (1e-20, 1e20) set to 1; the
        published runs' configs (experiments/train_model/best_runs, trained 2023-03-15) date from then.
    (c) the variance: torch.var's default, the unbiased one, sum (l_i - mean l)^2 / (B - 1).
    (d) the weight: lam = 0.1 on MNIST (best_runs/MNIST/GeomReg.json; also FashionMNIST and the conv
        nets), against nn.MSELoss, the per-pixel MSE averaged over batch and pixels of [0, 1] images:
        loss = MSE + lam * Var(log det G). Our AE family's loss is that MSE, so ``reg.alpha`` is lam as
        it is (trainer.reg_weight: 1). With log10 (the published runs), 0.1 weighs Var(ln det G) by
        0.1 / ln(10)^2 = 0.019.
    The official code's torch.nan_to_num on the log dets discards its result (a no-op), so here too
    a singular G (log det = -inf) makes the value non-finite, which stops training (the NaN guard).

    >= 0 for every batch, and 0 iff det G is the same at every point: volume is preserved up to one
    factor, with no constraint on the shape of G (unlike ``relaxed_distortion``, a shear is optimal).
    Invariant to scaling the decoder (log det s^2 G = log det G + 2m log s) and to every affine change
    of latent coordinates z = A w + b (log det A^T G A = log det G + 2 log |det A|).
    G from ``metric_with_graph`` (the one Jacobian routine, graph kept); log det by ``slogdet``.
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"the determinant loss is a variance over the batch: z must be (B >= 2, m); "
                         f"got {tuple(z.shape)}")
    log_det = torch.linalg.slogdet(metric_with_graph(decoder, z)).logabsdet  # G is SPD: det G = |det G|
    return log_det.var()  # unbiased (correction 1), torch.var's default as in the official code
