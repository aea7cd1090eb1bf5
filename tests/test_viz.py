"""Figure builders without Streamlit: ellipse geometry, colours from condition numbers, trace layout."""

import math

import numpy as np
import pytest
import torch
from plotly.colors import sample_colorscale

from irvae_core.geometry.metric import metric_ellipse
from irvae_core.views.latent import LatentView
from irvae_core.viz.latent import (
    COLOR_LEVELS,
    COND_COLORSCALE,
    ELLIPSE_POINTS,
    MIN_COND_TOP,
    color_levels,
    color_range,
    cond_position,
    ellipse_axes,
    ellipse_polyline,
    ellipse_scale,
    latent_figure,
    level_color,
    selected_example,
)
from irvae_core.viz.runs import tradeoff_figure, training_curves


def rotated_metric(theta: float, lam_small: float, lam_big: float) -> np.ndarray:
    """A metric with eigenvalue lam_small along (cos theta, sin theta) and lam_big across it."""
    r = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return r @ np.diag([lam_small, lam_big]) @ r.T


def view_of(metrics: list[np.ndarray], labels=(0, 1, 0, 1, 0)) -> LatentView:
    g = np.stack(metrics)
    centers = np.arange(2 * len(g), dtype=float).reshape(-1, 2)
    cond = np.linalg.eigvalsh(g)[:, -1] / np.linalg.eigvalsh(g)[:, 0]
    return LatentView("test", 2, "z1-z2", centers, np.arange(len(g)), np.array(labels[: len(g)]), ["a", "b"],
                      centers, g, cond)


def test_ellipse_of_a_known_metric_has_the_right_axes_and_angle():
    theta = math.pi / 6
    g = rotated_metric(theta, 1.0, 4.0)  # cond 4; the decoder stretches least along theta
    semi, angle = ellipse_axes(g[None], k=4.0)
    assert semi[0] == pytest.approx([2.0, 1.0])  # sqrt(k / 1), sqrt(k / 4)
    assert angle[0] == pytest.approx(theta)
    reference = metric_ellipse(torch.tensor(g), torch.zeros(2), k=4.0)
    assert semi[0] == pytest.approx(reference.semi_axes) and angle[0] == pytest.approx(reference.angle)
    x, y = ellipse_polyline(np.array([[3.0, -1.0]]), g[None], k=4.0)
    assert len(x) == ELLIPSE_POINTS + 2 and np.isnan(x[-1]) and np.isnan(y[-1])
    dz = np.stack([x[:-1] - 3.0, y[:-1] + 1.0], 1)
    assert np.einsum("ni,ij,nj->n", dz, g, dz) == pytest.approx(np.full(ELLIPSE_POINTS + 1, 4.0))


def test_angles_stay_in_half_open_range_and_isotropic_metrics_give_circles():
    semi, angle = ellipse_axes(np.stack([rotated_metric(t, 1.0, 2.0) for t in (-1.5, 0.0, 1.6, 3.0)]))
    assert np.all(angle > -math.pi / 2) and np.all(angle <= math.pi / 2)
    semi, _ = ellipse_axes(np.eye(2)[None] * 4.0, k=1.0)
    assert semi[0] == pytest.approx([0.5, 0.5])


def test_ellipse_scale_sets_the_median_major_axis_to_a_fraction_of_the_extent():
    g = np.stack([np.eye(2) * s for s in (1.0, 4.0, 16.0)])
    k = ellipse_scale(g, extent=10.0, fraction=0.05)
    semi, _ = ellipse_axes(g, k)
    assert np.median(semi[:, 0]) == pytest.approx(0.5)


def test_colours_follow_condition_numbers_on_a_log_scale():
    top, bottom = sample_colorscale(COND_COLORSCALE, [1.0, 0.0])
    assert [level_color(lv) for lv in color_levels(np.array([9.0, 1.0]), (1.0, 9.0))] == [top, bottom]
    assert cond_position(np.array([3.0, 81.0, np.inf]), (1.0, 9.0)) == pytest.approx([0.5, 1.0, 1.0])
    levels = color_levels(np.array([1.0, 1.5, 2.0, 5.0, 9.0]), (1.0, 9.0))
    assert list(levels) == sorted(levels) and levels[0] == 0 and levels[-1] == COLOR_LEVELS - 1
    assert color_range(np.array([1.2, 3.0]), np.array([7.5, np.inf])) == (1.0, 7.5)
    assert color_range(np.array([1.2, 1.4])) == (1.0, MIN_COND_TOP)  # a near-isometric run stays blue


def test_latent_figure_has_one_ellipse_trace_per_colour_level_and_one_point_trace_per_class():
    view = view_of([rotated_metric(0.3, 1, 1), np.eye(2), rotated_metric(0.1, 1, 9), rotated_metric(1, 2, 18),
                    rotated_metric(2, 1, 3)])
    fig = latent_figure([view])
    ellipses = [t for t in fig.data if (t.meta or {}).get("role") == "ellipses"]
    assert [t.meta["count"] for t in ellipses] == [2, 1, 2]  # cond 1 (x2), cond 3, cond 9 (x2)
    assert sum(int(np.isnan(np.asarray(t.x, dtype=float)).sum()) for t in ellipses) == 5
    top = sample_colorscale(COND_COLORSCALE, [1.0])[0]
    assert ellipses[-1].line.color == top and ellipses[-1].fillcolor.startswith(top.replace("rgb(", "rgba(")[:-1])
    points = [t for t in fig.data if t.type == "scattergl"]
    assert [t.name for t in points] == ["a", "b"] and sum(len(t.x) for t in points) == 5
    assert np.asarray(points[1].customdata).tolist() == [1, 3]  # test indices
    bars = [t for t in fig.data if t.marker is not None and t.marker.showscale]
    assert len(bars) == 1 and bars[0].marker.cmax == pytest.approx(math.log10(9))
    assert fig.layout.yaxis.scaleanchor == "x"


def test_two_panels_share_one_colour_bar_over_both_ranges():
    fig = latent_figure([view_of([np.eye(2), rotated_metric(0, 1, 4)]), view_of([rotated_metric(0, 1, 50)])])
    bars = [t for t in fig.data if t.marker is not None and t.marker.showscale]
    assert len(bars) == 1 and bars[0].marker.cmax == pytest.approx(math.log10(50))
    second = [t for t in fig.data if t.xaxis == "x2" and (t.meta or {}).get("role") == "ellipses"]
    assert len(second) == 1 and second[0].line.color == sample_colorscale(COND_COLORSCALE, [1.0])[0]
    assert fig.layout.yaxis2.scaleanchor == "x2"
    curve = next(i for i, t in enumerate(fig.data) if t.type == "scattergl" and t.xaxis == "x2")
    assert selected_example(fig, {"curve_number": curve, "customdata": 0}) == (1, 0)
    assert selected_example(fig, {"curve_number": 0, "customdata": 0}) is None  # an ellipse, not a point


def test_tradeoff_curves_are_sorted_by_alpha_one_per_method():
    rows = [{"method": "IRVAE", "alpha": a, "mse": m, "vor": v, "mcn": c, "run": f"r{a}"}
            for a, m, v, c in ((10, 0.03, 0.1, 1.2), (1, 0.02, 0.5, 2.0))]
    rows.append({"method": "VAE", "alpha": 0.0, "mse": 0.01, "vor": 2.0, "mcn": 5.0, "run": "v"})
    fig = tradeoff_figure(rows)
    assert [t.name for t in fig.data] == ["IRVAE", "IRVAE", "VAE", "VAE"]
    assert list(fig.data[0].x) == [0.5, 0.1] and list(fig.data[1].x) == [2.0, 1.2]
    assert list(fig.data[0].y) == [0.02, 0.03]
    rows.append({"method": "AE", "alpha": 0.0, "mse": 0.01, "vor": math.inf, "mcn": 9.0, "run": "degenerate"})
    fig = tradeoff_figure(rows)
    assert len(fig.data[0].x) == 0 and list(fig.data[1].x) == [9.0]


def test_a_nearly_singular_metric_gives_a_bounded_ellipse():
    x, y = ellipse_polyline(np.zeros((1, 2)), np.diag([1e-30, 1.0])[None], k=1.0, max_semi=2.0)
    assert np.nanmax(np.abs(x)) == pytest.approx(2.0) and np.nanmax(np.abs(y)) == pytest.approx(1.0)


def test_training_curves_show_loss_and_regularizer():
    history = [{"epoch": e, "train_loss": 3.0 - e, "val_loss": 3.1 - e, "train_reg": 1.0 / e} for e in (1, 2)]
    fig = training_curves(history)
    assert [t.name for t in fig.data] == ["train loss", "val loss", "train reg"]
    assert list(fig.data[2].y) == [1.0, 0.5]
