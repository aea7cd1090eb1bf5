"""Configs: alpha in the paper's units (config version 2), old runs converted, presets' paper alphas,
the fm -> fmvae rename."""

import json
import warnings

import pytest

from irvae_core.cli import build_parser, config_from_args
from irvae_core.config import (
    CONFIG_VERSION,
    ConfigError,
    DeprecatedName,
    RunConfig,
    default_alpha,
    paper_alpha,
    preset_config,
)
from irvae_core.store.runs import new_run, open_run
from irvae_core.store.summaries import method_name, run_row, tradeoff_rows
from irvae_core.train.resolve import resolve_config


def cli_config(*args: str) -> RunConfig:
    return resolve_config(config_from_args(build_parser().parse_args(["train", *args])))


def test_the_celeba_preset_resolves_to_the_papers_alphas():
    assert cli_config("--preset", "celeba-conv", "--paper", "--reg", "ir").reg.alpha == 10.0  # Appendix D.3
    assert cli_config("--preset", "celeba-conv", "--paper", "--reg", "fmvae").reg.alpha == 1.0
    cfg = cli_config("--preset", "celeba-conv", "--paper", "--reg", "ir")
    assert cfg.model.latent_dim == 128 and cfg.train.lr == 1e-4 and cfg.train.lr_schedule == "constant"
    assert cli_config("--preset", "celeba-conv", "--paper", "--reg", "ir", "--alpha", "3").reg.alpha == 3.0
    assert cli_config("--preset", "mnist-fc", "--paper", "--reg", "ir").reg.alpha == 100.0  # official iso_reg
    assert resolve_config(preset_config("celeba-conv", paper=True, reg="ir")).reg.alpha == 10.0
    assert cli_config("--preset", "celeba", "--paper", "--reg", "ir").reg.alpha == 10.0  # the alias, too
    # the CPU variant (m = 32, 20 epochs) carries its measured weight, the same for the alias
    assert cli_config("--preset", "celeba", "--reg", "ir").reg.alpha == cli_config(
        "--preset", "celeba-conv", "--reg", "ir").reg.alpha == 3072.0


def test_the_sub_batch_is_a_cpu_default_and_cuda_uses_the_whole_batch():
    from irvae_core.geometry.regularizers import TRAINING_SUBBATCH, training_defaults

    assert training_defaults(2, device="cpu") == ("exact", TRAINING_SUBBATCH)
    assert training_defaults(2, device="cuda") == ("exact", None)
    assert training_defaults(8, device="cpu") == ("hutchinson", None)
    assert training_defaults(2, samples=25, device="cuda") == ("exact", 25)  # an explicit choice is kept


def test_default_ir_alpha_keeps_a_fixed_weight_on_F_across_latent_sizes():
    a2, a8 = default_alpha("vae", "ir", 2), default_alpha("vae", "ir", 8)
    assert a8 == pytest.approx(16 * a2)  # weight on F: a / m^2, the same at both sizes
    assert default_alpha("vae", "fmvae", 8) == default_alpha("vae", "fmvae", 2)
    assert cli_config("--reg", "ir", "--latent-dim", "8").reg.alpha == a8
    assert cli_config("--reg", "none").reg.alpha == 0.0


def test_configs_record_their_version_and_round_trip(tmp_path):
    cfg = cli_config("--reg", "ir", "--alpha", "1000")
    d = json.loads(cfg.to_json())
    assert d["version"] == CONFIG_VERSION == 3 and d["train"]["lr_schedule"] == "cosine"
    assert d["train"]["select_by"] == "reconstruction"
    assert RunConfig.from_dict(d).reg.alpha == 1000.0
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert RunConfig.load(path).reg.alpha == 1000.0
    with pytest.raises(ConfigError, match="version"):
        RunConfig.from_dict({**d, "version": 7})


def old_run(tmp_path, kind: str, alpha: float, m: int):
    """A run folder as written before config versions: alpha weighted F directly."""
    run = new_run(tmp_path, RunConfig())
    raw = RunConfig().to_dict()
    del raw["version"], raw["train"]["lr_schedule"]
    raw["reg"].update(kind=kind, alpha=alpha)
    raw["model"]["latent_dim"] = m
    run.file("config.json").write_text(json.dumps({**raw, "type": "train", "x_shape": [1, 28, 28]}))
    return run


def test_old_runs_load_with_alpha_converted_to_the_papers_units(tmp_path):
    ir2, ir8 = old_run(tmp_path, "ir", 300.0, 2), old_run(tmp_path, "ir", 300.0, 8)
    assert open_run(ir2.path).config().reg.alpha == 1200.0  # 300 * 2^2
    assert open_run(ir2.path).config().train.lr_schedule == "constant"  # as it was trained
    assert open_run(ir8.path).config().reg.alpha == 19200.0  # 300 * 8^2
    iso = old_run(tmp_path, "iso", 0.01, 8)
    assert open_run(iso.path).config().reg.alpha == 0.01  # same units before and after
    assert paper_alpha(ir8.raw_config()) == 19200.0
    assert run_row(ir8)["alpha"] == 19200.0
    ir8.set_status("done")
    ir8.file("evaluation.json").write_text(json.dumps({"mse": 0.03, "vor": 0.1, "mcn": 1.9}))
    assert [r["alpha"] for r in tradeoff_rows([ir8])] == [19200.0]
    # a new run of the same config is written in the new units, and reads back unchanged
    again = new_run(tmp_path / "new", open_run(ir8.path).config())
    again.write_config(open_run(ir8.path).config())
    assert again.raw_config()["version"] == 3 and again.config().reg.alpha == 19200.0


def test_fm_is_read_as_fmvae_with_a_deprecation_warning(tmp_path):
    run = old_run(tmp_path, "fm", 1.0, 2)
    with pytest.warns(DeprecatedName, match="'fm' is now called 'fmvae'"):
        cfg = open_run(run.path).config()
    assert cfg.reg.kind == "fmvae" and cfg.reg.alpha == 1.0
    assert method_name(run.raw_config()) == method_name({"model": {"kind": "vae"}, "reg": {"kind": "fmvae"}}) == "FMVAE"
    with pytest.warns(DeprecatedName):
        assert cli_config("--reg", "fm").reg.kind == "fmvae"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli_config("--reg", "fmvae").reg.kind == "fmvae"  # the new name: no warning


def test_a_runs_config_file_is_a_config_to_train_another_seed_from(tmp_path):
    run = new_run(tmp_path, cli_config("--reg", "ir", "--alpha", "500", "--seed", "3"))
    raw = {**run.raw_config(), "type": "train", "x_shape": [1, 28, 28], "parameters": 1234}  # as training records
    run.file("config.json").write_text(json.dumps(raw))
    again = cli_config("--config", str(run.file("config.json")), "--seed", "4")
    assert (again.reg.kind, again.reg.alpha, again.train.seed) == ("ir", 500.0, 4)
    assert again.model == run.config().model and again.data == run.config().data
    with pytest.raises(ConfigError, match="flattening run's config"):
        RunConfig.from_dict({**raw, "type": "flatten"})
