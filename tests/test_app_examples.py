"""The shipped examples in the app (AppTest): a fresh runs folder still shows something on every page,
marked "example", and typed run names and data folders that reach outside are one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from irvae_core.experiments.examples import EXAMPLES, PAGE_EXAMPLES
from tests.app_helpers import open_page

pytestmark = pytest.mark.slow  # AppTest of every page on the shipped examples


def titles(at: AppTest, i: int = 0) -> list[str]:
    return [a["text"] for a in json.loads(at.get("plotly_chart")[i].proto.spec)["layout"]["annotations"]]


def test_home_shows_the_example_vae_and_irvae_with_no_runs(shipped_examples, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page("app_pages/home.py")
    assert titles(at) == ["VAE · mnist5k-vae (example)", "IRVAE · mnist5k-irvae (example)"]
    evaluations = [json.loads((shipped_examples / n / "evaluation.json").read_text()) for n in PAGE_EXAMPLES["home"]]
    captions = [c.value for c in at.caption if c.value.startswith(("VAE", "IRVAE"))]
    assert [f"MCN {e['mcn']:.2f}" in c for c, e in zip(captions, evaluations)] == [True, True]
    assert not list((tmp_path / "runs").glob("*"))  # showing examples writes no run of the user's


@pytest.mark.parametrize("page,key", [("app_pages/latent.py", "latent"),
                                      ("app_pages/interpolation.py", "interpolation"),
                                      ("app_pages/mocap.py", "mocap"), ("app_pages/retrieval.py", "retrieval")])
def test_each_page_opens_on_its_example_pair(shipped_examples, tmp_path, monkeypatch, page, key):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page(page)
    chosen = at.multiselect[0]
    assert [Path(p).name for p in chosen.value] == list(PAGE_EXAMPLES[key])
    shown = [chosen.format_func(p) for p in chosen.value]
    assert all(" (example) · " in s for s in shown), shown
    assert not at.error, [e.value for e in at.error]


def test_tradeoff_and_train_list_the_examples(shipped_examples, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page("app_pages/tradeoff.py")
    assert at.selectbox[0].value == "mnist5k"
    table = at.dataframe[0].value
    assert sorted(table["run"]) == ["mnist5k-irvae (example)", "mnist5k-vae (example)"]
    at = open_page("app_pages/train.py")
    runs = at.dataframe[0].value
    assert runs["run"].str.endswith("(example)").all() and len(runs) == len(EXAMPLES)
    assert not [b for b in at.button if b.key and b.key.startswith("resume-")]  # never offered for resume


@pytest.mark.parametrize("name", ["../escaped", "/tmp/escaped"])
def test_a_typed_run_name_that_is_a_path_is_one_sentence(tmp_path, monkeypatch, name):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page("app_pages/train.py")
    [field] = [t for t in at.text_input if t.label.startswith("Run name")]
    field.set_value(name)
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"Could not start the run: the run name {name!r} "
                                           + ("is a path: give a plain name, the run is stored in the runs folder"
                                              if name.startswith("/") else
                                              "names another folder ('/', '..'): give a plain name without them")]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_data_folder_outside_irvae_data_roots_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("IRVAE_DATA_ROOTS", str(tmp_path / "data"))
    at = open_page("app_pages/train.py")
    [field] = [t for t in at.text_input if t.label.startswith("Data folder")]
    field.set_value("/etc")
    [start] = [b for b in at.button if b.label == "Start training"]
    start.click().run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith(
        "Could not start the run: the data folder /etc is outside the folders this server reads data from")


def test_motion_capture_opens_on_real_cmu_skeletons(shipped_examples, tmp_path, monkeypatch):
    """The mocap examples were trained on cmu-sample: the first pose shown is a real trial, drawn with its subject's
    skeleton, and the examples' IRVAE is the flatter one on the sample's test split."""
    from irvae_core.data.cmu import SAMPLE_TRIALS

    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page("app_pages/mocap.py")
    assert not at.error, [e.value for e in at.error]
    head = next(h.value for h in at.subheader if h.value.startswith("Test pose #"))
    assert head.split(": ")[1].startswith("walking (trial ") and head.split("trial ")[1][:5] in SAMPLE_TRIALS
    vae, irvae = (json.loads((shipped_examples / n / "evaluation.json").read_text()) for n in PAGE_EXAMPLES["mocap"])
    assert vae["dataset"] == irvae["dataset"] == "cmu-sample" and (vae["split"], vae["n"]) == ("test", 1130)
    assert irvae["mcn"] < vae["mcn"]
