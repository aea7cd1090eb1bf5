"""The ``celeba`` loader on a small folder in CelebA's layout written by ``write_celeba_layout``."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from irvae_core.data import DATASETS, DataError, load_dataset
from irvae_core.data.celeba import centre_crop_box
from irvae_core.data.synthetic_faces import ATTRIBUTES, make_faces, write_celeba_layout


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("celeba")
    write_celeba_layout(root, n=30, seed=4)
    return root


def test_written_files_follow_celeba_format(celeba_root):
    base = celeba_root / "celeba"
    lines = (base / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "30" and lines[1].split() == ATTRIBUTES
    assert lines[2].startswith("000001.jpg ") and set(lines[2].split()[1:]) <= {"1", "-1"}
    assert (base / "list_eval_partition.txt").read_text().splitlines()[:2] == ["000001.jpg 0", "000002.jpg 0"]
    with Image.open(base / "img_align_celeba" / "000030.jpg") as im:
        assert im.size == (178, 218) and im.format == "JPEG"


def test_celeba_shapes_ranges_labels(celeba_root):
    d = load_dataset("celeba", celeba_root)
    assert (len(d.train), len(d.val), len(d.test)) == (24, 3, 3)  # official partition column
    assert d.label_kind == "attributes" and d.label_names == ATTRIBUTES and d.value_range == (-1.0, 1.0)
    assert d.x_shape == (3, 64, 64) and DATASETS["celeba"].out_act == "tanh"
    x, y = d.test[2]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    _, attributes = make_faces(30, seed=4)
    assert torch.equal(y, torch.from_numpy(attributes[29]).float())
    # the centre square holds the drawn face: compare with the face drawn directly at 64x64
    faces, _ = make_faces(30, seed=4)
    direct = torch.from_numpy(faces[29]).permute(2, 0, 1).float() / 127.5 - 1
    assert (x - direct).abs().mean() < 0.08


def test_small_images_directly_under_root_and_cache(tmp_path):
    write_celeba_layout(tmp_path, n=10, seed=0, image_size=(64, 64))
    for f in (tmp_path / "celeba").iterdir():
        f.rename(tmp_path / f.name)
    d = load_dataset("celeba", tmp_path, cache=True)
    first = d.train[0][0]
    (tmp_path / "img_align_celeba" / "000001.jpg").unlink()
    assert torch.equal(d.train[0][0], first)  # served from the in-memory cache


def test_centre_crop_box():
    assert centre_crop_box(178, 218) == (0, 20, 178, 198)
    assert centre_crop_box(89, 109) == (0, 10, 89, 99)
    assert centre_crop_box(64, 64) == (0, 0, 64, 64)
    assert centre_crop_box(100, 80) == (10, 0, 90, 80)


def edit_line(path, number, new):
    lines = path.read_text().splitlines()
    lines[number - 1] = new(lines[number - 1])
    path.write_text("\n".join(lines) + "\n")


def test_attribute_rows_must_match_the_images(tmp_path):
    base = write_celeba_layout(tmp_path, n=10, seed=1)
    attr = base / "list_attr_celeba.txt"
    (base / "img_align_celeba" / "000004.jpg").unlink()
    with pytest.raises(DataError, match=rf"{attr}, line 6: image 000004\.jpg is listed but not found"):
        load_dataset("celeba", tmp_path)

    base = write_celeba_layout(tmp_path / "b", n=10, seed=1)
    attr = base / "list_attr_celeba.txt"
    edit_line(attr, 5, lambda s: s + " 1")
    with pytest.raises(DataError, match=rf"{attr}, line 5: expected an image name and 10 values .*, got 11"):
        load_dataset("celeba", tmp_path / "b")

    edit_line(attr, 5, lambda s: s.rsplit(" ", 1)[0])
    edit_line(attr, 1, lambda s: "12")
    with pytest.raises(DataError, match=rf"{attr}, line 1: says 12 images, but the file lists 10"):
        load_dataset("celeba", tmp_path / "b")

    edit_line(attr, 1, lambda s: "10")
    edit_line(attr, 7, lambda s: s.replace("-1", "0", 1))
    with pytest.raises(DataError, match=rf"{attr}, line 7: expected attribute values of 1 or -1"):
        load_dataset("celeba", tmp_path / "b")


def test_partition_and_missing_files(tmp_path):
    with pytest.raises(DataError, match=r"celeba/list_attr_celeba\.txt: file not found; expected CelebA"):
        load_dataset("celeba", tmp_path)
    base = write_celeba_layout(tmp_path, n=10, seed=2)
    part = base / "list_eval_partition.txt"
    edit_line(part, 3, lambda s: s.replace(" 0", " 7"))
    with pytest.raises(DataError, match=rf"{part}, line 3: expected an image name and 0, 1 or 2"):
        load_dataset("celeba", tmp_path)
    edit_line(part, 3, lambda s: "000099.jpg 0")
    with pytest.raises(DataError, match=rf"{part}: no partition for image 000003\.jpg"):
        load_dataset("celeba", tmp_path)
    part.unlink()
    with pytest.raises(DataError, match=r"list_eval_partition\.txt: file not found"):
        load_dataset("celeba", tmp_path)


def test_unreadable_image_is_a_data_error(tmp_path):
    base = write_celeba_layout(tmp_path, n=10, seed=3)
    (base / "img_align_celeba" / "000001.jpg").write_bytes(b"not a jpeg")
    d = load_dataset("celeba", tmp_path)
    with pytest.raises(DataError, match=r"000001\.jpg: expected a readable image file"):
        d.train[0]
    assert np.isfinite(d.train[1][0].numpy()).all()


def paper_pipeline(path):
    """The authors' CelebA preprocessing, composed here from torchvision as they wrote it."""
    from torchvision import transforms  # here: its import (~1.5 s) would be every xdist worker's at collection

    t = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64), transforms.ToTensor(),
                            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    with Image.open(path) as im:
        return t(im.convert("RGB"))


@pytest.mark.parametrize("size", [(178, 218), (89, 109)])
def test_items_equal_the_authors_torchvision_pipeline(tmp_path, size):
    base = write_celeba_layout(tmp_path, n=10, seed=5, image_size=size)
    d = load_dataset("celeba", tmp_path, cache=True)
    for split, first in ((d.train, 1), (d.val, 9), (d.test, 10)):
        for k in range(len(split)):
            x, _ = split[k]
            assert torch.equal(x, paper_pipeline(base / "img_align_celeba" / f"{first + k:06d}.jpg"))


def marker_face(width, height):
    """Red outside the centre square, blue inside it but outside its central 140/178, green in the middle."""
    im = Image.new("RGB", (width, height), (255, 0, 0))
    d = ImageDraw.Draw(im)
    left, top, right, bottom = centre_crop_box(width, height)
    d.rectangle([left, top, right - 1, bottom - 1], fill=(0, 0, 255))
    inner = round(width * 140 / 178)
    o = (width - inner) // 2
    d.rectangle([left + o, top + o, left + o + inner - 1, top + o + inner - 1], fill=(0, 255, 0))
    return im


def test_crop_is_the_centre_square_at_full_and_half_resolution(tmp_path):
    """Resize(64) + CenterCrop(64) keep the 178x178 centre square (not the 140x140 DCGAN crop), also at 89x109."""
    out = {}
    for w, h in [(178, 218), (89, 109)]:
        base = write_celeba_layout(tmp_path / str(w), n=10, seed=0, image_size=(w, h))
        marker_face(w, h).save(base / "img_align_celeba" / "000001.jpg", quality=98)
        x = load_dataset("celeba", tmp_path / str(w)).train[0][0]
        red, green, blue = (x[0] > 0) & (x[1] < 0), (x[1] > 0) & (x[0] < 0), (x[2] > 0) & (x[0] < 0)
        assert red.float().mean() < 0.01  # nothing from outside the square (at most a blended edge row)
        assert abs(blue.float().mean().item() - (1 - (140 / 178) ** 2)) < 0.04  # the square's outer ring is kept
        assert blue[:, 0].all() and blue[:, -1].all() and green[24:40, 24:40].all()
        out[w] = x
    assert (out[178] - out[89]).abs().mean() < 0.05  # same geometry at half resolution


def test_half_resolution_faces_match_full_resolution(tmp_path):
    full = load_dataset("celeba", write_celeba_layout(tmp_path / "f", n=10, seed=6).parent)
    half = load_dataset("celeba", write_celeba_layout(tmp_path / "h", n=10, seed=6, image_size=(89, 109)).parent)
    faces, _ = make_faces(10, seed=6)
    for k in range(len(full.train)):
        direct = torch.from_numpy(faces[k]).permute(2, 0, 1).float() / 127.5 - 1
        assert (full.train[k][0] - half.train[k][0]).abs().mean() < 0.05
        assert (half.train[k][0] - direct).abs().mean() < 0.08
