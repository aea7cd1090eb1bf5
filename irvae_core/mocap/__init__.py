"""CMU motion capture: ASF/AMC parsing, the paper's 50-d joint-angle feature, forward kinematics.

Drawing a pose from a 50-d feature vector (as stored in the ``cmu`` and ``synthetic-mocap``
datasets): ``pose_from_features(meta["skeleton"], x)`` gives (J, 3) joint positions in metres and
``skeleton_edges(meta["skeleton"])`` the (parent, child) joint pairs to draw as segments.
"""

from __future__ import annotations

# the data package first: its loaders import this package, and ours need its DataError
import irvae_core.data  # noqa: F401  isort: skip
from irvae_core.mocap.amc import Motion, format_amc, parse_amc, parse_amc_text
from irvae_core.mocap.asf import Bone, Skeleton, parse_asf, parse_asf_text
from irvae_core.mocap.features import (
    DROPPED_BONES,
    FEATURE_NORMALIZATION,
    FEATURE_SCALE,
    channels_from_features,
    feature_channels,
    features_from_channels,
    wrap_degrees,
)
from irvae_core.mocap.kinematics import (
    euler_rotation,
    forward_kinematics,
    joint_names,
    pose_from_features,
    skeleton_edges,
)
from irvae_core.mocap.labels import (
    CLASS_NAMES,
    CMU_TRIAL_CLASSES,
    class_indices,
    class_of_trials,
    read_classes_csv,
)

__all__ = [
    "Bone", "CLASS_NAMES", "CMU_TRIAL_CLASSES", "DROPPED_BONES", "FEATURE_NORMALIZATION", "FEATURE_SCALE",
    "Motion", "Skeleton", "channels_from_features", "class_indices", "class_of_trials", "euler_rotation",
    "feature_channels", "features_from_channels", "format_amc", "forward_kinematics", "joint_names",
    "parse_amc", "parse_amc_text", "parse_asf", "parse_asf_text", "pose_from_features", "read_classes_csv",
    "skeleton_edges", "wrap_degrees",
]
