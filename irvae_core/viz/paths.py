"""Figures of latent paths (paper Figures 6-7): decoded strips, speed profiles, paths drawn on the latent plane,
axis modulation grids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

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


def evenly_spaced(decoded, frames: int | None):
    """``frames`` evenly spaced points of a decoded path, first and last kept (all of it when it is not longer)."""
    if frames is None or len(decoded) <= frames:
        return decoded
    return decoded[np.linspace(0, len(decoded) - 1, frames).round().astype(int)]


def image_strip(decoded, value_range: tuple[float, float] = (0.0, 1.0), frames: int | None = None) -> np.ndarray:
    """A decoded path of images (n, C, H, W) side by side, start on the left; ``frames`` evenly spaced ones if given."""
    return image_grid(evenly_spaced(decoded, frames), value_range)


def vector_path_figure(decoded, title: str = "", frames: int | None = None) -> go.Figure:
    """A decoded path of vectors (n, D): one line per point (``frames`` evenly spaced ones if given), coloured
    from the start (blue) to the end (red)."""
    decoded = evenly_spaced(decoded, frames)
    arr = np.asarray(decoded, dtype=np.float64).reshape(len(decoded), -1)
    colors = sample_colorscale("Bluered", list(np.linspace(0, 1, len(arr))))
    fig = go.Figure([go.Scatter(y=row, mode="lines", line={"color": c, "width": 1.5}, name=f"point {k + 1}",
                                showlegend=False, hovertemplate=f"point {k + 1}<br>feature %{{x}}: %{{y:.3g}}"
                                "<extra></extra>") for k, (row, c) in enumerate(zip(arr, colors))])
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 30 if title else 10, "b": 30}, xaxis_title="feature",
                      title={"text": title} if title else None)
    return fig


def speed_figure(straight_speeds, geodesic_speeds, title: str = "") -> go.Figure:
    """Data-space speed along the straight line and the geodesic (flat = constant speed).

    Each step k of n - 1 is drawn at its middle t = (k + 1/2) / (n - 1) with speed ||Δx|| / Δt, so curves
    measured at different numbers of points (a refined geodesic) share one axis; the area under each is its length.
    """
    fig = go.Figure()
    for name, speeds in (("straight line", straight_speeds), ("geodesic", geodesic_speeds)):
        s = np.asarray(speeds, dtype=np.float64)
        fig.add_trace(go.Scatter(x=(np.arange(len(s)) + 0.5) / len(s), y=s * len(s), mode="lines+markers", name=name,
                                 line={"color": PATH_COLORS["straight" if name == "straight line" else "geodesic"],
                                       "dash": "dash" if name == "straight line" else "solid"}))
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 30 if title else 10, "b": 30},
                      title={"text": title} if title else None, xaxis_title="t (start 0, end 1)",
                      yaxis_title="‖Δx‖ / Δt",
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
