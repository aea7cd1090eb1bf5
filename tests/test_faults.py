"""Fault trials: real processes killed mid-epoch and mid-checkpoint, a full disk, two writers.

Each trains a tiny VAE + IR on the embedded digits set with the command line, as a user does,
and checks the run against an uninterrupted one trained the same way: resume must give the
same weights bit for bit, and metrics.jsonl each epoch exactly once. The stalled and failing
checkpoint writes use the one test hook of the run store ($IRVAE_TEST_CHECKPOINT_FAULT, see
irvae_core/runs.py). What is broken runs in a real process (killed, or failing on its disk); the resume that
follows is the command line's ``main`` in this process (``resume``), except where two resumes must race. Both
compute on one thread (the same weights, whatever pytest's own thread count).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from irvae_core.store.files import FAULT_ENV, load_checkpoint
from irvae_core.store.runs import list_runs, open_run
from tests.helpers import main_exit_code, tiny_config

pytestmark = pytest.mark.slow  # trains runs and breaks them

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 4


def start(*args: str, fault: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV} | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if fault:
        env[FAULT_ENV] = fault
    # SIGINT as in a terminal: a shell's background job (e.g. CI's) would otherwise pass it on ignored
    return subprocess.Popen([sys.executable, "-m", "irvae_core", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture(autouse=True)
def _no_fault_here(monkeypatch):
    """This process writes its checkpoints without a planted fault, whatever the shell exported (``start`` plants
    one in a process of its own)."""
    monkeypatch.delenv(FAULT_ENV, raising=False)


def resume(run_dir: Path, *args: str) -> None:
    """``train --resume RUN_DIR ARGS`` through the command line's main, in this process on one thread (as ``start``'s
    processes); it must succeed."""
    from irvae_core.geometry.curves import intra_op_threads

    with intra_op_threads(1):
        assert main_exit_code(["train", "--resume", str(run_dir), *args]) == 0


def wait_for(condition, what: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def last_epoch(runs_dir: Path) -> int:
    """The epoch of the newest run's last.pt (0 before the first one exists)."""
    runs = list_runs(runs_dir)
    try:
        return load_checkpoint(runs[0].file("last.pt"))["epoch"] if runs else 0
    except Exception:  # not written yet
        return 0


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    cfg = tiny_config(**{"model.kind": "vae", "reg.kind": "ir", "reg.alpha": 4.0, "train.epochs": EPOCHS,
                         "train.lr_schedule": "constant"})
    path = tmp_path_factory.mktemp("cfg") / "tiny.json"
    path.write_text(cfg.to_json())
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, config_file) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    rc, stdout, err = finish(start("train", "--config", str(config_file), "--out", str(out)))
    assert rc == 0, err
    return Path(stdout.strip().splitlines()[-1])


def assert_same_weights(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt"):
        sa, sb = load_checkpoint(a / name), load_checkpoint(b / name)
        assert sa["epoch"] == sb["epoch"], name
        assert sa["model"].keys() == sb["model"].keys()
        for k in sa["model"]:
            assert torch.equal(sa["model"][k], sb["model"][k]), f"{name}: {k}"


def epochs_logged(run_dir: Path) -> list[int]:
    return [r["epoch"] for r in open_run(run_dir).metrics()]


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights_and_each_epoch_once(
        tmp_path, config_file, uninterrupted):
    proc = start("train", "--config", str(config_file), "--out", str(tmp_path))
    wait_for(lambda: last_epoch(tmp_path) >= 1, "the first checkpoint")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = list_runs(tmp_path)[0]
    assert run.status()["state"] == "running"  # what the dead process left behind
    assert load_checkpoint(run.file("last.pt"))["epoch"] < EPOCHS  # killed before the end

    resume(run.path)
    assert run.status()["state"] == "done"
    assert epochs_logged(run.path) == list(range(1, EPOCHS + 1))
    assert_same_weights(run.path, uninterrupted)


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, config_file, uninterrupted):
    proc = start("train", "--config", str(config_file), "--out", str(tmp_path), fault="stall:2")
    def stalled() -> bool:  # epoch 2's line is logged, and its checkpoint's temp file is there
        runs = list_runs(tmp_path)
        return bool(runs) and len(runs[0].metrics()) == 2 and any(runs[0].path.glob(".last.pt.*.tmp"))

    wait_for(stalled, "the stalled write of epoch 2's checkpoint")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = list_runs(tmp_path)[0]
    assert load_checkpoint(run.file("last.pt"))["epoch"] == 1  # the previous checkpoint loads
    assert epochs_logged(run.path) == [1, 2]  # epoch 2's line went first

    resume(run.path)
    assert not list(run.path.glob(".*.tmp"))  # the half-written temp file is gone
    assert epochs_logged(run.path) == list(range(1, EPOCHS + 1))
    assert_same_weights(run.path, uninterrupted)


def test_a_full_disk_fails_the_run_with_the_reason_and_keeps_the_last_good_checkpoint(
        tmp_path, config_file, uninterrupted):
    rc, out, err = finish(start("train", "--config", str(config_file), "--out", str(tmp_path), fault="enospc:2"))
    assert rc == 1
    assert "No space left on device" in err and "Traceback" not in err
    run = open_run(out.strip().splitlines()[-1])
    status = run.status()
    assert status["state"] == "failed" and "No space left on device" in status["error"]
    assert load_checkpoint(run.file("last.pt"))["epoch"] == 1
    assert not list(run.path.glob(".*.tmp"))

    resume(run.path)  # disk space back: the run continues
    assert epochs_logged(run.path) == list(range(1, EPOCHS + 1))
    assert_same_weights(run.path, uninterrupted)


def test_two_resumes_of_one_run_at_once_exactly_one_proceeds(tmp_path, uninterrupted):
    from irvae_core.experiments.jobs import JobManager
    from irvae_core.store.lock import RunLocked

    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    first = start("train", "--resume", str(run_dir), "--epochs", "10000")
    wait_for(lambda: open_run(run_dir).status().get("pid") == first.pid
             and open_run(run_dir).status()["state"] == "running", "the first resume to start")
    before = run_dir.joinpath("config.json").read_bytes()

    rc, _, err = finish(start("train", "--resume", str(run_dir), "--epochs", "10000"))
    assert rc == 2
    assert f"pid {first.pid}" in err and "train --resume" in err  # names the other writer
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    jm = JobManager(tmp_path)  # the app sees a live writer: not interrupted, and not resumable here
    assert open_run(run_dir).status()["state"] == "running"
    with pytest.raises(RunLocked, match=f"pid {first.pid}"):
        jm.resume(run_dir)
    assert run_dir.joinpath("config.json").read_bytes() == before

    first.send_signal(signal.SIGINT)  # the one that proceeded stops cleanly and can be resumed later
    rc, _, err = finish(first)
    assert rc == 130, err
    assert open_run(run_dir).status()["state"] == "cancelled"
    logged = epochs_logged(run_dir)
    assert logged == list(range(1, len(logged) + 1)) and len(logged) >= EPOCHS


def test_resume_continues_a_flattened_run_as_a_flattened_run(tmp_path, uninterrupted):
    from irvae_core.store.checkpoints import load_model

    assert main_exit_code(["flatten", str(uninterrupted), "--epochs", "1", "--depth", "2", "--width", "16",
                           "--no-evaluate", "--out", str(tmp_path)]) == 0
    flat = list_runs(tmp_path)[0].path
    resume(flat, "--epochs", "2")
    raw = json.loads(flat.joinpath("config.json").read_text())
    assert raw["type"] == "flatten" and raw["flatten"]["epochs"] == 2 and raw["train"]["epochs"] == 2
    assert epochs_logged(flat) == [1, 2]
    model = load_model(open_run(flat))
    assert model.kind == "flattened"


@pytest.fixture
def small_file_system(tmp_path):
    """A 4 MiB tmpfs (needs the right to mount, e.g. root in a container); skipped where there is none."""
    mnt = tmp_path / "small-fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or r.returncode}); "
                    "test_a_full_disk_fails_the_run... simulates the full disk instead")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_really_full_file_system_stops_the_run_with_the_reason_and_it_resumes(tmp_path, small_file_system):
    cfg = tiny_config(**{"model.kind": "vae", "reg.kind": "ir", "reg.alpha": 4.0, "train.epochs": 1000})
    path = tmp_path / "long.json"
    path.write_text(cfg.to_json())
    proc = start("train", "--config", str(path), "--out", str(small_file_system))
    wait_for(lambda: last_epoch(small_file_system) >= 1, "the first checkpoint")
    filler = small_file_system / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the file system to the last byte
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    rc, out, err = finish(proc)
    assert rc == 1 and "No space left on device" in err and "Traceback" not in err, err
    run = list_runs(small_file_system)[0]
    good = load_checkpoint(run.file("last.pt"))["epoch"]  # the last good checkpoint loads
    assert good >= 1 and not list(run.path.glob(".*.tmp"))
    status = run.status()  # "failed" with the reason, unless the full disk refused that write too
    assert (status["state"] == "failed" and "No space left" in status["error"]) or status["state"] == "running"

    filler.unlink()
    resume(run.path, "--epochs", str(good + 1))
    assert epochs_logged(run.path) == list(range(1, good + 2))
