"""The latent plane with equidistance ellipses (paper Figures 1, 4), fast at 10,000 points and 200 ellipses.

- test points: one ``Scattergl`` (WebGL) trace per class, ``customdata`` = test index (a selected
  point maps back to its panel and example through ``selected_example``);
- equidistance ellipses {dz : dz^T G dz = k}: condition numbers are placed on a shared log
  scale and rounded to one of ``COLOR_LEVELS`` colours; each colour that occurs gets ONE
  ``Scatter`` trace holding all its ellipses as a NaN-separated, filled polyline (``meta`` =
  {"role": "ellipses", "count": n}). A panel thus has at most ``COLOR_LEVELS`` ellipse traces,
  exactly one per distinct level (``color_levels``), whatever the number of ellipses;
- one invisible marker trace carries the colour bar, shared by the side-by-side panels;
- with ``grid``, one invisible ``Scattergl`` grid per panel after the test points (``meta`` = {"role": "grid"},
  ``GRID_N`` points a side over the panel's extent): Streamlit's chart selection reports only points of traces,
  so a click anywhere on the plane selects the nearest grid point, which ``selected_plane_point`` turns into
  plane coordinates to decode.

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

from irvae_core.views.latent import LatentView, snapshot_view

COND_COLORSCALE = "Portland"  # blue = isotropic (cond 1) ... red = stretched (paper: redder = bigger)


COLOR_LEVELS = 32


ELLIPSE_POINTS = 32


ELLIPSE_FRACTION = 0.025


FILL_ALPHA = 0.35


MIN_COND_TOP = 4.0  # the colour scale reaches at least cond 4, so a near-isometric run stays blue


CLASS_COLORS = qualitative.D3 + qualitative.Pastel


GRID_N = 48  # grid points a side: a click lands within about 1/96 of the panel's extent of where it was made


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


def panel_scale(view: LatentView) -> float:
    """The panel's k: every ellipse of a panel (clicked points' too) is {dz : dz^T G dz = k}."""
    return ellipse_scale(view.metrics, view.extent or 1.0)


def _ellipse_traces(view: LatentView, crange: tuple[float, float], axes: dict) -> list[go.Scatter]:
    extent = view.extent
    k = panel_scale(view)
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


def grid_xy(view: LatentView, n: int = GRID_N, pad: float = 0.05) -> np.ndarray:
    """(n * n, 2) plane points evenly over the shown points' bounding box, widened by ``pad`` of its extent."""
    if len(view.xy):
        lo, hi = view.xy.min(0), view.xy.max(0)
    else:
        lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    margin = pad * max(float((hi - lo).max()), 1e-6)
    gx, gy = np.meshgrid(np.linspace(lo[0] - margin, hi[0] + margin, n), np.linspace(lo[1] - margin, hi[1] + margin, n))
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _grid_trace(view: LatentView, axes: dict) -> go.Scattergl:
    xy = grid_xy(view)
    return go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", showlegend=False, meta={"role": "grid"},
                        marker={"size": 1, "color": "rgba(0,0,0,0)"},
                        hovertemplate="decode here (%{x:.3g}, %{y:.3g})<extra></extra>", **axes)


def _role(trace) -> str | None:
    return trace.meta.get("role") if isinstance(trace.meta, dict) else None


def _panel(trace) -> int:
    axis = trace.xaxis or "x"
    return int(axis[1:]) - 1 if len(axis) > 1 else 0


def _trace_of(fig: go.Figure, point: dict):
    curve = point.get("curve_number")
    return fig.data[curve] if curve is not None and 0 <= curve < len(fig.data) else None


def selected_example(fig: go.Figure, point: dict) -> tuple[int, int] | None:
    """(panel, test index) of a point selected in a latent figure; None for anything but a test point."""
    trace, index = _trace_of(fig, point), point.get("customdata")
    if trace is None or trace.type != "scattergl" or _role(trace) == "grid" or index is None:
        return None
    return _panel(trace), int(index[0] if isinstance(index, list | tuple) else index)


def selected_plane_point(fig: go.Figure, point: dict) -> tuple[int, np.ndarray] | None:
    """(panel, plane coordinates (2,)) of a click off the data (a grid point); None for anything else."""
    trace = _trace_of(fig, point)
    if trace is None or _role(trace) != "grid" or point.get("x") is None or point.get("y") is None:
        return None
    return _panel(trace), np.array([float(point["x"]), float(point["y"])])


def brushed_examples(fig: go.Figure, points: Sequence[dict]) -> dict[int, np.ndarray]:
    """{panel: test indices} of the test points inside a box or lasso selection (grid points left out)."""
    found: dict[int, list[int]] = {}
    for point in points:
        picked = selected_example(fig, point)
        if picked is not None:
            found.setdefault(picked[0], []).append(picked[1])
    return {panel: np.unique(np.array(ix, dtype=int)) for panel, ix in sorted(found.items())}


def mark_point(fig: go.Figure, view: LatentView, panel: int, xy: np.ndarray, plane_metric: np.ndarray,
               cond: float, crange: tuple[float, float] | None = None) -> go.Figure:
    """Draw a clicked point's equidistance ellipse (the panel's k, coloured by ``cond``, the plane metric's condition
    number) and a cross at it, on panel ``panel``."""
    crange = crange or color_range(view.cond)
    metric = np.asarray(plane_metric, dtype=np.float64)[None]
    x, y = ellipse_polyline(np.asarray(xy, dtype=np.float64)[None], metric, panel_scale(view),
                            max_semi=view.extent or 1.0)
    color = level_color(int(color_levels(np.array([cond]), crange)[0]))
    axes = {"xaxis": f"x{panel + 1 if panel else ''}", "yaxis": f"y{panel + 1 if panel else ''}"}
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"color": "black", "width": 2.5}, fill="toself",
                             fillcolor=color, hoverinfo="skip", showlegend=False,
                             meta={"role": "clicked-ellipse"}, **axes))
    fig.add_trace(go.Scatter(x=[float(xy[0])], y=[float(xy[1])], mode="markers", showlegend=False,
                             marker={"symbol": "x", "size": 12, "color": "black"}, meta={"role": "clicked"},
                             hovertemplate="decoded here (%{x:.3g}, %{y:.3g})<extra></extra>", **axes))
    return fig


def _colorbar_trace(crange: tuple[float, float]) -> go.Scatter:
    lo, hi = math.log10(crange[0]), math.log10(crange[1])
    ticks = [t for t in (1, 1.5, 2, 3, 5, 10, 20, 50, 100, 1e3, 1e4, 1e5, 1e6) if crange[0] <= t <= crange[1]]
    ticks = sorted({*ticks, round(crange[1], 2)})
    return go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                      marker={"colorscale": COND_COLORSCALE, "cmin": lo, "cmax": hi, "color": [lo],
                              "showscale": True,
                              "colorbar": {"title": {"text": "cond(G)"}, "tickvals": [math.log10(t) for t in ticks],
                                           "ticktext": [f"{t:g}" for t in ticks], "x": 1.02}})


def latent_figure(views: Sequence[LatentView], crange: tuple[float, float] | None = None,
                  grid: bool = False) -> go.Figure:
    """Encoded test data with equidistance ellipses, one panel per view, one shared colour bar; ``grid``: an
    invisible grid under each panel, so a click anywhere selects a plane point (``selected_plane_point``)."""
    crange = crange or color_range(*(v.cond for v in views))
    fig = make_subplots(rows=1, cols=max(len(views), 1), subplot_titles=[v.title for v in views],
                        horizontal_spacing=0.08)
    for i, view in enumerate(views):
        axes = {"xaxis": f"x{i + 1 if i else ''}", "yaxis": f"y{i + 1 if i else ''}"}
        # the grid last, a WebGL trace as the test points are: plotly measures hover distances alike for both,
        # so a click right on a test point selects that point (an SVG trace's markers count as 3 px wide)
        fig.add_traces([*_ellipse_traces(view, crange, axes), *_point_traces(view, i, axes),
                        *([_grid_trace(view, axes)] if grid else [])])
        titles = view.plane_label.split("-") if "-" in view.plane_label else ("PC1", "PC2")
        fig.update_xaxes(title_text=titles[0], row=1, col=i + 1)
        fig.update_yaxes(title_text=titles[1], scaleanchor=axes["xaxis"], scaleratio=1, row=1, col=i + 1)
    fig.add_trace(_colorbar_trace(crange))
    fig.update_layout(height=600, margin={"l": 40, "r": 40, "t": 60, "b": 40}, dragmode="pan",
                      clickmode="event+select", legend={"orientation": "h", "y": -0.12, "itemsizing": "constant",
                                                        "title": {"text": "class"}})
    return fig


def snapshot_figure(snapshot: dict, data=None, height: int = 420, among: Sequence[dict] = ()) -> go.Figure:
    """One training snapshot (``train.snapshots``): its validation points and an ellipse at each, titled by epoch;
    its colours on the scale of all the snapshots ``among`` (so that epochs compare), else its own."""
    view = snapshot_view(snapshot, data, title=f"latent plane after epoch {snapshot['epoch']}")
    crange = color_range(*(np.asarray(s["cond"]) for s in among)) if among else None
    fig = latent_figure([view], crange)
    fig.update_layout(height=height, margin={"l": 40, "r": 40, "t": 50, "b": 30}, showlegend=False)
    return fig

