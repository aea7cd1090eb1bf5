"""The background job manager: concurrency, cancel, failures, progress, interrupted runs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from irvae_core.experiments.jobs import JobManager, get_manager
from irvae_core.store.files import load_checkpoint
from irvae_core.store.runs import list_runs, open_run
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # background training jobs

ROOT = Path(__file__).resolve().parents[1]


def test_four_jobs_at_once_finish_with_consistent_run_folders(tmp_path):
    jm = JobManager(tmp_path, max_concurrent=2)
    ids = [jm.submit_train(tiny_config(**{"train.seed": s, "reg.kind": "ir" if s % 2 else "none",
                                          "reg.alpha": 1.0})) for s in range(4)]
    assert {jm.get(i).state for i in ids} <= {"queued", "running"}
    jobs = [jm.wait(i, timeout=300) for i in ids]
    assert [j.state for j in jobs] == ["done"] * 4
    folders = {j.runs[0] for j in jobs}
    assert len(folders) == 4
    for folder in folders:
        run = open_run(folder)
        assert run.status()["state"] == "done"
        assert [r["epoch"] for r in run.metrics()] == [1, 2]
        assert load_checkpoint(run.file("last.pt"))["epoch"] == 2
        assert set(run.evaluation()) >= {"mse", "vor", "mcn"}
    seeds = sorted(open_run(f).config().train.seed for f in folders)
    assert seeds == [0, 1, 2, 3]


def test_a_cancelled_job_stops_within_one_step_and_keeps_its_checkpoint(tmp_path):
    jm = JobManager(tmp_path)
    job_id = jm.submit_train(tiny_config(**{"train.epochs": 50}))
    while jm.get(job_id).step < 80:  # into the second epoch (72 steps an epoch)
        time.sleep(0.01)
    step_at_cancel = jm.get(job_id).step
    assert jm.cancel(job_id)
    job = jm.wait(job_id, timeout=60)
    assert job.state == "cancelled"
    assert job.step <= step_at_cancel + 1
    run = open_run(job.runs[0])
    assert run.status()["state"] == "cancelled"
    assert load_checkpoint(run.file("last.pt"))["epoch"] >= 1
    assert not jm.cancel(job_id)  # already finished


def test_a_queued_job_can_be_cancelled_before_it_starts(tmp_path):
    jm = JobManager(tmp_path, max_concurrent=1)
    first = jm.submit_train(tiny_config(**{"train.epochs": 3}))
    second = jm.submit_train(tiny_config(**{"train.epochs": 3}))
    assert jm.cancel(second)
    assert jm.wait(first, timeout=120).state == "done"
    assert jm.get(second).state == "cancelled"
    assert open_run(jm.get(second).runs[0]).status()["state"] == "cancelled"


def test_a_failing_job_does_not_stop_the_others(tmp_path):
    jm = JobManager(tmp_path)
    bad = jm.submit_train(tiny_config(**{"data.name": "cmu", "data.root": str(tmp_path / "no-such-folder")}))
    good = jm.submit_train(tiny_config())
    assert jm.wait(good, timeout=120).state == "done"
    failed = jm.wait(bad, timeout=10)
    assert failed.state == "failed"
    assert "no-such-folder" in failed.error and "Traceback" not in failed.error
    status = open_run(failed.runs[0]).status()
    assert status["state"] == "failed" and "no-such-folder" in status["error"]


def test_progress_is_monotone_and_reaches_one(tmp_path):
    jm = JobManager(tmp_path)
    job_id = jm.submit_sweep(tiny_config(**{"reg.kind": "ir"}), [0.1, 1.0])
    seen = []
    while jm.get(job_id).active:
        seen.append(jm.get(job_id).fraction)
        time.sleep(0.005)
    job = jm.get(job_id)
    seen.append(job.fraction)
    assert job.state == "done"
    assert all(b >= a for a, b in zip(seen, seen[1:]))
    assert seen[-1] == 1.0 and any(0 < f < 1 for f in seen)
    assert len(job.history) == 4  # two runs of two epochs
    assert len(job.runs) == 2 and all(open_run(r).evaluation() for r in job.runs)


def test_one_manager_per_runs_folder(tmp_path):
    assert get_manager(tmp_path) is get_manager(str(tmp_path))
    assert get_manager(tmp_path) is not get_manager(tmp_path / "other")


def test_runs_of_a_killed_process_show_as_interrupted_and_resume(tmp_path):
    cmd = [sys.executable, "-m", "irvae_core", "train", "--dataset", "digits", "--epochs", "200",
           "--latent-dim", "2", "--batch-size", "20", "--no-tensorboard", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # until the first epoch's checkpoint (its metrics line comes just before)
        runs = list_runs(tmp_path)
        if runs and runs[0].file("last.pt").exists() and load_checkpoint(runs[0].file("last.pt"))["epoch"] >= 1:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = list_runs(tmp_path)[0]
    assert run.status()["state"] == "running"  # what the dead process left behind

    jm = JobManager(tmp_path)
    assert [r.path for r in jm.interrupted_runs()] == [run.path]
    assert run.status()["state"] == "interrupted"
    epoch_before = load_checkpoint(run.file("last.pt"))["epoch"]
    assert epoch_before >= 1
    cfg_path = run.file("config.json")
    cfg_path.write_text(cfg_path.read_text().replace('"epochs": 200', f'"epochs": {epoch_before + 1}'))
    job = jm.wait(jm.resume(run.path), timeout=120)
    assert job.state == "done"
    assert load_checkpoint(run.file("last.pt"))["epoch"] == epoch_before + 1
    assert [r["epoch"] for r in run.metrics()] == list(range(1, epoch_before + 2))
    assert torch.isfinite(torch.tensor(run.metrics()[-1]["val_loss"]))


def test_resuming_a_run_that_is_running_here_is_refused(tmp_path):
    jm = JobManager(tmp_path)
    job_id = jm.submit_train(tiny_config(**{"train.epochs": 50}))
    while jm.get(job_id).state != "running":
        time.sleep(0.01)
    with pytest.raises(ValueError, match="already running"):
        jm.resume(jm.get(job_id).runs[0])
    jm.cancel(job_id)
    jm.wait(job_id, timeout=60)


def test_two_concurrent_jobs_give_bit_identical_runs_to_the_same_jobs_one_at_a_time(tmp_path):
    # VAE noise, mixup and the regularizer's draws all random: with one global RNG the two
    # threads would interleave their draws and re-seed each other
    cfgs = [tiny_config(**{"model.kind": kind, "reg.kind": "ir", "reg.alpha": 4.0, "train.seed": seed,
                           "train.batch_size": 50, "reg.estimator": "hutchinson"})
            for kind, seed in (("vae", 0), ("dae", 1))]

    def weights(max_jobs: int) -> list[dict]:
        jm = JobManager(tmp_path / f"jobs-{max_jobs}", max_concurrent=max_jobs, evaluate=False)
        ids = [jm.submit_train(c) for c in cfgs]
        jobs = [jm.wait(i, timeout=600) for i in ids]
        assert [j.state for j in jobs] == ["done", "done"]
        return [load_checkpoint(open_run(j.runs[0]).file("last.pt"))["model"] for j in jobs]

    together, alone = weights(2), weights(1)
    for a, b in zip(together, alone):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
