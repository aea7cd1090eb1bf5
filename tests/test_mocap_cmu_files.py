"""Real CMU files from the shared data folder (skipped where it is absent, e.g. on a user's machine)."""

import warnings

import numpy as np
import pytest

from irvae_core.data import load_dataset
from irvae_core.mocap import (
    DROPPED_BONES,
    channels_from_features,
    feature_channels,
    features_from_channels,
    forward_kinematics,
    parse_amc,
    parse_asf,
    pose_from_features,
    skeleton_edges,
    wrap_degrees,
)
from tests.helpers import shared_cmu  # noqa: E402

CMU = shared_cmu()
pytestmark = pytest.mark.skipif(CMU is None, reason="shared CMU data (../shared/data/cmu) is not here")

FRAMES = {"35_01": 358, "07_05": 517, "09_06": 141, "49_18": 1102, "49_19": 957, "13_17": 4840}
CLASSES = {"35_01": "walking", "07_05": "walking", "09_06": "jogging", "49_18": "balancing",
           "49_19": "balancing", "13_17": "punching"}


@pytest.fixture(scope="module")
def motions():
    return {t: parse_amc(CMU / f"{t}.amc", parse_asf(CMU / f"{t.split('_')[0]}.asf")) for t in FRAMES}


def test_every_trial_parses_62_channels_to_50_features(motions):
    assert sorted(p.stem for p in CMU.glob("*.amc")) == sorted(FRAMES)
    for trial, m in motions.items():
        assert m.channels.shape == (FRAMES[trial], 62)
        assert np.isfinite(m.channels).all()
        f = features_from_channels(m.skeleton, m.channels)
        assert f.shape == (FRAMES[trial], 50) and f.dtype == np.float32
        assert np.abs(f).max() <= 1.0
        channels = feature_channels(m.skeleton)
        assert len(channels) == 50 and not {b for b, _ in channels} & set(DROPPED_BONES)
        # the map back to AMC channels: feature j is the AMC value of (bone, dof), over 180
        col = {c: i for i, c in enumerate(m.skeleton.channels)}
        for j in (0, 17, 49):
            expected = wrap_degrees(m.channels[:, col[channels[j]]]) / 180
            np.testing.assert_allclose(f[:, j], expected, atol=1e-6)


def test_fk_bone_lengths_match_the_asf(motions):
    for m in motions.values():
        skel = m.skeleton
        pos = forward_kinematics(skel, m.channels[:: max(1, len(m.channels) // 5)])
        names = skel.joint_names
        for parent, child in skeleton_edges(skel):
            length = np.linalg.norm(pos[:, child] - pos[:, parent], axis=-1)
            expected = skel.bones[names[child]].length * skel.metres_per_unit
            np.testing.assert_allclose(length, expected, atol=1e-6)


def reference_pose(skel, frame: np.ndarray) -> dict[str, np.ndarray]:
    """Joint positions (metres) of one frame by the Acclaim rule, written with scipy's rotations.

    Independent of irvae_core.mocap.kinematics: every rotation comes from scipy (lowercase axes:
    extrinsic, first angle first); a bone's global rotation is parent global @ C M C^-1 and its end
    is the parent's end plus that rotation applied to direction * length.
    """
    from scipy.spatial.transform import Rotation

    def euler(axes: str, degrees) -> np.ndarray:
        return Rotation.from_euler(axes.lower(), degrees, degrees=True).as_matrix() if axes else np.eye(3)

    values: dict[str, dict[str, float]] = {}
    for (bone, dof), v in zip(skel.channels, frame):
        values.setdefault(bone, {})[dof] = float(v)

    def motion_rotation(bone: str, dofs) -> np.ndarray:
        rot = [d for d in dofs if d.startswith("r")]
        return euler("".join(d[1] for d in rot), [values[bone][d] for d in rot])

    scale = 0.0254 / skel.length_unit  # CMU: file length / length unit = inches
    root = values["root"]
    position = {"root": np.array([root.get("tx", 0.0), root.get("ty", 0.0), root.get("tz", 0.0)]) * scale}
    c = euler(skel.root_axis_order, skel.root_orientation)
    rotation = {"root": c @ motion_rotation("root", skel.root_order) @ c.T}
    for name in skel.joint_names[1:]:
        bone, parent = skel.bones[name], skel.parent[name]
        c = euler(bone.axis_order, bone.axis)
        rotation[name] = rotation[parent] @ c @ motion_rotation(name, bone.dof) @ c.T
        position[name] = position[parent] + rotation[name] @ (bone.direction * bone.length * scale)
    return position


def test_fk_of_real_frames_equals_an_independent_reference(motions):
    m = motions["35_01"]
    names = m.skeleton.joint_names
    frames = [0, 120, 357]
    pos = forward_kinematics(m.skeleton, m.channels[frames])
    for k, frame in enumerate(frames):
        ref = reference_pose(m.skeleton, m.channels[frame])
        np.testing.assert_allclose(pos[k], np.stack([ref[n] for n in names]), atol=1e-9, rtol=0)
    # a walking subject: the feet stay well below the head in every frame checked
    assert np.all(pos[:, names.index("head"), 1] - pos[:, names.index("ltoes"), 1] > 1.2)


def test_fk_is_a_plausible_standing_body(motions):
    m = motions["35_01"]
    pos = pose_from_features(m.skeleton, features_from_channels(m.skeleton, m.channels[0]))
    names = list(m.skeleton.joint_names)
    np.testing.assert_array_equal(pos[0], 0.0)  # neutral root at the origin
    height = pos[names.index("head"), 1] - min(pos[names.index("ltoes"), 1], pos[names.index("rtoes"), 1])
    assert 1.3 < height < 2.0  # metres
    assert pos[names.index("lhumerus"), 0] > 0 > pos[names.index("rhumerus"), 0]  # left arm on +x


def test_feature_to_channels_to_feature_round_trip_is_exact(motions):
    for m in motions.values():
        f = features_from_channels(m.skeleton, m.channels)
        back = channels_from_features(m.skeleton, f)
        np.testing.assert_array_equal(features_from_channels(m.skeleton, back), f)


def test_cmu_loader_on_shared_files():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every trial here has a built-in class
        d = load_dataset("cmu", CMU, max_poses=None, seed=3)
    total = sum(FRAMES.values())
    assert (len(d.train), len(d.val), len(d.test)) == (total - 2 * (total // 7), total // 7, total // 7)
    assert d.x_shape == (50,) and d.value_range == (-1.0, 1.0) and d.label_names[:4] == [
        "walking", "jogging", "balancing", "punching"]
    assert {t: info["class"] for t, info in d.meta["trials"].items()} == CLASSES
    counts = np.bincount(np.concatenate([s.y.numpy() for s in (d.train, d.val, d.test)]), minlength=4)
    assert counts.tolist() == [358 + 517, 141, 1102 + 957, 4840]
    x, _ = d.train[0]
    assert x.dtype.is_floating_point and x.shape == (50,)
    assert set(d.meta["skeletons"]) == {"07", "09", "13", "35", "49"}
    assert pose_from_features(d.meta["skeleton"], d.test.x[:3].numpy()).shape == (3, 31, 3)


def test_cmu_loader_options_on_shared_files():
    d = load_dataset("cmu", CMU, trials=["35_01", "09_06"], classes=["jogging"], frame_step=2)
    assert (len(d.train), len(d.val), len(d.test)) == (51, 10, 10)  # 09_06's 141 frames, every 2nd: 71
    assert set(d.train.y.tolist()) == {1}
    assert d.meta["fps"] == 60.0
