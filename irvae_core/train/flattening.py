"""The flattening module (FM, paper Section 4.2, eq. 11).

On a frozen, trained autoencoder (encoder g, decoder f), train an invertible RealNVP i to
minimise F(f o i^{-1}; P_Z) / m^2 + beta E||i(z)||^2, where P_Z is the mixup augmentation of the
new codes i(g(x)). F / m^2 is the official code's E[Tr G^2] / E[Tr G]^2 = (F + m) / m^2 less a
constant (Appendix B.2), so beta is in the paper's units, as alpha is (config version 3; older
flattened runs weighted E||w||^2 against F itself, and ``flatten_settings`` converts their beta).

The result is a new run whose encoder is i o g and decoder f o i^{-1}: reconstructions are
unchanged by construction, only the latent coordinates move.

The encoder is frozen, so the training codes g(x) are computed once up front; each step then
costs only the RealNVP and the decoder's derivatives.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from irvae_core.config import ConfigError, TrainConfig
from irvae_core.data import DatasetSplits, TensorSplit, load_run_data
from irvae_core.geometry.metric import Composed
from irvae_core.geometry.regularizers import mixup_pairs, relaxed_distortion, resolve_estimator
from irvae_core.store.checkpoints import fm_shape, load_model
from irvae_core.store.runs import Run, new_run, open_run
from irvae_core.train.loop import TrainingLoop, iterate_batches
from irvae_core.train.progress import ProgressCallback
from irvae_core.train.trainer import INIT_LOCK
from models import FlattenedAE, RealNVP


@dataclass
class FlattenConfig:
    epochs: int = 30  # CPU default; the paper trains 100-300 epochs
    beta: float = 0.0  # weight of E||i(z)||^2 in the paper's units (paper: 0 for MNIST and CMU, 100 for CelebA)
    lr: float = 1e-4  # paper: 1e-4 (CelebA 1e-5)
    depth: int = 8  # coupling layers (paper: 8)
    width: int = 512  # hidden width of each coupling network (paper: 512)
    eta: float = 0.2
    estimator: str = "auto"
    # Mixup points a step; None: the whole batch. Unlike IRVAE training, the FM is hurt by a
    # sub-batch: on a plain mnist5k VAE (30 epochs) 10 points left test MCN at 39-80 (base 11.7)
    # where the whole batch gave 9-13; its step costs ~7x a VAE step (exact, bench/flattening.py).
    samples: int | None = None
    batch_size: int = 100
    seed: int = 0

    def validated(self) -> FlattenConfig:
        for name in ("epochs", "depth", "width", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"flattening {name} must be >= 1; got {getattr(self, name)}")
        if self.beta < 0 or self.lr <= 0 or self.eta < 0:
            raise ConfigError("flattening needs beta >= 0, lr > 0 and eta >= 0")
        if self.samples is not None and self.samples < 2:
            raise ConfigError(f"flattening samples must be >= 2; got {self.samples}")
        try:
            resolve_estimator(self.estimator, 2)
        except ValueError as e:
            raise ConfigError(f"flattening {e}") from e
        return self


# Appendix D's flattening settings per data set family: (epochs, learning rate, beta in the paper's units).
PAPER_FLATTEN = {"mnist": (100, 1e-4, 0.0), "cmu": (300, 1e-4, 0.0), "celeba": (100, 1e-5, 100.0)}


# The family each data set's flattening takes its paper settings from (stand-ins follow their real set).
FLATTEN_FAMILY = {"mnist": "mnist", "mnist5k": "mnist", "cmu": "cmu", "cmu-sample": "cmu", "synthetic-mocap": "cmu",
                  "celeba": "celeba", "synthetic-faces": "celeba"}


def paper_flatten_config(dataset: str, **overrides) -> FlattenConfig:
    """The paper's flattening settings (Appendix D: MNIST 100 epochs, CMU 300, CelebA 100; lr 1e-4, CelebA 1e-5;
    beta 0, CelebA 100) for a base run trained on ``dataset``; ``overrides`` (FlattenConfig fields) win."""
    family = FLATTEN_FAMILY.get(dataset)
    if family is None:
        raise ConfigError(f"the paper flattens MNIST, CMU and CelebA models only; a run on {dataset!r} has no "
                          "paper settings: give --epochs, --lr and --beta instead of --paper")
    epochs, lr, beta = PAPER_FLATTEN[family]
    return dataclasses.replace(FlattenConfig(epochs=epochs, lr=lr, beta=beta), **overrides)


@torch.no_grad()
def encode_splits(model, data: DatasetSplits, device: torch.device, batch: int = 500) -> DatasetSplits:
    """The dataset with every input replaced by its latent code (for a frozen encoder)."""

    def enc(split) -> TensorSplit:
        pairs = [(model.encode(x.to(device)).cpu(), torch.as_tensor(y))
                 for x, y in iterate_batches(split, batch, None)]
        return TensorSplit(torch.cat([z for z, _ in pairs]), torch.cat([y for _, y in pairs]))

    return DatasetSplits(data.name, enc(data.train), enc(data.val), enc(data.test), (model.latent_dim,),
                         data.label_kind, data.label_names, data.value_range, data.synthetic, data.meta)


class FlatteningTrainer(TrainingLoop):
    """Trains the flattening module of a frozen base run into a new run: the shared training loop, with the
    FM's own objective (``loss``, eq. 11) on the base's latent codes and its own settings (``FlattenConfig``)."""

    def __init__(self, base_run: Run, run: Run, fcfg: FlattenConfig, callback: ProgressCallback | None = None,
                 cancel: threading.Event | None = None, data: DatasetSplits | None = None, device: str | None = None):
        self.base_run, self.fcfg = base_run, fcfg.validated()
        self.base_cfg = base_run.config()
        settings = TrainConfig(epochs=fcfg.epochs, batch_size=fcfg.batch_size, lr=fcfg.lr, lr_schedule="constant",
                               seed=fcfg.seed, device=device or self.base_cfg.train.device,
                               tensorboard=self.base_cfg.train.tensorboard,
                               select_by="loss")  # the reconstruction is the base's at every epoch
        super().__init__(settings, run, callback=callback, cancel=cancel)
        self.setup(data)

    def setup(self, data: DatasetSplits | None) -> None:
        """Encode the data with the frozen base, build the RealNVP and its optimizer, record the run's config:
        the base's data and model settings (to rebuild it), the FM's shape and training settings."""
        f = self.fcfg
        base = load_model(self.base_run, device=self.device)
        for p in base.parameters():
            p.requires_grad_(False)
        raw = data or load_run_data(self.base_cfg.data)
        self.data = encode_splits(base, raw, self.device)
        with INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(f.seed)
            self.model = FlattenedAE(base, RealNVP(base.latent_dim, f.depth, f.width)).to(self.device)
        self.opt = torch.optim.Adam(self.model.fm.parameters(), lr=f.lr)
        self.estimator = resolve_estimator(f.estimator, base.latent_dim)
        fm = self.model.fm
        self.flat_decoder = Composed(self.model.base.decode, fm.inverse, fm.inverse_and_jacobian)  # = model.decode
        self.samples = f.samples
        cfg = dataclasses.replace(self.base_cfg, train=self.settings)
        self.run.write_config(cfg, extra={"type": "flatten", "base_run": str(self.base_run.path.resolve()),
                                          "flatten": dataclasses.asdict(f), "fm": fm_shape(fm),
                                          "x_shape": list(raw.x_shape)})

    def loss(self, z: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """F(f o i^{-1}) / m^2 over mixup samples of w = i(z), plus beta E||w||^2 (eq. 11 on the scale of
        Appendix B.2's ratio, so beta is the paper's); the logged "reg" is F itself.

        The mixup pairs (i, j) are drawn first; with a sub-batch (``samples``) and beta = 0
        the RealNVP then runs on those rows alone: the other rows of the batch would get no
        gradient, so this is the same estimator at a fraction of the cost. With beta > 0,
        E||w||^2 is taken over the whole batch. Draws come from ``generator`` (default: the trainer's).
        """
        g = generator or self.generator
        b = z.shape[0]
        i, j, d = mixup_pairs(b, self.fcfg.eta, self.samples, z.device, z.dtype, g)
        k = i.shape[0]
        if self.fcfg.beta == 0 and 2 * k < b:
            w = self.model.fm(torch.cat([z[i], z[j]]))
            wi, wj = w[:k], w[k:]
        else:
            w = self.model.fm(z)
            wi, wj = w[i], w[j]
        reg = relaxed_distortion(self.flat_decoder, torch.lerp(wj, wi, d), eta=None, estimator=self.estimator,
                                 generator=g)
        norm = w.pow(2).sum(1).mean()
        ratio = reg / w.shape[1] ** 2  # E[Tr G^2] / E[Tr G]^2 less its constant 1 / m
        loss = ratio + self.fcfg.beta * norm if self.fcfg.beta else ratio
        return loss, {"reg": reg.item(), "norm": norm.item()}

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(x)  # the training data are the base's codes z; the labels play no part


def flatten_settings(raw: dict) -> FlattenConfig:
    """The FlattenConfig a flattened run's config.json (``raw``) records, beta in the paper's units: a run of
    config version < 3 weighted E||w||^2 against F (eq. 10) itself, beta_old = beta_paper * m^2."""
    settings = dict(raw["flatten"])
    if raw.get("version", 1) < 3 and settings.get("beta"):
        m = int((raw.get("model") or {}).get("latent_dim", 2))
        settings["beta"] = float(settings["beta"]) / m**2
    return FlattenConfig(**settings)


def new_flattened_run(base_run: Run | str | Path, fcfg: FlattenConfig | None = None,
                      runs_dir: str | Path | None = None) -> tuple[Run, FlattenConfig]:
    """The folder of a new flattened run of ``base_run`` (queued; default: beside the base), and its validated
    settings. The one way a flattened run is created (the CLI's flatten and the job manager use it)."""
    base = base_run if isinstance(base_run, Run) else open_run(base_run)
    if base.raw_config().get("type") == "flatten":
        raise ConfigError(f"run {base.path} is already flattened: flatten its base run instead")
    fcfg = (fcfg or FlattenConfig()).validated()
    return new_run(runs_dir or base.path.parent, base.config(), label=f"{base.name}-fm"), fcfg  # named after its base


def flatten(base_run: Run | str | Path, fcfg: FlattenConfig | None = None, runs_dir: str | Path | None = None,
            callback: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Run:
    """Train a flattening module on ``base_run``; returns the new run (raises on failure)."""
    base = base_run if isinstance(base_run, Run) else open_run(base_run)
    run, fcfg = new_flattened_run(base, fcfg, runs_dir)
    FlatteningTrainer(base, run, fcfg, callback=callback, cancel=cancel).fit()
    return run
