"""The Distances page through Streamlit's AppTest: the shipped examples, a tiny run evaluated with the suite,
and the runs it cannot describe, each in one sentence."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from irvae_core.store.files import atomic_write_json
from irvae_core.store.runs import open_run
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.trainer import train
from tests.app_helpers import array, open_page, widget
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # AppTest on trained runs

PAGE = "app_pages/distances.py"
RUNS = "Runs (one, or two side by side)"


def panels(fig: dict, mode: str = "markers") -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for t in fig["data"]:
        if t.get("mode") == mode:
            out.setdefault(t.get("xaxis", "x"), []).append(t)
    return out


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory) -> Path:
    """A finished IRVAE on the digits, evaluated with a small suite (8 pairs, 60 points)."""
    folder = tmp_path_factory.mktemp("runs")
    cfg = tiny_config(**{"train.epochs": 1, "reg.kind": "ir", "reg.alpha": 1.0})
    cfg.name = "tiny-irvae"
    run = train(cfg, str(folder))
    evaluate_run(run, distances=True, suite_pairs=8, suite_points=60)
    return folder


def test_opens_on_the_shipped_pair_with_their_stored_suites(shipped_examples, tmp_path, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    home = open_page("app_pages/home.py")
    assert "distances" in [link.proto.page for link in home.get("page_link")]  # Home links here (url_path)
    at = open_page(PAGE)
    assert not at.warning and not at.error
    chosen = widget(at.multiselect, RUNS).value
    assert [Path(p).name for p in chosen] == ["mnist5k-vae", "mnist5k-irvae"]
    agreement, distortion = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    for axis, name in (("x", "mnist5k-vae"), ("x2", "mnist5k-irvae")):
        stored = json.loads((shipped_examples / name / "distances.json").read_text())
        ev = json.loads((shipped_examples / name / "evaluation.json").read_text())["distances"]
        dots = panels(agreement)[axis]
        xs = np.concatenate([array(t["x"]) for t in dots])
        ys = np.concatenate([array(t["y"]) for t in dots])
        assert sorted(xs) == pytest.approx(sorted(stored["latent"])) and len(xs) == ev["geo_pairs"]
        assert sorted(ys) == pytest.approx(sorted(stored["geodesic"]))
        (points,) = panels(distortion)[axis]
        assert array(points["marker"]["color"]) == pytest.approx(np.asarray(stored["rank_error"]))
    titles = [a["text"] for a in agreement["layout"]["annotations"]]
    vae, irvae = (json.loads((shipped_examples / n / "evaluation.json").read_text())["distances"]
                  for n in ("mnist5k-vae", "mnist5k-irvae"))
    assert f"Spearman {vae['geo_spearman']:.3f}" in titles[0] and f"Spearman {irvae['geo_spearman']:.3f}" in titles[1]
    table = at.dataframe[0].value
    assert list(table["Spearman"]) == pytest.approx([vae["geo_spearman"], irvae["geo_spearman"]])


def test_a_run_evaluated_with_the_suite_and_both_readings(suite_run, monkeypatch):
    monkeypatch.setenv("IRVAE_RUNS", str(suite_run))
    at = open_page(PAGE)
    assert [Path(p).name for p in widget(at.multiselect, RUNS).value][0].startswith("tiny-irvae")
    (run,) = [open_run(p) for p in suite_run.iterdir() if p.is_dir()]
    detail = json.loads(run.file("distances.json").read_text())
    suite = run.evaluation()["distances"]
    for reading, key, trust in (("inputs", "rank_error", suite["trustworthiness"]),
                                ("decodings", "rank_error_manifold", suite["manifold"]["trustworthiness"])):
        at.radio[0].set_value(reading).run()
        assert not at.exception
        (points,) = panels(json.loads(at.get("plotly_chart")[1].proto.spec))["x"]
        colours = array(points["marker"]["color"])
        assert colours == pytest.approx(np.asarray(detail[key]))
        # a point's share of 1 - trustworthiness (up to the order of tied distances: the digits are 17-level images)
        assert colours.mean() == pytest.approx(1 - trust, abs=1e-3)
    rows = at.dataframe[1].value
    assert list(rows["against"]) == ["inputs (pixels)", "decodings f(z)"]
    assert rows["kNN recall"].tolist() == pytest.approx([suite["knn_recall"], suite["manifold"]["knn_recall"]])


def test_runs_it_cannot_describe_are_each_one_sentence(suite_run, tmp_path, monkeypatch):
    good = next(p for p in suite_run.iterdir() if p.is_dir())
    folder = tmp_path / "runs"
    bare = shutil.copytree(good, folder / "not-evaluated")
    (bare / "evaluation.json").unlink()
    (bare / "distances.json").unlink()
    plain = shutil.copytree(good, folder / "no-suite")
    ev = json.loads((plain / "evaluation.json").read_text())
    ev.pop("distances")
    atomic_write_json(plain / "evaluation.json", ev)
    (plain / "distances.json").unlink()
    broken = shutil.copytree(good, folder / "damaged")
    (broken / "distances.json").write_text('{"latent": [1, 2], "geodesic": [1]}')
    running = shutil.copytree(good, folder / "still-running")
    open_run(running).set_status("running", epoch=3, epochs=40, pid=os.getppid())
    flat = train(tiny_config(**{"train.epochs": 1, "model.latent_dim": 1}), str(folder))
    evaluate_run(flat, distances=True)
    monkeypatch.setenv("IRVAE_RUNS", str(folder))
    at = open_page(PAGE)
    expected = {"not-evaluated": "is not evaluated yet", "no-suite": "evaluated without it",
                "damaged": "distances.json is damaged", "still-running": "has not finished training (interrupted)",
                flat.name: "has a 1-D latent space"}
    for name, sentence in expected.items():
        at.multiselect[0].set_value([str(folder / name)]).run()
        assert not at.exception
        (warning,) = [w.value for w in at.warning]
        assert sentence in warning and "Traceback" not in warning, warning
        if name != "still-running" and name != flat.name:
            assert "./lab evaluate" in warning
        assert not at.get("plotly_chart")


def test_a_run_without_the_suite_gets_it_from_one_button(suite_run, tmp_path, monkeypatch):
    good = next(p for p in suite_run.iterdir() if p.is_dir())
    plain = shutil.copytree(good, tmp_path / "runs" / "no-suite")
    ev = json.loads((plain / "evaluation.json").read_text())
    ev.pop("distances")
    atomic_write_json(plain / "evaluation.json", ev)
    (plain / "distances.json").unlink()
    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path / "runs"))
    at = open_page(PAGE)
    (button,) = [b for b in at.button if b.label.startswith("Compute it now")]
    button.click().run()
    assert not at.exception and not at.warning and not at.error
    stored = json.loads((plain / "evaluation.json").read_text())
    assert stored["mse"] == ev["mse"] and stored["distances"]["geo_pairs"] == 64  # added, the rest untouched
    detail = json.loads((plain / "distances.json").read_text())
    dots = panels(json.loads(at.get("plotly_chart")[0].proto.spec))["x"]
    assert sum(len(array(t["x"])) for t in dots) == len(detail["latent"]) == 64
