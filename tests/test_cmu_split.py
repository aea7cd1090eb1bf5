"""The ``cmu`` loader's trial split (``split="trials"``): no trial in two splits, on ASF/AMC files written here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from irvae_core.data import DataError, load_dataset
from tests.helpers import write_subject

pytestmark = pytest.mark.slow  # trains on split CMU folders

ROOT = Path(__file__).resolve().parents[1]
# trial -> (class, frames); the ids are the built-in list's: 35_01-04 walking, 09_01-03 jogging, 13_17-18 punching
TRIALS = {
    "35": {"35_01": ("walking", 40), "35_02": ("walking", 50), "35_03": ("walking", 60), "35_04": ("walking", 30)},
    "09": {"09_01": ("jogging", 30), "09_02": ("jogging", 40), "09_03": ("jogging", 20)},
    "13": {"13_17": ("punching", 25), "13_18": ("punching", 35)},
}
FRAMES = {t: n for trials in TRIALS.values() for t, (_, n) in trials.items()}
CLASS = {t: c for trials in TRIALS.values() for t, (c, _) in trials.items()}
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cmu")
    for subject, trials in TRIALS.items():
        write_subject(folder / subject, subject, trials)
    return folder


@pytest.fixture(scope="module")
def trial_of_pose(root) -> dict[bytes, str]:
    """Every pose (its bytes) -> its trial, from loading each trial alone."""
    out = {}
    for trial in FRAMES:
        d = load_dataset("cmu", root, trials=[trial], max_poses=None)
        for s in (d.train, d.val, d.test):
            out |= {row.numpy().tobytes(): trial for row in s.x}
    assert len(out) == sum(FRAMES.values())  # no two poses equal: a pose names its trial
    return out


def parts(d):
    return dict(zip(SPLITS, (d.train, d.val, d.test)))


def test_no_trial_is_in_two_splits(root, trial_of_pose):
    d = load_dataset("cmu", root, split="trials", max_poses=None, seed=0)
    split_trials = d.meta["split_trials"]
    assert set(split_trials) == set(SPLITS)
    listed = [t for s in SPLITS for t in split_trials[s]]
    assert sorted(listed) == sorted(FRAMES)  # each trial once
    for name, part in parts(d).items():  # the poses themselves come from their split's trials only
        assert {trial_of_pose[row.numpy().tobytes()] for row in part.x} == set(split_trials[name])
    test_trials = [t for t, _ in d.meta["test_frames"]]
    assert len(test_trials) == len(d.test) and set(test_trials) == set(split_trials["test"])
    assert not set(test_trials) & (set(split_trials["train"]) | set(split_trials["val"]))
    for (trial, frame), row in zip(d.meta["test_frames"], d.test.x):  # each test pose's (trial, AMC frame)
        assert trial_of_pose[row.numpy().tobytes()] == trial and 0 <= frame < FRAMES[trial]
    assert len(set(d.meta["test_frames"])) == len(d.test)


def test_a_class_of_three_or_more_trials_is_in_every_split(root):
    d = load_dataset("cmu", root, split="trials", max_poses=None)
    split_trials = d.meta["split_trials"]
    for name in SPLITS:
        classes = {CLASS[t] for t in split_trials[name]}
        assert {"walking", "jogging"} <= classes
        labels = {d.label_names[i] for i in parts(d)[name].y.tolist()}
        assert labels == classes
    punching = {s for s in SPLITS for t in split_trials[s] if CLASS[t] == "punching"}
    assert punching == {"train", "test"}  # 2 trials: train first, then test
    assert "punching (2 trials: train and test only)" in d.meta["split"]
    assert "walking" not in d.meta["split"] and "jogging" not in d.meta["split"]


def test_one_trial_of_a_class_goes_to_train(root):
    d = load_dataset("cmu", root, split="trials", max_poses=None, trials=["35_01", "35_02", "35_03", "13_17"])
    assert d.meta["split_trials"]["train"].count("13_17") == 1
    assert "punching (1 trial: train only)" in d.meta["split"]


def test_split_sizes_sum_to_the_frames_and_approach_5_1_1(root):
    d = load_dataset("cmu", root, split="trials", max_poses=None)
    sizes = {name: len(part) for name, part in parts(d).items()}
    assert sum(sizes.values()) == sum(FRAMES.values()) == 330
    for name in SPLITS:
        trials = d.meta["split_trials"][name]
        assert sizes[name] == sum(FRAMES[t] for t in trials)
        assert f"{name} {len(trials)} trials / {sizes[name]} frames" in d.meta["split"]
    assert sizes["train"] > sizes["val"] > 0 and sizes["train"] > sizes["test"] > 0
    for cls in ("walking", "jogging"):  # each split near its share of the class's frames, as whole trials allow
        total = sum(n for t, n in FRAMES.items() if CLASS[t] == cls)
        train = sum(FRAMES[t] for t in d.meta["split_trials"]["train"] if CLASS[t] == cls)
        assert 0.4 * total <= train <= 0.85 * total


def test_max_poses_caps_the_total_keeping_the_proportions(root, trial_of_pose):
    full = load_dataset("cmu", root, split="trials", max_poses=None, seed=2)
    capped = load_dataset("cmu", root, split="trials", max_poses=70, seed=2)
    assert capped.meta["split_trials"] == full.meta["split_trials"]
    sizes = [len(p) for p in parts(capped).values()]
    assert sum(sizes) == 70
    for n, whole in zip(sizes, parts(full).values()):
        assert abs(n - len(whole) * 70 / 330) < 1
    for name, part in parts(capped).items():  # a subsample of the split's own frames
        assert {trial_of_pose[row.numpy().tobytes()] for row in part.x} <= set(capped.meta["split_trials"][name])
    assert len(capped.meta["test_frames"]) == len(capped.test)
    assert "70 of the 330 frames" in capped.meta["split"]
    assert sum(len(p) for p in parts(load_dataset("cmu", root, split="trials", max_poses=1000)).values()) == 330
    default = load_dataset("cmu", root, split="trials")  # max_poses defaults to the paper's 14,000
    assert sum(len(p) for p in parts(default).values()) == 330


def test_the_seed_fixes_the_split(root):
    a, b = (load_dataset("cmu", root, split="trials", seed=4) for _ in range(2))
    assert a.meta["split_trials"] == b.meta["split_trials"] and a.meta["test_frames"] == b.meta["test_frames"]
    for pa, pb in zip(parts(a).values(), parts(b).values()):
        assert torch.equal(pa.x, pb.x) and torch.equal(pa.y, pb.y)
    others = [load_dataset("cmu", root, split="trials", seed=s).meta["split_trials"] for s in range(5, 10)]
    assert any(o != a.meta["split_trials"] for o in others)


def test_split_frames_is_the_default_random_frame_split(root):
    for kwargs in ({}, {"max_poses": 70, "seed": 3}):
        a = load_dataset("cmu", root, **kwargs)
        b = load_dataset("cmu", root, split="frames", **kwargs)
        for pa, pb in zip(parts(a).values(), parts(b).values()):
            assert torch.equal(pa.x, pb.x) and torch.equal(pa.y, pb.y)
        assert a.meta["test_frames"] == b.meta["test_frames"] and a.meta["split"] == b.meta["split"]
        assert "split_trials" not in b.meta
    a = load_dataset("cmu", root, max_poses=70, seed=3)
    assert (len(a.train), len(a.val), len(a.test)) == (50, 10, 10)
    assert a.meta["split"] == "70 of 330 frames, shuffled with seed 3, cut 5:1:1 (paper: 10k/2k/2k)"


def test_an_unknown_split_is_a_data_error_naming_the_allowed_values(root):
    with pytest.raises(DataError, match=r"unknown cmu split 'poses'; the allowed values are 'frames' .* and "
                                        r"'trials'"):
        load_dataset("cmu", root, split="poses")


def test_cmu_split_is_a_data_option_of_the_cmu_dataset(capsys):
    from irvae_core.cli import build_parser, config_from_args, main

    a = build_parser().parse_args(["train", "--dataset", "cmu", "--cmu-split", "trials", "--cmu-all-trials"])
    assert config_from_args(a).data.options == {"all_trials": True, "split": "trials"}
    a = build_parser().parse_args(["train", "--dataset", "cmu", "--cmu-split", "frames"])
    assert config_from_args(a).data.options == {"split": "frames"}
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "mnist5k", "--cmu-split", "trials"])
    assert e.value.code == 2 and "--cmu-split goes with --dataset cmu" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--dataset", "cmu", "--cmu-split", "poses"])
    assert e.value.code == 2


def test_train_on_a_trial_split_through_the_command_line(root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "irvae_core", "train", "--dataset", "cmu", "--data-root", str(root),
                        "--cmu-split", "trials", "--epochs", "1", "--no-tensorboard", "--no-evaluate",
                        "--out", str(tmp_path / "runs")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    run = Path(r.stdout.strip().splitlines()[-1])
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["name"] == "cmu" and config["data"]["options"] == {"split": "trials"}


def test_without_a_class_of_three_trials_validation_is_the_tail_of_the_training_trials(root, trial_of_pose):
    few = ["35_01", "35_02", "09_01", "13_17"]  # walking 2, jogging 1, punching 1: no class reaches 3 trials
    d = load_dataset("cmu", root, split="trials", trials=few, max_poses=None, seed=0)
    split_trials = d.meta["split_trials"]
    assert split_trials["val"] == [] and len(d.val) > 0 and "last sixth of each training trial" in d.meta["split"]
    val_trials = {trial_of_pose[row.numpy().tobytes()] for row in d.val.x}
    assert val_trials == set(split_trials["train"])  # held out of the training trials, never of a test trial
    assert not {trial_of_pose[row.numpy().tobytes()] for row in d.test.x} & val_trials
    expected = sum(FRAMES[t] // 6 for t in split_trials["train"])
    assert len(d.val) == expected and len(d.train) == sum(FRAMES[t] for t in split_trials["train"]) - expected
