"""Resume refuses what it cannot continue, in one sentence with exit code 2, and writes nothing;
it accepts only --epochs (to extend) and --device; evaluation runs on the run's device."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from irvae_core.cli import main
from irvae_core.config import ConfigError
from irvae_core.experiments.jobs import JobManager
from irvae_core.store.checkpoints import build_model
from irvae_core.store.lock import LOCK_FILE, RunLocked, lock_owner
from irvae_core.store.runs import list_runs, open_run
from irvae_core.train.evaluation import evaluate_run
from irvae_core.train.resolve import run_device
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow  # trains, interrupts and resumes runs


def planted_code(path: str) -> None:
    """What a tampered checkpoint tries to run on loading."""
    Path(path).write_text("ran")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    cfg = out / "tiny.json"
    cfg.write_text(tiny_config(**{"model.kind": "ae", "train.epochs": 1, "train.batch_size": 200}).to_json())
    assert main(["train", "--config", str(cfg), "--out", str(out)]) == 0
    return list_runs(out)[0].path


@pytest.fixture
def run_dir(tmp_path, finished) -> Path:
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of the run but the lock's owner record (which names the last process that locked it)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != LOCK_FILE}


def _truncated(run: Path, tmp: Path) -> None:
    data = run.joinpath("last.pt").read_bytes()
    run.joinpath("last.pt").write_bytes(data[: len(data) // 2])


def _other_architecture(run: Path, tmp: Path) -> None:
    cfg = tiny_config(**{"model.kind": "ae", "model.latent_dim": 3})
    model = build_model(cfg, (64,))
    opt = torch.optim.Adam(model.parameters())
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1, "global_step": 13,
                "best_val": 1.0}, run / "last.pt")


def _code_object(run: Path, tmp: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (planted_code, (str(tmp / "code-ran"),))

    state = torch.load(run / "last.pt", weights_only=True)
    state["model"]["evil"] = Evil()
    run.joinpath("last.pt").write_bytes(pickle.dumps(state))


def _edit_config(change):
    def edit(run: Path, tmp: Path) -> None:
        raw = json.loads(run.joinpath("config.json").read_text())
        change(raw)
        run.joinpath("config.json").write_text(json.dumps(raw))
    return edit


BAD = {
    "truncated last.pt": (_truncated, "is corrupt, truncated"),
    "another architecture": (_other_architecture, "does not match the model"),
    "pickled code": (_code_object, "is corrupt, truncated or not a plain state dict"),
    "unknown top-level key": (_edit_config(lambda raw: raw.update(surprise=1)), "unknown keys ['surprise']"),
    "unknown field": (_edit_config(lambda raw: raw["train"].update(turbo=True)), "unknown fields ['turbo']"),
    "missing section": (_edit_config(lambda raw: raw.pop("model")), "lacks model"),
    "missing field": (_edit_config(lambda raw: raw["model"].pop("latent_dim")), "lacks model.latent_dim"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_run_is_refused_in_one_sentence_with_exit_2_and_nothing_rewritten(case, run_dir, tmp_path, capsys):
    spoil, message = BAD[case]
    spoil(run_dir, tmp_path)
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert snapshot(run_dir) == before
    assert not (tmp_path / "code-ran").exists()
    assert lock_owner(run_dir) is None  # the refusal let go of the lock


def test_resume_accepts_only_epochs_and_device(run_dir, capsys):
    before = snapshot(run_dir)
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", str(run_dir), "--alpha", "3", "--seed", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "only --epochs (to extend it) and --device" in err and "--alpha, --seed" in err
    assert main(["train", "--resume", str(run_dir), "--epochs", "0"]) == 2  # fewer than it has trained
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert snapshot(run_dir) == before

    assert main(["train", "--resume", str(run_dir), "--epochs", "2", "--device", "cpu"]) == 0
    run = open_run(run_dir)
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    assert run.config().train.epochs == 2 and run.config().model.kind == "ae"


def test_a_second_writer_in_the_same_process_is_refused(run_dir):
    run = open_run(run_dir)
    with run.lock("test writer"):
        assert "test writer" in lock_owner(run_dir)
        with pytest.raises(RunLocked, match="test writer"):
            run.lock()
        with pytest.raises(RunLocked, match="test writer"):
            JobManager(run_dir.parent, evaluate=False).resume(run_dir)
    assert lock_owner(run_dir) is None


def test_evaluation_runs_on_the_runs_device_unless_told_otherwise(run_dir, capsys):
    run = open_run(run_dir)
    assert run.status()["device"] == "cpu"  # recorded by the trainer
    assert run_device(run) == torch.device("cpu") and evaluate_run(run, save=False)["device"] == "cpu"
    status = json.loads(run.file("status.json").read_text())
    run.file("status.json").write_text(json.dumps({**status, "device": "cuda"}))
    expected = "cuda" if torch.cuda.is_available() else "cpu"  # a run trained elsewhere: cpu where no CUDA is
    assert evaluate_run(run, save=False)["device"].startswith(expected)
    assert evaluate_run(run, save=False, device="cpu")["device"] == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            evaluate_run(run, device="cuda")
        capsys.readouterr()
        assert main(["evaluate", str(run_dir), "--device", "cuda"]) == 2
        assert "no CUDA device is available" in capsys.readouterr().err
