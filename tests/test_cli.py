"""The command line end to end: ``main`` as ``python -m irvae_core`` calls it, in this process, and through a real
process where the process is what is checked (help and a refusal's exit code, stderr free of a dependency's
deprecation notice). Every command the README shows also runs through a real process (test_readme_commands.py)."""

import contextlib
import io
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch

from irvae_core.data import load_dataset
from tests.helpers import main_exit_code

pytestmark = pytest.mark.slow  # the command line end to end, training

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m irvae_core ARGS`` in a real process."""
    return subprocess.run([sys.executable, "-m", "irvae_core", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


class Done(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def in_process(*args: str) -> Done:
    """The command line's ``main(ARGS)`` in this process (its working folder pytest's): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_exit_code(list(args))
    return Done(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    # a constant learning rate: decayed to 0 within 3 epochs, the decoder would not leave its constant start
    r = in_process("train", "--dataset", "mnist5k", "--model", "vae", "--reg", "ir", "--latent-dim", "2", "--epochs",
                   "3", "--lr-schedule", "constant", "--no-tensorboard", "--out", str(out), "--pz-points", "2000")
    assert r.returncode == 0, r.stderr
    run_dir = Path(r.stdout.strip().splitlines()[-1])
    assert run_dir.parent == out and (run_dir / "best.pt").is_file()
    return run_dir


@pytest.fixture(scope="module")
def mnist5k_test() -> torch.Tensor:
    return load_dataset("mnist5k").test.x


def independent_evaluation(run_dir: Path, x: torch.Tensor) -> dict[str, float]:
    """MSE, MCN and VoR of a run's best model on inputs x, computed here in float64: reconstructions
    decode(encode(x)), Jacobians by central differences, VoR = mean sum log^2 eig(Gbar^-1/2 G Gbar^-1/2)."""
    from scipy.linalg import fractional_matrix_power

    from irvae_core.store.checkpoints import load_model
    from irvae_core.store.runs import open_run

    model = load_model(open_run(run_dir)).double()
    x = x.double()
    with torch.no_grad():
        z = model.encode(x)
        mse = (model.decode(z) - x).pow(2).mean().item()
        h = 1e-5
        J = torch.stack([(model.decode(z + h * e) - model.decode(z - h * e)).reshape(len(z), -1) / (2 * h)
                         for e in torch.eye(z.shape[1], dtype=torch.float64)], -1)
    G = (J.transpose(1, 2) @ J).numpy()
    lam = np.linalg.eigvalsh(G)
    w = fractional_matrix_power(G.mean(0), -0.5)
    vor = float((np.log(np.linalg.eigvalsh(w @ G @ w)) ** 2).sum(1).mean())
    return {"mse": mse, "mcn": float((lam[:, -1] / lam[:, 0]).mean()), "vor": vor}


def test_train_then_evaluate_json_on_the_embedded_data(trained_run, mnist5k_test):
    r = in_process("evaluate", str(trained_run), "--json", "--no-distances", "--pz-points", "2000")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["dataset"] == "mnist5k" and result["split"] == "test" and result["n"] == 500
    assert result["latent"] == "encoded"
    expected = independent_evaluation(trained_run, mnist5k_test)
    assert result["mse"] == pytest.approx(expected["mse"], rel=1e-5)
    assert result["mcn"] == pytest.approx(expected["mcn"], rel=1e-3)
    assert result["vor"] == pytest.approx(expected["vor"], rel=2e-2, abs=1e-4)
    assert json.loads((trained_run / "evaluation.json").read_text())["mse"] == result["mse"]
    # the augmented block is measured on other points (mixup of the codes), not a copy
    assert {"vor", "mcn"} <= set(result["augmented"]) and result["augmented"]["mcn"] != result["mcn"]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["reg"]["kind"] == "ir" and config["reg"]["alpha"] == 1500.0  # the documented default (README)


def test_evaluate_text_output_names_both_latent_distributions_and_the_distance_suite(trained_run):
    r = in_process("evaluate", str(trained_run), "--pairs", "5", "--suite-points", "60", "--pz-points", "2000")
    assert r.returncode == 0, r.stderr
    assert "encoded test data" in r.stdout and "mixup-augmented" in r.stdout and "MSE" in r.stdout
    assert "geodesic agreement: Spearman" in r.stdout and "/5 lengths certified" in r.stdout
    stored = json.loads((trained_run / "evaluation.json").read_text())
    detail = json.loads((trained_run / "distances.json").read_text())
    assert stored["distances"]["geo_pairs"] == 5 and stored["distances"]["suite_points"] == 60
    assert len(detail["geodesic"]) == 5 and len(detail["rank_error"]) == len(detail["codes"]) == 60
    # each point's rank error is its share of the trustworthiness penalty (distances.rank_errors)
    assert sum(detail["rank_error"]) / 60 == pytest.approx(1 - stored["distances"]["trustworthiness"], abs=1e-9)


def test_flatten_prints_a_new_run_that_evaluates(trained_run, tmp_path):
    r = in_process("flatten", str(trained_run), "--epochs", "1", "--depth", "2", "--width", "16", "--out",
                   str(tmp_path), "--pz-points", "2000")
    assert r.returncode == 0, r.stderr
    new = Path(r.stdout.strip().splitlines()[-1])
    assert json.loads((new / "config.json").read_text())["type"] == "flatten"
    assert json.loads((new / "evaluation.json").read_text())["augmented"]["points"] == 2000
    ev = in_process("evaluate", str(new), "--json", "--no-distances", "--pz-points", "2000")
    assert ev.returncode == 0, ev.stderr
    base = json.loads((trained_run / "evaluation.json").read_text())  # equals a fresh evaluation (the test above)
    assert json.loads(ev.stdout)["mse"] == pytest.approx(base["mse"], rel=1e-3)


def write_mnist_layout(root: Path, train: torch.Tensor, test: torch.Tensor) -> None:
    """Images in [0, 1] (N, 1, 28, 28) as torchvision's MNIST/raw IDX files (labels all 0)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for part, x in (("train", train), ("t10k", test)):
        pixels = (x * 255).round().to(torch.uint8).numpy()
        (raw / f"{part}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, len(x), 28, 28) + pixels.tobytes())
        (raw / f"{part}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(x)) + bytes(len(x)))


def test_evaluate_on_another_dataset_of_the_same_shape_and_refuse_another_shape(trained_run, mnist5k_test, tmp_path):
    own = (trained_run / "evaluation.json").read_bytes() if (trained_run / "evaluation.json").exists() else None
    digits = mnist5k_test
    write_mnist_layout(tmp_path, digits[:60], digits[-16:])  # real digits in the "mnist" layout
    r = cli("evaluate", str(trained_run), "--dataset", "mnist", "--data-root", str(tmp_path), "--json",
            "--no-distances", "--pz-points", "2000")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert (result["dataset"], result["split"], result["n"]) == ("mnist", "test", 16)
    assert "torch.jit.script" not in r.stderr  # torch's own deprecation notice, triggered by forward-mode AD
    expected = independent_evaluation(trained_run, (digits[-16:] * 255).round() / 255)
    assert result["mse"] == pytest.approx(expected["mse"], rel=1e-5)
    assert result["mcn"] == pytest.approx(expected["mcn"], rel=1e-3)
    # another dataset's numbers do not replace the run's own evaluation
    after = (trained_run / "evaluation.json").read_bytes() if (trained_run / "evaluation.json").exists() else None
    assert after == own

    r = in_process("evaluate", str(trained_run), "--dataset", "synthetic-faces", "--data-root", ".", "--json")
    assert r.returncode == 2
    assert "shape" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "nope", "--epochs", "1"], "unknown dataset 'nope'"),
    (["train", "--dataset", "cmu", "--data-root", "/no/such/dir", "--epochs", "1"], "/no/such/dir"),
    (["train", "--latent-dim", "0"], "latent size must be >= 1"),
    (["train", "--reg", "bogus"], "invalid choice"),
    (["evaluate", "/no/such/run"], "run folder /no/such/run does not exist"),
    (["sweep", "--reg", "ir", "--alphas", "1,x"], "comma-separated numbers"),
    (["sweep", "--alphas", "1,2"], "give --reg ir, fmvae, iso or geomae"),
    (["flatten", "/no/such/run"], "does not exist"),
])
def test_bad_usage_exits_2_with_one_sentence(tmp_path, args, message, capsys):
    """In this process (main, as ``python -m irvae_core`` calls it): the next test runs one through a real process."""
    code = main_exit_code([*args, "--out", str(tmp_path)] if args[0] in ("train", "sweep") else args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_every_subcommand_has_help_and_bad_usage_exits_2_from_a_real_process(capsys):
    from irvae_core.cli import main

    r = cli("train", "--help")
    assert r.returncode == 0 and "usage:" in r.stdout and "CPU default" in r.stdout
    r = cli("train", "--latent-dim", "0", "--no-tensorboard", "--out", str(ROOT / "no-runs-here"))
    assert r.returncode == 2 and "latent size must be >= 1" in r.stderr and "Traceback" not in r.stderr
    assert not (ROOT / "no-runs-here").exists()  # refused before any folder was made
    for sub in ["flatten", "evaluate", "sweep", "retrieve", "stability", "examples", "reproduce"]:
        with pytest.raises(SystemExit) as e:
            main([sub, "--help"])
        assert e.value.code == 0 and "usage:" in capsys.readouterr().out


def test_sweep_prints_a_tradeoff_table(tmp_path):
    r = in_process("sweep", "--dataset", "digits", "--reg", "ir", "--alphas", "0.1,1", "--epochs", "1", "--latent-dim",
                   "2", "--batch-size", "50", "--no-tensorboard", "--out", str(tmp_path), "--json",
                   "--pz-points", "2000")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["alpha"] for row in rows] == [0.1, 1.0]
    assert all({"mse", "vor", "mcn", "run"} <= set(row) for row in rows)


@pytest.fixture(scope="module")
def small_net(tmp_path_factory) -> str:
    """A config file of two hidden layers of 32 (the command line's flags set the rest): what the tests below check
    is the command, not the default network (4 x 256, whose 100,000 P_Z points are seconds to evaluate)."""
    from irvae_core.config import RunConfig, apply_overrides

    path = tmp_path_factory.mktemp("config") / "small.json"
    path.write_text(apply_overrides(RunConfig(), {"model.hidden": [32, 32]}).to_json())
    return str(path)


def test_reg_fm_still_works_with_a_one_line_deprecation_message(tmp_path, capsys, small_net):
    from irvae_core.cli import main

    args = ["train", "--config", small_net, "--dataset", "digits", "--reg", "fm", "--epochs", "1", "--no-tensorboard",
            "--out", str(tmp_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warning == ["warning: regularizer 'fm' is now called 'fmvae' ('fm' still works for now)"]
    config = json.loads((Path(out.strip().splitlines()[-1]) / "config.json").read_text())
    assert config["reg"]["kind"] == "fmvae" and config["version"] == 3


def test_cmu_all_trials_is_a_data_option_of_the_cmu_dataset(capsys):
    from irvae_core.cli import build_parser, config_from_args, main

    a = build_parser().parse_args(["train", "--dataset", "cmu", "--data-root", "x", "--cmu-all-trials"])
    assert config_from_args(a).data.options == {"all_trials": True}
    assert config_from_args(build_parser().parse_args(["train", "--dataset", "cmu"])).data.options == {}
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "mnist5k", "--cmu-all-trials"])
    assert e.value.code == 2 and "--cmu-all-trials goes with --dataset cmu" in capsys.readouterr().err


def test_train_evaluates_its_run_as_the_app_does_unless_told_not_to(tmp_path, capsys, small_net):
    from irvae_core.cli import main
    from irvae_core.store.runs import open_run
    from irvae_core.train.evaluation import evaluate_run

    args = ["train", "--config", small_net, "--dataset", "digits", "--reg", "ir", "--epochs", "1", "--batch-size",
            "50", "--no-tensorboard", "--out", str(tmp_path)]
    assert main(args) == 0
    run = open_run(capsys.readouterr().out.strip().splitlines()[-1])
    stored = run.evaluation()
    assert stored is not None and stored == evaluate_run(run, save=False)  # what a fresh evaluation gives
    assert stored["augmented"]["points"] == 100_000  # the paper's P_Z
    assert main([*args, "--no-evaluate"]) == 0
    skipped = open_run(capsys.readouterr().out.strip().splitlines()[-1])
    assert skipped.status()["state"] == "done" and skipped.evaluation() is None
    assert main([*args, "--pz-points", "500"]) == 0  # a smaller P_Z, asked for
    small = open_run(capsys.readouterr().out.strip().splitlines()[-1])
    assert small.evaluation()["augmented"]["points"] == 500
    assert small.evaluation() == evaluate_run(small, save=False, pz_points=500)
    assert main(["evaluate", str(small.path), "--json", "--no-distances", "--pz-points", "700"]) == 0
    assert json.loads(capsys.readouterr().out)["augmented"]["points"] == 700
    with pytest.raises(SystemExit) as e:
        main([*args, "--pz-points", "1"])
    assert e.value.code == 2 and "--pz-points: expected an integer >= 2, got '1'" in capsys.readouterr().err
