"""The one sweep (experiments/sweep.py): trains a list of configs on an engine, reuses finished runs of the same
config, evaluates."""

import dataclasses
import json

import pytest

from irvae_core.config import apply_overrides
from irvae_core.experiments.jobs import JobManager
from irvae_core.experiments.sweep import plan_sweep, run_sweep, same_config
from irvae_core.store.runs import list_runs, open_run
from tests.helpers import tiny_config


def alpha_configs(*alphas, **overrides):
    base = tiny_config(**{"reg.kind": "ir", "train.epochs": 1, **overrides})
    return [apply_overrides(base, {"reg.alpha": a}) for a in alphas]


@pytest.mark.slow
def test_a_sweep_trains_evaluates_and_reuses_finished_runs_of_the_same_config(tmp_path):
    events = []
    rows = run_sweep(alpha_configs(0.5, 2.0), tmp_path, on_event=events.append)
    assert [r["alpha"] for r in rows] == [0.5, 2.0] and not any(r["reused"] for r in rows)
    for r in rows:
        assert r["state"] == "done" and r["mse"] > 0 and r["mcn"] >= 1
        assert open_run(r["run"]).evaluation()["mse"] == r["mse"]  # what the run's evaluation.json says
        assert open_run(r["run"]).config().reg.alpha == r["alpha"]
    for i in (0, 1):
        fractions = [e.fraction for e in events if e.index == i]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [(e.index, e.run) for e in events if e.phase == "done"] == [(0, rows[0]["run"]), (1, rows[1]["run"])]
    assert {e.phase for e in events} == {"train", "epoch", "done"} and {e.total for e in events} == {2}

    # the same configs again: nothing trained, the same runs and numbers; a changed field trains anew
    again = run_sweep(alpha_configs(2.0, 0.5), tmp_path)
    assert [r["run"] for r in again] == [rows[1]["run"], rows[0]["run"]] and all(r["reused"] for r in again)
    assert [r["mse"] for r in again] == [rows[1]["mse"], rows[0]["mse"]]
    assert len(list_runs(tmp_path)) == 2
    other_seed = run_sweep(alpha_configs(0.5, **{"train.seed": 1}), tmp_path)
    assert not other_seed[0]["reused"] and other_seed[0]["run"] not in {r["run"] for r in rows}
    assert len(list_runs(tmp_path)) == 3


def test_a_match_is_the_whole_config_of_a_finished_training_run(tmp_path):
    [row] = run_sweep(alpha_configs(1.0), tmp_path)
    run = open_run(row["run"])
    [cfg] = plan_sweep(alpha_configs(1.0), tmp_path)
    assert cfg.reused and cfg.run.path == run.path and same_config(cfg.config, run)
    for field, value in (("reg.alpha", 1.5), ("train.epochs", 2), ("data.classes", [0, 1]), ("model.hidden", [16]),
                         ("train.lr_schedule", "constant")):
        [changed] = alpha_configs(1.0, **{field: value})
        assert not same_config(changed, run), field
    assert not same_config(dataclasses.replace(cfg.config, name="other"), run)
    run.set_status("failed", error="stopped")  # not finished: never reused
    assert not same_config(cfg.config, run)


@pytest.mark.slow
def test_a_config_repeated_in_one_sweep_is_trained_once(tmp_path):
    rows = run_sweep(alpha_configs(1.0, 1.0), tmp_path)
    assert rows[0]["run"] == rows[1]["run"] and [r["reused"] for r in rows] == [False, True]
    assert len(list_runs(tmp_path)) == 1


@pytest.mark.slow
def test_the_job_manager_and_the_cli_sweep_through_it(tmp_path, capsys):
    from irvae_core.cli import main

    jm = JobManager(tmp_path)
    first = jm.wait(jm.submit_sweep(tiny_config(**{"reg.kind": "ir", "train.epochs": 1}), [1.0]), timeout=300)
    assert first.state == "done" and len(first.runs) == 1
    second = jm.wait(jm.submit_sweep(tiny_config(**{"reg.kind": "ir", "train.epochs": 1}), [1.0, 3.0]), timeout=300)
    assert second.state == "done" and len(second.runs) == 1 and second.runs[0] != first.runs[0]  # alpha 1 reused
    assert len(list_runs(tmp_path)) == 2

    out = tmp_path / "cli"
    args = ["sweep", "--dataset", "digits", "--reg", "ir", "--alphas", "1,3", "--epochs", "1", "--latent-dim", "2",
            "--batch-size", "20", "--no-tensorboard", "--out", str(out), "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert main(args) == 0  # the second time both runs are reused
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [{**r, "reused": True} for r in rows]
    assert captured.err.count("reused") == 2 and len(list_runs(out)) == 2
