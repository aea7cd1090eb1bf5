"""The paper's experiments as presets: its hyperparameters (Appendices D, E) with ``paper=True``, else CPU
settings that finish in minutes; and the quick start's pair of runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from irvae_core.config.schema import DEPRECATED_REG_KINDS, ConfigError, RunConfig, apply_overrides


@dataclass(frozen=True)
class Preset:
    """A named experiment of the paper: its settings, and the faster CPU defaults."""

    name: str
    description: str
    paper: dict[str, Any]  # overrides giving the paper's hyperparameters
    cpu: dict[str, Any]  # overrides for a laptop CPU (fewer epochs, larger learning rate)
    # alpha by regularizer in the paper's units, with its source; kinds not listed use default_alpha
    paper_alpha: dict[str, float] = field(default_factory=dict)
    cpu_alpha: dict[str, float] = field(default_factory=dict)
    alpha_source: str = "the paper sweeps alpha (tradeoff curves): default_alpha"


# The CPU presets' conv width (first-layer channels, 1/8 of D.3's and 1/2 of E.2's): one epoch of
# 1,600 CelebA faces, VAE or IRVAE, in under a minute on a shared 2-core CPU with one thread; a
# narrower network is barely faster (bench/conv_width.py; README, "Faces on a CPU").
CPU_CONV_WIDTH = 16


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("mnist-fc", "MNIST, FC 784-256x4-m, sigmoid, m = 2 (Section 5.1.1, D.1)",
               {"data.name": "mnist", "model.arch": "fc", "model.hidden": [256] * 4, "model.latent_dim": 2,
                "train.epochs": 300, "train.lr": 1e-4,
                "train.lr_schedule": "constant"},
               {"data.name": "mnist5k", "model.arch": "fc", "model.hidden": [256] * 4,
                "model.latent_dim": 2, "train.epochs": 240, "train.lr": 1e-3},
               paper_alpha={"ir": 100.0}, alpha_source="ir: the official code's MNIST config (iso_reg 100)"),
        Preset("cmu-fc", "CMU mocap, FC 50-512x2-m, tanh, m = 2 (Section 5.1.2, D.2)",
               {"data.name": "cmu", "model.arch": "fc", "model.hidden": [512] * 2, "model.latent_dim": 2,
                "model.out_act": "tanh", "train.epochs": 300, "train.lr": 1e-4,
                "train.lr_schedule": "constant"},
               {"data.name": "cmu-sample", "model.arch": "fc", "model.hidden": [512] * 2,
                "model.latent_dim": 2, "model.out_act": "tanh", "train.epochs": 100, "train.lr": 1e-3}),
        Preset("images-conv", "MNIST/FMNIST/SVHN/CIFAR-10, conv 32-64-128-256 (E.2); CPU: 16-32-64-128",
               {"data.name": "mnist", "model.arch": "conv", "model.latent_dim": 16, "train.epochs": 100,
                "train.lr": 1e-4, "train.lr_schedule": "constant"},
               {"data.name": "mnist5k", "model.arch": "conv", "model.latent_dim": 16, "train.epochs": 20,
                "train.lr": 1e-3, "model.conv_width": CPU_CONV_WIDTH}),
        Preset("celeba-conv", "CelebA 64x64, conv 128-256-512-1024, tanh, m = 128 (Section 5.2, D.3); "
                              "CPU: conv 16-32-64-128, m = 32",
               {"data.name": "celeba", "model.arch": "conv", "model.latent_dim": 128, "model.out_act": "tanh",
                "model.fixed_sigma": 1.0, "train.epochs": 100, "train.lr": 1e-4,
                "train.lr_schedule": "constant"},
               {"data.name": "celeba", "model.arch": "conv", "model.latent_dim": 32, "model.conv_width": CPU_CONV_WIDTH,
                "model.out_act": "tanh", "model.fixed_sigma": 1.0, "train.epochs": 20, "train.lr": 1e-3},
               paper_alpha={"ir": 10.0, "fmvae": 1.0},
               # CPU: 20 epochs on ~1,600 faces at m = 32, where the paper's 10 does not act; 3,072 (= 3 m^2)
               # was measured there (README "Faces on a CPU")
               cpu_alpha={"ir": 3072.0, "fmvae": 1.0},
               alpha_source="Appendix D.3: IRVAE 10, FMVAE 1 (best of sweeps)"),
    ]
}


# Other names a preset answers to (people say "celeba").
PRESET_ALIASES = {"celeba": "celeba-conv"}


# The Home page's quick start: a VAE and an IRVAE on the embedded MNIST-5k, m = 2. 40 epochs: a learned
# decoder sigma needs ~40 before a 2-D VAE stops collapsing to 1-D. IRVAE weight (paper's units) and the
# constant learning rate are the setting README's quick-start numbers measure.
QUICK_START = {"quickstart-vae": "none", "quickstart-irvae": "ir"}


QUICK_START_EPOCHS = 40


QUICK_START_ALPHA = 1200.0


def quick_start_config(name: str) -> RunConfig:
    """The config of quick-start run ``name`` (a key of QUICK_START), named so."""
    reg = QUICK_START[name]
    cfg = apply_overrides(preset_config("mnist-fc"), {
        "reg.kind": reg, "reg.alpha": QUICK_START_ALPHA if reg == "ir" else None,
        "train.epochs": QUICK_START_EPOCHS, "train.lr_schedule": "constant", "train.tensorboard": False})
    cfg.name = name
    return cfg


# What ``paper=True`` sets on every preset's regularizer: the whole batch of mixup points on any device
# (the exact metric where m <= 4, Hutchinson above, as "auto" resolves), and h as Section 4.3 says,
# (log lambda)^2 at m = 2 ("paper", resolved by ``resolve_config``). The CPU default sub-batches instead
# (``regularizers.training_defaults``); ``--h square`` gives the official code's h.
PAPER_REGULARIZER = {"reg.samples": "batch", "reg.estimator": "auto", "reg.h": "paper"}


def preset_config(name: str, paper: bool = False, reg: str | None = None) -> RunConfig:
    """The preset's config: the CPU defaults, or with ``paper=True`` the paper's settings (PAPER_REGULARIZER too).

    With ``reg`` the regularizer is set too, with the preset's alpha for it where it has one.
    """
    name = PRESET_ALIASES.get(name, name)
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    p = PRESETS[name]
    overrides = dict(p.paper if paper else p.cpu)
    if paper:  # the paper's estimator on every device, and its h (Section 4.3)
        overrides.update(PAPER_REGULARIZER)
    if reg is not None:
        overrides["reg.kind"] = reg
        alpha = preset_alpha(name, reg, paper)
        if alpha is not None:
            overrides["reg.alpha"] = alpha
    return apply_overrides(RunConfig(), overrides)


def preset_alpha(name: str, reg: str, paper: bool = False) -> float | None:
    """The preset's alpha (paper's units) for regularizer ``reg``; None: use default_alpha."""
    p = PRESETS[PRESET_ALIASES.get(name, name)]
    return (p.paper_alpha if paper else p.cpu_alpha).get(DEPRECATED_REG_KINDS.get(reg, reg))
