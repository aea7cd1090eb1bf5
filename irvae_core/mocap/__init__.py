"""CMU motion capture: ASF/AMC parsing, the paper's 50-d joint-angle feature, forward kinematics.

Drawing a pose from a 50-d feature vector (as stored in the ``cmu`` and ``synthetic-mocap``
datasets, and as a mocap decoder outputs it): ``pose_joints(meta["skeleton"], x)`` gives (J, 3)
joint positions in metres and ``skeleton_edges(meta["skeleton"])`` the (parent, child) joint pairs
to draw as segments (:mod:`irvae_core.mocap.poses`). What the Motion capture page shows for a run
is computed in :mod:`irvae_core.mocap.explore` (not imported here: it needs the training core).
"""

from __future__ import annotations

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
from irvae_core.mocap.poses import (
    bone_lengths,
    decoded_channels,
    dropped_columns,
    joint_error_bound,
    joint_speeds,
    joint_tolerance,
    on_floor,
    pose_joints,
)

__all__ = [
    "Bone", "CLASS_NAMES", "CMU_TRIAL_CLASSES", "DROPPED_BONES", "FEATURE_NORMALIZATION", "FEATURE_SCALE",
    "Motion", "Skeleton", "bone_lengths", "channels_from_features", "class_indices", "class_of_trials",
    "decoded_channels", "dropped_columns", "euler_rotation", "feature_channels", "features_from_channels",
    "format_amc", "forward_kinematics", "joint_error_bound", "joint_names", "joint_speeds", "joint_tolerance",
    "on_floor", "parse_amc", "parse_amc_text", "parse_asf", "parse_asf_text", "pose_from_features", "pose_joints",
    "read_classes_csv", "skeleton_edges", "wrap_degrees",
]
