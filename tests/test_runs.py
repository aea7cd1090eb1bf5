"""The run store: listings and metrics logs (checkpoints are tested with the Trainer)."""

import os
from pathlib import Path

import pytest

from irvae_core.config import RunConfig
from irvae_core.store.runs import list_runs, new_run
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # trains runs


def test_list_runs_puts_the_newest_first(tmp_path):
    runs = [new_run(tmp_path, tiny_config(), label=name) for name in ("first", "second", "third")]
    for age, run in zip((300, 200, 100), runs):  # seconds ago: "third" is the newest
        t = run.file("config.json").stat().st_mtime - age
        os.utime(run.file("config.json"), (t, t))
    (tmp_path / "not-a-run").mkdir()
    assert [r.path for r in list_runs(tmp_path)] == [runs[2].path, runs[1].path, runs[0].path]
    assert list_runs(tmp_path / "missing") == []


def test_resume_truncation_keeps_the_checkpointed_epoch_and_skips_a_torn_line(tmp_path):
    run = new_run(tmp_path, tiny_config())
    for epoch in (1, 2, 3):
        run.log_metrics({"epoch": epoch, "val_loss": 1.0 / epoch})
    with open(run.file("metrics.jsonl"), "a") as f:
        f.write('{"epoch": 4, "val_lo')  # a crash mid-write
    assert [r["epoch"] for r in run.metrics()] == [1, 2, 3]
    run.truncate_metrics(2)
    assert run.metrics() == [{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.5}]


def test_the_run_lock_names_its_owner_and_the_os_frees_it_when_the_owner_dies(tmp_path):
    import signal
    import subprocess
    import sys

    from irvae_core.store.lock import RunLocked, lock_owner

    run = new_run(tmp_path, RunConfig())
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from irvae_core.runs import open_run; "
                               "open_run(sys.argv[1]).lock('holder for the test'); print('locked', flush=True); "
                               "time.sleep(600)", str(run.path)],
                              cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        owner = lock_owner(run.path)
        assert f"pid {holder.pid}" in owner and "holder for the test" in owner
        with pytest.raises(RunLocked, match=f"being written by another process \\(pid {holder.pid} on .*holder"):
            run.lock()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_owner(run.path) is None  # released by the OS with the dead process
    with run.lock("second writer"):
        assert "second writer" in lock_owner(run.path)
    assert lock_owner(run.path) is None
