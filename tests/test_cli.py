"""The command line end to end (subprocesses, as a user runs it)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irvae_core", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    r = cli("train", "--dataset", "mnist5k", "--model", "vae", "--reg", "ir", "--latent-dim", "2", "--epochs", "3",
            "--no-tensorboard", "--out", str(out))
    assert r.returncode == 0, r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    assert run_dir.parent == out and (run_dir / "best.pt").is_file()
    return run_dir


def test_train_then_evaluate_json_on_the_embedded_data(trained_run):
    r = cli("evaluate", str(trained_run), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["dataset"] == "mnist5k" and result["split"] == "test" and result["n"] == 500
    assert 0 < result["mse"] < 0.2
    assert result["vor"] >= 0 and result["mcn"] >= 1
    assert result["latent"] == "encoded" and result["augmented"]["mcn"] >= 1
    config = json.loads((trained_run / "config.json").read_text())
    assert config["reg"]["kind"] == "ir" and config["reg"]["alpha"] == 300.0  # the documented default


def test_evaluate_text_output_names_both_latent_distributions(trained_run):
    r = cli("evaluate", str(trained_run))
    assert r.returncode == 0
    assert "encoded test data" in r.stdout and "mixup-augmented" in r.stdout and "MSE" in r.stdout


def test_flatten_prints_a_new_run_that_evaluates(trained_run, tmp_path):
    r = cli("flatten", str(trained_run), "--epochs", "1", "--depth", "2", "--width", "16", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    new = Path(r.stdout.strip().splitlines()[-1])
    assert json.loads((new / "config.json").read_text())["type"] == "flatten"
    ev = cli("evaluate", str(new), "--json")
    assert ev.returncode == 0, ev.stderr
    base = json.loads(cli("evaluate", str(trained_run), "--json").stdout)
    assert json.loads(ev.stdout)["mse"] == pytest.approx(base["mse"], rel=1e-3)


def test_evaluate_on_another_dataset_of_the_same_shape_and_refuse_another_shape(trained_run):
    r = cli("evaluate", str(trained_run), "--dataset", "synthetic-faces", "--data-root", ".", "--json")
    assert r.returncode == 2
    assert "shape" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "nope", "--epochs", "1"], "unknown dataset 'nope'"),
    (["train", "--dataset", "cmu", "--data-root", "/no/such/dir", "--epochs", "1"], "/no/such/dir"),
    (["train", "--latent-dim", "0"], "latent size must be >= 1"),
    (["train", "--reg", "bogus"], "invalid choice"),
    (["evaluate", "/no/such/run"], "run folder /no/such/run does not exist"),
    (["sweep", "--reg", "ir", "--alphas", "1,x"], "comma-separated numbers"),
    (["sweep", "--alphas", "1,2"], "give --reg ir, fm or iso"),
    (["flatten", "/no/such/run"], "does not exist"),
])
def test_bad_usage_exits_2_with_one_sentence(tmp_path, args, message):
    r = cli(*args, "--out", str(tmp_path)) if args[0] in ("train", "sweep") else cli(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_every_subcommand_has_help():
    for sub in ["train", "evaluate", "sweep", "flatten"]:
        r = cli(sub, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout
    assert "CPU default" in cli("train", "--help").stdout


def test_sweep_prints_a_tradeoff_table(tmp_path):
    r = cli("sweep", "--dataset", "digits", "--reg", "ir", "--alphas", "0.1,1", "--epochs", "1", "--latent-dim", "2",
            "--batch-size", "50", "--no-tensorboard", "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["alpha"] for row in rows] == [0.1, 1.0]
    assert all({"mse", "vor", "mcn", "run"} <= set(row) for row in rows)
