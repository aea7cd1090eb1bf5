"""A run's config -> its model (plain or flattened), and the trained weights from best.pt / last.pt.

The one place that knows how a run becomes a model. It reads the run's config.json (the model
settings, the input shape ``x_shape`` and, for a flattened run, the shape of its flattening module
``fm``) and builds the torch.nn modules of ``models``; the weights come from the run's checkpoint,
loaded with ``weights_only=True`` (``runs.load_checkpoint``). It depends on models/, runs and config
only.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from irvae_core.config import ConfigError, RunConfig
from irvae_core.store.files import load_checkpoint
from irvae_core.store.runs import Run
from models import AE, FlattenedAE, RealNVP, build_autoencoder, build_binary_relevance, paper_conv_width
from models.networks import PAPER_CONV_WIDTH


def build_model(cfg: RunConfig, x_shape: tuple[int, ...]) -> AE:
    """The (untrained) model of a resolved config, for inputs of shape ``x_shape``."""
    m = cfg.model
    if m.kind == "br":  # latent_dim = the number of attributes (set by Trainer.setup)
        return build_binary_relevance(m.arch or "fc", x_shape, m.latent_dim, hidden=tuple(m.hidden),
                                      conv_width=m.conv_width if m.arch == "conv" else None)
    return build_autoencoder(m.kind, m.arch or "fc", x_shape, m.latent_dim, hidden=tuple(m.hidden),
                             out_act=m.out_act or "sigmoid", fixed_sigma=m.fixed_sigma,
                             conv_width=m.conv_width if m.arch == "conv" else None)


def record_conv_width(cfg: RunConfig, x_shape: tuple[int, ...]) -> None:
    """Write the width a conv network is built with into ``cfg`` (None means the paper's: say which)."""
    if cfg.model.arch == "conv" and cfg.model.conv_width is None and len(x_shape) == 3 \
            and x_shape[1] in PAPER_CONV_WIDTH:
        cfg.model.conv_width = paper_conv_width(x_shape[1])


def fm_shape(fm: RealNVP) -> dict[str, Any]:
    """What a flattened run records in config.json (``fm``) to rebuild its flattening module."""
    return {"kind": "realnvp", "dim": fm.dim, "depth": fm.depth, "width": fm.width}


def build_flattened(cfg: RunConfig, x_shape: tuple[int, ...], fm: dict[str, Any]) -> FlattenedAE:
    """A base autoencoder of ``cfg`` seen through a RealNVP of the recorded shape ``fm`` (untrained)."""
    return FlattenedAE(build_model(cfg, x_shape), RealNVP(int(fm["dim"]), int(fm["depth"]), int(fm["width"])))


_COUPLING_INPUT = re.compile(r"^fm\.layers\.(\d+)\.net\.0\.weight$")


def infer_fm_shape(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The flattening module's shape read off a flattened model's state dict.

    Runs flattened before the shape was recorded in config.json (no ``fm`` there) still load:
    this is the one place their shape is inferred, from the weights themselves (the number of
    coupling layers, and the first coupling network's input and hidden sizes), not guessed.
    """
    layers = {int(m.group(1)): w for k, w in state.items() if (m := _COUPLING_INPUT.match(k))}
    if not layers:
        raise ConfigError("the checkpoint holds no flattening module (fm.layers.*)")
    width, dim = layers[0].shape
    return {"kind": "realnvp", "dim": int(dim), "depth": max(layers) + 1, "width": int(width)}


def checkpoint_path(run: Run, which: str = "best"):
    """best.pt (or last.pt; best falls back to last when no epoch has finished validation yet)."""
    if which not in ("best", "last"):
        raise ValueError(f"which checkpoint: 'best' or 'last'; got {which!r}")
    path = run.file(f"{which}.pt")
    return run.file("last.pt") if which == "best" and not path.exists() else path


def load_model(run: Run, which: str = "best", device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model of a run from best.pt (or last.pt), in eval mode; flattened runs too."""
    raw = run.raw_config()
    cfg = run.config()
    x_shape = tuple(raw.get("x_shape") or ())
    if not x_shape:
        raise ConfigError(f"{run.file('config.json')} has no input shape (x_shape)")
    path = checkpoint_path(run, which)
    try:
        model = model_with_state(cfg, raw, load_checkpoint(path)["model"])
    except RuntimeError as e:
        raise ConfigError(f"checkpoint {path} does not match the run's model ({str(e).splitlines()[0]})") from e
    return model.to(device).eval()


def model_with_state(cfg: RunConfig, raw: dict, weights: dict) -> torch.nn.Module:
    """The model a run's config describes (``raw``: its config.json, plain or flattened) with ``weights``
    loaded; RuntimeError (torch's) where they do not fit it."""
    x_shape = tuple(raw["x_shape"])
    if raw.get("type") == "flatten":
        model = build_flattened(cfg, x_shape, raw.get("fm") or infer_fm_shape(weights))
    else:
        model = build_model(cfg, x_shape)
    model.load_state_dict(weights)
    return model
