"""Decoded features -> AMC channels -> joints: exact inverses, known motions, and the error bounds (no shared data)."""

import math

import numpy as np
import pytest

from irvae_core.data import load_dataset
from irvae_core.data.synthetic_mocap import cmu_like_skeleton, motion_channels
from irvae_core.mocap import (
    bone_lengths,
    decoded_channels,
    dropped_columns,
    features_from_channels,
    forward_kinematics,
    joint_error_bound,
    joint_speeds,
    joint_tolerance,
    on_floor,
    pose_joints,
    wrap_degrees,
)
from irvae_core.views.mocap import frame_skeleton
from tests.helpers import write_subject

SKELETON = cmu_like_skeleton()
NAMES = list(SKELETON.joint_names)


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    """60 frames of synthetic walking, AMC channels in degrees (the root's channels set to a real-looking value)."""
    channels = motion_channels("walking", 60, np.random.default_rng(0))
    channels[:, :6] = [3.0, 17.0, -20.0, -1.0, 30.0, -7.0]  # root translation and orientation
    return channels


def test_decoded_features_are_the_channels_exactly_with_the_trials_fill(walk):
    features = features_from_channels(SKELETON, walk)
    channels = decoded_channels(SKELETON, features, fill=walk[0])
    kept = np.setdiff1d(np.arange(walk.shape[1]), dropped_columns(SKELETON))
    # the feature is angle / 180 in float32: back to degrees to float32 precision
    np.testing.assert_allclose(channels[:, kept], wrap_degrees(walk[:, kept]), atol=2e-5)
    np.testing.assert_array_equal(channels[:, dropped_columns(SKELETON)], np.broadcast_to(
        walk[0, dropped_columns(SKELETON)], (len(walk), len(dropped_columns(SKELETON)))))
    joints = pose_joints(SKELETON, features, fill=walk[0])
    filled = walk.copy()
    filled[:, dropped_columns(SKELETON)] = walk[0, dropped_columns(SKELETON)]
    np.testing.assert_allclose(joints, forward_kinematics(SKELETON, filled), atol=1e-6)


def test_without_a_fill_the_dropped_channels_are_zero_and_the_root_is_at_the_origin(walk):
    features = features_from_channels(SKELETON, walk)
    channels = decoded_channels(SKELETON, features)
    assert len(dropped_columns(SKELETON)) == 12 and not channels[:, dropped_columns(SKELETON)].any()
    joints = pose_joints(SKELETON, features)
    np.testing.assert_array_equal(joints[:, 0], 0.0)
    assert joints.shape == (60, 31, 3)
    with pytest.raises(ValueError, match="fill must hold one frame's 62 channels"):
        decoded_channels(SKELETON, features, fill=walk[0, :50])
    with pytest.raises(ValueError, match="expected 50 features a pose, got 49"):
        pose_joints(SKELETON, features[:, :49])


def test_bone_lengths_are_the_skeletons_whatever_the_angles():
    rng = np.random.default_rng(1)
    joints = pose_joints(SKELETON, rng.uniform(-1, 1, (20, 50)))
    expected = [SKELETON.bones[name].length * SKELETON.metres_per_unit for name in NAMES[1:]]
    np.testing.assert_allclose(bone_lengths(SKELETON, joints), np.broadcast_to(expected, (20, 30)), atol=1e-9)


def test_on_floor_puts_each_poses_lowest_joint_at_zero_and_keeps_its_shape(walk):
    joints = pose_joints(SKELETON, features_from_channels(SKELETON, walk))
    stood = on_floor(joints)
    np.testing.assert_allclose(stood[..., 1].min(-1), 0.0, atol=1e-12)
    np.testing.assert_array_equal(stood[..., [0, 2]], joints[..., [0, 2]])
    np.testing.assert_allclose(stood - stood[:, :1], joints - joints[:, :1], atol=1e-12)  # only moved up or down
    head, toes = NAMES.index("head"), [NAMES.index("ltoes"), NAMES.index("rtoes")]
    assert (stood[:, head, 1] > 1.4).all() and (stood[:, toes, 1].min(1) < 0.05).all()  # a standing person


def test_joint_speeds_of_known_motions():
    pose = pose_joints(SKELETON, np.zeros(50))
    step = np.array([0.03, 0.0, 0.04])  # 5 cm a step
    sliding = pose + np.arange(7)[:, None, None] * step
    np.testing.assert_allclose(joint_speeds(sliding), 0.05, atol=1e-12)
    # one joint of J moving 1 m: RMS over joints is 1 / sqrt(J)
    moved = np.stack([pose, pose.copy()])
    moved[1, 5, 1] += 1.0
    np.testing.assert_allclose(joint_speeds(moved), [1 / math.sqrt(31)], atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 poses"):
        joint_speeds(pose[None])


def test_the_error_bound_is_exact_for_a_knee_bend_and_holds_for_random_changes(walk):
    base = walk[10].copy()
    base[:6] = 0.0
    column = SKELETON.channels.index(("ltibia", "rx"))
    delta = 5.0
    bent = base.copy()
    bent[column] += delta
    moved = np.linalg.norm(forward_kinematics(SKELETON, bent) - forward_kinematics(SKELETON, base), axis=-1)
    errors = np.zeros_like(base)
    errors[column] = delta
    bound = joint_error_bound(SKELETON, errors)
    tibia = SKELETON.bones["ltibia"].length * SKELETON.metres_per_unit
    # the knee's hinge is perpendicular to the shin (to the ASF's 3 digits): its end moves by the chord 2 sin(d/2) l
    assert bound[NAMES.index("ltibia")] == pytest.approx(math.radians(delta) * tibia, rel=1e-12)
    assert moved[NAMES.index("ltibia")] == pytest.approx(2 * math.sin(math.radians(delta) / 2) * tibia, rel=1e-6)
    above = [i for i, name in enumerate(NAMES) if name not in ("ltibia", "lfoot", "ltoes")]
    np.testing.assert_allclose(moved[above], 0.0, atol=1e-12)
    np.testing.assert_array_equal(bound[above], 0.0)

    rng = np.random.default_rng(2)
    for scale in (0.5, 5.0, 20.0):
        change = rng.normal(0, scale, (200, len(base)))
        change[:, :6] = 0.0  # the root is fixed
        moved = np.linalg.norm(forward_kinematics(SKELETON, base + change) - forward_kinematics(SKELETON, base),
                               axis=-1)
        bound = joint_error_bound(SKELETON, change)
        assert (moved <= bound + 1e-12).all()
        assert (moved[bound == 0] < 1e-12).all()  # the root and the hip joints (no dofs) stay
        assert (moved[bound > 0] / bound[bound > 0]).max() > 0.5  # a bound, not a blanket


def test_the_tolerance_bounds_the_rms_joint_error_from_the_feature_mse(walk):
    features = features_from_channels(SKELETON, walk)
    rng = np.random.default_rng(3)
    for scale in (0.002, 0.02):
        noisy = features + rng.normal(0, scale, features.shape)
        mse = float(((noisy - features) ** 2).mean())
        rms = np.sqrt((np.linalg.norm(pose_joints(SKELETON, noisy) - pose_joints(SKELETON, features), axis=-1) ** 2)
                      .mean(0))
        tolerance = joint_tolerance(SKELETON, mse)
        assert (rms <= tolerance).all() and tolerance[0] == 0.0
        assert rms[NAMES.index("ltoes")] > 0.05 * tolerance[NAMES.index("ltoes")]


def test_each_cmu_test_pose_knows_its_trial_frame_and_subjects_skeleton(tmp_path):
    channels = write_subject(tmp_path, "35", {"35_01": ("walking", 40), "35_17": ("jogging", 30)})
    channels |= write_subject(tmp_path, "13", {"13_17": ("punching", 50)}, scale=1.2)
    for options in ({}, {"frame_step": 3}, {"classes": ["walking", "punching"]}):
        data = load_dataset("cmu", tmp_path, seed=4, **options)
        step = options.get("frame_step", 1)
        assert len(data.meta["test_frames"]) == len(data.test) > 0
        for i, (trial, frame) in enumerate(data.meta["test_frames"]):
            assert frame % step == 0
            expected = features_from_channels(data.meta["skeletons"][trial[:2]], channels[trial][frame])
            np.testing.assert_array_equal(data.test.x[i].numpy(), expected)
            skeleton, source = frame_skeleton(data, i)
            assert skeleton is data.meta["skeletons"][trial[:2]] and source == f"trial {trial}, frame {frame + 1}"
        if "classes" in options:
            assert {t for t, _ in data.meta["test_frames"]} <= {"35_01", "13_17"}
    tall, short = data.meta["skeletons"]["13"], data.meta["skeletons"]["35"]
    assert tall.bones["ltibia"].length == pytest.approx(1.2 * short.bones["ltibia"].length)


def test_synthetic_poses_use_the_shipped_skeleton():
    data = load_dataset("synthetic-mocap", n=70)
    skeleton, source = frame_skeleton(data, 3)
    assert skeleton is cmu_like_skeleton() and source == "synthetic test pose #3"
    with pytest.raises(ValueError, match="test pose #10 does not exist: the test split has 10 poses"):
        frame_skeleton(data, 10)
    with pytest.raises(ValueError, match="this page shows motion capture runs"):
        frame_skeleton(load_dataset("digits"), 0)
