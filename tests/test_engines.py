"""Sweep engines: the local engine, and a real local Ray instance (2 CPUs) running the same sweep."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest
import torch
from helpers import main_exit_code, tiny_config

from irvae_core.experiments.engines import EngineError, LocalEngine, RayEngine, make_engine
from irvae_core.experiments.runner import train_sweep_run
from irvae_core.experiments.sweep import run_sweep
from irvae_core.store.files import load_checkpoint
from irvae_core.store.runs import list_runs, open_run
from irvae_core.store.summaries import sweep_progress

pytestmark = pytest.mark.slow  # a real local Ray

ALPHAS = (10.0, 100.0, 1000.0)


def sweep_configs(**overrides):
    return [tiny_config(**{"reg.kind": "ir", "reg.alpha": a, "train.seed": 3, **overrides}) for a in ALPHAS]


def weights(row) -> dict[str, torch.Tensor]:
    return load_checkpoint(open_run(row["run"]).file("last.pt"))["model"]


def training_metrics(row) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in open_run(row["run"]).metrics()]


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The local engine's sweep of ALPHAS in two submissions (the first two alphas, then all three): the folder,
    both submissions' rows and their updates. Ray's sweep is compared with the second's rows."""
    folder = tmp_path_factory.mktemp("local")
    updates, seen = [], []
    first = run_sweep(sweep_configs()[:2], folder, LocalEngine(threads=1), updates.append)
    again = run_sweep(sweep_configs(), folder, LocalEngine(threads=1), seen.append)
    return folder, (first, updates), (again, seen)


def test_a_resubmitted_sweep_reuses_its_finished_runs(local_sweep):
    folder, (first, updates), (again, seen) = local_sweep
    assert [r["state"] for r in first] == ["done", "done"] and not any(r["reused"] for r in first)
    assert {e.index for e in updates if e.phase == "done"} == {0, 1} and {e.total for e in updates} == {2}
    assert any(e.phase == "epoch" and e.epoch == 1 and e.record["val_loss"] > 0 for e in updates)  # per epoch
    fractions = [e.fraction for e in updates if e.index == 0]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [(e.index, e.run) for e in seen if e.phase == "reused"] == [(0, first[0]["run"]), (1, first[1]["run"])]
    assert [r["reused"] for r in again] == [True, True, False]
    assert [r["run"] for r in again[:2]] == [r["run"] for r in first]
    assert [r["mse"] for r in again[:2]] == [r["mse"] for r in first]
    assert len(list_runs(folder)) == 3  # only the new alpha was trained


def test_a_cancelled_local_sweep_leaves_no_run_active(tmp_path):
    cancel = threading.Event()
    rows = run_sweep(sweep_configs(**{"train.epochs": 50}), tmp_path, LocalEngine(threads=1),
                     lambda e: cancel.set() if e.epoch == 1 else None, cancel)
    assert [r["state"] for r in rows] == ["cancelled"] * 3


def test_a_run_folder_a_worker_cannot_see_fails_with_the_reason(tmp_path):
    status = train_sweep_run(tiny_config().to_dict(), str(tmp_path / "elsewhere"), threads=1)
    assert status["state"] == "failed" and "shared by every node" in status["error"]


def test_engine_choices_and_a_missing_ray_are_one_sentence(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="--address goes with --engine ray"):
        make_engine("local", address="10.0.0.5:6379")
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("dask")
    with pytest.raises(ValueError, match="--cpus-per-run must be positive"):
        make_engine("ray", cpus_per_run=0)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(EngineError, match="pip install -r requirements-ray.txt"):
        RayEngine()._ray()


def test_ray_sweep_equals_the_local_one_and_a_failing_run_reports_its_reason(tmp_path, ray_instance, local_sweep):
    cfgs = sweep_configs()
    local = local_sweep[2][0]  # trained by the local engine (two of them in a first submission)
    assert [r["alpha"] for r in local] == list(ALPHAS) and all(r["state"] == "done" for r in local)
    bad = tiny_config(**{"reg.kind": "ir", "data.name": "cmu", "data.root": str(tmp_path / "no-such-folder")})
    updates = []
    on_ray = run_sweep([*cfgs, bad], tmp_path / "ray", RayEngine(cpus_per_run=1, threads=1),
                       lambda e: updates.append((e.index, e.phase)))
    assert [r["state"] for r in on_ray] == ["done", "done", "done", "failed"]
    assert "no-such-folder" in on_ray[3]["error"] and "Traceback" not in on_ray[3]["error"]
    assert open_run(on_ray[3]["run"]).status()["state"] == "failed"
    progress = sweep_progress([r["run"] for r in on_ray])  # what the Tradeoff page shows per run
    assert [p["state"] for p in progress] == ["done"] * 3 + ["failed"] and progress[0]["progress %"] == 100.0
    assert "no-such-folder" in progress[3]["error"] and progress[0]["error"] is None
    for a, b in zip(local, on_ray):
        assert a["alpha"] == b["alpha"]
        assert all(torch.equal(weights(a)[k], weights(b)[k]) for k in weights(a))
        assert training_metrics(a) == training_metrics(b)
        assert (a["mse"], a["vor"], a["mcn"]) == (b["mse"], b["vor"], b["mcn"])
    assert {i for i, state in updates if state == "done"} == {0, 1, 2}
    assert all(open_run(r["run"]).status()["pid"] != os.getpid() for r in on_ray[:3])  # trained on Ray workers
    again = run_sweep(cfgs, tmp_path / "ray", RayEngine(threads=1))
    assert all(r["reused"] for r in again) and [r["run"] for r in again] == [r["run"] for r in on_ray[:3]]


def test_a_cancelled_ray_sweep_cancels_its_tasks(tmp_path, ray_instance):
    cancel = threading.Event()
    rows = run_sweep(sweep_configs(**{"train.epochs": 500}), tmp_path, RayEngine(threads=1, poll_s=0.2),
                     lambda e: cancel.set() if e.epoch else None, cancel)
    states = [r["state"] for r in rows]
    assert states == ["cancelled"] * 3, states
    before = [open_run(r["run"]).status() for r in rows]
    time.sleep(3)  # a task still training would write another epoch (or "running") by now
    assert [open_run(r["run"]).status() for r in rows] == before


def test_cli_sweep_on_ray_prints_the_table_and_per_run_progress(tmp_path, ray_instance, capsys):
    import json

    from irvae_core.cli import main

    code = main(["sweep", "--dataset", "digits", "--reg", "ir", "--alphas", "10,100", "--epochs", "1",
                 "--batch-size", "50", "--no-tensorboard", "--out", str(tmp_path), "--engine", "ray",
                 "--cpus-per-run", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert [r["alpha"] for r in rows] == [10.0, 100.0] and all(r["state"] == "done" for r in rows)
    assert "[1/2] done" in err and "[2/2] done" in err


def test_the_tradeoff_page_submits_to_ray_when_ray_address_is_set(tmp_path, monkeypatch, ray_instance):
    from irvae_core.experiments.jobs import get_manager
    from tests.app_helpers import open_page, widget

    monkeypatch.setenv("IRVAE_RUNS", str(tmp_path))
    monkeypatch.setenv("RAY_ADDRESS", "auto")  # this process is already connected to the test's Ray
    at = open_page("app_pages/tradeoff.py")
    assert "Ray cluster at auto" in " ".join(c.value for c in at.caption)
    widget(at.selectbox, "Dataset").set_value("digits")
    widget(at.text_input, "α values").set_value("2, 0.5")
    widget(at.number_input, "Epochs per run").set_value(1)
    widget(at.button, "Start sweep").click().run()
    [job] = get_manager(tmp_path).jobs()
    assert job.label.endswith("on ray")
    assert get_manager(tmp_path).wait(job.id, timeout=180).state == "done"
    assert all(open_run(r).status()["pid"] != os.getpid() and open_run(r).evaluation() for r in job.runs)
    at.run()
    assert not at.exception and not at.error
    [table] = [d.value for d in at.dataframe if "progress %" in d.value.columns]
    assert list(table["state"]) == ["done", "done"] and list(table["progress %"]) == [100.0, 100.0]
    assert sorted(table["alpha"]) == [0.5, 2.0]


@pytest.mark.parametrize("args, message", [
    (["--address", "10.0.0.5:6379"], "--address goes with --engine ray"),
    (["--cpus-per-run", "2"], "--cpus-per-run and --gpus-per-run go with --engine ray"),
    (["--engine", "ray", "--gpus-per-run", "-1"], "--gpus-per-run not negative"),
])
def test_cli_engine_options_are_checked_before_any_run(tmp_path, capsys, args, message):
    argv = ["sweep", "--dataset", "digits", "--reg", "ir", "--alphas", "1", "--out", str(tmp_path), *args]
    code = main_exit_code(argv)
    assert code == 2 and message in capsys.readouterr().err
    assert list_runs(tmp_path) == []


def test_reproduce_on_ray_gives_the_local_engines_table(tmp_path, ray_instance, tiny_mnist_tradeoff):
    import json

    from irvae_core.experiments.engines import RayEngine
    from irvae_core.experiments.reproduce import reproduce
    from irvae_core.experiments.reproduce.plan import EVALUATION

    tiny = EVALUATION["tiny"]  # each engine evaluates its runs as tiny mode asks (the command line makes them so)
    local = json.loads((tiny_mnist_tradeoff / "mnist-tradeoff" / "results.json").read_text())  # the local engine's
    on_ray = reproduce("mnist-tradeoff", tmp_path / "ray", "tiny", engine=RayEngine(threads=1, evaluate=tiny))
    assert [r["key"] for r in on_ray["rows"]] == [r["key"] for r in local["rows"]] and len(local["rows"]) == 9
    for a, b in zip(local["rows"], on_ray["rows"]):  # the same seeds and thread count: the same numbers
        assert (a["mse"], a["vor"], a["mcn"]) == (b["mse"], b["vor"], b["mcn"]), a["key"]
        assert a["points"] == b["points"] == tiny["pz_points"]  # on P_Z of tiny mode's size, Ray's workers too
    folder = tmp_path / "ray" / "mnist-tradeoff" / "runs"
    flattened = [r for r in on_ray["rows"] if r["method"] == "IRVAE+FM"]
    assert len(flattened) == 2  # the flattening modules trained on Ray workers too, after their bases
    for r in flattened:
        status = open_run(folder / r["run"]).status()
        assert status["state"] == "done" and status["pid"] != os.getpid()
    again = reproduce("mnist-tradeoff", tmp_path / "ray", "tiny", engine=RayEngine(threads=1, evaluate=tiny))
    assert [r["run"] for r in again["rows"]] == [r["run"] for r in on_ray["rows"]]  # resubmitted: reused
