"""The Interpolation page's figures as data: image strips and grids, paths on the latent plot, speeds, vectors."""

import numpy as np
import pytest
import torch

from irvae_core.views.latent import build_view
from irvae_core.viz.latent import latent_figure, selected_example
from irvae_core.viz.paths import (
    add_latent_paths,
    evenly_spaced,
    image_grid,
    image_strip,
    modulation_figure,
    speed_figure,
    vector_path_figure,
)


def test_image_strip_maps_the_value_range_pads_in_white_and_enlarges_by_whole_pixels():
    imgs = torch.tensor([[[[-1.0, 1.0], [0.0, 3.0]]], [[[1.0, 1.0], [1.0, -5.0]]]])  # (2, 1, 2, 2) in [-1, 1]
    strip = image_strip(imgs, (-1.0, 1.0))
    scale = 28  # 2-pixel images grow to >= 56 pixels high
    assert strip.shape == (2 * scale, 2 * (2 * scale) + 2)
    assert np.all(strip[:, 2 * scale:2 * scale + 2] == 1.0)  # the white gap
    assert np.all(strip[:scale, :scale] == 0.0) and np.all(strip[:scale, scale:2 * scale] == 1.0)
    assert np.all(strip[scale:, :scale] == 0.5) and np.all(strip[scale:, scale:2 * scale] == 1.0)  # 3 clipped
    assert strip[-1, -1] == 0.0  # -5 clipped to the bottom of the range


def test_image_grid_keeps_rows_and_colour():
    grid = image_grid(torch.rand(3, 4, 3, 28, 28), min_height=28, pad=1)
    assert grid.shape == (3 * 29 - 1, 4 * 29 - 1, 3)
    x = torch.rand(3, 4, 3, 28, 28)
    assert np.allclose(image_grid(x, min_height=28, pad=1)[29:57, 58:86], x[1, 2].permute(1, 2, 0).numpy())


def two_panel_figure():
    g = torch.Generator().manual_seed(0)
    views = [build_view(lambda z: torch.cat([z, z.sin()], 1), torch.randn(40, 2, generator=g),
                        np.arange(40) % 2, ["a", "b"], n_ellipses=5, title=t) for t in ("one", "two")]
    return views, latent_figure(views)


def test_paths_are_drawn_on_their_own_panel_and_are_not_taken_for_test_points():
    views, fig = two_panel_figure()
    n_before = len(fig.data)
    straight, geo = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]), np.array([[0.0, 0.0], [0.7, 0.2], [1.0, 1.0]])
    add_latent_paths(fig, [None, (straight, geo)])
    added = fig.data[n_before:]
    assert [t.meta["role"] for t in added] == ["straight path", "geodesic path", "endpoints"]
    assert all(t.xaxis == "x2" and t.type == "scatter" for t in added)
    assert np.allclose(added[1].x, geo[:, 0]) and np.allclose(added[1].y, geo[:, 1])
    assert list(added[2].text) == ["A", "B"] and np.allclose(added[2].x, [0.0, 1.0])
    for curve in range(n_before, len(fig.data)):  # a click on a path is not a test point
        assert selected_example(fig, {"curve_number": curve, "customdata": 3}) is None
    assert np.allclose(views[0].project(torch.tensor([[1.0, 2.0]])), [[1.0, 2.0]])  # m = 2: the latent plane itself


def test_speed_figure_and_vector_paths():
    fig = speed_figure(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 2.0]))
    assert [t.name for t in fig.data] == ["straight line", "geodesic"]
    # three steps of t = 1/3 each: drawn at their middles with speed ||dx|| / dt; the area under each is its length
    assert list(fig.data[0].y) == [3.0, 6.0, 9.0] and fig.data[0].x == pytest.approx([1 / 6, 1 / 2, 5 / 6])
    assert float(np.sum(fig.data[1].y) / len(fig.data[1].y)) == pytest.approx(6.0)
    paths = vector_path_figure(torch.arange(12.0).reshape(4, 3), "decoded")
    assert len(paths.data) == 4 and list(paths.data[3].y) == [9.0, 10.0, 11.0]
    assert paths.data[0].line.color != paths.data[-1].line.color and paths.layout.title.text == "decoded"
    # a refined geodesic (31 points) is shown at the 16 frames of the straight line: first and last kept
    long = torch.arange(31.0)[:, None].repeat(1, 3)
    shown = vector_path_figure(long, frames=16)
    assert len(shown.data) == 16 and shown.data[0].y[0] == 0.0 and shown.data[-1].y[0] == 30.0
    assert [float(r[0]) for r in evenly_spaced(long, 16)] == [float(2 * k) for k in range(16)]
    assert evenly_spaced(long, 40) is long


def test_modulation_figure_has_one_panel_per_direction_and_one_line_per_multiple():
    decoded = torch.arange(2 * 3 * 5.0).reshape(2, 3, 5)
    fig = modulation_figure(decoded, ["PC1", "PC2"], torch.tensor([-1.0, 0.0, 1.0]))
    assert [a.text for a in fig.layout.annotations] == ["PC1", "PC2"]
    assert len(fig.data) == 6 and [t.name for t in fig.data[:3]] == ["-1 std", "+0 std", "+1 std"]
    assert list(fig.data[4].y) == list(decoded[1, 1].numpy()) and fig.data[4].yaxis == "y2"
