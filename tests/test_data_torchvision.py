"""MNIST, Fashion-MNIST, CIFAR-10 and SVHN loaders on tiny fixtures in torchvision's published layouts."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from irvae_core.data import DATASETS, DataError, load_dataset


def idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 2051, len(images), 28, 28) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def write_mnist(root, folder="MNIST", n_train=60, n_test=12, gz=True):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = 255  # every image reaches 1.0
        labels = np.arange(n) % 10
        for name, data in ((f"{part}-images-idx3-ubyte", idx_images(images)),
                           (f"{part}-labels-idx1-ubyte", idx_labels(labels))):
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return raw


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fmnist", "FashionMNIST")])
def test_idx_sets_from_gz(tmp_path, name, folder):
    write_mnist(tmp_path, folder)
    d = load_dataset(name, tmp_path, seed=0)
    assert (len(d.train), len(d.val), len(d.test)) == (50, 10, 12)  # 60k -> 50k/10k, in proportion
    x, y = d.train[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and d.x_shape == (1, 28, 28)
    xs = torch.stack([d.test[i][0] for i in range(len(d.test))])
    assert xs.min() >= 0 and xs.max() == 1.0
    assert [int(d.test[i][1]) for i in range(12)] == [i % 10 for i in range(12)]
    assert len(d.label_names) == 10


def test_class_subset_and_seeded_split(tmp_path):
    write_mnist(tmp_path, n_train=120, gz=False)
    d = load_dataset("mnist", tmp_path, classes=[0, 1, 5], seed=2)
    assert {int(y) for y in d.train.y} | {int(y) for y in d.test.y} == {0, 1, 5}
    assert (len(d.train), len(d.val)) == (30, 6)  # 36 training images of 0, 1, 5; 1/6 for validation
    again = load_dataset("mnist", tmp_path, classes=[0, 1, 5], seed=2)
    assert torch.equal(d.val.images, again.val.images)
    with pytest.raises(DataError, match="out of range"):
        load_dataset("mnist", tmp_path, classes=[12])


def test_truncated_idx_file_names_the_file(tmp_path):
    raw = write_mnist(tmp_path, gz=False)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path)
    assert str(err.value) == (f"{path}: expected an idx file of 60 images 28x28 "
                              "(47056 bytes, as its header says), got 5000 bytes")


def test_corrupt_idx_files(tmp_path):
    raw = write_mnist(tmp_path, gz=False)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match=r"labels-idx1-ubyte: expected an idx file of 12 labels, got only 2 "):
        load_dataset("mnist", tmp_path)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(np.zeros(11)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: expected an idx file of 12 labels .*11"):
        load_dataset("mnist", tmp_path)
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx_labels(np.zeros(12)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: expected .*\(magic number 2051\), got"):
        load_dataset("mnist", tmp_path)


def test_truncated_gz_names_the_file(tmp_path):
    raw = write_mnist(tmp_path)
    gz = raw / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:200])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: expected a complete gzip file"):
        load_dataset("mnist", tmp_path)
    assert not (raw / "t10k-images-idx3-ubyte").exists()  # no half-unpacked file left behind


def test_missing_root_and_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nope")
    with pytest.raises(DataError, match="reads files from a folder"):
        load_dataset("cifar10")
    raw = write_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"MNIST/raw/t10k-labels-idx1-ubyte: file not found; expected "
                                        r"t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte\.gz\)"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match=r"cifar-10-batches-py/data_batch_1: file not found"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(DataError, match=r"train_32x32\.mat: file not found"):
        load_dataset("svhn", tmp_path)


def write_cifar(root, per_batch=10, n_test=8):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        batch = {"batch_label": name, "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": [(k + i) % 10 for i in range(n)], "filenames": [f"{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder, batch


def test_cifar10(tmp_path):
    folder, test_batch = write_cifar(tmp_path)
    d = load_dataset("cifar10", tmp_path)
    assert (len(d.train), len(d.val), len(d.test)) == (45, 5, 8)  # 45k/5k/10k in proportion
    x, y = d.test[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x.numpy().reshape(-1) * 255, test_batch["data"][3], atol=1e-3)
    assert int(y) == test_batch["labels"][3] and d.label_names[0] == "airplane"
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match=r"data_batch_3: expected a CIFAR-10 python batch"):
        load_dataset("cifar10", tmp_path)


def test_svhn(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(2)
    mats = {}
    for name, n in (("train", 40), ("test", 10)):
        mats[name] = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1)  # SVHN labels 1..10, 10 meaning the digit 0
        scipy_io.savemat(tmp_path / f"{name}_32x32.mat", {"X": mats[name], "y": y})
    d = load_dataset("svhn", tmp_path)
    assert (len(d.train), len(d.val), len(d.test)) == (35, 5, 10)  # 10,000 / 73,257 of 40 for validation
    assert [int(d.test[i][1]) for i in range(10)] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    img = d.test[8][0]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    np.testing.assert_allclose(img.numpy() * 255, mats["test"][..., 8].transpose(2, 0, 1), atol=1e-3)
    (tmp_path / "test_32x32.mat").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"test_32x32\.mat: expected a MATLAB file"):
        load_dataset("svhn", tmp_path)


def test_registry_defaults():
    assert DATASETS["mnist"].arch == "fc" and DATASETS["mnist"].out_act == "sigmoid"
    for name in ("fmnist", "svhn", "cifar10"):
        assert DATASETS[name].arch == "conv" and DATASETS[name].needs_root and not DATASETS[name].synthetic


def test_download_without_network_is_one_sentence(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network blocked by the test")

    monkeypatch.setattr("socket.socket", no_network)
    monkeypatch.setattr("socket.create_connection", no_network)
    with pytest.raises(DataError, match=r"^could not download MNIST into .*; check the network"):
        load_dataset("mnist", tmp_path / "new", download=True)
    write_mnist(tmp_path)  # files already there: download=True fetches nothing
    assert len(load_dataset("mnist", tmp_path, download=True).test) == 12
