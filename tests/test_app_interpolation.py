"""The Interpolation page through Streamlit's AppTest, against real tiny runs in a temporary runs folder."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from irvae_core.data import load_dataset
from irvae_core.geometry.planes import plane_basis
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import atomic_write_json
from irvae_core.store.runs import list_runs, open_run
from irvae_core.train.encoding import encode_split
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from irvae_core.views.interpolation import encode_test_examples, example_geodesic
from tests.app_helpers import array, open_page, widget
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # AppTest on trained runs

PAGE = "app_pages/interpolation.py"
RUNS = "Runs (one, or two side by side)"








def figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def path_traces(fig: dict, role: str) -> dict[str, np.ndarray]:
    """axis -> (n, 2) points of the traces with that meta role."""
    return {t.get("xaxis", "x"): np.stack([array(t["x"]), array(t["y"])], 1) for t in fig["data"]
            if (t.get("meta") or {}).get("role") == role}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A finished VAE and IRVAE on the digits (8x8 images), one epoch each."""
    folder = tmp_path_factory.mktemp("runs")
    for name, reg in (("tiny-vae", "none"), ("tiny-irvae", "ir")):
        cfg = tiny_config(**{"train.epochs": 1, "reg.kind": reg, "reg.alpha": 1.0})
        cfg.name = name
        evaluate_run(train(cfg, str(folder)))
    return folder


def test_two_runs_show_both_strips_paths_and_speeds_for_two_chosen_examples(two_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(two_runs))
    at = open_page(PAGE)
    runs = list_runs(two_runs)
    widget(at.multiselect, RUNS).set_value([str(r.path) for r in runs]).run()
    widget(at.selectbox, "B: class").set_value(3).run()
    widget(at.number_input, "B: which one of that class").set_value(2).run()
    assert not at.exception and not at.error
    data = load_dataset("digits")
    labels = np.array([int(data.test[i][1]) for i in range(len(data.test))])
    a, b = int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels == 3)[2])
    assert any(f"A = test #{a}, B = test #{b}" in c.value for c in at.caption)
    assert captions(at).count("straight line, decoded") == 2 and captions(at).count("geodesic, decoded") == 2
    latent = figures(at)[0]
    straight, geo = path_traces(latent, "straight path"), path_traces(latent, "geodesic path")
    assert set(straight) == set(geo) == {"x", "x2"}
    for axis, run in zip(("x", "x2"), runs):
        model = load_model(run)
        z = encode_test_examples(model, data, [a, b]).numpy()
        assert np.allclose(straight[axis][[0, -1]], z, atol=1e-5) and np.allclose(geo[axis][[0, -1]], z, atol=1e-5)
        assert len(geo[axis]) == 16 and np.allclose(straight[axis], np.linspace(z[0], z[1], 16), atol=1e-5)
        expected = example_geodesic(model, data, a, b, 16)
        assert any(f"ratio {expected.length_ratio:.3f}" in c.value and f"geodesic {expected.length:.3g}" in c.value
                   for c in at.caption)
    speeds = [f for f in figures(at) if f["layout"].get("yaxis", {}).get("title", {}).get("text") == "‖Δx‖ / Δt"]
    assert len(speeds) == 2 and all([t["name"] for t in f["data"]] == ["straight line", "geodesic"] for f in speeds)
    assert sum(c.startswith("columns: -2σ, -1σ, +0σ, +1σ, +2σ") for c in captions(at)) == 2  # axis modulation


def test_fewer_points_and_the_same_example_twice(two_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(two_runs))
    at = open_page(PAGE)
    widget(at.slider, "Points per path").set_value(8).run()
    assert len(path_traces(figures(at)[0], "geodesic path")["x"]) == 8
    widget(at.selectbox, "B: class").set_value(0).run()
    assert not at.exception and len(at.error) == 1
    assert "was picked twice: pick two different examples" in at.error[0].value
    assert figures(at) and not captions(at)  # the latent plot stays; no strips


def test_random_pairs_and_clicked_points(two_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(two_runs))
    at = open_page(PAGE)
    at.radio[0].set_value("at random").run()
    first = next(c.value for c in at.caption if c.value.startswith("A = test #"))
    widget(at.button, "Draw another pair").click().run()
    second = next(c.value for c in at.caption if c.value.startswith("A = test #"))
    assert not at.exception and first != second and captions(at).count("geodesic, decoded") == 1

    at.radio[0].set_value("by clicking two points on the plot").run()
    fig = figures(at)[0]
    points = [i for i, t in enumerate(fig["data"]) if t["type"] == "scattergl"]
    assert not path_traces(fig, "geodesic path") and "Click a test point" in at.info[0].value
    for curve in points[:2]:  # one click on the first point of each of two classes
        index = int(array(fig["data"][curve]["customdata"])[0])
        at.session_state["interpolation-plot"] = {"selection": {"points": [
            {"curve_number": curve, "point_number": 0, "customdata": index}]}}
        at.run()
    assert not at.exception and len(path_traces(figures(at)[0], "geodesic path")) == 1
    assert captions(at).count("geodesic, decoded") == 1


def test_bad_runs_are_each_named_in_one_sentence(two_runs, tmp_path, monkeypatch):
    good = list_runs(two_runs)[0]
    folder = tmp_path / "runs"
    running = shutil.copytree(good.path, folder / "still-running")
    writer = open_run(running).lock("a training process")  # a live writer holds its lock (a free lock: interrupted)
    open_run(running).set_status("running", epoch=3, epochs=40, pid=os.getppid())
    gone = shutil.copytree(good.path, folder / "data-gone")
    empty = shutil.copytree(good.path, folder / "data-empty")
    for run, root in ((gone, tmp_path / "no-such-folder"), (empty, tmp_path / "empty")):
        raw = open_run(run).raw_config()
        atomic_write_json(run / "config.json", {**raw, "data": {**raw["data"], "name": "mnist", "root": str(root)}})
    (tmp_path / "empty").mkdir()
    flat = train(tiny_config(**{"train.epochs": 1, "model.latent_dim": 1}), str(folder))
    monkeypatch.setenv("IRVAE_RUNS", str(folder))
    at = open_page(PAGE)
    writer.release()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("still-running is still training (epoch 3 of 40)" in w for w in warnings)
    assert any(f"{flat.name} has a latent space of size 1" in w for w in warnings)
    assert any("data-gone was trained on mnist from the data folder" in w and "which is gone" in w for w in warnings)
    assert len(warnings) == 3
    assert widget(at.multiselect, RUNS).options == ["data-empty · IRVAE · mnist"]  # its folder exists: offered
    assert len(at.error) == 1 and "Could not walk through this run" in at.error[0].value
    assert "empty" in at.error[0].value and "Traceback" not in at.error[0].value


def test_vector_data_in_three_latent_dimensions_as_line_plots(tmp_path, monkeypatch):
    run = train(tiny_config(**{"data.name": "synthetic-mocap", "model.latent_dim": 3, "train.epochs": 1,
                               "train.batch_size": 200}), str(tmp_path))
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page(PAGE)
    assert not at.exception and not at.error and not at.image
    titles = [f["layout"].get("title", {}).get("text") for f in figures(at)]
    assert "straight line, decoded" in titles and "geodesic, decoded" in titles
    latent = figures(at)[0]
    assert latent["layout"]["xaxis"]["title"]["text"] == "PC1"  # projected to the PCA plane, paths too
    data, model = load_dataset("synthetic-mocap"), load_model(run)
    a = next(i for i in range(len(data.test)) if int(data.test[i][1]) == 0)
    b = next(i for i in range(len(data.test)) if int(data.test[i][1]) == 1)
    assert any(f"A = test #{a}, B = test #{b}" in c.value for c in at.caption)
    origin, basis, _ = plane_basis(encode_split(model, data.test)[0], "pca")
    ends = ((encode_test_examples(model, data, [a, b]) - origin) @ basis).numpy()
    assert np.allclose(path_traces(latent, "straight path")["x"][[0, -1]], ends, atol=1e-5)
    at.radio[1].set_value("top principal directions").run()
    widget(at.number_input, "How many").set_value(2).run()
    modulation = figures(at)[-1]
    assert [a["text"] for a in modulation["layout"]["annotations"]] == ["PC1", "PC2"]
    assert len(modulation["data"]) == 2 * 5 and not at.exception


def test_a_second_session_reads_the_geodesic_the_first_one_found(two_runs, monkeypatch):
    """The server's sessions share geodesics (a classroom opening one pair finds it once): the first session fills the
    pair's shared slot, the second shows that geodesic without finding it again."""
    import re

    from app_pages.common import shared_geodesic
    from irvae_core.store.summaries import checkpoint_mtime

    monkeypatch.setenv("IRVAE_RUNS", str(two_runs))
    shared_geodesic.clear()  # the module's earlier tests found this pair's geodesics already
    shown = []
    for _ in range(2):  # two sessions of one process, as two visitors of one server
        at = open_page(PAGE)
        assert not at.exception and not at.error
        [path] = widget(at.multiselect, RUNS).value
        a, b = map(int, re.search(r"A = test #(\d+), B = test #(\d+)", " ".join(c.value for c in at.caption)).groups())
        slot = shared_geodesic(path, checkpoint_mtime(open_run(path)), a, b, 16)
        assert slot.geodesic is not None and not slot.lock.locked()
        shown.append((slot, slot.geodesic, [c.value for c in at.caption if c.value.startswith("Length")]))
    (slot1, geo1, lengths1), (slot2, geo2, lengths2) = shown
    assert slot2 is slot1 and geo2 is geo1  # the second session did not replace it with a geodesic of its own
    assert lengths1 == lengths2 and f"geodesic {geo1.length:.3g}" in lengths1[0]


def test_a_shared_geodesic_is_found_once_waiters_hold_nothing_and_a_failed_search_is_retried():
    """The slot behind the sharing, with threads as sessions: two asking at once get one search; a waiter stopped
    while waiting (a rerun, a closed tab) leaves the slot usable; a search that fails is tried again by the next."""
    import threading

    from app_pages.common import SharedGeodesic

    slot, searches, started, go = SharedGeodesic(), [], threading.Event(), threading.Event()
    geodesic = object()

    def slow_find():
        searches.append(1)
        started.set()
        go.wait(10)
        return geodesic

    got = []
    first = threading.Thread(target=lambda: got.append(slot.get(slow_find, lambda: None)))
    first.start()
    assert started.wait(10)
    waits = []
    second = threading.Thread(target=lambda: got.append(slot.get(slow_find, lambda: waits.append(1) or go.set(),
                                                                  poll_s=0.01)))
    second.start()
    first.join(10)
    second.join(10)
    assert got == [geodesic, geodesic] and searches == [1] and waits  # the second waited, then read the first's

    class Rerun(Exception):
        pass

    def stopped_wait():
        raise Rerun

    slot, searching, release = SharedGeodesic(), threading.Event(), threading.Event()
    holder = threading.Thread(target=slot.get, args=(lambda: searching.set() or release.wait(10) and geodesic,
                                                     lambda: None))
    holder.start()
    assert searching.wait(10)  # the holder has the lock and is searching
    with pytest.raises(Rerun):  # a waiting session's rerun arrives while the other one searches
        slot.get(lambda: geodesic, stopped_wait, poll_s=0.01)
    release.set()
    holder.join(10)
    assert slot.geodesic is geodesic and not slot.lock.locked()

    def failing():
        raise ValueError("test example #3 was picked twice")

    slot = SharedGeodesic()
    with pytest.raises(ValueError):
        slot.get(failing, lambda: None)
    assert slot.geodesic is None and not slot.lock.locked()
    assert slot.get(lambda: geodesic, lambda: None) is geodesic  # the next session tries again
