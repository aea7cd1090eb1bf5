"""The Latent geometry page's interactions in AppTest (issue 26): a click off the data decodes that latent point and
shows the pullback metric there, a box or lasso shows the brushed examples' statistics, a link restores the view."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from irvae_core.data import load_dataset
from irvae_core.geometry.metric import condition_numbers, pullback_metric
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import list_runs
from irvae_core.train.encoding import encode_split
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.snapshots import read_snapshots
from irvae_core.train.trainer import train
from irvae_core.viz.latent import latent_figure
from irvae_core.viz.summary import run_summary_html
from tests.app_helpers import APP, array, open_page, widget
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # the app in AppTest on trained runs

RUNS = "Runs (one, or two side by side)"


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory) -> Path:
    """A VAE (1 epoch) and an IRVAE (3 epochs) on scikit-learn's digits, latent size 2, and an IRVAE of latent
    size 3 (1 epoch)."""
    folder = tmp_path_factory.mktemp("runs")
    for name, reg, m, epochs in (("lat-vae", "none", 2, 1), ("lat-irvae", "ir", 2, 3), ("lat-m3", "ir", 3, 1)):
        cfg = tiny_config(**{"train.epochs": epochs, "reg.kind": reg, "reg.alpha": 1.0, "model.latent_dim": m})
        cfg.name = name
        evaluate_run(train(cfg, str(folder)))
    return folder


def run_named(folder: Path, name: str):
    return next(r for r in list_runs(folder) if r.raw_config()["name"] == name)


def figure(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def roles(fig: dict, role: str) -> list[int]:
    return [i for i, t in enumerate(fig["data"]) if (t.get("meta") or {}).get("role") == role]


def opened_on(folder: Path, monkeypatch, name: str):
    monkeypatch.setenv("IRVAE_RUNS", str(folder))
    at = open_page("app_pages/latent.py")
    widget(at.multiselect, RUNS).set_value([str(run_named(folder, name).path)]).run()
    assert not at.exception
    return at


def opening(link: dict) -> AppTest:
    """A new session whose first page is the Latent page at ``link``'s query parameters."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    for key, value in link.items():
        at.query_params[key] = value if isinstance(value, str) else value[0]
    return at.switch_page("app_pages/latent.py").run()


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


@pytest.mark.parametrize("name", ["lat-irvae", "lat-m3"])
def test_a_click_off_the_data_decodes_that_point_and_shows_the_metric_there(runs_folder, monkeypatch, name):
    at = opened_on(runs_folder, monkeypatch, name)
    fig = figure(at)
    [grid] = roles(fig, "grid")
    x, y = array(fig["data"][grid]["x"]), array(fig["data"][grid]["y"])
    corner = int(np.argmax(x + y))  # the grid's top-right corner: beyond every test point
    at.session_state["latent-plot"] = {"selection": {"points": [
        {"curve_number": grid, "point_number": corner, "x": float(x[corner]), "y": float(y[corner])}]}}
    at.run()
    assert not at.exception and not at.error
    run = run_named(runs_folder, name)
    model = load_model(run)
    z = encode_split(model, load_dataset("digits").test)[0]
    xy = np.array([x[corner], y[corner]])
    if z.shape[1] == 2:
        code = torch.tensor(xy, dtype=torch.float32)[None]
        assert any("equidistance ellipse" in c.value for c in at.caption)
    else:  # the PCA plane through the mean code: the rest of the code is the mean's
        _, _, vt = torch.linalg.svd(z - z.mean(0), full_matrices=False)
        code = (z.mean(0) + torch.tensor(xy, dtype=torch.float32) @ vt[:2])[None]
        assert any("rest of its code is the mean of the test codes" in c.value for c in at.caption)
    g = pullback_metric(model.decode, code).double()[0]
    shown = widget(at.metric, "Condition number of G").value
    assert float(shown) == pytest.approx(float(condition_numbers(g[None])[0]), rel=1e-3)
    eig_text = next(m.value for m in at.markdown if m.value.startswith("Eigenvalues of the pullback metric"))
    assert np.allclose(numbers(eig_text.split(":", 1)[1]), torch.linalg.eigvalsh(g).numpy(), rtol=1e-3)
    assert [c for image in at.image for c in image.captions] == ["decoded"]
    fig = figure(at)  # the clicked point's ellipse and cross are drawn on the plane
    assert len(roles(fig, "clicked-ellipse")) == 1 and len(roles(fig, "clicked")) == 1
    cross = fig["data"][roles(fig, "clicked")[0]]
    assert np.allclose([array(cross["x"])[0], array(cross["y"])[0]], xy)


def test_a_box_selection_shows_the_brushed_examples_and_their_condition_numbers(runs_folder, monkeypatch):
    at = opened_on(runs_folder, monkeypatch, "lat-irvae")
    fig = figure(at)
    curves = [i for i, t in enumerate(fig["data"]) if t["type"] == "scattergl" and i not in roles(fig, "grid")]
    chosen = [(c, int(v)) for c in curves[:2] for v in array(fig["data"][c]["customdata"])[:3]]
    [grid] = roles(fig, "grid")
    points = [{"curve_number": c, "point_number": k, "customdata": v} for k, (c, v) in enumerate(chosen)]
    points.append({"curve_number": grid, "point_number": 0, "x": 0.0, "y": 0.0})  # a grid point in the box: ignored
    at.session_state["latent-plot"] = {"selection": {"points": points, "box": [{"x": [0, 1], "y": [0, 1]}]}}
    at.run()
    assert not at.exception and not at.error
    head = next(m.value for m in at.markdown if "test examples selected" in m.value)
    assert head.startswith(f"**{len(chosen)} test examples selected**")
    data = load_dataset("digits")
    model = load_model(run_named(runs_folder, "lat-irvae"))
    z, y, _ = encode_split(model, data.test)
    cond = condition_numbers(pullback_metric(model.decode, z).double()).numpy()
    picked = np.array(sorted(v for _, v in chosen))
    mean, std = numbers(widget(at.metric, "cond(G) of the selection").value)
    assert mean == pytest.approx(cond[picked].mean(), rel=1e-3) and std == pytest.approx(cond[picked].std(), rel=1e-2)
    mean, std = numbers(widget(at.metric, "cond(G) of all shown points").value)
    assert mean == pytest.approx(cond.mean(), rel=1e-3)
    for label in np.unique(y[picked].numpy()):  # each class and its count
        assert f"{data.label_names[label]}: {int((y[picked] == label).sum())}" in head
    captions = [c for image in at.image for c in image.captions]
    assert sorted(captions) == sorted(f"#{v}" for v in picked)  # the brushed digits, each captioned


def test_a_link_restores_the_view_and_a_stale_link_gets_one_sentence(runs_folder, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(runs_folder))
    at = opened_on(runs_folder, monkeypatch, "lat-m3")
    widget(at.slider, "Ellipses per run").set_value(60).run()
    at.radio[0].set_value("two coordinates").run()
    at.number_input[1].set_value(3).run()
    link = dict(at.query_params)
    assert link["runs"] == [run_named(runs_folder, "lat-m3").name] or link["runs"] == run_named(runs_folder,
                                                                                               "lat-m3").name
    fresh = opening(link)  # a new session opening the copied link
    assert not fresh.exception and not fresh.warning
    assert widget(fresh.multiselect, RUNS).value == [str(run_named(runs_folder, "lat-m3").path)]
    assert widget(fresh.slider, "Ellipses per run").value == 60 and fresh.radio[0].value == "two coordinates"
    assert fresh.number_input[1].value == 3 and figure(fresh)["layout"]["yaxis"]["title"]["text"] == "z3"

    stale = opening({"runs": "a-run-that-was-deleted", "ellipses": "lots"})
    assert not stale.exception and len(stale.warning) == 2
    assert "runs=a-run-that-was-deleted is not available here (no finished run named" in stale.warning[0].value
    assert "ellipses=lots" in stale.warning[1].value and widget(stale.slider, "Ellipses per run").value == 200
    assert len(widget(stale.multiselect, RUNS).value) == 1  # the page's default


def test_the_page_steps_through_the_snapshots_taken_while_the_run_trained(runs_folder, monkeypatch):
    at = opened_on(runs_folder, monkeypatch, "lat-irvae")
    run = run_named(runs_folder, "lat-irvae")
    slider = widget(at.select_slider, f"Epoch · {run.name}")
    assert list(slider.options) == ["1", "2", "3"] and slider.value == 3
    slider.set_value(2).run()
    assert not at.exception
    snap = read_snapshots(run)[1]
    fig = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "after epoch 2" in str(json.loads(c.proto.spec)["layout"].get("annotations")))
    centres = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == "ellipses"]
    assert sum(t["meta"]["count"] for t in centres) == len(snap["xy"])
    xs = np.concatenate([array(t["x"]) for t in fig["data"] if t["type"] == "scattergl"])
    assert np.allclose(np.sort(xs), np.sort(np.asarray(snap["xy"])[:, 0]), atol=1e-6)



def test_a_runs_summary_is_one_offline_html_file_with_its_numbers_and_figures(runs_folder, monkeypatch):
    run = run_named(runs_folder, "lat-irvae")
    at = opened_on(runs_folder, monkeypatch, "lat-irvae")
    assert [b.proto.label for b in at.get("download_button")] == ["Summary (HTML)"]
    page = run_summary_html(run, [("Latent plane", latent_figure([]))])
    ev = run.evaluation()
    assert page.startswith("<!DOCTYPE html>") and f"<h1>{run.name}</h1>" in page
    assert f"<tr><th>mse</th><td>{ev['mse']}</td></tr>" in page and f"<th>mcn</th><td>{ev['mcn']}</td>" in page
    assert page.count('class="plotly-graph-div"') == 2 and "Training curves" in page
    assert page.count("plotly.js v") <= 2 and len(page) > 1_000_000  # plotly.js inlined once: opens offline
    assert json.loads(page.split("<h2>config.json</h2><pre>")[1].split("</pre>")[0].replace("&quot;", '"')) \
        == run.raw_config()
