"""torch.nn modules of IRVAE Lab: networks, autoencoders and the RealNVP flattening module.

This package imports neither ``irvae_core`` nor streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.autoencoders import AE, DAE, MODEL_KINDS, VAE, WAE, LossOutput
from models.flattened import FlattenedAE
from models.networks import ConvDecoder, ConvEncoder, FCDecoder, FCEncoder, paper_conv_width
from models.realnvp import RealNVP
from models.supervised import BinaryRelevance

__all__ = ["AE", "DAE", "VAE", "WAE", "LossOutput", "MODEL_KINDS", "build_autoencoder",
           "FCEncoder", "FCDecoder", "ConvEncoder", "ConvDecoder", "FlattenedAE", "RealNVP",
           "BinaryRelevance", "build_binary_relevance", "paper_conv_width"]


def build_autoencoder(kind: str, arch: str, in_shape: Sequence[int], latent_dim: int,
                      hidden: Sequence[int] = (256,) * 4, out_act: str = "sigmoid",
                      fixed_sigma: float | None = None, conv_width: int | None = None) -> AE:
    """An autoencoder of ``kind`` (ae, vae, dae, wae) with ``arch`` 'fc' or 'conv' networks.

    ``conv_width``: the conv networks' first-layer channels (doubled per layer); None = the paper's.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODEL_KINDS)}")
    if latent_dim < 1:
        raise ValueError(f"latent size must be >= 1; got {latent_dim}")
    enc_out = 2 * latent_dim if kind == "vae" else latent_dim
    if arch == "fc":
        enc = FCEncoder(in_shape, enc_out, hidden)
        dec = FCDecoder(latent_dim, in_shape, hidden, out_act=out_act)
    elif arch == "conv":
        if len(in_shape) != 3:
            raise ValueError(f"conv networks need image inputs (C, H, W); got shape {tuple(in_shape)}")
        enc = ConvEncoder(in_shape, enc_out, width=conv_width)
        dec = ConvDecoder(latent_dim, in_shape, out_act=out_act, width=conv_width)
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose 'fc' or 'conv'")
    if kind == "vae":
        return VAE(enc, dec, latent_dim, fixed_sigma=fixed_sigma)
    return MODEL_KINDS[kind](enc, dec, latent_dim)


def build_binary_relevance(arch: str, in_shape: Sequence[int], n_attributes: int,
                           hidden: Sequence[int] = (256,) * 4, conv_width: int | None = None) -> BinaryRelevance:
    """The supervised retrieval baseline: the ``arch`` encoder (``conv_width`` as above), one output per attribute."""
    if n_attributes < 1:
        raise ValueError(f"binary relevance needs at least one attribute; got {n_attributes}")
    if arch == "fc":
        return BinaryRelevance(FCEncoder(in_shape, n_attributes, hidden), n_attributes)
    if arch == "conv":
        return BinaryRelevance(ConvEncoder(in_shape, n_attributes, width=conv_width), n_attributes)
    raise ValueError(f"unknown architecture {arch!r}; choose 'fc' or 'conv'")
