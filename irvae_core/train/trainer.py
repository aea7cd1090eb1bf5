"""The Trainer: minibatch Adam on L + alpha * R (paper eq. 9), validation, checkpoints, resume.

The loop itself (``TrainingLoop``) is shared with the flattening module's trainer
(``flattening.FlatteningTrainer``); each trainer brings its own data, model and objective.

R is a geometric regularizer of the decoder evaluated at mixup samples of the latent codes
the decoder saw in the step (Section 4.3): the relaxed distortion (ir), FMVAE's term (fmvae) or
the strict isometry (iso), weighted so that alpha is in the paper's units (``reg_weight``); or the
Geometric Autoencoder's Var log det G on those codes themselves (geomae, Nazari et al. 2023; no mixup).
Runs are deterministic on CPU for a given seed, also across a stop and resume from last.pt
and beside other jobs in the same process: every random draw of training (the VAE's noise, DAE
noise, WAE prior samples, mixup, Hutchinson probes) comes from the trainer's own
torch.Generator, whose state is saved with each checkpoint; the data order is a function of
seed and epoch; validation draws from a generator seeded afresh each time; the initial weights
are drawn from the seeded global RNG under a process-wide lock (``INIT_LOCK``), which then gets
its previous state back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from irvae_core.config import SUPERVISED_KINDS, ConfigError, RunConfig
from irvae_core.data import DatasetSplits, load_run_data
from irvae_core.geometry.metric import jacobian_pass
from irvae_core.geometry.regularizers import (
    MetricDecode,
    fmvae_distortion,
    fmvae_value,
    geomae_distortion,
    isometry_distortion,
    isometry_value,
    relaxed_distortion,
    relaxed_value,
    training_defaults,
)
from irvae_core.store.checkpoints import build_model, record_conv_width
from irvae_core.store.runs import Run, new_run
from irvae_core.train.loop import Cancelled, TrainingFailed, TrainingLoop
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.resolve import resolve_config
from irvae_core.train.snapshots import (
    SNAPSHOT_FILE,
    SNAPSHOTS,
    append_snapshot,
    snapshot_epochs,
    snapshot_indices,
    take_snapshot,
    truncate_snapshots,
)

# Building a model draws its initial weights from torch's global RNG: seeding it, drawing and
# restoring the caller's state (fork_rng) happen under this lock, so jobs starting together on
# other threads cannot interleave, and a caller's random stream is left as it was.
INIT_LOCK = threading.Lock()


def count_parameters(model: torch.nn.Module) -> int:
    """Number of scalars in the model's parameters (learned or fixed, e.g. a fixed VAE sigma)."""
    return sum(p.numel() for p in model.parameters())


def reg_weight(kind: str, alpha: float, latent_dim: int) -> float:
    """The factor on the regularizer's value in the loss, for alpha in the paper's units.

    ir: ``relaxed_distortion`` returns F (eq. 10), the official code E[Tr G^2] / E[Tr G]^2 =
    (F + m) / m^2; so alpha * official = (alpha / m^2) F + alpha / m, a constant apart: the
    loss adds (alpha / m^2) F, with the official gradient at every m. fmvae and iso: their
    values are the paper's terms (Appendices C, E.6), weighted by alpha itself; geomae too (Nazari et
    al.'s lam on Var log det G).
    """
    return alpha / latent_dim**2 if kind == "ir" else alpha


def regularizer(cfg: RunConfig, decoder: Callable, z: torch.Tensor,
                generator: torch.Generator | None = None, metric=None) -> torch.Tensor:
    """The configured geometric regularizer R of the decoder over mixup samples of z (unweighted).

    Estimator and mixup points come from ``training_defaults``: on CPU with m <= 4 the exact
    metric on TRAINING_SUBBATCH mixup points a step, else the whole batch. On a sub-batch, ir and
    fmvae are jackknife-corrected (their plug-in values on n points are off by O(1/n); for ir on a
    trained MNIST decoder -2.4% at n = 10, corrected: within 0.1%, bench/subbatch_bias.py); on the
    whole batch they are the paper's estimator. geomae takes none of these: the exact metric at every
    code of the batch, as Nazari et al.'s code (``geomae_distortion``; eta, estimator and samples unused).
    ``metric``: the exact metric at the mixup points of z, already drawn (``MetricDecode.metric``).
    """
    r = cfg.reg
    if r.kind == "geomae":
        return geomae_distortion(decoder, z)
    est, n = training_defaults(z.shape[1], r.estimator, r.samples, z.device)
    sub = n is not None and n < z.shape[0]
    if metric is not None:  # the exact G at the mixup points, from the step's one-pass decoding
        m = z.shape[1]
        if r.kind == "ir":
            return relaxed_value(metric, m, r.h, jackknife=sub and r.h == "square")
        if r.kind == "fmvae":
            return fmvae_value(metric, m, jackknife=sub)
        return isometry_value(metric, m, r.k)
    if r.kind == "ir":
        return relaxed_distortion(decoder, z, eta=r.eta, estimator=est, h=r.h, n=n, jackknife=sub,
                                  generator=generator)
    if r.kind == "fmvae":
        return fmvae_distortion(decoder, z, eta=r.eta, estimator=est, n=n, jackknife=sub, generator=generator)
    if r.kind == "iso":
        return isometry_distortion(decoder, z, k=r.k, eta=r.eta, estimator=est, n=n, generator=generator)
    raise ConfigError(f"no regularizer for kind {r.kind!r}")


class Trainer(TrainingLoop):
    """Trains one run of an autoencoder (or the supervised baseline) on L + alpha R; ``fit()`` returns the
    final metrics record. See the module docstring."""

    def __init__(self, cfg: RunConfig, run: Run, data: DatasetSplits | None = None,
                 callback: ProgressCallback | None = None, cancel: threading.Event | None = None,
                 snapshots: int = SNAPSHOTS):
        self.cfg = resolve_config(cfg)
        super().__init__(self.cfg.train, run, callback=callback, cancel=cancel)
        self.setup(data)
        # the latent plane while it trains (train.snapshots): not for the supervised baseline, which has no decoder,
        # nor for a latent line (size 1)
        self.snapshot_at = set() if self.cfg.model.kind in SUPERVISED_KINDS or self.cfg.model.latent_dim < 2 else \
            snapshot_epochs(int(self.cfg.train.epochs), snapshots)
        self.snapshot_of = snapshot_indices(len(self.data.val)) if self.snapshot_at else None

    def setup(self, data: DatasetSplits | None) -> None:
        """Load the data, build the model and its optimizer, record the resolved config."""
        c = self.cfg
        self.data = data or load_run_data(c.data)
        if c.model.kind in SUPERVISED_KINDS:  # one output per attribute
            if self.data.label_kind != "attributes":
                raise ConfigError(f"the supervised model {c.model.kind!r} learns attributes, and {self.data.name} "
                                  "has class labels: use an attribute data set (celeba, synthetic-faces)")
            c.model.latent_dim = len(self.data.label_names)
        record_conv_width(c, self.data.x_shape)
        with INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.train.seed)
            self.model = build_model(c, self.data.x_shape).to(self.device)
        self.needs_labels = bool(getattr(self.model, "needs_labels", False))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=c.train.lr)
        self.alpha = float(c.reg.alpha or 0.0)
        self.weight = reg_weight(c.reg.kind, self.alpha, c.model.latent_dim)
        self.run.write_config(c, extra={"type": "train", "x_shape": list(self.data.x_shape),
                                        "parameters": count_parameters(self.model)})

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective L + alpha R of one batch, and its logged parts (eq. 9); labels y only for
        models that learn from them (``needs_labels``: the supervised retrieval baseline). Random
        draws come from ``generator``, by default the trainer's own."""
        g = generator or self.generator
        fused = self._metric_decode(len(x), g) if y is None else None
        labels = () if y is None else (y,)
        out = self.model.loss(x, *labels, generator=g, **({} if fused is None else {"decode": fused}))
        parts = dict(out.parts)
        loss = out.loss
        if self.alpha > 0 and len(x) >= 2:
            reg = regularizer(self.cfg, self.model.decode, out.z, generator=g,
                              metric=None if fused is None else fused.metric)
            loss = loss + self.weight * reg
            parts["reg"] = reg.item()
        return loss, parts

    def _metric_decode(self, batch: int, generator: torch.Generator) -> MetricDecode | None:
        """The one-pass decoding of the step (the reconstruction and the exact metric at the regularizer's
        mixup points through the decoder at once), where it gives the plain path's numbers: an exact-metric
        regularizer (ir, fmvae, iso with the exact estimator, the CPU default at m <= 4), a decoder that
        offers ``jacobian_pass`` (FC) and a loss that draws nothing after decoding (the mixup draw moves
        into the decoding). None otherwise: the regularizer then runs after the loss, as written."""
        r, m = self.cfg.reg, self.cfg.model.latent_dim
        if self.alpha <= 0 or batch < 2 or r.kind not in ("ir", "fmvae", "iso"):
            return None
        if getattr(self.model, "draws_after_decode", True):
            return None
        one_pass = jacobian_pass(self.model.decode)
        est, n = training_defaults(m, r.estimator, r.samples, self.device)
        if one_pass is None or (est != "exact" and r.h != "log"):
            return None
        return MetricDecode(one_pass, r.eta, n, generator)

    def _batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The arguments of ``loss``: the inputs, plus the labels for a model that learns from them."""
        return (x, torch.as_tensor(y).to(self.device)) if getattr(self, "needs_labels", False) else (x,)


    def batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(*self._batch(x, y))

    def after_epoch(self, resumed_from: int | None = None) -> None:
        """A snapshot of the latent plane after each epoch of ``snapshot_at`` (``train.snapshots``); at the start,
        the snapshots past the checkpoint the run starts from are dropped."""
        if resumed_from is not None:
            truncate_snapshots(self.run, resumed_from)
        elif self.epoch in self.snapshot_at:
            try:
                append_snapshot(self.run, take_snapshot(self.model, self.data.val, self.snapshot_of, self.epoch,
                                                        self.device))
            except OSError as e:
                raise TrainingFailed(f"could not write {self.run.file(SNAPSHOT_FILE)} after epoch {self.epoch}: "
                                     f"{e.strerror or e}") from e


def train(cfg: RunConfig, runs_dir: str, callback: ProgressCallback | None = None,
          cancel: threading.Event | None = None, data: DatasetSplits | None = None) -> Run:
    """Create a run folder under ``runs_dir`` and train it to the end; returns the run."""
    run = new_run(runs_dir, resolve_config(cfg))
    try:
        Trainer(cfg, run, data=data, callback=callback, cancel=cancel).fit()
    except (TrainingFailed, Cancelled):
        pass
    return run
