"""The paper's 50-d joint-angle feature of a CMU mocap frame (Section 5.1.2).

Of the 62 AMC channels of a CMU frame, the root's 6 (position and orientation), the clavicles'
4 and the fingers' 2 are dropped, leaving 50 joint angles. Features are scaled into [-1, 1] for
the decoder's tanh output: each angle is wrapped to (-180, 180] degrees (the same rotation) and
divided by :data:`FEATURE_SCALE`.
"""

from __future__ import annotations

import numpy as np

from irvae_core.mocap.asf import Skeleton

DROPPED_BONES = ("root", "lclavicle", "rclavicle", "lfingers", "rfingers")
FEATURE_SCALE = 180.0  # degrees per feature unit
FEATURE_NORMALIZATION = "joint angles in degrees, wrapped to (-180, 180], divided by 180"


def feature_channels(skeleton: Skeleton) -> list[tuple[str, str]]:
    """Feature index -> (bone, dof) AMC channel: every channel but the dropped bones' (50 for CMU)."""
    return [c for c in skeleton.channels if c[0] not in DROPPED_BONES]


def _columns(skeleton: Skeleton) -> np.ndarray:
    keep = set(feature_channels(skeleton))
    return np.array([i for i, c in enumerate(skeleton.channels) if c in keep], dtype=np.int64)


def wrap_degrees(a: np.ndarray) -> np.ndarray:
    """The same angle in (-180, 180]; values already there are returned unchanged (bit for bit)."""
    a = np.asarray(a, dtype=np.float64)
    wrapped = 180.0 - np.mod(180.0 - a, 360.0)
    return np.where((a > -180.0) & (a <= 180.0), a, wrapped)


def features_from_channels(skeleton: Skeleton, channels: np.ndarray) -> np.ndarray:
    """AMC channels (..., 62) in degrees -> scaled features (..., 50) float32 in [-1, 1]."""
    angles = np.asarray(channels, dtype=np.float64)[..., _columns(skeleton)]
    return (wrap_degrees(angles) / FEATURE_SCALE).astype(np.float32)


def channels_from_features(skeleton: Skeleton, features: np.ndarray) -> np.ndarray:
    """Scaled features (..., 50) -> AMC channels (..., 62) in degrees.

    The dropped channels are 0: a neutral root at the origin, clavicles and fingers at rest.
    """
    features = np.asarray(features, dtype=np.float64)
    cols = _columns(skeleton)
    if features.shape[-1] != len(cols):
        raise ValueError(f"expected {len(cols)} features a pose, got {features.shape[-1]}")
    out = np.zeros((*features.shape[:-1], len(skeleton.channels)))
    out[..., cols] = features * FEATURE_SCALE
    return out
