"""Plotly figure builders for the app (no streamlit here; every figure is testable as data).

Latent figure design (fast at 10,000 points and 200 ellipses):

- test points: one ``Scattergl`` (WebGL) trace per class, ``customdata`` = test index (a selected
  point maps back to its panel and example through ``selected_example``);
- equidistance ellipses {dz : dz^T G dz = k}: condition numbers are placed on a shared log
  scale and rounded to one of ``COLOR_LEVELS`` colours; each colour that occurs gets ONE
  ``Scatter`` trace holding all its ellipses as a NaN-separated, filled polyline (``meta`` =
  {"role": "ellipses", "count": n}). A panel thus has at most ``COLOR_LEVELS`` ellipse traces,
  exactly one per distinct level (``color_levels``), whatever the number of ellipses;
- one invisible marker trace carries the colour bar, shared by the side-by-side panels.

k is one constant per panel (so relative sizes are the metric's): the median major semi-axis
is ``ELLIPSE_FRACTION`` of the panel's data extent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

from irvae_core.views.latent import LatentView

COND_COLORSCALE = "Portland"  # blue = isotropic (cond 1) ... red = stretched (paper: redder = bigger)
COLOR_LEVELS = 32
ELLIPSE_POINTS = 32
ELLIPSE_FRACTION = 0.025
FILL_ALPHA = 0.35
MIN_COND_TOP = 4.0  # the colour scale reaches at least cond 4, so a near-isometric run stays blue
CLASS_COLORS = qualitative.D3 + qualitative.Pastel


def ellipse_axes(metrics: np.ndarray, k: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes (K, 2) (major, minor) = sqrt(k / lambda) and major-axis angles (K,) in (-pi/2, pi/2].

    The major axis follows the smallest eigenvalue of G (same as ``geometry.metric_ellipse``).
    """
    g = np.asarray(metrics, dtype=np.float64)
    lam, vec = np.linalg.eigh(0.5 * (g + np.swapaxes(g, -1, -2)))
    lam = np.clip(lam, np.finfo(np.float64).tiny, None)
    angle = np.arctan2(vec[:, 1, 0], vec[:, 0, 0])
    angle = np.where(angle <= -math.pi / 2, angle + math.pi, np.where(angle > math.pi / 2, angle - math.pi, angle))
    return np.sqrt(k / lam), angle


def ellipse_scale(metrics: np.ndarray, extent: float, fraction: float = ELLIPSE_FRACTION) -> float:
    """k such that the median major semi-axis sqrt(k / lambda_min) is ``fraction * extent``."""
    if len(metrics) == 0:
        return 1.0
    semi, _ = ellipse_axes(metrics, 1.0)
    return float((fraction * extent / np.median(semi[:, 0])) ** 2)


def ellipse_polyline(centers: np.ndarray, metrics: np.ndarray, k: float, n: int = ELLIPSE_POINTS,
                     max_semi: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """x, y of all ellipses as one polyline: n + 1 points per closed curve, then a NaN gap.

    Semi-axes are cut at ``max_semi`` (a nearly singular metric has a nearly unbounded ellipse).
    """
    semi, angle = ellipse_axes(metrics, k)
    semi = np.minimum(semi, max_semi)
    t = np.linspace(0, 2 * math.pi, n + 1)
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    u, v = semi[:, :1] * np.cos(t), semi[:, 1:] * np.sin(t)
    x = centers[:, :1] + u * ca - v * sa
    y = centers[:, 1:] + u * sa + v * ca
    gap = np.full((len(centers), 1), np.nan)
    return np.hstack([x, gap]).ravel(), np.hstack([y, gap]).ravel()


def color_range(*conds: np.ndarray) -> tuple[float, float]:
    """A colour range [1, max finite condition number] shared by several panels (top at least MIN_COND_TOP)."""
    finite = [c[np.isfinite(c)] for c in conds if len(c)]
    hi = max((float(c.max()) for c in finite if len(c)), default=1.0)
    return 1.0, max(hi, MIN_COND_TOP)


def cond_position(cond: np.ndarray, crange: tuple[float, float]) -> np.ndarray:
    """Place condition numbers on [0, 1] along a log scale over ``crange`` (clipped; inf -> 1)."""
    lo, hi = np.log10(crange[0]), np.log10(crange[1])
    pos = (np.log10(np.clip(np.asarray(cond, dtype=np.float64), crange[0], crange[1])) - lo) / max(hi - lo, 1e-12)
    return np.clip(np.nan_to_num(pos, nan=1.0), 0.0, 1.0)


def color_levels(cond: np.ndarray, crange: tuple[float, float]) -> np.ndarray:
    """Index (0 .. COLOR_LEVELS - 1) of each condition number's colour."""
    return np.rint(cond_position(cond, crange) * (COLOR_LEVELS - 1)).astype(int)


def level_color(level: int) -> str:
    """The colour of a level on ``COND_COLORSCALE`` (level 0: cond 1, the last level: the top of the range)."""
    return sample_colorscale(COND_COLORSCALE, [level / (COLOR_LEVELS - 1)])[0]


def _ellipse_traces(view: LatentView, crange: tuple[float, float], axes: dict) -> list[go.Scatter]:
    extent = float(np.ptp(view.xy, axis=0).max()) if len(view.xy) else 1.0
    k = ellipse_scale(view.metrics, extent or 1.0)
    levels = color_levels(view.cond, crange)
    traces = []
    for level in np.unique(levels):
        sel = levels == level
        x, y = ellipse_polyline(view.centers[sel], view.metrics[sel], k, max_semi=extent or 1.0)
        color = level_color(level)
        fill = color.replace("rgb(", "rgba(").replace(")", f", {FILL_ALPHA})")
        traces.append(go.Scatter(x=x, y=y, mode="lines", fill="toself", fillcolor=fill,
                                 line={"color": color, "width": 1.2}, hoverinfo="skip", showlegend=False,
                                 meta={"role": "ellipses", "count": int(sel.sum())}, **axes))
    return traces


def _point_traces(view: LatentView, panel: int, axes: dict) -> list[go.Scattergl]:
    traces = []
    for c in np.unique(view.labels):
        sel = view.labels == c
        name = view.label_names[c] if 0 <= c < len(view.label_names) else str(c)
        traces.append(go.Scattergl(
            x=view.xy[sel, 0], y=view.xy[sel, 1], mode="markers", name=name, legendgroup=name,
            showlegend=panel == 0, customdata=view.index[sel],
            marker={"size": 4, "color": CLASS_COLORS[c % len(CLASS_COLORS)]},
            hovertemplate=f"class {name}<br>test #%{{customdata}}<extra></extra>", **axes))
    return traces


def selected_example(fig: go.Figure, point: dict) -> tuple[int, int] | None:
    """(panel, test index) of a point selected in a latent figure; None for anything but a test point."""
    curve, index = point.get("curve_number"), point.get("customdata")
    if curve is None or not 0 <= curve < len(fig.data) or fig.data[curve].type != "scattergl" or index is None:
        return None
    axis = fig.data[curve].xaxis or "x"
    return (int(axis[1:]) - 1 if len(axis) > 1 else 0), int(index)


def _colorbar_trace(crange: tuple[float, float]) -> go.Scatter:
    lo, hi = math.log10(crange[0]), math.log10(crange[1])
    ticks = [t for t in (1, 1.5, 2, 3, 5, 10, 20, 50, 100, 1e3, 1e4, 1e5, 1e6) if crange[0] <= t <= crange[1]]
    ticks = sorted({*ticks, round(crange[1], 2)})
    return go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                      marker={"colorscale": COND_COLORSCALE, "cmin": lo, "cmax": hi, "color": [lo],
                              "showscale": True,
                              "colorbar": {"title": {"text": "cond(G)"}, "tickvals": [math.log10(t) for t in ticks],
                                           "ticktext": [f"{t:g}" for t in ticks], "x": 1.02}})


def latent_figure(views: Sequence[LatentView], crange: tuple[float, float] | None = None) -> go.Figure:
    """Encoded test data with equidistance ellipses, one panel per view, one shared colour bar."""
    crange = crange or color_range(*(v.cond for v in views))
    fig = make_subplots(rows=1, cols=max(len(views), 1), subplot_titles=[v.title for v in views],
                        horizontal_spacing=0.08)
    for i, view in enumerate(views):
        axes = {"xaxis": f"x{i + 1 if i else ''}", "yaxis": f"y{i + 1 if i else ''}"}
        fig.add_traces([*_ellipse_traces(view, crange, axes), *_point_traces(view, i, axes)])
        titles = view.plane_label.split("-") if "-" in view.plane_label else ("PC1", "PC2")
        fig.update_xaxes(title_text=titles[0], row=1, col=i + 1)
        fig.update_yaxes(title_text=titles[1], scaleanchor=axes["xaxis"], scaleratio=1, row=1, col=i + 1)
    fig.add_trace(_colorbar_trace(crange))
    fig.update_layout(height=600, margin={"l": 40, "r": 40, "t": 60, "b": 40}, dragmode="pan",
                      clickmode="event+select", legend={"orientation": "h", "y": -0.12, "itemsizing": "constant",
                                                        "title": {"text": "class"}})
    return fig


def training_curves(history: Sequence[dict]) -> go.Figure:
    """Per-epoch loss (train, validation) and regularizer R curves of a job or run."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["loss", "regularizer R"])
    for col, key in ((1, "loss"), (2, "reg")):
        for split, dash in (("train", "solid"), ("val", "dot")):
            pts = [(h["epoch"], h[f"{split}_{key}"]) for h in history if f"{split}_{key}" in h]
            if pts:
                ep, val = zip(*pts)
                fig.add_trace(go.Scatter(x=ep, y=val, mode="lines+markers", name=f"{split} {key}",
                                         line={"dash": dash}), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=260, margin={"l": 40, "r": 20, "t": 30, "b": 30})
    return fig


def tradeoff_figure(rows: Sequence[dict]) -> go.Figure:
    """MSE against VoR and against MCN (log x), one curve per method sorted by alpha (paper Fig. 5).

    Runs with an infinite VoR or MCN (a degenerate decoder) are left out of that panel.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=["MSE vs VoR", "MSE vs MCN"])
    methods = sorted({r["method"] for r in rows})
    for i, method in enumerate(methods):
        runs = sorted((r for r in rows if r["method"] == method), key=lambda r: r["alpha"])
        for col, key in ((1, "vor"), (2, "mcn")):
            pts = [r for r in runs if math.isfinite(r[key] or math.nan) and math.isfinite(r["mse"] or math.nan)]
            fig.add_trace(go.Scatter(
                x=[r[key] for r in pts], y=[r["mse"] for r in pts], mode="lines+markers", name=method,
                legendgroup=method, showlegend=col == 1, line={"color": CLASS_COLORS[i % len(CLASS_COLORS)]},
                text=[f"alpha {r['alpha']:g} · {r['run']}" for r in pts],
                hovertemplate=f"{method}<br>%{{text}}<br>{key.upper()} %{{x:.3g}}, MSE %{{y:.3g}}<extra></extra>"),
                row=1, col=col)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title_text="VoR", row=1, col=1)
    fig.update_xaxes(title_text="MCN", row=1, col=2)
    fig.update_yaxes(title_text="MSE")
    fig.update_layout(height=420, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def vector_figure(x: np.ndarray, x_hat: np.ndarray) -> go.Figure:
    """A non-image input (e.g. 50 mocap joint angles) and its reconstruction, feature by feature."""
    fig = go.Figure([go.Scatter(y=np.ravel(x), mode="lines+markers", name="input"),
                     go.Scatter(y=np.ravel(x_hat), mode="lines+markers", name="reconstruction")])
    fig.update_layout(height=260, margin={"l": 40, "r": 20, "t": 20, "b": 30}, xaxis_title="feature")
    return fig


# ---- Interpolation page: decoded paths, speeds, modulation grids -----------------------------------------------

PATH_COLORS = {"straight": "#444444", "geodesic": "#d62728"}


def image_grid(decoded, value_range: tuple[float, float] = (0.0, 1.0), pad: int = 2,
               min_height: int = 56) -> np.ndarray:
    """Decoded images (rows, cols, C, H, W) or (cols, C, H, W) as one picture in [0, 1], white gaps between.

    Small images are enlarged by whole pixels (nearest neighbour) to at least ``min_height``
    pixels per row, so a strip of 28x28 digits stays sharp in the browser.
    """
    arr = np.asarray(decoded.detach().float() if hasattr(decoded, "detach") else decoded, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr[None]
    lo, hi = value_range
    arr = np.clip((arr - lo) / (hi - lo), 0.0, 1.0).transpose(0, 1, 3, 4, 2)  # rows, cols, H, W, C
    scale = max(1, -(-min_height // arr.shape[2]))
    arr = arr.repeat(scale, axis=2).repeat(scale, axis=3)
    rows, cols, h, w, c = arr.shape
    out = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, c), dtype=np.float32)
    for r in range(rows):
        for col in range(cols):
            out[r * (h + pad):r * (h + pad) + h, col * (w + pad):col * (w + pad) + w] = arr[r, col]
    return out[..., 0] if c == 1 else out


def image_strip(decoded, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """A decoded path of images (n, C, H, W) side by side, start on the left."""
    return image_grid(decoded, value_range)


def vector_path_figure(decoded, title: str = "") -> go.Figure:
    """A decoded path of vectors (n, D): one line per point, coloured from the start (blue) to the end (red)."""
    arr = np.asarray(decoded, dtype=np.float64).reshape(len(decoded), -1)
    colors = sample_colorscale("Bluered", list(np.linspace(0, 1, len(arr))))
    fig = go.Figure([go.Scatter(y=row, mode="lines", line={"color": c, "width": 1.5}, name=f"point {k + 1}",
                                showlegend=False, hovertemplate=f"point {k + 1}<br>feature %{{x}}: %{{y:.3g}}"
                                "<extra></extra>") for k, (row, c) in enumerate(zip(arr, colors))])
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 30 if title else 10, "b": 30}, xaxis_title="feature",
                      title={"text": title} if title else None)
    return fig


def speed_figure(straight_speeds, geodesic_speeds, title: str = "") -> go.Figure:
    """Data-space speed ||Δx|| of each step along the straight line and the geodesic (flat = constant speed)."""
    fig = go.Figure()
    for name, speeds in (("straight line", straight_speeds), ("geodesic", geodesic_speeds)):
        s = np.asarray(speeds, dtype=np.float64)
        fig.add_trace(go.Scatter(x=np.arange(1, len(s) + 1), y=s, mode="lines+markers", name=name,
                                 line={"color": PATH_COLORS["straight" if name == "straight line" else "geodesic"],
                                       "dash": "dash" if name == "straight line" else "solid"}))
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 30 if title else 10, "b": 30},
                      title={"text": title} if title else None, xaxis_title="step", yaxis_title="‖Δx‖",
                      yaxis={"rangemode": "tozero"}, legend={"orientation": "h", "y": 1.15})
    return fig


def add_latent_paths(fig: go.Figure, paths: Sequence[tuple[np.ndarray, np.ndarray] | None]) -> go.Figure:
    """Draw on a ``latent_figure``'s panels a straight path (dashed) and a geodesic (solid), in plane coordinates.

    ``paths[i]`` is (straight (n, 2), geodesic (n, 2)) for panel i, or None. The traces are added
    after the figure's own (selections keep their curve numbers) and are ``Scatter``, not
    ``Scattergl``, so a click on a path is not taken for a test point (``selected_example``).
    """
    for i, pair in enumerate(paths):
        if pair is None:
            continue
        axes = {"xaxis": f"x{i + 1 if i else ''}", "yaxis": f"y{i + 1 if i else ''}"}
        for name, xy in zip(("straight", "geodesic"), pair):
            xy = np.asarray(xy, dtype=np.float64)
            fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name=f"{name} path",
                                     legendgroup=name, showlegend=i == 0, meta={"role": f"{name} path"},
                                     line={"color": PATH_COLORS[name], "width": 2.5,
                                           "dash": "dash" if name == "straight" else "solid"},
                                     marker={"size": 5}, hoverinfo="skip", **axes))
        ends = np.asarray(pair[0], dtype=np.float64)[[0, -1]]
        fig.add_trace(go.Scatter(x=ends[:, 0], y=ends[:, 1], mode="markers+text", text=["A", "B"],
                                 textposition="top center", showlegend=False, hoverinfo="skip",
                                 meta={"role": "endpoints"}, marker={"size": 12, "color": "black", "symbol": "x"},
                                 **axes))
    return fig


def modulation_figure(decoded, labels: Sequence[str], multiples) -> go.Figure:
    """Axis modulation of vector data (rows, cols, D): one panel per direction, one line per multiple of the std."""
    arr = np.asarray(decoded, dtype=np.float64)
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    mult = np.asarray(multiples, dtype=np.float64)
    colors = sample_colorscale("Bluered", list((mult - mult.min()) / max(np.ptp(mult), 1e-12)))
    fig = make_subplots(rows=len(arr), cols=1, shared_xaxes=True, subplot_titles=list(labels),
                        vertical_spacing=min(0.08, 0.6 / max(len(arr), 1)))
    for r, row in enumerate(arr):
        for c, (curve, color) in enumerate(zip(row, colors)):
            fig.add_trace(go.Scatter(y=curve, mode="lines", line={"color": color, "width": 1.5},
                                     name=f"{mult[c]:+g} std", legendgroup=str(c), showlegend=r == 0),
                          row=r + 1, col=1)
    fig.update_layout(height=140 * len(arr) + 60, margin={"l": 40, "r": 10, "t": 30, "b": 30})
    return fig


# --------------------------------------------------------------------------- face retrieval
MATCH_COLOR, MISS_COLOR = "#1a7f37", "#cf222e"


def captioned_images(images: Sequence[np.ndarray], captions: Sequence[str] | None = None, columns: int = 5,
               colors: Sequence[str | None] | None = None, height_per_row: int = 150,
               ids: Sequence[int] | None = None) -> go.Figure:
    """Images (H, W) or (H, W, 3) in [0, 1] in a grid, each with a caption above it (coloured when given).

    One ``go.Image`` trace per image (``meta`` = its id, e.g. its index in the split; default its position),
    axes hidden, pixels square.
    """
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    captions = list(captions) if captions is not None else [""] * n
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=captions + [""] * (rows * columns - n),
                        horizontal_spacing=0.02, vertical_spacing=0.12 if rows > 1 else 0.0)
    for i, img in enumerate(images):
        arr = np.asarray(img, dtype=np.float64)
        rgb = np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr
        fig.add_trace(go.Image(z=np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8), hoverinfo="skip",
                                 meta=int(ids[i]) if ids is not None else i),
                      row=i // columns + 1, col=i % columns + 1)
    for i, ann in enumerate(fig.layout.annotations[:n]):
        ann.font = {"size": 12, "color": (colors[i] if colors and colors[i] else None)}
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(height=rows * height_per_row + 30, margin={"l": 5, "r": 5, "t": 30, "b": 5})
    return fig


def retrieval_grid(images: Sequence[np.ndarray], marks: np.ndarray, attributes: Sequence[str],
                   ids: Sequence[int] | None = None, columns: int = 5) -> go.Figure:
    """Retrieved images, best first, captioned with their rank and a tick or cross per chosen attribute;
    green when the image has every chosen attribute, red otherwise."""
    marks = np.asarray(marks, dtype=bool).reshape(len(images), len(attributes))
    captions = [f"{i + 1}. " + " ".join(f"{'✓' if m else '✗'} {a.replace('_', ' ')}" for m, a in zip(row, attributes))
                for i, row in enumerate(marks)]
    colors = [(MATCH_COLOR if row.all() else MISS_COLOR) if len(attributes) else None for row in marks]
    return captioned_images(images, captions, columns, colors, ids=ids)


# ---- Motion capture page: 3-D skeletons, their animation, joint speeds -----------------------------------------

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


# ------------------------------------------------------------------ static PNG figures for reports
# The reproduction's figures are PNG files (a report that opens anywhere), drawn with matplotlib's
# Agg backend: it installs offline, where plotly's static export needs kaleido and a browser.
def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _figure(ncols: int, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 4.2), squeeze=False)
    fig.suptitle(title)
    return fig, axes[0]


def tradeoff_png(rows: Sequence[dict], title: str) -> bytes:
    """MSE against VoR and against MCN (log x), one curve per method sorted by alpha (paper Figs. 1-3)."""
    fig, axes = _figure(2, title)
    for method in sorted({r["method"] for r in rows}):
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r["alpha"])
        for ax, key in zip(axes, ("vor", "mcn")):
            ok = [r for r in pts if math.isfinite(r[key] or math.nan) and math.isfinite(r["mse"] or math.nan)]
            ax.plot([r[key] for r in ok], [r["mse"] for r in ok], "o-" if len(ok) > 1 else "o", label=method)
    for ax, key in zip(axes, ("VoR", "MCN")):
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} (lower is more isometric)")
        ax.set_ylabel("test MSE")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _png(fig)


def condition_numbers_png(rows: Sequence[dict], paper: dict[int, dict[str, tuple[float, float]]], title: str) -> bytes:
    """Mean condition number (error bar: std) against latent size, ours and the paper's Table 3 (log y)."""
    fig, (ax,) = _figure(1, title)
    dims = sorted(paper)
    for method, color in (("VAE", "tab:red"), ("IRVAE", "tab:blue")):
        ours = sorted((r["latent_dim"], r["cond_mean"], r["cond_std"]) for r in rows if r["method"] == method)
        if ours:
            ax.errorbar([o[0] for o in ours], [o[1] for o in ours], yerr=[o[2] for o in ours], fmt="o-",
                        color=color, capsize=3, label=f"{method} (ours)")
        ax.plot(dims, [paper[m][method][0] for m in dims], "s--", color=color, alpha=0.5, label=f"{method} (paper)")
    ax.set_yscale("log")
    ax.set_xticks(dims)
    ax.set_xlabel("latent size m")
    ax.set_ylabel("condition number of G on encoded test data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def retrieval_png(ours: dict[str, Sequence[float]], paper: dict[str, Sequence[float]], title: str) -> bytes:
    """SAR and DAR P@1/5/10/20 per method: ours (solid) beside the paper's Table 1 (dashed)."""
    fig, axes = _figure(2, title)
    ks = [1, 5, 10, 20]
    for i, method in enumerate(sorted(ours)):
        color = f"C{i}"
        for ax, part in zip(axes, (slice(0, 4), slice(4, 8))):
            ax.plot(ks, list(ours[method])[part], "o-", color=color, label=f"{method} (ours)")
            if method in paper:
                ax.plot(ks, list(paper[method])[part], "s--", color=color, alpha=0.5, label=f"{method} (paper)")
    for ax, name in zip(axes, ("single attribute (SAR)", "double attribute (DAR)")):
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("K")
        ax.set_ylabel(f"P@K, %: {name}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig)
