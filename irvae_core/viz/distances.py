"""Figures of the Distances page: latent distance against geodesic length, and the plane coloured by rank error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from irvae_core.views.distances import DistanceView


def agreement_figure(views: Sequence[DistanceView]) -> go.Figure:
    """One panel per run: each random test pair's latent distance (x) against its certified geodesic length (y),
    with the least-squares line through the origin (the scaled isometry the pairs would lie on)."""
    fig = make_subplots(rows=1, cols=len(views), subplot_titles=[
        f"{v.label} · Spearman {v.suite['geo_spearman']:.3f} · CV {v.suite['geo_ratio_cv']:.3f}" for v in views])
    for col, v in enumerate(views, start=1):
        for ok, name, symbol in ((True, "certified", "circle"), (False, "not certified", "x")):
            keep = v.certified == ok
            if not keep.any():
                continue
            fig.add_trace(go.Scatter(x=v.latent[keep], y=v.geodesic[keep], mode="markers", name=name,
                                     marker={"symbol": symbol, "size": 7, "color": "#1f77b4" if ok else "#d62728"},
                                     showlegend=col == 1,
                                     hovertemplate="latent %{x:.3g}<br>geodesic %{y:.3g}<extra></extra>"),
                          row=1, col=col)
        slope = float(v.latent @ v.geodesic / (v.latent @ v.latent))
        top = float(v.latent.max())
        fig.add_trace(go.Scatter(x=[0, top], y=[0, slope * top], mode="lines", name="scaled isometry (fit)",
                                 line={"dash": "dot", "color": "gray"}, showlegend=col == 1, hoverinfo="skip"),
                      row=1, col=col)
        fig.update_xaxes(title_text="latent distance ||z_i - z_j||", row=1, col=col)
        fig.update_yaxes(title_text="geodesic length in data space" if col == 1 else None, row=1, col=col)
    fig.update_layout(height=420, margin={"t": 60, "b": 40}, legend={"orientation": "h", "y": -0.2})
    return fig


def distortion_figure(views: Sequence[DistanceView], against: str = "inputs") -> go.Figure:
    """One panel per run: the test points on the latent plane, coloured by their neighbourhood's rank error
    (0: its latent neighbours are its neighbours in the reference space) on one shared colour scale."""
    errors = [v.rank_error if against == "inputs" else v.rank_error_manifold for v in views]
    top = max(float(np.max(e)) for e in errors) or 1.0
    fig = make_subplots(rows=1, cols=len(views), subplot_titles=[
        f"{v.label} · mean {float(np.mean(e)):.3f} ({v.plane_label})" for v, e in zip(views, errors)])
    for col, (v, e) in enumerate(zip(views, errors), start=1):
        fig.add_trace(go.Scattergl(
            x=v.plane[:, 0], y=v.plane[:, 1], mode="markers", name=v.label, showlegend=False,
            marker={"size": 5, "color": e, "colorscale": "Viridis", "cmin": 0, "cmax": top,
                    "colorbar": {"title": "rank error"} if col == len(views) else None,
                    "showscale": col == len(views)},
            hovertemplate="rank error %{marker.color:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(scaleanchor=f"x{col if col > 1 else ''}", row=1, col=col)
    fig.update_layout(height=460, margin={"t": 60, "b": 30})
    return fig
