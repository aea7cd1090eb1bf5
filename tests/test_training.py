"""The Trainer: loss falls for every model and regularizer, isometry on a known manifold,
deterministic resume, the NaN guard, checkpoints."""

import dataclasses
import pickle
import re

import pytest
import torch

from irvae_core.config import MODEL_KINDS, REG_KINDS
from irvae_core.data import TensorSplit
from irvae_core.geometry.regularizers import mixup_pairs, probe_vectors, relaxed_distortion
from irvae_core.store.checkpoints import load_model
from irvae_core.store.files import CheckpointError, load_checkpoint
from irvae_core.store.runs import new_run
from irvae_core.train.evaluation import evaluate_model
from irvae_core.train.loop import Cancelled, TrainingFailed, learning_rate
from irvae_core.train.trainer import Trainer
from tests.helpers import official_relaxed_distortion, rolled_sheet, tiny_config, tiny_images


@pytest.mark.parametrize("reg", REG_KINDS)
@pytest.mark.parametrize("model", MODEL_KINDS)
def test_loss_falls_for_every_model_and_regularizer(tmp_path, model, reg):
    data = tiny_images()
    alpha = {"none": 0.0, "ir": 4.0, "fmvae": 1.0, "iso": 0.1, "geomae": 1.0}[reg] * (1.0 if model == "vae" else 1e-3)
    cfg = tiny_config(**{"model.kind": model, "reg.kind": reg, "reg.alpha": alpha, "train.epochs": 6})
    records = []
    Trainer(cfg, new_run(tmp_path, cfg), data=data, callback=lambda e: records.append(e)).fit()
    epochs = [r.record for r in records if r.phase == "epoch"]
    assert len(epochs) == 6
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert epochs[-1]["train_mse"] < epochs[0]["train_mse"]
    if reg != "none":
        assert "train_reg" in epochs[-1]


def test_the_objective_is_the_reconstruction_loss_plus_alpha_times_the_regularizer(tmp_path):
    # an AE's loss is its MSE, so each logged loss is mse + alpha * reg (paper eq. 9), batch by batch; reg is the
    # logged F (eq. 10) and alpha is in the paper's units, i.e. on (F + m) / m^2: the weight on F is alpha / m^2
    cfg = tiny_config(**{"model.kind": "ae", "reg.kind": "ir", "reg.alpha": 28.0, "train.epochs": 1,
                         "train.lr_schedule": "constant"})
    m = cfg.model.latent_dim
    run = new_run(tmp_path, cfg)
    Trainer(cfg, run, data=tiny_images()).fit()
    [record] = run.metrics()
    for split in ("train", "val"):
        mse, reg = record[f"{split}_mse"], record[f"{split}_reg"]
        assert reg > 0.01 * mse  # the regularizer weighs in
        assert record[f"{split}_loss"] == pytest.approx(mse + 28.0 / m**2 * reg, rel=1e-6), split


def _sheet_mcn(tmp_path, reg, alpha):
    data = rolled_sheet()
    # a fixed decoder sigma: with a learned one the plain VAE collapses on this small sheet
    cfg = tiny_config(**{"model.kind": "vae", "model.hidden": [64, 64], "model.out_act": "linear",
                         "model.fixed_sigma": 0.05, "reg.kind": reg, "reg.alpha": alpha, "train.epochs": 40,
                         "train.batch_size": 50})
    run = new_run(tmp_path, cfg)
    Trainer(cfg, run, data=data).fit()
    return evaluate_model(load_model(run), data)


@pytest.mark.slow
def test_isometric_regularization_finds_the_isometric_chart(tmp_path):
    vae = _sheet_mcn(tmp_path, "none", 0.0)
    irvae = _sheet_mcn(tmp_path, "ir", 80.0)  # = 20 on F at m = 2
    assert irvae["mcn"] < 1.3
    assert irvae["mcn"] < vae["mcn"] - 0.5
    assert irvae["vor"] < vae["vor"]


def _assert_same_state(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        assert torch.equal(a[k], b[k]), f"{what}: {k}"


def test_stop_and_resume_gives_the_uninterrupted_runs_checkpoints_and_metrics(tmp_path):
    # validation on the inverted images: the validation reconstruction rises while the training loss falls,
    # so the best epoch (1, by validation MSE: select_by's default) comes before the stop and best.pt must
    # survive the resume
    data = tiny_images()
    data = dataclasses.replace(data, val=TensorSplit(1 - data.val.x, data.val.y))
    cfg = tiny_config(**{"model.kind": "ae", "reg.kind": "ir", "reg.alpha": 1e-3, "train.epochs": 4})
    full = new_run(tmp_path, cfg)
    Trainer(cfg, full, data=data).fit()
    val = [r["val_mse"] for r in full.metrics()]
    assert val.index(min(val)) == 0 and val[-1] > val[0]  # the setting works as intended
    best = load_checkpoint(full.file("best.pt"))
    assert best["epoch"] == 1

    cut = new_run(tmp_path, cfg)
    stop = {"at": 2 * 5 + 3}  # 84 examples / 20 = 5 steps an epoch: stop inside epoch 3
    trainer = Trainer(cfg, cut, data=data)
    trainer.callback = lambda e: trainer.cancel.set() if e.step >= stop["at"] else None
    with pytest.raises(Cancelled):
        trainer.fit()
    assert cut.status()["state"] == "cancelled"
    assert load_checkpoint(cut.file("last.pt"))["epoch"] == 2
    Trainer(cfg, cut, data=data).fit(resume=True)
    assert cut.status()["state"] == "done"

    for name in ("last.pt", "best.pt"):  # weights, optimizer state, epoch and best validation loss
        a, b = load_checkpoint(full.file(name)), load_checkpoint(cut.file(name))
        assert a["epoch"] == b["epoch"] == (4 if name == "last.pt" else 1), name
        _assert_same_state(a["model"], b["model"], name)
    a, b = load_checkpoint(full.file("last.pt")), load_checkpoint(cut.file("last.pt"))
    assert a["best_val"] == b["best_val"] == min(val)
    for group_a, group_b in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        _assert_same_state(group_a, group_b, "optimizer")
    # every logged line equal, but for the wall time
    untimed = [{k: v for k, v in r.items() if k != "time"} for r in full.metrics()]
    assert [{k: v for k, v in r.items() if k != "time"} for r in cut.metrics()] == untimed
    assert [r["epoch"] for r in cut.metrics()] == [1, 2, 3, 4]
    assert cut.status()["best_val"] == full.status()["best_val"] == min(val)


def test_nan_in_a_batch_stops_with_a_reason_and_keeps_a_loadable_checkpoint(tmp_path):
    data = tiny_images()
    data.train.x[37, 0, 3, 3] = float("nan")  # met in the first epoch
    cfg = tiny_config(**{"train.epochs": 3})
    run = new_run(tmp_path, cfg)
    with pytest.raises(TrainingFailed, match="NaN or infinite inputs"):
        Trainer(cfg, run, data=data).fit()
    status = run.status()
    assert status["state"] == "failed"
    assert re.search(r"at epoch 1, step \d+: the batch contains NaN", status["error"])
    state = torch.load(run.file("last.pt"), weights_only=True)
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["model"].values())


def planted_code(path: str) -> None:
    """What a tampered checkpoint tries to run on loading."""
    with open(path, "w") as f:
        f.write("ran")


def test_checkpoints_load_weights_only_and_bad_ones_fail_clearly(tmp_path):
    data = tiny_images()
    cfg = tiny_config()
    run = new_run(tmp_path, cfg)
    Trainer(cfg, run, data=data).fit()
    assert set(torch.load(run.file("best.pt"), weights_only=True)) == {"model", "epoch"}
    model = load_model(run)
    assert model.encode(data.test.x).shape == (len(data.test), 2)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(run.file("best.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated.pt is corrupt, truncated"):
        load_checkpoint(truncated)

    marker = tmp_path / "code-ran"

    class Evil:
        def __reduce__(self):
            return (planted_code, (str(marker),))

    tampered = tmp_path / "tampered.pt"
    tampered.write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(CheckpointError, match="tampered.pt"):
        load_checkpoint(tampered)
    torch.save({"model": Evil(), "epoch": 1}, tmp_path / "tampered-zip.pt")  # torch's own format, code inside
    with pytest.raises(CheckpointError, match="tampered-zip.pt"):
        load_checkpoint(tmp_path / "tampered-zip.pt")
    assert not marker.exists()  # the pickled code never ran
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    run.file("best.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="best.pt"):
        load_model(run)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_irvae_on_cuda_trains_like_on_cpu_and_its_checkpoint_loads_on_cpu(tmp_path, monkeypatch):
    from irvae_core.geometry.metric import pullback_metric
    from irvae_core.train.flattening import FlattenConfig, FlatteningTrainer

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare float32 with float32
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    data = tiny_images()
    records = {}
    for device in ("cpu", "cuda"):
        cfg = tiny_config(**{"reg.kind": "ir", "reg.alpha": 1.0, "train.epochs": 3, "train.device": device})
        run = new_run(tmp_path, cfg, label=device)
        trainer = Trainer(cfg, run, data=data)
        assert trainer.device.type == device
        records[device] = (run, trainer.fit())
    run, cuda = records["cuda"]
    cpu = records["cpu"][1]
    assert cuda["epoch"] == cpu["epoch"] == 3
    # the same initial weights and data order; only the random draws (mixup, VAE noise) differ
    for key in ("val_loss", "val_mse", "train_loss"):
        assert cuda[key] == pytest.approx(cpu[key], rel=0.05), key
    # the CUDA checkpoint on the CPU gives the CUDA model's reconstructions and metric
    on_cpu, on_gpu = load_model(run, device="cpu"), load_model(run, device="cuda")
    x = data.test.x
    with torch.no_grad():
        torch.testing.assert_close(on_gpu.reconstruct(x.cuda()).cpu(), on_cpu.reconstruct(x), rtol=1e-4, atol=1e-5)
        z = on_cpu.encode(x)
    torch.testing.assert_close(pullback_metric(on_gpu.decode, z.cuda()).cpu(), pullback_metric(on_cpu.decode, z),
                               rtol=1e-3, atol=1e-6)
    assert evaluate_model(on_cpu, data)["mse"] == pytest.approx(float((on_cpu.reconstruct(x) - x).pow(2).mean()),
                                                                 rel=1e-5)
    fm = new_run(tmp_path, run.config(), label="fm")
    FlatteningTrainer(run, fm, FlattenConfig(epochs=1, depth=2, width=32, batch_size=20), data=data).fit()
    assert fm.status()["state"] == "done"
    with torch.no_grad():  # the flattened model keeps the base model's reconstructions
        torch.testing.assert_close(load_model(fm).reconstruct(x), on_cpu.reconstruct(x), rtol=0, atol=1e-4)


def _double_trainer(tmp_path, m: int, alpha: float, **overrides):
    data = rolled_sheet(n=240, dim=12)
    cfg = tiny_config(**{"model.hidden": [16], "model.latent_dim": m, "model.out_act": "linear", "reg.kind": "ir",
                         "reg.alpha": alpha, "train.batch_size": 40, **overrides})
    trainer = Trainer(cfg, new_run(tmp_path, cfg), data=data)
    trainer.model.double()
    return trainer, data.train.x[:40].double()


@pytest.mark.parametrize("m", [2, 128])
def test_the_loss_weighs_the_relaxed_distortion_as_the_official_code_at_every_latent_size(tmp_path, m):
    # official: loss = (nll + kl).mean() + iso_reg * E[Tr G^2] / E[Tr G]^2, on the same mixup points and probes
    alpha = 10.0  # the paper's CelebA weight: the same number at m = 2 and m = 128
    trainer, x = _double_trainer(tmp_path, m, alpha, **{"reg.estimator": "hutchinson"})  # whole batch, as official
    params = list(trainer.model.parameters())
    ours, parts = trainer.loss(x, generator=torch.Generator().manual_seed(3))
    g_ours = torch.autograd.grad(ours, params, allow_unused=True)

    g = torch.Generator().manual_seed(3)  # the same draws in the same order: VAE noise, mixup, probes
    out = trainer.model.loss(x, generator=g)
    i, j, d = mixup_pairs(len(out.z), 0.2, None, dtype=out.z.dtype, generator=g)
    za = torch.lerp(out.z[j], out.z[i], d)
    term = official_relaxed_distortion(trainer.model.decode, za, probe_vectors(za, g))
    official = out.loss + alpha * term
    g_off = torch.autograd.grad(official, params, allow_unused=True)

    assert parts["reg"] == pytest.approx(m**2 * term.item() - m, rel=1e-9)  # logged: F (eq. 10)
    assert (official - ours).item() == pytest.approx(alpha / m, rel=1e-9)  # a constant apart
    for a, b in zip(g_ours, g_off):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_the_default_cpu_estimator_at_m_2_has_the_same_weight(tmp_path):
    trainer, x = _double_trainer(tmp_path, 2, 1200.0)  # CPU default: exact metric, 10 mixup points, jackknife
    ours, _ = trainer.loss(x, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    out = trainer.model.loss(x, generator=g)
    reg = relaxed_distortion(trainer.model.decode, out.z, estimator="exact", n=10, jackknife=True, generator=g)
    assert (ours - out.loss).item() == pytest.approx(1200.0 / 4 * reg.item(), rel=1e-9)


def test_cosine_schedule_decays_the_learning_rate_to_zero_and_constant_keeps_it(tmp_path):
    assert learning_rate(1e-3, "cosine", 0, 100) == 1e-3
    assert learning_rate(1e-3, "cosine", 50, 100) == pytest.approx(5e-4)
    assert learning_rate(1e-3, "cosine", 100, 100) == pytest.approx(0.0, abs=1e-18)
    assert learning_rate(1e-3, "constant", 77, 100) == 1e-3
    data = tiny_images()
    for schedule in ("cosine", "constant"):
        cfg = tiny_config(**{"train.lr_schedule": schedule, "train.epochs": 2})  # 84 examples / 20: 10 steps
        trainer = Trainer(cfg, new_run(tmp_path, cfg), data=data)
        trainer.fit()
        assert trainer.opt.param_groups[0]["lr"] == pytest.approx(learning_rate(3e-3, schedule, 9, 10))


def test_a_non_finite_validation_loss_fails_the_run_with_a_reason_and_keeps_the_last_checkpoint(tmp_path):
    data = tiny_images()
    data.val.x[3, 0, 2, 2] = float("inf")  # the training split is clean: only validation sees it
    cfg = tiny_config(**{"train.epochs": 3})
    run = new_run(tmp_path, cfg)
    with pytest.raises(TrainingFailed, match="the validation loss became (nan|inf) after epoch 1: the validation "
                                             "split contains NaN or infinite inputs"):
        Trainer(cfg, run, data=data).fit()
    assert run.status()["state"] == "failed" and "validation loss" in run.status()["error"]
    assert run.metrics() == []  # the bad epoch was not logged
    assert load_checkpoint(run.file("last.pt"))["epoch"] == 0
