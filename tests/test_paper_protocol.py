"""The paper's protocol in the settings: --paper's estimator and h on every device, model selection by
validation reconstruction, the flattening module's Appendix settings and its beta in the paper's units."""

from __future__ import annotations

import json
import math

import pytest
import torch

from irvae_core.cli import build_parser, config_from_args, main
from irvae_core.config import RunConfig, apply_overrides, preset_config
from irvae_core.geometry.metric import pullback_metric
from irvae_core.geometry.regularizers import mixup_pairs, training_defaults
from irvae_core.store.runs import Run, open_run
from irvae_core.train.flattening import (
    FlattenConfig,
    FlatteningTrainer,
    flatten_settings,
    new_flattened_run,
    paper_flatten_config,
)
from irvae_core.train.resolve import resolve_config
from irvae_core.train.trainer import regularizer, train
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # trains runs at the paper's settings

DEVICES = ("cpu", "cuda")  # torch.device("cuda") is a description; nothing runs on it here


def resolved_estimator(cfg: RunConfig, device: str) -> tuple[str, int | None]:
    cfg = resolve_config(cfg)
    return training_defaults(cfg.model.latent_dim, cfg.reg.estimator, cfg.reg.samples, device)


@pytest.mark.parametrize("preset, expected", [("mnist-fc", ("exact", None)), ("cmu-fc", ("exact", None)),
                                              ("celeba-conv", ("hutchinson", None))])
def test_paper_uses_the_whole_batch_with_the_same_estimator_on_cpu_and_cuda(preset, expected):
    cfg = preset_config(preset, paper=True, reg="ir")
    assert {resolved_estimator(cfg, d) for d in DEVICES} == {expected}  # None: all mixup points of the batch
    wider = apply_overrides(cfg, {"train.batch_size": 256})  # still the whole batch, whatever its size
    assert {resolved_estimator(wider, d) for d in DEVICES} == {expected}


def test_without_paper_the_cpu_default_sub_batches():
    cfg = preset_config("mnist-fc", reg="ir")
    assert resolved_estimator(cfg, "cpu") == ("exact", 10)
    assert resolved_estimator(cfg, "cuda") == ("exact", None)


def test_paper_through_the_command_line_records_the_whole_batch():
    a = build_parser().parse_args(["train", "--preset", "mnist-fc", "--paper", "--reg", "ir"])
    cfg = resolve_config(config_from_args(a))
    assert cfg.reg.samples == "batch" and cfg.reg.h == "log"
    a = build_parser().parse_args(["train", "--preset", "mnist-fc", "--paper", "--reg", "ir", "--samples", "25"])
    assert resolve_config(config_from_args(a)).reg.samples == 25


def test_paper_h_is_log_at_two_dimensions_and_square_above():
    two = resolve_config(preset_config("mnist-fc", paper=True, reg="ir"))
    eight = resolve_config(apply_overrides(preset_config("mnist-fc", paper=True, reg="ir"), {"model.latent_dim": 8}))
    assert (two.reg.h, eight.reg.h) == ("log", "square")
    a = build_parser().parse_args(["train", "--preset", "mnist-fc", "--paper", "--reg", "ir", "--h", "square"])
    assert resolve_config(config_from_args(a)).reg.h == "square"  # the official code's choice
    assert resolve_config(preset_config("mnist-fc", reg="ir")).reg.h == "square"  # the CPU default


def test_the_trainers_regularizer_uses_the_log_form_under_paper():
    """A linear decoder with G = diag(1, 4): F_log = sum_i log^2(lambda_i / c), c = 5/2, whatever the points."""
    A = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    cfg = resolve_config(apply_overrides(preset_config("mnist-fc", paper=True, reg="ir"), {"data.name": "digits"}))
    value = regularizer(cfg, lambda w: w @ A.T, z, generator=torch.Generator().manual_seed(1))
    expected = math.log(1 / 2.5) ** 2 + math.log(4 / 2.5) ** 2
    assert value.item() == pytest.approx(expected, rel=1e-5)
    square = apply_overrides(cfg, {"reg.h": "square"})  # F = (1/c - 1)^2 + (4/c - 1)^2 = 0.72
    assert regularizer(square, lambda w: w @ A.T, z).item() == pytest.approx(0.72, rel=1e-5)


def test_a_bad_samples_value_is_one_sentence():
    with pytest.raises(ValueError, match="an integer >= 2 or 'batch'"):
        apply_overrides(RunConfig(), {"reg.samples": "all"})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--samples", "many"])


# ---------------------------------------------------------------------------------- model selection
def _best_epoch(run: Run) -> int:
    return int(torch.load(run.file("best.pt"), weights_only=True)["epoch"])


@pytest.mark.parametrize("select_by, key", [("reconstruction", "val_mse"), ("loss", "val_loss")])
def test_best_checkpoint_is_the_epoch_of_lowest_validation_reconstruction_or_loss(tmp_path, select_by, key):
    cfg = tiny_config(**{"reg.kind": "ir", "reg.alpha": 50.0, "train.epochs": 6, "train.lr": 1e-2,
                         "train.select_by": select_by})
    run = train(cfg, str(tmp_path))
    lines = [json.loads(line) for line in run.file("metrics.jsonl").read_text().splitlines()]
    assert _best_epoch(run) == min(lines, key=lambda r: r[key])["epoch"]
    assert run.raw_config()["train"]["select_by"] == select_by  # config.json says which


def test_select_by_defaults_to_reconstruction_and_older_runs_read_as_loss():
    assert RunConfig().train.select_by == "reconstruction"
    old = {**RunConfig().to_dict(), "version": 2}
    del old["train"]["select_by"]
    assert RunConfig.from_dict(old).train.select_by == "loss"  # what version 2 did


# ---------------------------------------------------------------------------------- flattening module
@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[int, Run]:
    """One-epoch VAEs on the digits at latent sizes 2 and 128 (a flattening module's frozen bases)."""
    root = tmp_path_factory.mktemp("bases")
    return {m: train(tiny_config(**{"model.latent_dim": m, "train.epochs": 1}), str(root / f"m{m}"))
            for m in (2, 128)}


@pytest.mark.parametrize("m", [2, 128])
@pytest.mark.parametrize("beta", [0.0, 100.0])
def test_flattening_loss_is_the_appendix_ratio_plus_beta_times_the_norm(bases, tmp_path, m, beta):
    """Appendix B.2: E[Tr G^2] / E[Tr G]^2 + beta E||w||^2, computed here from the Jacobians themselves;
    the module's loss is it less the constant 1/m (the ratio's value at an isometry)."""
    run, fcfg = new_flattened_run(bases[m], FlattenConfig(epochs=1, beta=beta, depth=2, width=16,
                                                          estimator="exact"), tmp_path)
    trainer = FlatteningTrainer(bases[m], run, fcfg)
    z = trainer.data.train.x[:40].to(trainer.device)
    loss, _ = trainer.loss(z, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        i, j, d = mixup_pairs(len(z), fcfg.eta, None, z.device, z.dtype, torch.Generator().manual_seed(3))
        w = trainer.model.fm(z)
        G = pullback_metric(trainer.flat_decoder, torch.lerp(w[j], w[i], d)).double()
        ratio = torch.einsum("bij,bji->b", G, G).mean() / torch.einsum("bii->b", G).mean() ** 2
        expected = ratio - 1 / m + beta * w.double().pow(2).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize("m", [2, 128])
def test_an_older_flattened_runs_beta_is_converted_to_the_papers_units(bases, tmp_path, m):
    run, fcfg = new_flattened_run(bases[m], FlattenConfig(epochs=1, beta=3.0, depth=2, width=16), tmp_path)
    FlatteningTrainer(bases[m], run, fcfg).fit()
    raw = run.raw_config()
    assert raw["version"] == 3 and flatten_settings(raw).beta == 3.0
    old = {**raw, "version": 2, "flatten": {**raw["flatten"], "beta": 3.0 * m**2}}  # weighted against F itself
    assert flatten_settings(old).beta == pytest.approx(3.0)
    trainer = FlatteningTrainer(bases[m], open_run(run.path), flatten_settings(old))
    assert trainer.fcfg.beta == pytest.approx(3.0)


def test_flatten_paper_takes_the_appendix_settings():
    assert [(c.epochs, c.lr, c.beta) for c in map(paper_flatten_config, ("mnist", "mnist5k", "cmu", "celeba",
                                                                          "synthetic-faces"))] == [
        (100, 1e-4, 0.0), (100, 1e-4, 0.0), (300, 1e-4, 0.0), (100, 1e-5, 100.0), (100, 1e-5, 100.0)]
    with pytest.raises(ValueError, match="no paper settings"):
        paper_flatten_config("digits")


def test_flatten_paper_through_the_command_line(tmp_path, capsys):
    base = train(tiny_config(**{"data.name": "mnist5k", "data.classes": [0, 1], "train.epochs": 1,
                                "train.batch_size": 100}), str(tmp_path))
    code = main(["flatten", str(base.path), "--paper", "--epochs", "1", "--depth", "2", "--width", "16",
                 "--no-evaluate", "--out", str(tmp_path / "fm")])
    assert code == 0
    flat = open_run(capsys.readouterr().out.strip().splitlines()[-1])
    settings = flat.raw_config()["flatten"]
    assert (settings["epochs"], settings["lr"], settings["beta"]) == (1, 1e-4, 0.0)  # --epochs wins
    digits = train(tiny_config(**{"train.epochs": 1}), str(tmp_path / "digits"))
    assert main(["flatten", str(digits.path), "--paper"]) == 2  # one sentence: no paper settings for digits
    assert "no paper settings" in capsys.readouterr().err
