"""Poses on the real CMU files (../shared/data/cmu; skipped where absent): forward kinematics against what a
walk must look like, and a run trained on them decoding people, within its reconstruction error."""

import numpy as np
import pytest
import torch

from irvae_core.data import load_dataset
from irvae_core.mocap import (
    bone_lengths,
    features_from_channels,
    forward_kinematics,
    joint_error_bound,
    joint_tolerance,
    parse_amc,
    parse_asf,
    pose_joints,
)
from irvae_core.store.checkpoints import load_model
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from irvae_core.views.mocap import frame_poses, frame_skeleton, pose_walks
from tests.helpers import shared_cmu, tiny_config

CMU = shared_cmu()
pytestmark = [pytest.mark.slow,  # trains on the real CMU trials
              pytest.mark.skipif(CMU is None, reason="shared CMU data (../shared/data/cmu) is not here")]


def joint(skeleton, joints, name):
    return joints[..., list(skeleton.joint_names).index(name), :]


def test_a_real_walk_keeps_a_foot_on_the_floor():
    """Subject 35 walking (35_01), all channels: CMU's floor is y = 0 and y is up."""
    skeleton = parse_asf(CMU / "35.asf")
    joints = forward_kinematics(skeleton, parse_amc(CMU / "35_01.amc", skeleton).channels)
    toes = np.stack([joint(skeleton, joints, "ltoes")[:, 1], joint(skeleton, joints, "rtoes")[:, 1]], 1)
    lower, upper = toes.min(1), toes.max(1)
    assert (lower > 0.0).all() and (lower < 0.06).all()  # in every frame one foot is on the ground
    assert upper.max() > 0.12  # and the other one swings up in a step
    assert (toes[:, 1] > toes[:, 0] + 0.05).any() and (toes[:, 0] > toes[:, 1] + 0.05).any()  # taking turns
    head = joint(skeleton, joints, "head")[:, 1]
    assert (head > 1.55).all() and (head < 1.75).all()  # metres: a person's height
    travelled = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]])
    assert 2.0 < travelled < 6.0  # 358 frames at 120 fps: 3 s of walking at 1-1.5 m/s


@pytest.fixture(scope="module")
def cmu_run(tmp_path_factory):
    """A small VAE trained on every 4th frame of the shared CMU trials (a few seconds)."""
    cfg = tiny_config(**{"data.name": "cmu", "data.root": str(CMU), "data.options": {"frame_step": 4},
                         "model.hidden": [128, 128], "train.epochs": 8, "train.batch_size": 50})
    run = train(cfg, str(tmp_path_factory.mktemp("runs")))
    evaluate_run(run)
    return run, load_model(run), load_dataset("cmu", CMU, frame_step=4)


def test_a_decoded_walking_pose_looks_like_a_person(cmu_run):
    run, model, data = cmu_run
    walking = [i for i in range(len(data.test)) if data.label_names[int(data.test.y[i])] == "walking"][:20]
    assert walking
    for i in walking:
        poses = frame_poses([model], data, i)
        skeleton, decoded = poses.skeleton, poses.decoded[0]
        assert poses.source.startswith(("trial 35_01", "trial 07_05"))  # the walking trials' own subjects
        expected = [skeleton.bones[name].length * skeleton.metres_per_unit for name in skeleton.joint_names[1:]]
        np.testing.assert_allclose(bone_lengths(skeleton, decoded), expected, atol=1e-9)
        head, feet = joint(skeleton, decoded, "head")[1], [joint(skeleton, decoded, f)[1] for f in ("ltoes", "rtoes")]
        assert head > max(feet) + 1.2  # standing upright: the head well above both feet
        assert joint(skeleton, decoded, "lhumerus")[0] > 0 > joint(skeleton, decoded, "rhumerus")[0]  # left on +x
    walks = pose_walks([model], data, walking[0], walking[1], 12)  # drawn with A's skeleton
    skeleton = walks.skeleton
    expected = [skeleton.bones[name].length * skeleton.metres_per_unit for name in skeleton.joint_names[1:]]
    np.testing.assert_allclose(bone_lengths(skeleton, walks.walks[0].joints), np.broadcast_to(expected, (12, 30)),
                               atol=1e-9)


def test_decoded_joints_are_within_the_runs_reconstruction_error(cmu_run):
    """The run's own test MSE bounds its joints' RMS error (poses.joint_tolerance); each pose's angle errors
    bound its joints' errors (poses.joint_error_bound)."""
    run, model, data = cmu_run
    mse = run.evaluation()["mse"]
    x = data.test.x
    with torch.no_grad():
        decoded = model.decode(model.encode(x))
    assert ((decoded - x) ** 2).mean().item() == pytest.approx(mse)  # the error evaluate measured
    moved, tolerance = np.zeros((len(x), 31)), np.zeros(31)
    subjects = np.array([trial.split("_")[0] for trial, _ in data.meta["test_frames"]])
    for subject in np.unique(subjects):
        rows = np.flatnonzero(subjects == subject)
        skeleton = data.meta["skeletons"][subject]
        original, recon = pose_joints(skeleton, x[rows].numpy()), pose_joints(skeleton, decoded[rows].numpy())
        moved[rows] = np.linalg.norm(recon - original, axis=-1)
        channel_errors = np.zeros((len(rows), len(skeleton.channels)))
        columns = [skeleton.channels.index(c) for c in data.meta["feature_channels"]]
        channel_errors[:, columns] = (decoded[rows] - x[rows]).double().numpy() * 180
        assert (moved[rows] <= joint_error_bound(skeleton, channel_errors) + 1e-9).all()  # pose by pose
        tolerance = np.maximum(tolerance, joint_tolerance(skeleton, mse))
    rms = np.sqrt((moved ** 2).mean(0))
    assert (rms <= tolerance).all() and rms.max() > 0.0  # over the test split, from its MSE alone
    assert np.sqrt(np.mean(rms ** 2)) < 0.5  # metres: after a few epochs the body is roughly in place
    for i in range(0, len(x), 50):  # the page's path gives the same joints
        poses = frame_poses([model], data, i)
        np.testing.assert_allclose(np.linalg.norm(poses.decoded[0] - poses.original, axis=-1), moved[i], atol=1e-6)


def test_every_trial_decodes_with_its_own_subjects_skeleton(cmu_run):
    _, _, data = cmu_run
    subjects = {t.split("_")[0] for t, _ in data.meta["test_frames"]}
    assert subjects == {"07", "09", "13", "35", "49"}
    for i in range(0, len(data.test), 97):
        trial, frame = data.meta["test_frames"][i]
        skeleton = parse_asf(CMU / f"{trial.split('_')[0]}.asf")
        channels = parse_amc(CMU / f"{trial}.amc", skeleton).channels[frame]
        np.testing.assert_array_equal(data.test.x[i].numpy(), features_from_channels(skeleton, channels))
        assert frame_skeleton(data, i)[0].bones["ltibia"].length == skeleton.bones["ltibia"].length
