"""The Motion capture figures as data: skeletons, their animation, joint speeds, the walk on the latent plot."""

import numpy as np
import pytest
import torch

from irvae_core import viz
from irvae_core.data.synthetic_mocap import cmu_like_skeleton, motion_channels
from irvae_core.mocap import features_from_channels, on_floor, pose_joints, skeleton_edges
from irvae_core.views.latent import build_view

SKELETON = cmu_like_skeleton()
EDGES = skeleton_edges(SKELETON)


def poses(n: int, label: str = "walking", seed: int = 0) -> np.ndarray:
    channels = motion_channels(label, n, np.random.default_rng(seed))
    return on_floor(pose_joints(SKELETON, features_from_channels(SKELETON, channels)))


def traces(fig, role: str) -> list:
    return [t for t in fig.data if (t.meta or {}).get("role") == role]


def segments(trace) -> np.ndarray:
    """(bones, 2, 3) end points of a NaN-separated bones polyline."""
    xyz = np.stack([np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float),
                    np.asarray(trace.z, dtype=float)], 1)
    return xyz.reshape(-1, 3, 3)[:, :2]


def test_one_skeleton_bones_joints_floor_equal_aspect_and_a_camera_with_y_up():
    pose = poses(1)[0]
    fig = viz.skeleton_figure(pose, EDGES, names=SKELETON.joint_names)
    (bones,), (joints,), (floor,) = traces(fig, "bones"), traces(fig, "joints"), traces(fig, "floor")
    assert bones.type == joints.type == "scatter3d" and bones.mode == "lines" and joints.mode == "markers"
    ends = segments(bones)
    assert len(ends) == len(EDGES) == 30
    for (p, c), (a, b) in zip(EDGES, ends):
        np.testing.assert_allclose([a, b], [pose[p], pose[c]])
    np.testing.assert_allclose(np.stack([joints.x, joints.y, joints.z], 1), pose)
    assert list(joints.text) == list(SKELETON.joint_names)
    scene = fig.layout.scene
    spans = [scene[f"{a}axis"].range[1] - scene[f"{a}axis"].range[0] for a in "xyz"]
    assert scene.aspectmode == "cube" and np.allclose(spans, spans[0])  # equal aspect: one metre is one metre
    for i, a in enumerate("xyz"):  # the whole body is inside the box
        assert scene[f"{a}axis"].range[0] <= pose[:, i].min() and pose[:, i].max() <= scene[f"{a}axis"].range[1]
    assert (scene.camera.up.x, scene.camera.up.y, scene.camera.up.z) == (0, 1, 0)  # CMU: y is up
    assert scene.camera.eye.z > 0  # in front of the body (it faces +z)
    heights = np.asarray(floor.y, dtype=float)
    assert np.allclose(heights[~np.isnan(heights)], pose[:, 1].min()) and scene.yaxis.range[0] == pose[:, 1].min()


def test_poses_side_by_side_share_the_axes():
    three = np.stack([poses(1, c)[0] for c in ("walking", "jogging", "punching")])
    fig = viz.skeleton_figure(three, EDGES, ["captured", "VAE, decoded", "IRVAE, decoded"])
    assert [a.text for a in fig.layout.annotations] == ["captured", "VAE, decoded", "IRVAE, decoded"]
    assert [t.scene for t in traces(fig, "bones")] == ["scene", "scene2", "scene3"]
    assert fig.layout.scene.xaxis.range == fig.layout.scene3.xaxis.range
    assert len({t.line.color for t in traces(fig, "bones")}) == 3
    for trace, pose in zip(traces(fig, "joints"), three):
        np.testing.assert_allclose(np.stack([trace.x, trace.y, trace.z], 1), pose)


def test_animation_has_a_frame_per_pose_play_pause_and_a_slider():
    walk = np.stack([poses(12, seed=1), poses(12, seed=2)])  # two models' walks, 12 poses each
    fig = viz.skeleton_animation(walk, EDGES, ["VAE", "IRVAE"])
    assert len(fig.frames) == 12
    moving = [i for i, t in enumerate(fig.data) if (t.meta or {}).get("role") in ("bones", "joints")]
    assert moving == [0, 1, 2, 3] and len(traces(fig, "floor")) == 2
    for t, frame in enumerate(fig.frames):
        assert list(frame.traces) == moving and frame.name == str(t)
        for k in range(2):
            np.testing.assert_allclose(np.stack([frame.data[2 * k + 1].x, frame.data[2 * k + 1].y,
                                                 frame.data[2 * k + 1].z], 1), walk[k, t])
            assert frame.data[2 * k].scene == ("scene" if k == 0 else "scene2")
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["▶ Play", "❚❚ Pause"] and fig.layout.updatemenus[0].buttons[0].method == "animate"
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 12 and list(steps[5].args[0]) == ["5"] and steps[5].label == "6"
    spans = [fig.layout.scene[f"{a}axis"].range for a in "xyz"]
    for i in range(3):  # fixed axes that hold every pose of both walks
        assert spans[i][0] <= walk[..., i].min() and walk[..., i].max() <= spans[i][1]


def test_joint_speed_figure_names_the_evenness():
    fig = viz.joint_speed_figure([np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.5])], ["VAE", "IRVAE"])
    assert [t.name for t in fig.data] == ["VAE (max/min 4.00)", "IRVAE (max/min 1.25)"]
    np.testing.assert_array_equal(fig.data[0].x, [1, 2, 3])
    assert fig.layout.yaxis.title.text == "joint speed (m / step)"


def test_the_walk_and_the_pose_shown_on_the_latent_plot_are_not_taken_for_test_points():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 2))
    view = build_view(lambda t: t.repeat(1, 3), torch.tensor(z, dtype=torch.float32), np.arange(40) % 2,
                      ["walking", "jogging"], n_ellipses=5)
    fig = viz.latent_figure([view])
    before = len(fig.data)
    segment = np.linspace(z[0], z[1], 6)
    viz.add_latent_walk(fig, [segment], [z[2]])
    (walk,), (pose,) = traces(fig, "walk"), traces(fig, "pose")
    np.testing.assert_allclose(np.stack([walk.x, walk.y], 1), segment)
    assert list(walk.text) == ["A", "", "", "", "", "B"] and (pose.x[0], pose.y[0]) == pytest.approx(tuple(z[2]))
    assert len(fig.data) == before + 2
    for i in range(before, len(fig.data)):
        assert viz.selected_example(fig, {"curve_number": i, "point_number": 0, "customdata": 3}) is None
