"""Typed run configurations: data, model, regularizer and training settings, everything needed to rebuild a
run; their validation, JSON/YAML round trip, conversion of older versions, and overrides by dotted field.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration is invalid; the message says which field and what is allowed."""


MODEL_KINDS = ("ae", "vae", "dae", "wae")


SUPERVISED_KINDS = ("br",)  # binary relevance: the retrieval experiment's supervised baseline (trained on labels)


# fmvae = FMVAE's flatness term (Chen et al. 2020); geomae = the Geometric Autoencoder's determinant loss,
# Var log det G on the batch's codes (Nazari et al. 2023): exact metric, whole batch, no mixup, so it takes
# no estimator or sub-batch (``validated`` says so) and ignores eta, h and k.
REG_KINDS = ("none", "ir", "fmvae", "iso", "geomae")


# Old names still accepted, with a deprecation message: "fm" is the paper's flattening module.
DEPRECATED_REG_KINDS = {"fm": "fmvae"}


# Version of the config format. 2: reg.alpha is in the paper's units (for ir: the weight on the
# official code's E[Tr G^2] / E[Tr G]^2), and train.lr_schedule exists. A config without a version
# is 1: its ir alpha weighted F (eq. 10) directly, i.e. alpha_v1 = alpha_paper / m^2, and its
# learning rate was constant; both are converted when read. 3: train.select_by exists (versions 1
# and 2 kept the checkpoint of lowest validation loss: "loss"), and a flattened run's beta is in
# the paper's units, on the scale of E[Tr G^2] / E[Tr G]^2 as alpha (versions 1 and 2 weighted
# E||w||^2 against F itself: beta_v2 = beta_paper * m^2; ``flattening.flatten_settings`` converts).
CONFIG_VERSION = 3


class DeprecatedName(FutureWarning):
    """A config or command line used an old name; the message gives the new one."""


def canonical_reg_kind(kind: str) -> str:
    """The regularizer's current name: "fm" -> "fmvae" (with a one-line deprecation warning)."""
    if kind in DEPRECATED_REG_KINDS:
        new = DEPRECATED_REG_KINDS[kind]
        warnings.warn(f"regularizer '{kind}' is now called '{new}' ('{kind}' still works for now)",
                      DeprecatedName, stacklevel=3)
        return new
    return kind


def paper_alpha(raw: dict[str, Any]) -> float | None:
    """reg.alpha of a config dict (e.g. a run's config.json) in the paper's units, any version."""
    reg, model = raw.get("reg") or {}, raw.get("model") or {}
    alpha, m = reg.get("alpha"), model.get("latent_dim", 2)
    if raw.get("version", 1) != 1 or reg.get("kind") != "ir":
        return alpha
    if not isinstance(alpha, (int, float)) or not isinstance(m, int):
        return alpha
    return float(alpha) * m**2


ESTIMATORS = ("auto", "hutchinson", "exact")


# reg.h: "paper" is Section 4.3's choice, (log lambda)^2 at latent size 2 and (lambda - 1)^2 above
# (``resolve_config`` writes the resolved one); "square" is the official code's at every size.
H_CHOICES = ("square", "log", "paper")


# reg.samples: an integer n >= 2 (mixup points a step), None (the device's default:
# ``regularizers.training_defaults``) or "batch": the whole batch on every device (the paper's).
WHOLE_BATCH = "batch"


# train.select_by: which epoch's weights become best.pt: "reconstruction" (lowest validation
# reconstruction MSE, as the official code; models without one fall back to the loss) or "loss"
# (lowest validation objective, regularizer included).
SELECT_BY = ("reconstruction", "loss")


LR_SCHEDULES = ("constant", "cosine")


@dataclass
class DataConfig:
    name: str = "mnist5k"
    root: str | None = None
    classes: list[int] | None = None  # keep only these classes (e.g. digits [0, 1])
    download: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # loader-specific (e.g. frame_step)


@dataclass
class ModelConfig:
    kind: str = "vae"
    arch: str | None = None  # "fc" or "conv"; None = the dataset's default
    latent_dim: int = 2
    hidden: list[int] = field(default_factory=lambda: [256, 256, 256, 256])
    out_act: str | None = None  # None = matched to the dataset's value range
    fixed_sigma: float | None = None  # VAE decoder: None = learned scalar sigma (official code)
    conv_width: int | None = None  # conv networks' first-layer channels, doubled per layer; None = the paper's


@dataclass
class RegConfig:
    kind: str = "none"
    alpha: float | None = None  # None = the preset's default for this model and regularizer
    eta: float = 0.2  # mixup parameter (Section 4.3); geomae has no mixup and ignores it
    estimator: str = "auto"  # auto: the exact metric for latent size <= 4, Hutchinson above (geomae: always exact)
    h: str = "square"  # relaxed distortion h(lambda): square (eq. 10), log (exact only) or paper (H_CHOICES)
    k: float = 1.0  # target scale of the strict isometry (reg = iso, Appendix E.6)
    samples: int | str | None = None  # mixup points a step; None: the device's default; "batch": all (WHOLE_BATCH)


@dataclass
class TrainConfig:
    epochs: int | None = None  # None = DEFAULT_EPOCHS (a CPU default; the paper trains 100-300)
    batch_size: int = 100
    lr: float = 1e-3  # a CPU default; the paper uses 1e-4 with many more epochs
    lr_schedule: str = "cosine"  # CPU default: cosine decay to 0 over the run; the paper: constant
    seed: int = 0
    device: str = "auto"  # auto: cuda, then mps, then cpu
    tensorboard: bool = True
    select_by: str = "reconstruction"  # which epoch becomes best.pt (SELECT_BY)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "version": CONFIG_VERSION}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build and validate a config; a dict without "version" is read as version 1 (see CONFIG_VERSION)."""
        sections = {"data": DataConfig, "model": ModelConfig, "reg": RegConfig, "train": TrainConfig}
        if d.get("type") == "flatten":
            raise ConfigError("this is a flattening run's config, not a training one: `flatten BASE_RUN` trains "
                              "a flattening module")
        # what a run's config.json records beside its config (store.runs): read past, so a run's file is a config
        unknown = set(d) - set(sections) - {"name", "version", "type", "x_shape", "parameters"}
        version = d.get("version", 1)
        if not isinstance(version, int) or not 1 <= version <= CONFIG_VERSION:
            raise ConfigError(f"config version must be an integer from 1 to {CONFIG_VERSION}; got {version!r}")
        if isinstance(d.get("reg"), dict) and d["reg"].get("kind") in DEPRECATED_REG_KINDS:
            d = {**d, "reg": {**d["reg"], "kind": canonical_reg_kind(d["reg"]["kind"])}}
        if version < 2 and isinstance(d.get("reg"), dict) and d["reg"].get("alpha") is not None:
            d = {**d, "reg": {**d["reg"], "alpha": paper_alpha(d)}}
        if version < 2 and isinstance(d.get("train") or {}, dict):
            d = {**d, "train": {"lr_schedule": "constant", **(d.get("train") or {})}}
        if version < 3 and isinstance(d.get("train") or {}, dict):
            d = {**d, "train": {"select_by": "loss", **(d.get("train") or {})}}
        if unknown:
            raise ConfigError(f"unknown config sections {sorted(unknown)}; expected {sorted(sections)}")
        kwargs: dict[str, Any] = {"name": d.get("name")}
        for key, typ in sections.items():
            part = d.get(key) or {}
            names = {f.name for f in dataclasses.fields(typ)}
            bad = set(part) - names
            if bad:
                raise ConfigError(f"unknown fields {sorted(bad)} in '{key}'; allowed: {sorted(names)}")
            kwargs[key] = typ(**part)
        return cls(**kwargs).validated()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a config from a .json or .yaml/.yml file."""
        p = Path(path)
        try:
            text = p.read_text()
            d = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except OSError as e:
            raise ConfigError(f"cannot read config file {p}: {e.strerror}") from e
        except (json.JSONDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"config file {p} is not valid {p.suffix.lstrip('.') or 'YAML'}: {e}") from e
        if not isinstance(d, dict):
            raise ConfigError(f"config file {p} must hold a mapping of sections")
        return cls.from_dict(d)

    def validated(self) -> RunConfig:
        """Check every field; raise ConfigError with one clear sentence on the first problem."""
        m, r, t = self.model, self.reg, self.train
        r.kind = canonical_reg_kind(r.kind)
        checks = [
            (m.kind in MODEL_KINDS + SUPERVISED_KINDS,
             f"model must be one of {', '.join(MODEL_KINDS + SUPERVISED_KINDS)}; got {m.kind!r}"),
            (m.kind not in SUPERVISED_KINDS or r.kind == "none",
             f"the supervised model {m.kind!r} has no decoder to regularize: use regularizer 'none'"),
            (m.arch in (None, "fc", "conv"), f"architecture must be 'fc' or 'conv'; got {m.arch!r}"),
            (m.latent_dim >= 1, f"latent size must be >= 1; got {m.latent_dim}"),
            (all(h >= 1 for h in m.hidden), f"hidden layer widths must be >= 1; got {m.hidden}"),
            (m.conv_width is None or m.conv_width >= 1,
             f"conv width (the first conv layer's channels) must be >= 1; got {m.conv_width}"),
            (r.kind in REG_KINDS, f"regularizer must be one of {', '.join(REG_KINDS)}; got {r.kind!r}"),
            (r.alpha is None or r.alpha >= 0, f"alpha must be >= 0; got {r.alpha}"),
            (r.eta >= 0, f"the mixup parameter eta must be >= 0; got {r.eta}"),
            (r.estimator in ESTIMATORS, f"estimator must be one of {', '.join(ESTIMATORS)}; got {r.estimator!r}"),
            (r.h in H_CHOICES, f"h must be one of {', '.join(H_CHOICES)}; got {r.h!r}"),
            (r.k > 0, f"the isometry scale k must be > 0; got {r.k}"),
            (r.samples in (None, WHOLE_BATCH) or (isinstance(r.samples, int) and r.samples >= 2),
             f"regularizer samples must be an integer >= 2 or '{WHOLE_BATCH}' (the whole batch); got {r.samples!r}"),
            (r.kind != "geomae" or r.estimator in ("auto", "exact"),
             f"the geomae regularizer needs log det G, so the exact metric: use estimator auto or exact, "
             f"not {r.estimator!r}"),
            (r.kind != "geomae" or r.samples in (None, WHOLE_BATCH),
             f"the geomae regularizer is a variance over the whole batch's codes (no mixup sub-batch): leave "
             f"samples unset or '{WHOLE_BATCH}'; got {r.samples!r}"),
            (t.epochs is None or t.epochs >= 1, f"epochs must be >= 1; got {t.epochs}"),
            (t.batch_size >= 2, f"batch size must be >= 2; got {t.batch_size}"),
            (t.lr > 0, f"learning rate must be > 0; got {t.lr}"),
            (t.lr_schedule in LR_SCHEDULES,
             f"learning-rate schedule must be one of {', '.join(LR_SCHEDULES)}; got {t.lr_schedule!r}"),
            (t.select_by in SELECT_BY, f"select_by must be one of {', '.join(SELECT_BY)}; got {t.select_by!r}"),
            (t.device in ("auto", "cpu", "cuda", "mps") or t.device.startswith("cuda:"),
             f"device must be auto, cpu, cuda or mps; got {t.device!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Set dotted fields ("train.epochs": 10) on a copy of cfg."""
    d = cfg.to_dict()
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in d or not isinstance(d[section], dict) or name not in d[section]:
            raise ConfigError(f"unknown config field {key!r}")
        d[section][name] = value
    return RunConfig.from_dict(d)
