"""Figures of face retrieval: captioned image rows, the top-K grid with a tick or cross per attribute."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
