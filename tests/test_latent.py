"""UI-free helpers of the latent and tradeoff pages: planes, the restricted metric, run summaries."""

import json

import numpy as np
import pytest
import torch

from irvae_core.data import load_dataset
from irvae_core.geometry.metric import condition_numbers, pullback_metric, restrict_metric
from irvae_core.geometry.planes import plane_basis, plane_metric
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import list_runs, new_run
from irvae_core.store.summaries import method_name, run_row, tradeoff_rows
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from irvae_core.views.latent import brush, build_view, input_and_reconstruction, point_geometry, run_view, to_image
from irvae_core.viz.latent import (
    GRID_N,
    brushed_examples,
    latent_figure,
    mark_point,
    selected_example,
    selected_plane_point,
)
from tests.helpers import tiny_config


def decoder_4d(z: torch.Tensor) -> torch.Tensor:
    w = torch.linspace(-1, 1, 4 * 6).reshape(4, 6)
    return torch.tanh(z @ w) + 0.1 * z.pow(2).sum(1, keepdim=True)


def test_plane_metric_equals_the_restricted_pullback_metric():
    z = torch.randn(7, 4, generator=torch.Generator().manual_seed(0))
    for plane in ("pca", (1, 3)):
        _, basis, _ = plane_basis(z, plane)
        expected = torch.stack([restrict_metric(g, basis) for g in pullback_metric(decoder_4d, z)])
        assert torch.allclose(plane_metric(decoder_4d, z, basis), expected, atol=1e-5)


def test_pca_plane_is_orthonormal_and_catches_the_spread():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(500, 3, generator=g) * torch.tensor([0.1, 3.0, 1.0])
    origin, basis, label = plane_basis(z, "pca")
    assert label == "PCA plane" and torch.allclose(basis.T @ basis, torch.eye(2), atol=1e-5)
    assert abs(float(basis[1, 0])) > 0.99 and abs(float(basis[2, 1])) > 0.99
    with pytest.raises(ValueError, match="two different latent coordinates"):
        plane_basis(z, (1, 1))
    with pytest.raises(ValueError, match="no 2-D plane"):
        plane_basis(z[:, :1], "pca")


def cond_2x2(G: np.ndarray) -> np.ndarray:
    """Condition numbers of 2x2 SPD matrices in closed form: (t + s) / (t - s), s = sqrt(t^2 - 4 det)."""
    t = G[:, 0, 0] + G[:, 1, 1]
    s = np.sqrt(np.maximum(t**2 - 4 * (G[:, 0, 0] * G[:, 1, 1] - G[:, 0, 1] * G[:, 1, 0]), 0))
    return (t + s) / (t - s)


def jacobian_metric(decoder, z: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """B^T J^T J B at one point, from a reverse-mode Jacobian (independent of the forward-mode code)."""
    J = torch.autograd.functional.jacobian(lambda q: decoder(q[None].float()).reshape(-1).double(), z.double())
    return basis.double().T @ J.T @ J @ basis.double()


def test_build_view_draws_each_ellipse_with_the_metric_of_its_own_point():
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(2))
    view = build_view(decoder_4d, z, np.zeros(50, dtype=int), ["x"], plane=(0, 2), n_ellipses=12)
    assert view.xy.shape == (50, 2) and np.allclose(view.xy, z[:, [0, 2]].numpy())
    assert view.centers.shape == (12, 2) and view.metrics.shape == (12, 2, 2) and view.restricted
    basis = torch.eye(4)[:, [0, 2]]
    picked = set()
    for center, metric in zip(view.centers, view.metrics):
        [i] = np.flatnonzero(np.all(np.isclose(view.xy, center), axis=1))  # the point the ellipse sits on
        picked.add(int(i))
        np.testing.assert_allclose(metric, jacobian_metric(decoder_4d, z[i], basis).numpy(), rtol=1e-4, atol=1e-6)
    assert len(picked) == 12  # twelve different points
    np.testing.assert_allclose(view.cond, cond_2x2(view.metrics), rtol=1e-6)
    assert view.cond.max() > 1.5 * view.cond.min()  # the colours vary: not a constant


@pytest.mark.slow
def test_run_view_and_reconstruction_of_a_trained_run(tmp_path):
    run = train(tiny_config(**{"train.epochs": 1}), str(tmp_path))
    evaluate_run(run)
    model = load_model(run)
    data = load_dataset("digits")
    view = run_view(run, model, data, n_ellipses=30)
    assert view.xy.shape == (len(data.test), 2) and len(view.cond) == 30
    assert view.title == f"VAE · {run.name}"
    with torch.no_grad():  # the plane of a 2-D latent space is the latent space: xy are the codes
        np.testing.assert_allclose(view.xy, model.encode(data.test.x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(view.labels, data.test.y.numpy())
    for center, metric in list(zip(view.centers, view.metrics))[:5]:
        expected = jacobian_metric(model.decode, torch.as_tensor(center), torch.eye(2))
        np.testing.assert_allclose(metric, expected.numpy(), rtol=1e-3, atol=1e-8)
    np.testing.assert_allclose(view.cond, cond_2x2(view.metrics), rtol=1e-6)

    x, x_hat = input_and_reconstruction(model, data, 3)
    assert x.shape == x_hat.shape == (1, 8, 8)
    torch.testing.assert_close(x, data.test[3][0])
    with torch.no_grad():  # decode(encode(x)), computed here
        torch.testing.assert_close(x_hat, model.decode(model.encode(x[None]))[0])
    assert (x_hat - x).abs().max() > 0.05  # a reconstruction, not the input
    img = to_image(x_hat, data.value_range)
    np.testing.assert_allclose(img, x_hat[0].clamp(0, 1).numpy())  # digits are in [0, 1]: the same image


def test_method_names_follow_the_paper():
    assert method_name({"model": {"kind": "vae"}, "reg": {"kind": "none"}}) == "VAE"
    assert method_name({"model": {"kind": "vae"}, "reg": {"kind": "fm"}}) == "FMVAE"
    assert method_name({"model": {"kind": "vae"}, "reg": {"kind": "ir"}}) == "IRVAE"
    assert method_name({"model": {"kind": "vae"}, "reg": {"kind": "ir"}, "type": "flatten"}) == "IRVAE+FM"
    assert method_name({"model": {"kind": "ae"}, "reg": {"kind": "iso"}}) == "ISOAE"


def test_run_rows_and_tradeoff_rows(tmp_path):
    cfg = tiny_config(**{"reg.kind": "ir", "reg.alpha": 2.0})
    done = new_run(tmp_path, cfg)
    done.set_status("done")
    (done.path / "evaluation.json").write_text(json.dumps(
        {"mse": 0.01, "vor": 0.2, "mcn": 1.5, "augmented": {"vor": 0.3, "mcn": 1.7},
         "distances": {"geo_spearman": 0.9, "geo_ratio_cv": 0.1, "trustworthiness": 0.8, "knn_recall": 0.3}}))
    failed = new_run(tmp_path, cfg)
    failed.set_status("failed", error="the loss became nan at epoch 1, step 3", trace="Traceback ...")
    broken = new_run(tmp_path, cfg)
    broken.file("config.json").write_text("{not json")
    rows = {r["run"]: r for r in map(run_row, list_runs(tmp_path))}
    assert rows[failed.name]["error"] == "the loss became nan at epoch 1, step 3"
    assert rows[broken.name]["state"] == "unreadable" and "config.json" in rows[broken.name]["error"]
    assert rows[done.name]["method"] == "IRVAE"
    assert (rows[done.name]["mse"], rows[done.name]["vor"], rows[done.name]["mcn"]) == (0.01, 0.2, 1.5)
    assert tradeoff_rows(list_runs(tmp_path)) == [
        {"dataset": "digits", "method": "IRVAE", "alpha": 2.0, "mse": 0.01, "vor": 0.2, "mcn": 1.5,
         "geo_spearman": 0.9, "geo_ratio_cv": 0.1, "trustworthiness": 0.8, "knn_recall": 0.3, "run": done.name}]
    assert tradeoff_rows(list_runs(tmp_path), "augmented")[0]["mcn"] == 1.7


# ------------------------------------------------------------------ decode anywhere and brushing (issue 26)
def linear_view(m: int, plane="pca"):
    """A view of 300 codes through a linear decoder x = A z, whose metric is A^T A everywhere."""
    a = torch.randn(m, 9, generator=torch.Generator().manual_seed(m)) * torch.linspace(0.5, 2.0, m)[:, None]
    z = torch.randn(300, m, generator=torch.Generator().manual_seed(7)) + 3.0
    labels = (z[:, 0] > 3.0).long().numpy()
    return (lambda c: c @ a), a, build_view(lambda c: c @ a, z, labels, ["low", "high"], plane=plane, n_ellipses=20)


@pytest.mark.parametrize("m,plane", [(2, (0, 1)), (4, "pca"), (4, (1, 3))])
def test_a_plane_point_lifts_to_the_mean_code_off_the_plane_and_projects_back(m, plane):
    _, _, view = linear_view(m, plane)
    xy = np.array([[0.3, -1.2], [2.0, 0.5]])
    z = view.lift(xy)
    assert np.allclose(view.project(z), xy, atol=1e-5)
    basis = view.basis.astype(np.float64)
    off_plane = np.eye(m) - basis @ basis.T  # the code's part the plane does not set is the mean code's
    assert np.allclose(z @ off_plane, np.broadcast_to(view.mean_code @ off_plane, z.shape), atol=1e-5)
    if m == 2:
        assert np.allclose(z, xy, atol=1e-6)  # the latent plane itself


def test_a_decoded_point_carries_the_exact_metric_of_a_linear_decoder():
    decoder, a, view = linear_view(4, (1, 3))
    geo = point_geometry(decoder, view, np.array([0.7, -0.4]))
    g = (a @ a.T).double().numpy()
    assert np.allclose(geo.metric, g, rtol=1e-5) and np.allclose(geo.eigenvalues, np.linalg.eigvalsh(g), rtol=1e-5)
    assert geo.cond == pytest.approx(np.linalg.cond(g), rel=1e-4)
    assert np.allclose(geo.plane_metric, g[np.ix_([1, 3], [1, 3])], rtol=1e-5)  # B^T G B on coordinates 2, 4
    assert np.allclose(geo.decoded.numpy(), geo.z @ a.numpy(), atol=1e-5)
    assert geo.z[1] == pytest.approx(0.7) and geo.z[3] == pytest.approx(-0.4)


def test_a_brush_counts_its_points_and_classes_and_measures_their_condition_numbers():
    def decoder(z):  # curved: the metric differs from point to point
        return torch.cat([z, 0.3 * z[:, :1] ** 2, torch.sin(z)], dim=1)

    z = torch.randn(400, 2, generator=torch.Generator().manual_seed(3))
    labels = (z[:, 1] > 0).long().numpy()
    view = build_view(decoder, z, labels, ["down", "up"], n_ellipses=10, index=np.arange(1000, 1400))
    picked = np.array([1000, 1003, 1010, 1011, 1399, 5])  # 5 is not shown: ignored
    b = brush(decoder, view, picked)
    pos = np.array([0, 3, 10, 11, 399])
    assert b.count == 5 and list(b.test_index) == [1000, 1003, 1010, 1011, 1399]
    want = {name: int((labels[pos] == c).sum()) for c, name in enumerate(["down", "up"]) if (labels[pos] == c).any()}
    assert b.classes == want
    cond = condition_numbers(pullback_metric(decoder, z).double()).numpy()
    assert b.cond_mean == pytest.approx(cond[pos].mean(), rel=1e-5)
    assert b.cond_std == pytest.approx(cond[pos].std(), rel=1e-4)
    assert b.all_cond_mean == pytest.approx(cond.mean(), rel=1e-5) and not b.sampled


def test_the_figure_maps_clicks_off_the_data_and_boxes_back_to_the_plane_and_the_examples():
    _, _, view = linear_view(2, (0, 1))
    fig = latent_figure([view, view], grid=True)
    grids = [i for i, t in enumerate(fig.data) if (t.meta or {}).get("role") == "grid"]
    assert len(grids) == 2 and len(fig.data[grids[1]].x) == GRID_N ** 2 and fig.data[grids[1]].xaxis == "x2"
    gx, gy = fig.data[grids[1]].x, fig.data[grids[1]].y
    assert min(gx) < view.xy[:, 0].min() and max(gy) > view.xy[:, 1].max()  # the grid covers every point
    panel, xy = selected_plane_point(fig, {"curve_number": grids[1], "x": gx[5], "y": gy[5]})
    assert panel == 1 and np.allclose(xy, [gx[5], gy[5]])
    points = [i for i, t in enumerate(fig.data) if t.type == "scattergl" and i not in grids]
    def clicked(curve: int, i: int) -> dict:  # a point as Streamlit reports it: its trace, coordinates and customdata
        t = fig.data[curve]
        return {"curve_number": curve, "point_index": i, "x": float(t.x[i]), "y": float(t.y[i]),
                **({"customdata": int(t.customdata[i])} if t.customdata is not None else {})}

    chosen = [clicked(points[0], 0), clicked(points[-1], 1), clicked(grids[0], 0)]
    assert selected_example(fig, chosen[2]) is None and selected_plane_point(fig, chosen[0]) is None
    brushed = brushed_examples(fig, chosen)
    assert set(brushed) == {0, 1} and list(brushed[0]) == [chosen[0]["customdata"]]
    n = len(fig.data)
    mark_point(fig, view, 1, xy, np.eye(2), 1.0)
    assert [t.meta["role"] for t in fig.data[n:]] == ["clicked-ellipse", "clicked"] and fig.data[n].xaxis == "x2"
    assert len(latent_figure([view]).data) == len(latent_figure([view], grid=True).data) - 1
