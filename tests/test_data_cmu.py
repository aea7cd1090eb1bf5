"""The ``cmu`` loader on small ASF/AMC folders written by the test (no shared data needed)."""

import socket

import numpy as np
import pytest

from irvae_core.data import DataError, load_dataset
from irvae_core.data.synthetic_mocap import cmu_like_asf, cmu_like_skeleton, motion_channels
from irvae_core.mocap import format_amc, pose_from_features


def write_trial(folder, trial, label, frames, seed=0, newline="\n"):
    folder.mkdir(parents=True, exist_ok=True)
    subject = trial.split("_")[0]
    (folder / f"{subject}.asf").write_bytes(cmu_like_asf().replace("\n", newline).encode())
    channels = motion_channels(label, frames, np.random.default_rng(seed))
    text = format_amc(cmu_like_skeleton(), channels)
    (folder / f"{trial}.amc").write_bytes(text.replace("\n", newline).encode())
    return channels


@pytest.fixture
def flat_root(tmp_path):
    write_trial(tmp_path, "35_01", "walking", 40, newline="\r\n")
    write_trial(tmp_path, "09_06", "jogging", 30)
    write_trial(tmp_path, "49_18", "balancing", 20)
    write_trial(tmp_path, "13_17", "punching", 50)
    return tmp_path


def test_flat_layout_shapes_ranges_labels(flat_root):
    d = load_dataset("cmu", flat_root, seed=1)
    assert (len(d.train), len(d.val), len(d.test)) == (140 - 40, 20, 20)
    assert d.x_shape == (50,) and d.label_kind == "class" and d.value_range == (-1.0, 1.0)
    x = d.train.x
    assert x.dtype.is_floating_point and x.shape[1] == 50 and x.abs().max() <= 1
    all_y = np.concatenate([s.y.numpy() for s in (d.train, d.val, d.test)])
    assert np.bincount(all_y).tolist() == [40, 30, 20, 50]
    assert d.meta["trials"]["09_06"] == {"class": "jogging", "frames": 30,
                                         "amc": str(flat_root / "09_06.amc")}
    assert len(d.meta["feature_channels"]) == 50 and d.meta["feature_scale"] == 180.0
    assert len(d.meta["edges"]) == 30 and d.meta["joint_names"][0] == "root"
    assert pose_from_features(d.meta["skeleton"], x[0].numpy()).shape == (31, 3)


def test_same_seed_same_split(flat_root):
    a, b = load_dataset("cmu", flat_root, seed=5), load_dataset("cmu", flat_root, seed=5)
    assert (a.train.x == b.train.x).all()
    assert not (load_dataset("cmu", flat_root, seed=6).train.x == a.train.x).all()


def test_subject_subfolders_max_poses_and_frame_step(tmp_path):
    write_trial(tmp_path / "35", "35_02", "walking", 70)
    write_trial(tmp_path / "16", "16_35", "jogging", 70)
    d = load_dataset("cmu", tmp_path, max_poses=70)
    assert (len(d.train), len(d.val), len(d.test)) == (50, 10, 10)
    d = load_dataset("cmu", tmp_path, frame_step=7, max_poses=None)
    assert len(d.train) + len(d.val) + len(d.test) == 20
    assert d.meta["fps"] == pytest.approx(120 / 7)


def test_classes_csv_overrides_the_built_in_labels(flat_root):
    write_trial(flat_root, "99_01", "walking", 14)
    (flat_root / "classes.csv").write_text("trial,class\n\n35_01,jogging\n99_01,walking\n")
    d = load_dataset("cmu", flat_root)
    assert d.meta["trials"]["35_01"]["class"] == "jogging"
    assert d.meta["trials"]["99_01"]["class"] == "walking"
    assert d.meta["skipped_trials"] == 0


@pytest.fixture
def mixed_root(flat_root):
    """The four labelled trials (140 frames) plus three of no paper class: 99_01, 99_02 unknown to both
    lists, 35_40 labelled 'dancing' by classes.csv."""
    write_trial(flat_root, "99_01", "walking", 14)
    write_trial(flat_root, "99_02", "jogging", 16, seed=1)
    write_trial(flat_root, "35_40", "punching", 18, seed=2)
    (flat_root / "classes.csv").write_text("35_40,dancing\n")
    return flat_root


def test_by_default_only_the_papers_four_classes_are_loaded(mixed_root):
    d = load_dataset("cmu", mixed_root, max_poses=None)
    assert sorted(d.meta["trials"]) == ["09_06", "13_17", "35_01", "49_18"]
    assert d.meta["skipped_trials"] == 3
    assert d.label_names == ["walking", "jogging", "balancing", "punching"]
    assert len(d.train) + len(d.val) + len(d.test) == 140
    all_y = np.concatenate([s.y.numpy() for s in (d.train, d.val, d.test)])
    assert np.bincount(all_y).tolist() == [40, 30, 20, 50]


def test_all_trials_keeps_everything_labelled_by_class_or_subject(mixed_root):
    d = load_dataset("cmu", mixed_root, max_poses=None, all_trials=True)
    classes = {t: v["class"] for t, v in d.meta["trials"].items()}
    assert classes == {"09_06": "jogging", "13_17": "punching", "35_01": "walking", "49_18": "balancing",
                       "35_40": "dancing", "99_01": "subject 99", "99_02": "subject 99"}
    assert d.meta["skipped_trials"] == 0
    assert d.label_names == ["walking", "jogging", "balancing", "punching", "dancing", "subject 99"]
    all_y = np.concatenate([s.y.numpy() for s in (d.train, d.val, d.test)])
    assert np.bincount(all_y).tolist() == [40, 30, 20, 50, 18, 30]


def test_a_root_without_any_paper_trial_says_how_to_keep_them(tmp_path):
    write_trial(tmp_path, "99_01", "walking", 14)
    with pytest.raises(DataError, match=r"none of its 1 trials is one of the paper's classes.*all_trials=True"):
        load_dataset("cmu", tmp_path)
    assert load_dataset("cmu", tmp_path, all_trials=True).label_names[-1] == "subject 99"


def test_class_subset_by_name_or_index(flat_root):
    d = load_dataset("cmu", flat_root, classes=["balancing", 3])
    assert set(np.concatenate([s.y.numpy() for s in (d.train, d.val, d.test)])) == {2, 3}
    with pytest.raises(DataError, match="unknown class .dancing."):
        load_dataset("cmu", flat_root, classes=["dancing"])


def test_bad_amc_line_is_a_data_error(flat_root):
    path = flat_root / "09_06.amc"
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("rtibia"))
    lines[i] += " 4.0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_dataset("cmu", flat_root)
    message = str(err.value)
    assert str(path) in message and f"line {i + 1}" in message and "needs 1 values (rx), got 2" in message


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cmu", tmp_path / "nowhere")
    with pytest.raises(DataError, match="expected CMU motion files"):
        load_dataset("cmu", tmp_path)
    (tmp_path / "35_01.amc").write_text(":FULLY-SPECIFIED\n")
    with pytest.raises(DataError, match=r"35_01\.amc: no skeleton for subject 35; expected .*35\.asf"):
        load_dataset("cmu", tmp_path)
    write_trial(tmp_path, "35_01", "walking", 14)
    with pytest.raises(DataError, match="trial 35_02 not found"):
        load_dataset("cmu", tmp_path, trials=["35_02"])


def test_download_without_network_is_one_sentence(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(DataError, match=r"could not download http://mocap\.cs\.cmu\.edu/subjects/35/35\.asf"):
        load_dataset("cmu", tmp_path / "new", download=True, trials=["35_01"])
    with pytest.raises(DataError, match="needs trials"):
        load_dataset("cmu", tmp_path / "new", download=True)


def test_loading_again_reuses_the_parsed_trials_and_a_rewritten_file_is_read_again(flat_root):
    from irvae_core.data import cmu

    first = load_dataset("cmu", flat_root)
    hits = cmu._features.cache_info().hits
    again = load_dataset("cmu", flat_root)  # parsed once a process: every trial from the cache
    assert cmu._features.cache_info().hits == hits + 4
    for a, b in zip((first.train, first.test), (again.train, again.test)):
        assert (a.x == b.x).all() and (a.y == b.y).all()
    write_trial(flat_root, "13_17", "punching", 50, seed=7)  # the same trial, other motion: read again
    changed = load_dataset("cmu", flat_root)
    assert len(changed.train) == len(first.train) and not (changed.train.x == first.train.x).all()
    path = flat_root / "09_06.amc"  # and a file broken since is reported, not served from the cache
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("rtibia"))
    lines[i] += " 4.0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="needs 1 values"):
        load_dataset("cmu", flat_root)
