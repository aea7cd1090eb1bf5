"""The ``synthetic-faces`` dataset: SYNTHETIC procedurally drawn 64x64 faces with binary attributes.

An offline stand-in for CelebA (no real faces): each face is drawn with PIL from attributes
sampled with the seed (face ``i`` depends only on ``(seed, i)``), in [-1, 1] like the paper's
CelebA pipeline, split 80/10/10. :func:`write_celeba_layout` writes the same faces in CelebA's
folder layout and text formats, so the real ``celeba`` loader can be exercised offline.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from irvae_core.data.byte_images import ByteImageSplit, split_order
from irvae_core.data.celeba import centre_crop_box
from irvae_core.data.registry import DataError, DatasetInfo, DatasetSplits, register

ATTRIBUTES = ["Bangs", "Black_Hair", "Blond_Hair", "Eyeglasses", "Goatee", "Male", "Mustache", "Pale_Skin",
              "Smiling", "Wearing_Hat"]
CANVAS = 128  # faces are drawn at twice the output size, then downsampled (smooth edges)
_PALE = [(250, 232, 220), (245, 226, 212)]
_SKIN = [(226, 184, 150), (205, 155, 115), (170, 115, 80), (120, 80, 55)]
_HAIR = {"black": [(25, 20, 20), (40, 30, 28)], "blond": [(226, 196, 120), (240, 214, 150)],
         "brown": [(110, 70, 40), (135, 90, 55)]}


def sample_attributes(rng: np.random.Generator) -> dict[str, bool]:
    """One face's attributes; every share lies between about 10% and 50%."""
    male = rng.random() < 0.45
    hair = rng.choice(["black", "blond", "brown"], p=[0.35, 0.25, 0.40])
    return {"Bangs": rng.random() < 0.25, "Black_Hair": hair == "black", "Blond_Hair": hair == "blond",
            "Eyeglasses": rng.random() < 0.2, "Goatee": male and rng.random() < 0.35, "Male": male,
            "Mustache": male and rng.random() < 0.3, "Pale_Skin": rng.random() < 0.25,
            "Smiling": rng.random() < 0.45, "Wearing_Hat": rng.random() < 0.2}


def _pick(rng: np.random.Generator, colours: list) -> tuple[int, ...]:
    base = np.array(colours[rng.integers(len(colours))], dtype=float)
    return tuple(int(v) for v in np.clip(base + rng.normal(0, 6, 3), 0, 255))


def draw_face(a: dict[str, bool], rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Draw a face with attributes ``a`` (colours, geometry varied by ``rng``) as a size x size RGB image."""
    im = Image.new("RGB", (CANVAS, CANVAS), tuple(int(v) for v in rng.integers(90, 230, 3)))
    d = ImageDraw.Draw(im)
    cx, cy = 64 + rng.integers(-4, 5), 64 + rng.integers(-3, 4)
    rx, ry = (32 if a["Male"] else 28) + rng.integers(-2, 3), 38 + rng.integers(-2, 3)
    skin = _pick(rng, _PALE if a["Pale_Skin"] else _SKIN)
    hair_kind = "black" if a["Black_Hair"] else "blond" if a["Blond_Hair"] else "brown"
    hair = _pick(rng, _HAIR[hair_kind])
    dark = tuple(int(v * 0.6) for v in hair) if hair_kind != "black" else (20, 15, 15)
    shirt = tuple(int(v) for v in rng.integers(30, 220, 3))

    d.ellipse([cx - 52, cy + ry - 6, cx + 52, cy + ry + 60], fill=shirt)  # shoulders
    if not a["Male"]:  # long hair behind the head
        d.rounded_rectangle([cx - rx - 9, cy - ry - 8, cx + rx + 9, cy + ry + 22], radius=24, fill=hair)
    d.rectangle([cx - 10, cy + ry - 14, cx + 10, cy + ry + 8], fill=skin)  # neck
    if a["Male"]:
        d.rounded_rectangle([cx - rx, cy - ry, cx + rx, cy + ry], radius=int(rx * 0.8), fill=skin)
    else:
        d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)
    d.chord([cx - rx - 3, cy - ry - 5, cx + rx + 3, cy + ry - 18], 180, 360, fill=hair)  # hair on top
    if a["Bangs"]:
        top = cy - ry + 4
        points = [(cx - rx + 2, top)]
        for i in range(7):
            x = cx - rx + 4 + i * (2 * rx - 8) / 6
            points.append((x, cy - 14 + (3 if i % 2 else 0)))
        points.append((cx + rx - 2, top))
        d.polygon(points, fill=hair)

    ey = cy - 6
    for side in (-1, 1):
        ex = cx + side * 12
        d.ellipse([ex - 6, ey - 4, ex + 6, ey + 4], fill=(250, 250, 250))
        d.ellipse([ex - 3, ey - 3, ex + 3, ey + 3], fill=(40, 30, 30))
        brow = 3 if a["Male"] else 2
        d.line([ex - 7, ey - 7 - brow, ex + 7, ey - 9], fill=dark, width=brow)
        if a["Eyeglasses"]:
            d.ellipse([ex - 10, ey - 8, ex + 10, ey + 8], outline=(15, 15, 15), width=3)
    if a["Eyeglasses"]:
        d.line([cx - 2, ey, cx + 2, ey], fill=(15, 15, 15), width=3)
        d.line([cx - rx, ey - 2, cx - 22, ey - 2], fill=(15, 15, 15), width=2)
        d.line([cx + 22, ey - 2, cx + rx, ey - 2], fill=(15, 15, 15), width=2)
    nose = tuple(int(v * 0.85) for v in skin)
    d.polygon([(cx, ey + 4), (cx - 4, ey + 16), (cx + 4, ey + 16)], fill=nose)

    my = cy + 18
    lips = (170, 60, 60) if a["Male"] else (200, 50, 80)
    if a["Smiling"]:
        d.chord([cx - 12, my - 8, cx + 12, my + 8], 0, 180, fill=lips)
        d.chord([cx - 9, my - 5, cx + 9, my + 2], 0, 180, fill=(245, 245, 240))
    else:
        d.line([cx - 9, my + 1, cx + 9, my + 1], fill=lips, width=3)
    if a["Mustache"]:
        d.chord([cx - 13, my - 9, cx + 13, my + 3], 180, 360, fill=dark)
    if a["Goatee"]:
        d.ellipse([cx - 9, my + 7, cx + 9, my + 20], fill=dark)
    if a["Wearing_Hat"]:
        hat = tuple(int(v) for v in rng.integers(20, 235, 3))
        d.rectangle([cx - rx - 10, cy - ry + 4, cx + rx + 10, cy - ry + 11], fill=hat)
        d.rounded_rectangle([cx - rx + 2, cy - ry - 22, cx + rx - 2, cy - ry + 6], radius=8, fill=hat)
    return im.resize((size, size), Image.Resampling.LANCZOS)


def make_faces(n: int, seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` faces: images (n, size, size, 3) uint8 and attributes (n, len(ATTRIBUTES)) uint8 0/1."""
    store = FaceStore(n, seed, size)
    return store.images(np.arange(n)), store.attributes


class FaceStore:
    """The ``n`` faces of one seed, each drawn the first time an item needs it, then kept (thread-safe).

    The attributes of all faces are known at once (sampling them is cheap); a face's image is drawn when a split's
    item asks for it: a page that shows ten faces of a run whose embeddings are cached draws ten, not 3,000."""

    def __init__(self, n: int, seed: int, size: int = 64):
        self.n, self.seed, self.size = n, seed, size
        self.attributes = np.array([[a[k] for k in ATTRIBUTES] for a in
                                    (sample_attributes(np.random.default_rng([seed, i])) for i in range(n))],
                                   dtype=np.uint8).reshape(n, len(ATTRIBUTES))
        self._images = np.empty((n, size, size, 3), dtype=np.uint8)
        self._drawn = np.zeros(n, dtype=bool)
        self._lock = threading.Lock()

    def images(self, idx: np.ndarray) -> np.ndarray:
        """Faces ``idx`` (k, size, size, 3) uint8 (face i depends on (seed, i) alone), drawn now where not yet."""
        idx = np.asarray(idx, dtype=np.int64)
        with self._lock:
            for i in idx[~self._drawn[idx]]:
                if not self._drawn[i]:
                    rng = np.random.default_rng([self.seed, int(i)])
                    self._images[i] = np.asarray(draw_face(sample_attributes(rng), rng, self.size))
                    self._drawn[i] = True
            return self._images[idx]


@functools.lru_cache(maxsize=2)
def face_store(n: int, seed: int) -> FaceStore:
    """One ``FaceStore`` per process for each (n, seed): the two runs a page compares share their drawn faces."""
    return FaceStore(n, seed)


class DrawnFaceSplit(ByteImageSplit):
    """A split of a ``FaceStore``: faces ``index`` of it, items as ``ByteImageSplit``'s, each face drawn when first
    asked for (``images``, all of them at once, draws the whole split)."""

    def __init__(self, store: FaceStore, index: torch.Tensor, value_range: tuple[float, float]):
        self.store, self.index, self.value_range = store, index.numpy(), value_range
        self.y = torch.from_numpy(store.attributes[self.index]).float()

    @property
    def images(self) -> torch.Tensor:  # type: ignore[override]
        return torch.from_numpy(self.store.images(self.index)).permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.value_range
        face = torch.from_numpy(self.store.images(self.index[[i]])[0])
        return face.permute(2, 0, 1).float() * ((hi - lo) / 255.0) + lo, self.y[i]


def load_synthetic_faces(root=None, classes=None, download=False, seed=0, n: int = 3000,
                         **_) -> DatasetSplits:
    """``n`` synthetic faces, (3, 64, 64) in [-1, 1], attribute labels, split 80/10/10 with ``seed``; each face
    is drawn when first used (``DrawnFaceSplit``)."""
    if classes is not None:
        raise DataError("synthetic-faces has attribute labels, not classes: leave the class subset empty")
    if n < 10:
        raise DataError(f"synthetic-faces needs at least 10 faces to split 80/10/10, got n={n}")
    store = face_store(n, seed)
    n_val = n_test = n // 10
    order = split_order(n, seed)
    sizes = [n - n_val - n_test, n_val, n_test]
    starts = np.cumsum([0, *sizes])
    train, val, test = (DrawnFaceSplit(store, order[a:b], (-1.0, 1.0)) for a, b in zip(starts[:-1], starts[1:]))
    meta = {"split": f"{n} synthetic faces drawn with seed {seed}, shuffled and cut 80/10/10"}
    return DatasetSplits("synthetic-faces", train, val, test, (3, 64, 64), "attributes", list(ATTRIBUTES),
                         (-1.0, 1.0), synthetic=True, meta=meta)


def write_celeba_layout(root: str | Path, n: int = 100, seed: int = 0,
                        image_size: tuple[int, int] = (178, 218)) -> Path:
    """Write ``n`` synthetic faces as ``root/celeba`` in CelebA's layout; returns that folder.

    Images are JPEGs of ``image_size`` (width, height) whose centre square (what the loader's
    Resize + CenterCrop keep; 178x178 of 178x218) holds the face, on a plain background;
    ``list_attr_celeba.txt`` and ``list_eval_partition.txt`` follow CelebA's exact text format,
    with the first 80% of images in train, the next 10% in validation, the rest in test.
    """
    base = Path(root) / "celeba"
    (base / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    width, height = image_size
    left, top, right, _ = centre_crop_box(width, height)
    names, rows = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        a = sample_attributes(rng)
        face = draw_face(a, rng, right - left)
        im = Image.new("RGB", (width, height), face.getpixel((0, 0)))
        im.paste(face, (left, top))
        name = f"{i + 1:06d}.jpg"
        im.save(base / "img_align_celeba" / name, quality=95)
        names.append(name)
        rows.append(name + "".join(f" {1 if a[k] else -1:2d}" for k in ATTRIBUTES))
    header = f"{n}\n" + " ".join(ATTRIBUTES) + " \n"
    (base / "list_attr_celeba.txt").write_text(header + "\n".join(rows) + "\n")
    n_train, n_val = int(n * 0.8), int(n * 0.1)
    parts = [0 if i < n_train else 1 if i < n_train + n_val else 2 for i in range(n)]
    (base / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, p in zip(names, parts)))
    return base


register(DatasetInfo(
    "synthetic-faces", load_synthetic_faces,
    "SYNTHETIC procedurally drawn 64x64 faces in [-1, 1] with 10 binary attributes (offline stand-in for "
    "CelebA, not real faces); 3,000 by default (option n), split 80/10/10; conv networks, tanh decoder",
    needs_root=False, synthetic=True, arch="conv", out_act="tanh"))
