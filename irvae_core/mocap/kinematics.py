"""Forward kinematics of an ASF skeleton: AMC channels (or 50-d features) -> 3-D joint positions.

The standard CMU/Acclaim rule: for each bone, C is the rotation of its ASF ``axis`` (degrees, in
the axis order, first angle applied first) and M the rotation of its AMC dof values (in the
order the dofs are listed); its local transform is L = C M C^-1, its global rotation is the
parent's global rotation times L, and its end point is the parent's end point plus the global
rotation applied to direction * length. The root sits at its AMC translation with rotation
C_root M_root C_root^-1. Positions are in metres (CMU convention, see
:attr:`Skeleton.metres_per_unit`). Translation or length dofs on bones other than the root are
not used (the CMU skeletons have none).
"""

from __future__ import annotations

import numpy as np

from irvae_core.mocap.asf import Skeleton
from irvae_core.mocap.features import channels_from_features


def _axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    one, zero = np.ones_like(t), np.zeros_like(t)
    rows = {"x": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
            "y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
            "z": [[c, -s, zero], [s, c, zero], [zero, zero, one]]}[axis.lower()]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def euler_rotation(degrees: np.ndarray, order: str) -> np.ndarray:
    """Rotation (..., 3, 3) of Euler angles (..., k) in degrees applied in ``order`` ("XYZ": Rz Ry Rx)."""
    degrees = np.asarray(degrees, dtype=np.float64)
    out = np.broadcast_to(np.eye(3), (*degrees.shape[:-1], 3, 3))
    for i, axis in enumerate(order):
        out = _axis_rotation(axis, degrees[..., i]) @ out
    return out


def joint_names(skeleton: Skeleton) -> list[str]:
    """Joint order of :func:`forward_kinematics`: "root", then each bone's end, parents first."""
    return list(skeleton.joint_names)


def skeleton_edges(skeleton: Skeleton) -> list[tuple[int, int]]:
    """(parent joint, child joint) index pairs, one per bone, for drawing a pose."""
    index = {name: i for i, name in enumerate(skeleton.joint_names)}
    return [(index[skeleton.parent[name]], index[name]) for name in skeleton.joint_names[1:]]


def _rotation_of(skeleton: Skeleton, bone: str, values: np.ndarray) -> np.ndarray:
    """M of one bone from its channel values (..., k) in its dof order (rotation dofs only)."""
    dofs = skeleton.dof_of(bone)
    rot = [i for i, d in enumerate(dofs) if d in ("rx", "ry", "rz")]
    order = "".join(dofs[i][1] for i in rot)
    return euler_rotation(values[..., rot], order)


def forward_kinematics(skeleton: Skeleton, channels: np.ndarray) -> np.ndarray:
    """AMC channels (..., C) in degrees (C = len(skeleton.channels)) -> joints (..., J, 3) in metres."""
    channels = np.asarray(channels, dtype=np.float64)
    if channels.shape[-1] != len(skeleton.channels):
        raise ValueError(f"expected {len(skeleton.channels)} channels a frame, got {channels.shape[-1]}")
    batch = channels.shape[:-1]
    flat = channels.reshape(-1, channels.shape[-1])
    scale = skeleton.metres_per_unit
    columns, start = {}, 0
    for bone in ("root", *skeleton.bones):
        k = len(skeleton.dof_of(bone))
        columns[bone] = flat[:, start:start + k]
        start += k

    root_values = columns["root"]
    position = np.zeros((len(flat), 3))
    for i, d in enumerate(skeleton.root_order):
        if d in ("tx", "ty", "tz"):
            position[:, "xyz".index(d[1])] = root_values[:, i] * scale
    c_root = euler_rotation(skeleton.root_orientation, skeleton.root_axis_order)
    rotations = {"root": c_root @ _rotation_of(skeleton, "root", root_values) @ c_root.T}
    positions = {"root": position}
    for name in skeleton.joint_names[1:]:
        bone, parent = skeleton.bones[name], skeleton.parent[name]
        c = euler_rotation(bone.axis, bone.axis_order)
        local = c @ _rotation_of(skeleton, name, columns[name]) @ c.T
        rotations[name] = rotations[parent] @ local
        offset = bone.direction * (bone.length * scale)
        positions[name] = positions[parent] + rotations[name] @ offset
    out = np.stack([positions[name] for name in skeleton.joint_names], axis=1)
    return out.reshape(*batch, len(skeleton.joint_names), 3)


def pose_from_features(skeleton: Skeleton, features: np.ndarray) -> np.ndarray:
    """Scaled 50-d features (..., 50), as in the ``cmu`` dataset -> joint positions (..., J, 3) in metres.

    The dropped channels are neutral: the root at the origin facing its rest direction,
    clavicles and fingers at rest.
    """
    return forward_kinematics(skeleton, channels_from_features(skeleton, features))
