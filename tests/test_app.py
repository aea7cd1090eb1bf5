"""Every page through Streamlit's AppTest, against real (tiny) runs and jobs in a temporary runs folder."""

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from irvae_core.data import load_dataset
from irvae_core.experiments.jobs import get_manager
from irvae_core.store.checkpoints import load_model
from irvae_core.store.runs import list_runs, new_run, open_run
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.snapshots import read_snapshots
from irvae_core.train.trainer import train
from irvae_core.views.latent import run_view
from irvae_core.viz.latent import color_levels, color_range
from tests.app_helpers import APP, array, open_page, widget
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # the app in AppTest on trained runs

RUNS = "Runs (one, or two side by side)"
PAGES = ["app_pages/home.py", "app_pages/train.py", "app_pages/latent.py", "app_pages/tradeoff.py",
         "app_pages/interpolation.py", "app_pages/mocap.py"]








def assert_shows(text: str, value: float, what: str) -> None:
    """A number as a page prints it ("1.23", "0.0456", "7.1e-05") is ``value`` rounded to the digits shown."""
    if not math.isfinite(value):  # a degenerate decoder's VoR or MCN
        assert text.lower() == str(value).lower(), f"{what}: shows {text}, evaluation.json has {value}"
        return
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    half_unit = 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    assert abs(float(text) - value) <= 1.001 * half_unit, f"{what}: shows {text}, evaluation.json has {value}"


def figure(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> Path:
    """Two finished, evaluated runs named like the Home page's quick start (a VAE and an IRVAE)."""
    folder = tmp_path_factory.mktemp("runs")
    for name, reg in (("quickstart-vae", "none"), ("quickstart-irvae", "ir")):
        cfg = tiny_config(**{"train.epochs": 1, "reg.kind": reg, "reg.alpha": 1.0})
        cfg.name = name
        evaluate_run(train(cfg, str(folder)))
    return folder


def run_named(folder: Path, name: str):
    return next(r for r in list_runs(folder) if r.raw_config()["name"] == name)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_zero_runs(tmp_path, monkeypatch, page):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page(page)
    assert not at.error
    assert at.title[0].value in ("IRVAE Lab", "Train", "Latent geometry", "Tradeoff", "Interpolation",
                                 "Motion capture")


def test_the_train_form_runs_a_real_job_to_done(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/train.py")
    widget(at.selectbox, "Dataset").set_value("digits")
    widget(at.number_input, "Epochs").set_value(1)
    widget(at.text_input, "Hidden widths (FC)").set_value("32,32")
    widget(at.number_input, "Batch size").set_value(20)
    widget(at.checkbox, "Write TensorBoard logs").uncheck()
    widget(at.button, "Start training").click().run()
    assert not at.exception and "in the background" in at.success[0].value
    [job] = get_manager(tmp_path).jobs()
    assert get_manager(tmp_path).wait(job.id, timeout=120).state == "done"
    at.run()
    table = at.dataframe[0].value
    assert list(table["state"]) == ["done"] and list(table["epoch"]) == ["1/1"]
    evaluation = open_run(job.runs[0]).evaluation()
    for key in ("mse", "mcn", "vor"):  # the runs table shows the run's evaluation.json, column by column
        assert table[key][0] == pytest.approx(evaluation[key], rel=1e-9), key
    cfg = open_run(job.runs[0]).config()
    assert (cfg.data.name, cfg.model.hidden, cfg.train.batch_size, cfg.train.tensorboard) == ("digits", [32, 32], 20,
                                                                                              False)
    assert any(job.label in m.value and "`done`" in m.value for m in at.markdown)
    # the job card shows, beside the loss, the latent plane of the worker's last snapshot
    planes = [f for f in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
              if "after epoch" in str(f["layout"].get("annotations"))]
    assert planes and "latent plane after epoch 1" in planes[0]["layout"]["annotations"][0]["text"]
    shown = sum(t["meta"]["count"] for t in planes[0]["data"] if (t.get("meta") or {}).get("role") == "ellipses")
    assert shown == len(read_snapshots(open_run(job.runs[0]))[0]["xy"]) > 0


def test_failed_jobs_and_runs_show_their_reason_not_a_stack_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    crashed = new_run(tmp_path, tiny_config())
    crashed.set_status("failed", error="the loss became nan at epoch 3, step 7", trace="Traceback (most recent ...")
    at = open_page("app_pages/train.py")
    widget(at.selectbox, "Dataset").set_value("cmu")
    widget(at.text_input, "Data folder (real datasets only)").set_value(str(tmp_path / "no-such-folder"))
    widget(at.button, "Start training").click().run()
    [job] = get_manager(tmp_path).jobs()
    assert get_manager(tmp_path).wait(job.id, timeout=60).state == "failed"
    at.run()
    errors = [e.value for e in at.error]
    assert any("no-such-folder" in e and "does not exist" in e for e in errors)
    assert any(crashed.name in e and "the loss became nan at epoch 3, step 7" in e for e in errors)
    assert not at.exception and not any("Traceback" in e for e in errors)


def test_latent_page_draws_the_expected_ellipse_traces(finished_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(finished_runs))
    run = run_named(finished_runs, "quickstart-irvae")
    at = open_page("app_pages/latent.py")
    widget(at.multiselect, RUNS).set_value([str(run.path)])
    at.slider[0].set_value(100).run()
    assert not at.exception and not at.error
    fig = figure(at)
    ellipses = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == "ellipses"]
    view = run_view(run, load_model(run), load_dataset("digits"), n_ellipses=100)
    assert len(ellipses) == len(np.unique(color_levels(view.cond, color_range(view.cond))))
    assert sum(t["meta"]["count"] for t in ellipses) == 100
    assert sum(np.isnan(array(t["x"])).sum() for t in ellipses) == 100
    points = [t for t in fig["data"] if t["type"] == "scattergl" and (t.get("meta") or {}).get("role") != "grid"]
    assert sum(len(array(t["x"])) for t in points) == len(view.xy) == len(load_dataset("digits").test)
    assert [m.label for m in at.metric] == ["MCN", "VoR", "MSE"]


def test_latent_page_projects_a_larger_latent_space_to_a_plane(tmp_path, monkeypatch):
    evaluate_run(train(tiny_config(**{"train.epochs": 1, "model.latent_dim": 3}), str(tmp_path)))
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/latent.py")
    assert any("restricted" in i.value for i in at.info)
    assert figure(at)["layout"]["xaxis"]["title"]["text"] == "PC1"
    at.radio[0].set_value("two coordinates").run()
    at.number_input[1].set_value(3).run()
    assert not at.exception and figure(at)["layout"]["yaxis"]["title"]["text"] == "z3"
    at.number_input[1].set_value(1).run()
    assert "two different latent coordinates" in at.error[0].value


def test_latent_page_shows_two_runs_side_by_side(finished_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(finished_runs))
    at = open_page("app_pages/latent.py")
    widget(at.multiselect, RUNS).set_value([str(r.path) for r in list_runs(finished_runs)]).run()
    fig = figure(at)
    assert {t.get("xaxis") for t in fig["data"] if t["type"] == "scattergl"} == {"x", "x2"}
    assert sum(1 for t in fig["data"] if (t.get("marker") or {}).get("showscale")) == 1
    assert len(at.metric) == 6


def test_latent_page_shows_exactly_the_numbers_of_evaluation_json(finished_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(finished_runs))
    at = open_page("app_pages/latent.py")
    runs = list_runs(finished_runs)
    widget(at.multiselect, RUNS).set_value([str(r.path) for r in runs]).run()
    assert not at.exception
    groups: list[dict[str, str]] = []  # the metric widgets of each run, in the order the runs were chosen
    for m in at.metric:
        if not groups or m.label in groups[-1]:
            groups.append({})
        groups[-1][m.label] = m.value
    assert len(groups) == len(runs)
    for run, shown in zip(runs, groups):
        evaluation = run.evaluation()
        assert {"MCN", "VoR", "MSE"} <= set(shown)
        for label, key in (("MCN", "mcn"), ("VoR", "vor"), ("MSE", "mse")):
            assert_shows(shown[label], evaluation[key], f"{run.name} {label}")


def test_a_corrupt_checkpoint_is_one_sentence_on_the_latent_page(finished_runs, tmp_path, monkeypatch):
    copy = shutil.copytree(list_runs(finished_runs)[0].path, tmp_path / "broken")
    for name in ("best.pt", "last.pt"):
        (copy / name).write_bytes(b"not a checkpoint")
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/latent.py")
    assert not at.exception and len(at.error) == 1
    assert "Could not draw the latent space" in at.error[0].value and "corrupt" in at.error[0].value


def test_home_shows_the_quick_start_side_by_side(finished_runs, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(finished_runs))
    at = open_page("app_pages/home.py")
    fig = figure(at)
    assert [a["text"].split(" · ")[0] for a in fig["layout"]["annotations"]] == ["VAE", "IRVAE"]
    for name in ("quickstart-vae", "quickstart-irvae"):  # each run's caption: its evaluation.json, by name
        run = run_named(finished_runs, name)
        [caption] = [c.value for c in at.caption if run.name in c.value]
        shown = dict(re.findall(r"(MCN|VoR|MSE) ([-+.\deE]+|nan|inf)", caption))
        assert set(shown) == {"MCN", "VoR", "MSE"}, caption
        for label, key in (("MCN", "mcn"), ("VoR", "vor"), ("MSE", "mse")):
            assert_shows(shown[label], run.evaluation()[key], f"{name} {label}")


def test_quick_start_submits_a_vae_and_an_irvae_on_embedded_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/home.py")
    widget(at.button, "Train a VAE and an IRVAE on MNIST").click().run()
    manager = get_manager(tmp_path)
    jobs = manager.jobs()
    for job in jobs:
        manager.cancel(job.id)
    assert [j.label for j in jobs] == ["quick start: IRVAE", "quick start: VAE"]  # newest first
    cfgs = [open_run(j.runs[0]).config() for j in jobs]
    assert [(c.data.name, c.model.latent_dim, c.reg.kind, c.train.epochs) for c in cfgs] == [
        ("mnist5k", 2, "ir", 40), ("mnist5k", 2, "none", 40)]
    assert manager.get(jobs[0].id).state == "cancelled"  # was queued: never starts
    # the VAE stops at its first step, once its data are loaded (not waited for here)


def test_tradeoff_sweep_runs_in_the_background_and_draws_one_curve(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/tradeoff.py")
    widget(at.selectbox, "Dataset").set_value("digits")
    widget(at.text_input, "α values").set_value("2, 0.5")
    widget(at.number_input, "Epochs per run").set_value(1)
    widget(at.button, "Start sweep").click().run()
    [job] = get_manager(tmp_path).jobs()
    assert job.kind == "sweep" and get_manager(tmp_path).wait(job.id, timeout=120).state == "done"
    at.run()
    assert not at.exception and not at.error
    traces = figure(at)["data"]
    assert [t["name"] for t in traces] == ["IRVAE", "IRVAE"]
    assert [t.split(" · ")[0] for t in traces[0]["text"]] == ["alpha 0.5", "alpha 2"]


def test_an_interrupted_run_resumes_from_the_train_page(tmp_path, monkeypatch):
    run = train(tiny_config(**{"train.epochs": 2}), str(tmp_path))
    run.set_status("running", epoch=1, epochs=2, pid=2**22 + 12345)  # a process that no longer exists
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/train.py")
    assert any(run.name in m.value and "epoch 1 of 2" in m.value for m in at.markdown)
    widget(at.button, "Resume").click().run()
    [job] = get_manager(tmp_path).jobs()
    assert job.runs == [str(run.path)] and get_manager(tmp_path).wait(job.id, timeout=60).state == "done"


def test_flatten_button_trains_a_flattening_module_on_the_chosen_run(finished_runs, tmp_path, monkeypatch):
    base = shutil.copytree(run_named(finished_runs, "quickstart-irvae").path, tmp_path / "irvae")
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    at = open_page("app_pages/train.py")
    assert widget(at.selectbox, "Run").value == str(base)
    widget(at.number_input, "Flattening epochs").set_value(1)
    assert (widget(at.number_input, "Coupling layers").value, widget(at.number_input, "Coupling width").value) == \
        (8, 512)  # the paper's module by default
    widget(at.number_input, "Coupling layers").set_value(2)
    widget(at.number_input, "Coupling width").set_value(16)
    widget(at.button, "Flatten").click().run()
    [job] = get_manager(tmp_path).jobs()
    assert job.kind == "flatten" and get_manager(tmp_path).wait(job.id, timeout=120).state == "done"
    flat = open_run(job.runs[0])
    raw = flat.raw_config()
    assert flat.name.startswith("irvae-fm") and raw["type"] == "flatten"
    assert Path(raw["base_run"]) == base.resolve() and raw["flatten"]["epochs"] == 1
    assert (raw["flatten"]["depth"], raw["flatten"]["width"]) == (2, 16)
    assert [r["epoch"] for r in flat.metrics()] == [1] and flat.status()["state"] == "done"
    x = load_dataset("digits").test.x
    with torch.no_grad():  # a flattening module changes the coordinates, not the reconstructions
        torch.testing.assert_close(load_model(flat).reconstruct(x), load_model(open_run(base)).reconstruct(x),
                                   rtol=0, atol=1e-4)


def test_the_core_never_imports_streamlit():
    root = Path(APP).parent
    core = [*(root / "irvae_core").rglob("*.py"), *(root / "models").rglob("*.py")]
    assert not [p for p in core if "import streamlit" in p.read_text() or "from streamlit" in p.read_text()]
