"""Poses from a decoder's output: 50-d features -> AMC channels -> 3-D joint positions (paper Section 5.1.2, Fig. 7).

A mocap decoder outputs the paper's 50-d feature (joint angles in degrees / ``FEATURE_SCALE``,
the tanh range), so :func:`~irvae_core.mocap.features.channels_from_features` inverts it exactly
to AMC channels. The channels the feature drops are filled from ``fill`` (one frame's full AMC
channels, e.g. the trial's), else 0: the root at the origin with its rest orientation,
clavicles and fingers at rest (CMU trials hold the clavicles at 0 and the fingers at a constant
of a few degrees). Forward kinematics with the subject's ASF skeleton then gives the joints in
metres, CMU's y axis up. Without the root's translation a pose has no height above the floor:
:func:`on_floor` stands each pose on it (lowest joint at y = 0).

How far a decoded pose is from the original one is bounded by the angle errors:
:func:`joint_error_bound` (per frame, from each channel's error) and :func:`joint_tolerance`
(a run's RMS joint error, from its reconstruction MSE).
"""

from __future__ import annotations

import math

import numpy as np

from irvae_core.mocap.asf import ROTATION_DOFS, Skeleton
from irvae_core.mocap.features import FEATURE_SCALE, channels_from_features, feature_channels
from irvae_core.mocap.kinematics import forward_kinematics


def dropped_columns(skeleton: Skeleton) -> np.ndarray:
    """Indices of the AMC channels the 50-d feature leaves out (root, clavicles, fingers)."""
    keep = set(feature_channels(skeleton))
    return np.array([i for i, c in enumerate(skeleton.channels) if c not in keep], dtype=np.int64)


def decoded_channels(skeleton: Skeleton, features: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """Decoder outputs (..., 50) -> AMC channels (..., C) in degrees; dropped channels from ``fill`` (C,) or 0."""
    channels = channels_from_features(skeleton, np.asarray(features, dtype=np.float64))
    if fill is not None:
        fill = np.asarray(fill, dtype=np.float64)
        if fill.shape != (len(skeleton.channels),):
            raise ValueError(f"fill must hold one frame's {len(skeleton.channels)} channels; got shape {fill.shape}")
        cols = dropped_columns(skeleton)
        channels[..., cols] = fill[cols]
    return channels


def pose_joints(skeleton: Skeleton, features: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """Decoder outputs (..., 50) -> joint positions (..., J, 3) in metres (order: ``skeleton.joint_names``)."""
    return forward_kinematics(skeleton, decoded_channels(skeleton, features, fill))


def on_floor(joints: np.ndarray) -> np.ndarray:
    """Each pose (..., J, 3) moved up or down so that its lowest joint stands on the floor y = 0."""
    out = np.array(joints, dtype=np.float64)
    out[..., 1] -= out[..., 1].min(-1, keepdims=True)
    return out


def bone_lengths(skeleton: Skeleton, joints: np.ndarray) -> np.ndarray:
    """Lengths (..., J - 1) of the segments parent joint -> joint, in ``skeleton.joint_names[1:]`` order."""
    index = {name: i for i, name in enumerate(skeleton.joint_names)}
    parents = [index[skeleton.parent[name]] for name in skeleton.joint_names[1:]]
    joints = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(joints[..., 1:, :] - joints[..., parents, :], axis=-1)


def joint_speeds(joints: np.ndarray) -> np.ndarray:
    """RMS joint displacement of each step of a pose sequence (n, J, 3) -> (n - 1,) metres per step.

    sqrt(mean_j ||p_j(k+1) - p_j(k)||^2): the Euclidean step of all joints stacked, over sqrt(J).
    Constant for a body moved at an even pace (paper Fig. 7); max/min is 1 then.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or len(joints) < 2:
        raise ValueError(f"expected a sequence of at least 2 poses shaped (n, J, 3); got {joints.shape}")
    step = joints[1:] - joints[:-1]
    return np.sqrt((step ** 2).sum(-1).mean(-1))


def _reach(skeleton: Skeleton) -> np.ndarray:
    """(C, J): for a rotation channel c of bone a and a joint j at the end of a or below it, the summed
    lengths (metres) of the bones from a down to j; 0 elsewhere (and for the root's channels)."""
    names = skeleton.joint_names
    index = {name: i for i, name in enumerate(names)}
    length = {name: skeleton.bones[name].length * skeleton.metres_per_unit for name in names[1:]}
    reach = np.zeros((len(skeleton.channels), len(names)))
    for c, (bone, dof) in enumerate(skeleton.channels):
        if bone == "root" or dof not in ROTATION_DOFS:
            continue
        for joint in names[1:]:
            path, node = 0.0, joint
            while node != "root" and node != bone:
                path, node = path + length[node], skeleton.parent[node]
            if node == bone:
                reach[c, index[joint]] = path + length[bone]
    return reach


def joint_error_bound(skeleton: Skeleton, channel_errors: np.ndarray) -> np.ndarray:
    """An upper bound (..., J) in metres on how far each joint moves when the channels change by (..., C) degrees.

    With the root fixed, joint j is p_j = sum over bones b on its chain of R_b o_b (o_b: the
    bone's offset, R_b = R_parent C M_b C^-1). Changing bone a's Euler angles by d_1 .. d_k
    turns its local rotation by at most |d_1| + .. + |d_k| (radians; the triangle inequality
    of the angle between rotations), and that turns every bone below it by as much, moving
    the end of a bone of length l by at most the angle times l. Summed:
    |dp_j| <= sum over channels c of bones a on j's chain of |d_c| * reach(a, j), reach being
    the bone lengths from a down to j. Root channels are taken as unchanged (the pose's root is fixed).
    """
    reach = _reach(skeleton)
    return np.radians(np.abs(np.asarray(channel_errors, dtype=np.float64))) @ reach


def joint_tolerance(skeleton: Skeleton, feature_mse: float, n_features: int = 50) -> np.ndarray:
    """A bound (J,) in metres on the RMS error of each joint over poses whose features have mean squared error
    ``feature_mse``.

    From :func:`joint_error_bound` and Cauchy-Schwarz: |dp_j| <= sum_c |d_c| r_cj <=
    ||d|| * sqrt(sum_c r_cj^2), and E ||d||^2 = n_features * feature_mse * FEATURE_SCALE^2
    (degrees^2) over the frames the MSE was measured on, so
    sqrt(E |dp_j|^2) <= (pi / 180) * FEATURE_SCALE * sqrt(n_features * feature_mse) * sqrt(sum_c r_cj^2).
    """
    reach = _reach(skeleton)
    rms_angle = math.radians(FEATURE_SCALE) * math.sqrt(n_features * float(feature_mse))
    return rms_angle * np.sqrt((reach ** 2).sum(0))
