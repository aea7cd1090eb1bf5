"""The Motion capture page through Streamlit's AppTest, against real tiny runs in a temporary runs folder."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from irvae_core.data import load_dataset
from irvae_core.data.synthetic_mocap import cmu_like_asf
from irvae_core.experiments.jobs import get_manager
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import list_runs
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from irvae_core.views.latent import run_view
from irvae_core.views.mocap import (
    OFFER_ALPHA,
    OFFER_EPOCHS,
    OFFER_SIGMA,
    default_pair,
    frame_poses,
    pose_walks,
)
from tests.app_helpers import APP, open_page, widget
from tests.helpers import tiny_config, write_subject

pytestmark = pytest.mark.slow  # AppTest on trained mocap runs

PAGE = "app_pages/mocap.py"
RUNS = "Runs (one, or a VAE and an IRVAE side by side)"
TINY_MOCAP = {"data.name": "synthetic-mocap", "data.options": {"n": 700}, "train.epochs": 1, "train.batch_size": 50}






def figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A plotly JSON array: a plain list, or a typed array {"dtype", "bdata"} (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value, dtype=float)


def scenes(fig: dict) -> list[str]:
    return sorted(k for k in fig["layout"] if k.startswith("scene"))


def joints_of(fig: dict) -> list[np.ndarray]:
    """(J, 3) joints of every skeleton in a figure, in trace order."""
    out = []
    for t in fig["data"]:
        if (t.get("meta") or {}).get("role") == "joints":
            out.append(np.stack([array(t[a]) for a in "xyz"], 1))
    return out


def skeleton_figure(at: AppTest) -> dict:
    return next(f for f in figures(at) if scenes(f) and not f.get("frames"))


def click(at: AppTest, fig: dict, curve: int, point: int) -> int:
    index = int(array(fig["data"][curve]["customdata"])[point])
    at.session_state["mocap-plot"] = {"selection": {"points": [
        {"curve_number": curve, "point_number": point, "customdata": index}]}}
    at.run()
    assert not at.exception, at.exception
    return index


@pytest.fixture(scope="module")
def mocap_runs(tmp_path_factory) -> Path:
    """A finished VAE and IRVAE on 700 synthetic poses, one epoch each."""
    folder = tmp_path_factory.mktemp("runs")
    for name, reg in (("tiny-vae", "none"), ("tiny-irvae", "ir")):
        cfg = tiny_config(**TINY_MOCAP, **{"reg.kind": reg, "reg.alpha": 1.0})
        cfg.name = name
        evaluate_run(train(cfg, str(folder)))
    return folder


def test_zero_runs_offer_to_train_and_home_links_here(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    home = AppTest.from_file(APP, default_timeout=180).run()
    assert "mocap" in [link.proto.page for link in home.get("page_link")]  # url_path "mocap"
    at = open_page(PAGE)
    assert at.title[0].value == "Motion capture" and not at.error and not at.get("plotly_chart")
    assert [b.label for b in at.button] == ["Train on the CMU sample", "Train on this CMU folder"]
    assert any(f"{OFFER_EPOCHS} epochs each" in c.value for c in at.caption)


def test_the_offer_starts_a_vae_and_an_irvae_on_the_cmu_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page(PAGE)
    widget(at.button, "Train on the CMU sample").click().run()
    assert not at.exception and not at.error
    jobs = [j for j in get_manager(tmp_path).jobs() if j.label.startswith("mocap:")]
    assert sorted(j.label for j in jobs) == ["mocap: mocap-irvae", "mocap: mocap-vae"]
    for job in jobs:  # the runs are real; stop them here rather than train for a minute
        get_manager(tmp_path).cancel(job.id)
        get_manager(tmp_path).wait(job.id, timeout=120)
    configs = {r.raw_config()["name"]: r.raw_config() for r in list_runs(tmp_path)}
    assert configs["mocap-vae"]["data"]["name"] == "cmu-sample" and configs["mocap-vae"]["reg"]["kind"] == "none"
    assert configs["mocap-irvae"]["reg"]["kind"] == "ir" and configs["mocap-irvae"]["train"]["epochs"] == OFFER_EPOCHS
    assert configs["mocap-irvae"]["reg"]["alpha"] == OFFER_ALPHA and configs["mocap-vae"]["data"]["options"] == {}
    assert configs["mocap-vae"]["model"]["fixed_sigma"] == configs["mocap-irvae"]["model"]["fixed_sigma"] == OFFER_SIGMA


def test_a_cmu_folder_whose_skeleton_does_not_match_its_motions_is_named(tmp_path, monkeypatch):
    write_subject(tmp_path / "cmu", "35", {"35_01": ("walking", 20)})
    (tmp_path / "cmu" / "35.asf").write_text(cmu_like_asf().replace("name lhumerus", "name lupperarm")
                                             .replace("lclavicle lhumerus", "lclavicle lupperarm")
                                             .replace("lhumerus lradius", "lupperarm lradius"))
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page(PAGE)
    widget(at.text_input, "Or a folder of CMU files (NN.asf skeletons beside NN_MM.amc motions)").input(
        str(tmp_path / "cmu")).run()
    widget(at.button, "Train on this CMU folder").click().run()
    assert not at.exception and len(at.error) == 1
    message = at.error[0].value
    assert message.startswith("Could not use this folder: ") and "35_01.amc" in message and "35.asf" in message
    assert "'lhumerus' is not in the skeleton" in message and "Traceback" not in message
    assert not list_runs(tmp_path / "runs")  # nothing started


def test_a_good_cmu_folder_trains_both_runs_to_the_page(tmp_path, monkeypatch):
    write_subject(tmp_path / "cmu", "35", {"35_01": ("walking", 40), "35_17": ("jogging", 30)})
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page(PAGE)
    widget(at.text_input, "Or a folder of CMU files (NN.asf skeletons beside NN_MM.amc motions)").input(
        str(tmp_path / "cmu")).run()
    widget(at.button, "Train on this CMU folder").click().run()
    assert not at.exception and not at.error
    assert any("Training on 70 poses from 2 trials" in i.value for i in at.info)
    for job in get_manager(tmp_path / "runs").jobs():
        assert get_manager(tmp_path / "runs").wait(job.id, timeout=600).state == "done"
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert len(widget(at.multiselect, RUNS).value) == 2  # the VAE and the IRVAE, side by side
    assert "trial 35_" in at.subheader[0].value


def test_two_finished_runs_default_pose_click_and_walks(mocap_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(mocap_runs))
    at = open_page(PAGE)
    assert not at.error and not at.warning
    runs = {r.raw_config()["name"]: r for r in list_runs(mocap_runs)}
    chosen = widget(at.multiselect, RUNS).value
    assert chosen == [str(runs["tiny-vae"].path), str(runs["tiny-irvae"].path)]  # VAE and IRVAE by default
    data = load_dataset("synthetic-mocap", n=700)
    models = [load_model(runs[n]) for n in ("tiny-vae", "tiny-irvae")]
    view = run_view(runs["tiny-vae"], models[0], data, n_ellipses=100)
    a, b = default_pair(view)
    assert data.label_names[int(data.test.y[a])] == "walking" and data.label_names[int(data.test.y[b])] == "jogging"

    # before any click: pose A, as captured and as each model decodes it
    assert at.subheader[0].value == f"Test pose #{a}: walking (synthetic test pose #{a})"
    fig = skeleton_figure(at)
    assert scenes(fig) == ["scene", "scene2", "scene3"]
    expected = frame_poses(models, data, a).standing()
    for got, want in zip(joints_of(fig), expected):
        np.testing.assert_allclose(got, want, atol=1e-6)
    walk = pose_walks(models, data, a, b, 24)
    assert at.subheader[1].value == f"Walk from A (test #{a}) to B (test #{b})"
    animation = next(f for f in figures(at) if f.get("frames"))
    assert len(animation["frames"]) == 24 and len(scenes(animation)) == 2
    np.testing.assert_allclose(joints_of({"data": animation["frames"][23]["data"]})[1], walk.standing()[1, 23],
                               atol=1e-6)
    speeds = next(f for f in figures(at) if f["layout"].get("yaxis", {}).get("title", {}).get("text") ==
                  "joint speed (m / step)")
    assert [t["name"] for t in speeds["data"]] == [f"{m} (max/min {w.speed_ratio:.2f})" for m, w in
                                                   zip(("VAE", "IRVAE"), walk.walks)]

    # a click on a test point shows that pose
    latent = figures(at)[0]
    curve = next(i for i, t in enumerate(latent["data"]) if t["type"] == "scattergl")
    index = click(at, latent, curve, 3)
    assert at.subheader[0].value.startswith(f"Test pose #{index}: ")
    for got, want in zip(joints_of(skeleton_figure(at)), frame_poses(models, data, index).standing()):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert at.subheader[1].value == f"Walk from A (test #{a}) to B (test #{b})"  # by class: the walk stays

    # by clicking: the last two clicked are A and B
    at.radio[0].set_value("by clicking two points on the plot").run()
    latent = figures(at)[0]
    other = click(at, latent, curve, 5)
    assert at.subheader[1].value == f"Walk from A (test #{index}) to B (test #{other})"
    walk_trace = next(t for t in figures(at)[0]["data"] if (t.get("meta") or {}).get("role") == "walk")
    ends = np.stack([array(walk_trace["x"]), array(walk_trace["y"])], 1)[[0, -1]]
    points = np.stack([array(latent["data"][curve]["x"]), array(latent["data"][curve]["y"])], 1)[[3, 5]]
    assert len(array(walk_trace["x"])) == 24 and np.allclose(ends, points, atol=1e-5)  # drawn from A to B


def test_one_run_by_class_and_the_same_pose_twice(mocap_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(mocap_runs))
    at = open_page(PAGE)
    widget(at.multiselect, RUNS).set_value([widget(at.multiselect, RUNS).value[1]]).run()
    assert scenes(skeleton_figure(at)) == ["scene", "scene2"]  # captured and one decoded
    widget(at.selectbox, "B: class").set_value(0).run()
    assert not at.exception and len(at.error) == 1 and "is both A and B" in at.error[0].value
    widget(at.number_input, "B: which one of that class").set_value(2).run()
    assert not at.error and len(at.subheader) == 2
    widget(at.slider, "Poses per walk").set_value(8).run()
    assert len(next(f for f in figures(at) if f.get("frames"))["frames"]) == 8


def test_image_runs_are_not_listed_and_latent_size_3_uses_the_pca_plane(tmp_path, monkeypatch):
    evaluate_run(train(tiny_config(**{"train.epochs": 1}), str(tmp_path)))  # digits: images
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert any(i.value.startswith("Not listed: ") and "trained on other data. This page shows motion capture runs, "
               "trained on cmu, cmu-sample or synthetic-mocap." in i.value for i in at.info)
    assert at.button and not at.get("plotly_chart")  # the offer, no plot

    train(tiny_config(**TINY_MOCAP, **{"model.latent_dim": 3}), str(tmp_path))
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert any("PCA plane" in i.value for i in at.info)
    assert figures(at)[0]["layout"]["xaxis"]["title"]["text"] == "PC1"
    assert scenes(skeleton_figure(at)) == ["scene", "scene2"]
