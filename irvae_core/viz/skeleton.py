"""Motion capture as 3-D skeletons: poses side by side, animated walks, joint speeds, walks on the latent plane."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from irvae_core.viz.paths import PATH_COLORS

SKELETON_COLORS = ["#555555", "#1f77b4", "#d62728", "#2ca02c"]  # the captured pose first, then each model


FLOOR_COLOR = "#c8c8c8"


FLOOR_LINES = 9  # grid lines each way


# in front of the body (a CMU subject at rest faces +z) and a little to its left and above; y is up
CAMERA = {"eye": {"x": 0.9, "y": 0.45, "z": 1.6}, "up": {"x": 0, "y": 1, "z": 0}, "center": {"x": 0, "y": 0, "z": 0}}


def _segments(joints: np.ndarray, bones: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, z of all bones of one pose (J, 3) as one polyline: parent, child, then a NaN gap."""
    pts = np.full((len(bones), 3, 3), np.nan)
    if len(bones):
        b = np.asarray(bones, dtype=np.int64)
        pts[:, 0], pts[:, 1] = joints[b[:, 0]], joints[b[:, 1]]
    flat = pts.reshape(-1, 3)
    return flat[:, 0], flat[:, 1], flat[:, 2]


def _pose_traces(joints: np.ndarray, bones: Sequence[tuple[int, int]], color: str, scene: str,
                 names: Sequence[str] | None) -> list[go.Scatter3d]:
    x, y, z = _segments(joints, bones)
    text = list(names) if names is not None else None
    return [go.Scatter3d(x=x, y=y, z=z, mode="lines", line={"color": color, "width": 7}, hoverinfo="skip",
                         showlegend=False, meta={"role": "bones"}, scene=scene),
            go.Scatter3d(x=joints[:, 0], y=joints[:, 1], z=joints[:, 2], mode="markers", text=text,
                         marker={"size": 3.5, "color": color}, showlegend=False, meta={"role": "joints"},
                         hovertemplate="%{text}<extra></extra>" if text else "(%{x:.2f}, %{y:.2f}, %{z:.2f})"
                         "<extra></extra>", scene=scene)]


def _stage(all_joints: np.ndarray) -> tuple[dict, float]:
    """Equal axis ranges (a cube) around every pose given, standing on the lowest joint; and that floor height."""
    pts = np.asarray(all_joints, dtype=np.float64).reshape(-1, 3)
    lo, hi = pts.min(0), pts.max(0)
    half = max(float((hi - lo).max()) / 2 * 1.1, 0.25)
    mid = (lo + hi) / 2
    mid[1] = lo[1] + half  # stand on the floor: the cube's bottom is the lowest joint
    ranges = {axis: [float(mid[i] - half), float(mid[i] + half)] for i, axis in enumerate("xyz")}
    return ranges, float(lo[1])


def _floor_trace(ranges: dict, height: float, scene: str) -> go.Scatter3d:
    """A square grid in the plane y = height (CMU's y axis is up), as one NaN-separated polyline."""
    xs, zs = np.linspace(*ranges["x"], FLOOR_LINES), np.linspace(*ranges["z"], FLOOR_LINES)
    x, z = [], []
    for v in xs:
        x += [v, v, np.nan]
        z += [zs[0], zs[-1], np.nan]
    for v in zs:
        x += [xs[0], xs[-1], np.nan]
        z += [v, v, np.nan]
    return go.Scatter3d(x=x, y=[height if not math.isnan(v) else np.nan for v in x], z=z, mode="lines",
                        line={"color": FLOOR_COLOR, "width": 2}, hoverinfo="skip", showlegend=False,
                        meta={"role": "floor"}, scene=scene)


def _scene_layout(ranges: dict) -> dict:
    axes = {f"{a}axis": {"range": ranges[a], "title": {"text": a}, "showbackground": False, "zeroline": False}
            for a in "xyz"}
    return {**axes, "aspectmode": "cube", "camera": CAMERA}


def _skeleton_canvas(poses: np.ndarray, titles: Sequence[str] | None) -> tuple[go.Figure, list[str], dict, float]:
    k = len(poses)
    fig = make_subplots(rows=1, cols=k, specs=[[{"type": "scene"}] * k], subplot_titles=list(titles or [""] * k),
                        horizontal_spacing=0.02)
    ranges, floor = _stage(poses)
    scenes = [f"scene{i + 1 if i else ''}" for i in range(k)]
    fig.update_layout(**{s: _scene_layout(ranges) for s in scenes}, height=460, showlegend=False,
                      margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return fig, scenes, ranges, floor


def skeleton_figure(joints, bones: Sequence[tuple[int, int]], titles: Sequence[str] | None = None,
                    names: Sequence[str] | None = None) -> go.Figure:
    """3-D skeleton(s): bones as lines, joints as markers, equal aspect, a fixed camera on the body, a floor grid.

    ``joints`` is one pose (J, 3) or K poses (K, J, 3) drawn side by side (one scene each, the same
    axis ranges, so sizes compare); ``bones`` are (parent, child) joint indices; ``names`` label
    the joints on hover. Metres, y up (CMU); the floor is drawn at the lowest joint.
    """
    poses = np.asarray(joints, dtype=np.float64)
    poses = poses[None] if poses.ndim == 2 else poses
    fig, scenes, ranges, floor = _skeleton_canvas(poses, titles)
    for i, (pose, scene) in enumerate(zip(poses, scenes)):
        fig.add_traces([_floor_trace(ranges, floor, scene),
                        *_pose_traces(pose, bones, SKELETON_COLORS[i % len(SKELETON_COLORS)], scene, names)])
    return fig


def skeleton_animation(sequence, bones: Sequence[tuple[int, int]], titles: Sequence[str] | None = None,
                       names: Sequence[str] | None = None, frame_ms: int = 120) -> go.Figure:
    """An animated 3-D skeleton: poses (n, J, 3), or K sequences (K, n, J, 3) side by side moving together.

    Play / pause buttons and a slider over the n poses; the axes, floor and camera stay fixed
    (set from every pose), so a step that moves the body far shows as a jump.
    """
    seqs = np.asarray(sequence, dtype=np.float64)
    seqs = seqs[None] if seqs.ndim == 3 else seqs
    k, n = seqs.shape[:2]
    fig, scenes, ranges, floor = _skeleton_canvas(seqs.reshape(k, -1, 3), titles)
    colors = [SKELETON_COLORS[(i + 1) % len(SKELETON_COLORS)] for i in range(k)]

    def poses_at(t: int) -> list[go.Scatter3d]:
        return [tr for i in range(k) for tr in _pose_traces(seqs[i, t], bones, colors[i], scenes[i], names)]

    fig.add_traces(poses_at(0))  # traces 0 .. 2k - 1 move; the floors after them stay
    fig.add_traces([_floor_trace(ranges, floor, s) for s in scenes])
    fig.frames = [go.Frame(data=poses_at(t), traces=list(range(2 * k)), name=str(t)) for t in range(n)]
    play = {"frame": {"duration": frame_ms, "redraw": True}, "transition": {"duration": 0}, "fromcurrent": True}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    fig.update_layout(
        height=520, margin={"l": 0, "r": 0, "t": 40, "b": 60},
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": 0.0, "xanchor": "left", "yanchor": "top",
                      "pad": {"t": 10, "r": 10}, "buttons": [
                          {"label": "▶ Play", "method": "animate", "args": [None, play]},
                          {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]}]}],
        sliders=[{"active": 0, "x": 0.15, "len": 0.85, "y": 0.0, "yanchor": "top", "pad": {"t": 10},
                  "currentvalue": {"prefix": "pose "},
                  "steps": [{"label": str(t + 1), "method": "animate",
                             "args": [[str(t)], {**pause, "frame": {"duration": 0, "redraw": True}}]}
                            for t in range(n)]}])
    return fig


def joint_speed_figure(speeds: Sequence, names: Sequence[str]) -> go.Figure:
    """Joint speed (RMS joint displacement per step) along each walk; a flat line is an even pace."""
    fig = go.Figure()
    for i, (s, name) in enumerate(zip(speeds, names)):
        s = np.asarray(s, dtype=np.float64)
        ratio = float(s.max() / s.min()) if s.min() > 0 else float("inf")
        fig.add_trace(go.Scatter(x=np.arange(1, len(s) + 1), y=s, mode="lines+markers",
                                 name=f"{name} (max/min {ratio:.2f})",
                                 line={"color": SKELETON_COLORS[(i + 1) % len(SKELETON_COLORS)]}))
    fig.update_layout(height=240, margin={"l": 50, "r": 10, "t": 10, "b": 40}, xaxis_title="step",
                      yaxis_title="joint speed (m / step)", yaxis={"rangemode": "tozero"},
                      legend={"orientation": "h", "y": 1.15})
    return fig


def add_latent_walk(fig: go.Figure, segments: Sequence[np.ndarray | None], pose: Sequence | None = None
                    ) -> go.Figure:
    """Mark on a ``latent_figure``'s panels the walk A -> B (dashed, (n, 2) plane points each) and the pose shown.

    ``pose[i]`` is the shown pose's (x, y) on panel i. Traces are ``Scatter`` added after the
    figure's own, so a click on them is not taken for a test point (``selected_example``).
    """
    for i, xy in enumerate(segments):
        axes = {"xaxis": f"x{i + 1 if i else ''}", "yaxis": f"y{i + 1 if i else ''}"}
        if xy is not None:
            xy = np.asarray(xy, dtype=np.float64)
            labels = ["A"] + [""] * (len(xy) - 2) + ["B"]
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines+markers+text", text=labels,
                                     textposition="top center", marker={"size": 5}, name="walk A → B",
                                     line={"color": PATH_COLORS["straight"], "dash": "dash", "width": 2.5},
                                     showlegend=i == 0, hoverinfo="skip", meta={"role": "walk"}, **axes))
        if pose is not None and pose[i] is not None:
            fig.add_trace(go.Scatter(x=[pose[i][0]], y=[pose[i][1]], mode="markers", name="pose shown",
                                     showlegend=i == 0, hoverinfo="skip", meta={"role": "pose"},
                                     marker={"size": 16, "color": "rgba(0,0,0,0)",
                                             "line": {"color": "black", "width": 2.5}}, **axes))
    return fig
