"""A run's config made complete and the device it runs on: defaults filled from the dataset (architecture,
output activation), alpha and epochs; cuda, mps or cpu.
"""

from __future__ import annotations

import torch

from irvae_core.config import DEFAULT_EPOCHS, ConfigError, RunConfig, default_alpha
from irvae_core.data import DATASETS
from irvae_core.store.runs import Run


def select_device(name: str = "auto") -> torch.device:
    """auto: cuda if available, then Apple mps, then cpu."""
    if name != "auto":
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but no CUDA device is available")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_config(cfg: RunConfig) -> RunConfig:
    """Fill the fields left to defaults (architecture, output activation, alpha, epochs, h = "paper")."""
    cfg = RunConfig.from_dict(cfg.to_dict())
    info = DATASETS.get(cfg.data.name)
    if info is None:
        raise ConfigError(f"unknown dataset {cfg.data.name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    cfg.model.arch = cfg.model.arch or info.arch
    cfg.model.out_act = cfg.model.out_act or info.out_act
    if cfg.model.arch != "conv":  # a preset's conv width means nothing to fully connected networks
        cfg.model.conv_width = None
    if cfg.reg.alpha is None or cfg.reg.kind == "none":
        cfg.reg.alpha = default_alpha(cfg.model.kind, cfg.reg.kind, cfg.model.latent_dim)
    if cfg.train.epochs is None:
        cfg.train.epochs = DEFAULT_EPOCHS
    if cfg.reg.h == "paper":  # Section 4.3: (log lambda)^2 when the latent space is two-dimensional
        cfg.reg.h = "log" if cfg.model.latent_dim == 2 else "square"
    return cfg.validated()


def run_device(run: Run, override: str | None = None) -> torch.device:
    """Where to use a run's model: ``override`` if given, else the device it trained on (status.json),
    else its config's setting; cpu when that device is not on this machine (a run trained elsewhere)."""
    if override:
        return select_device(override)
    name = run.status().get("device") or run.raw_config().get("train", {}).get("device") or "cpu"
    try:
        return select_device(name)
    except (ConfigError, RuntimeError):
        return torch.device("cpu")
