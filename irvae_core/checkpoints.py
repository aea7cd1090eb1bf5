"""A run becomes a model: ``irvae_core.store.checkpoints`` at its documented path
(``irvae_core.checkpoints.load_model``)."""

from irvae_core.store.checkpoints import (  # noqa: F401
    build_flattened,
    build_model,
    checkpoint_path,
    fm_shape,
    infer_fm_shape,
    load_model,
    model_with_state,
    record_conv_width,
)

__all__ = [
    "build_model",
    "record_conv_width",
    "fm_shape",
    "build_flattened",
    "infer_fm_shape",
    "checkpoint_path",
    "load_model",
    "model_with_state",
]
