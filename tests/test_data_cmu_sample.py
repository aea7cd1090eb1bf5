"""``cmu-sample``: the six real CMU trials shipped inside the package, read through the ``cmu`` loader."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from irvae_core.data import DATASETS, load_dataset
from irvae_core.data.cmu import SAMPLE_DIR, SAMPLE_TRIALS
from irvae_core.mocap.labels import CLASS_NAMES
from tests.helpers import shared_cmu

FRAMES = {"07_05": 517, "35_01": 358, "09_06": 141, "49_18": 1102, "49_19": 957, "13_17": 4840}


def test_the_sample_loads_offline_from_inside_the_package():
    info = DATASETS["cmu-sample"]
    assert not info.needs_root and (info.arch, info.out_act) == ("fc", "tanh")
    data = load_dataset("cmu-sample")
    assert data.name == "cmu-sample" and data.x_shape == (50,) and data.label_names[:4] == CLASS_NAMES
    assert (len(data.train), len(data.val), len(data.test)) == (5655, 1130, 1130)  # 7,915 frames cut 5:1:1
    assert {t: v["frames"] for t, v in data.meta["trials"].items()} == FRAMES
    assert {t: v["class"] for t, v in data.meta["trials"].items()} == SAMPLE_TRIALS
    package = Path(__file__).resolve().parents[1] / "irvae_core"
    assert all(Path(v["amc"]).resolve().is_relative_to(package) for v in data.meta["trials"].values())
    labels = torch.cat([data.train.y, data.val.y, data.test.y])
    per_class = np.bincount(labels.numpy(), minlength=4).tolist()
    assert per_class == [517 + 358, 141, 1102 + 957, 4840]
    assert sorted(data.meta["skeletons"]) == ["07", "09", "13", "35", "49"]  # every subject's own bones
    assert data.train.x.abs().max() <= 1.0


def test_the_sample_takes_the_cmu_loaders_options():
    trials = load_dataset("cmu-sample", split="trials", seed=3)
    assert trials.name == "cmu-sample" and "no trial in two splits" in trials.meta["split"]
    assert set(trials.meta["split_trials"]["test"]).isdisjoint(trials.meta["split_trials"]["train"])
    capped = load_dataset("cmu-sample", max_poses=700, frame_step=2)
    assert len(capped.train) + len(capped.val) + len(capped.test) == 700


@pytest.mark.skipif(shared_cmu() is None, reason="the shared CMU trials (../shared/data/cmu) are absent")
def test_the_shipped_files_are_cmus_own():
    shared = shared_cmu()
    for f in sorted(SAMPLE_DIR.glob("*.a[ms][cf]")):
        assert f.read_bytes() == (shared / f.name).read_bytes(), f.name
    ours, theirs = load_dataset("cmu-sample", seed=1), load_dataset("cmu", shared, seed=1)
    assert torch.equal(ours.test.x, theirs.test.x) and torch.equal(ours.train.y, theirs.train.y)


@pytest.mark.slow
def test_the_wheel_carries_the_sample(tmp_path):
    """`pip install .` installs what the repository holds: the wheel has every shipped file."""
    root, src = Path(__file__).resolve().parents[1], tmp_path / "src"  # a copy: the build writes beside its source
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(root / name, src / name)
    for package in ("irvae_core", "models"):
        shutil.copytree(root / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("irvae_lab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"irvae_core/data/cmu_sample/{f.name}" for f in SAMPLE_DIR.iterdir()} <= names
    assert "irvae_core/data/cmu.py" in names and "models/networks.py" in names
