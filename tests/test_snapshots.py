"""The latent plane while a run trains (issue 26): snapshots of a fixed set of validation codes and the metric
there, equal to a fresh computation from the checkpoint of their epoch, and no change of what a run learns."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from irvae_core.data import load_dataset
from irvae_core.geometry.metric import condition_numbers, pullback_metric
from irvae_core.store.checkpoints import load_checkpoint, load_model, model_with_state
from irvae_core.store.runs import new_run
from irvae_core.train.progress import Progress
from irvae_core.train.snapshots import (
    SNAPSHOT_FILE,
    SNAPSHOT_POINTS,
    read_snapshots,
    snapshot_epochs,
    snapshot_indices,
    truncate_snapshots,
)
from irvae_core.train.trainer import Trainer
from irvae_core.views.latent import snapshot_view
from irvae_core.viz.latent import latent_figure
from tests.helpers import tiny_config


def test_snapshot_epochs_spread_from_the_first_epoch_to_the_last():
    assert snapshot_epochs(3, 12) == {1, 2, 3} and snapshot_epochs(5, 0) == set()
    many = snapshot_epochs(240, 12)
    assert len(many) == 12 and min(many) == 1 and max(many) == 240
    gaps = np.diff(sorted(many))
    assert gaps.max() - gaps.min() <= 1  # evenly spread
    a, b = snapshot_indices(1000), snapshot_indices(1000)
    assert len(a) == SNAPSHOT_POINTS and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    assert np.array_equal(snapshot_indices(50), np.arange(50))


@pytest.mark.parametrize("latent_dim", [2, 3])
def test_snapshots_during_training_equal_a_fresh_computation_from_that_epochs_checkpoint(tmp_path, latent_dim):
    cfg = tiny_config(**{"train.epochs": 3, "reg.kind": "ir", "reg.alpha": 1.0, "model.latent_dim": latent_dim})
    run = new_run(str(tmp_path / "runs"), cfg)
    kept = {}

    def keep_checkpoint(event: Progress) -> None:  # last.pt as it was after each epoch
        if event.phase == "epoch":
            kept[event.epoch] = shutil.copyfile(run.file("last.pt"), tmp_path / f"epoch-{event.epoch}.pt")

    Trainer(cfg, run, callback=keep_checkpoint).fit()
    snaps = read_snapshots(run)
    assert [s["epoch"] for s in snaps] == [1, 2, 3]
    data = load_dataset("digits")
    raw = run.raw_config()
    for snap in snaps:
        model = model_with_state(run.config(), raw, load_checkpoint(kept[snap["epoch"]])["model"]).eval()
        x = torch.stack([data.val[i][0] for i in snap["indices"]])
        with torch.no_grad():
            z = model.encode(x)
        g = pullback_metric(model.decode, z).double()
        if latent_dim == 2:
            basis = torch.eye(2, dtype=torch.float64)
            xy = z.double()
        else:  # the PCA plane of the snapshot's codes
            centred = z - z.mean(0)
            basis = torch.linalg.svd(centred, full_matrices=False)[2][:2].T.double()
            xy = centred.double() @ basis
        restricted = basis.T @ g @ basis
        assert np.allclose(snap["xy"], xy.numpy(), atol=1e-5)
        assert np.allclose(snap["metrics"], restricted.numpy(), rtol=1e-4, atol=1e-9)
        assert np.allclose(snap["cond"], condition_numbers(restricted).numpy(), rtol=1e-4)
    assert not np.allclose(snaps[0]["metrics"], snaps[-1]["metrics"])  # the geometry moved while it trained
    fig = latent_figure([snapshot_view(s, data) for s in snaps[-1:]])
    ellipses = [t for t in fig.data if (t.meta or {}).get("role") == "ellipses"]
    assert sum(t.meta["count"] for t in ellipses) == len(snaps[-1]["xy"])


def test_snapshots_change_nothing_a_run_learns(tmp_path):
    cfg = tiny_config(**{"train.epochs": 2, "reg.kind": "ir", "reg.alpha": 1.0})
    with_snaps, without = new_run(str(tmp_path / "a"), cfg), new_run(str(tmp_path / "b"), cfg)
    Trainer(cfg, with_snaps).fit()
    Trainer(cfg, without, snapshots=0).fit()
    assert len(read_snapshots(with_snaps)) == 2 and not without.file(SNAPSHOT_FILE).exists()
    a, b = load_model(with_snaps).state_dict(), load_model(without).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in with_snaps.metrics()] == [r["val_loss"] for r in without.metrics()]


def test_a_resume_drops_the_snapshots_past_its_checkpoint_and_a_torn_line_is_skipped(tmp_path):
    run = new_run(str(tmp_path), tiny_config())
    lines = [json.dumps({"epoch": e, "xy": []}) for e in (1, 2, 3)]
    run.file(SNAPSHOT_FILE).write_text("\n".join(lines) + '\n{"epoch": 4, "xy": [[0.1')
    assert [s["epoch"] for s in read_snapshots(run)] == [1, 2, 3]
    truncate_snapshots(run, 2)
    assert [s["epoch"] for s in read_snapshots(run)] == [1, 2]
