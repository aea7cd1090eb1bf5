"""Figures of runs: training curves, the tradeoff of MSE against VoR and MCN, a vector and its reconstruction."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from irvae_core.viz.latent import CLASS_COLORS


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
