"""The run store: listings and metrics logs (checkpoints are tested with the Trainer)."""

import os

from irvae_core.runs import list_runs, new_run
from tests.helpers import tiny_config


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
