"""Uploaded images: converted like the face data, or refused with one clear sentence."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from irvae_core.data.celeba import CelebAImages
from irvae_core.retrieval.uploads import MAX_BYTES, UploadError, image_from_bytes

pytestmark = pytest.mark.slow  # AppTest with uploads on trained runs

ROOT = Path(__file__).resolve().parents[1]


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_an_aligned_face_is_cropped_and_resized_exactly_as_the_celeba_loader_does(tmp_path):
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8))
    im.save(tmp_path / "face.png")
    x = image_from_bytes((tmp_path / "face.png").read_bytes(), (3, 64, 64), (-1.0, 1.0))
    expected, _ = CelebAImages([tmp_path / "face.png"], torch.zeros(1, 1))[0]
    torch.testing.assert_close(x, expected)


def test_grayscale_becomes_three_equal_channels():
    x = image_from_bytes(encoded(Image.new("L", (80, 100), 51), "PNG"), (3, 64, 64), (0.0, 1.0))
    assert x.shape == (3, 64, 64)
    torch.testing.assert_close(x, torch.full((3, 64, 64), 51 / 255))


def test_cmyk_jpeg_is_converted_to_rgb():
    red = Image.new("CMYK", (64, 64), (0, 255, 255, 0))
    x = image_from_bytes(encoded(red, "JPEG", quality=95), (3, 64, 64), (0.0, 1.0))
    assert x[0].mean() > 0.9 and x[1].mean() < 0.1 and x[2].mean() < 0.1


def test_png_alpha_is_laid_on_white():
    im = Image.new("RGBA", (64, 64), (255, 0, 0, 0))  # fully transparent red: white
    im.paste((255, 0, 0, 255), (0, 0, 64, 32))  # top half opaque red
    x = image_from_bytes(encoded(im, "PNG"), (3, 64, 64), (0.0, 1.0))
    torch.testing.assert_close(x[:, 40:], torch.ones(3, 24, 64))
    torch.testing.assert_close(x[:, :24, :], torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 24, 64))


def test_a_one_channel_model_gets_one_channel():
    x = image_from_bytes(encoded(Image.new("RGB", (30, 30), (255, 255, 255)), "PNG"), (1, 28, 28), (0.0, 1.0))
    assert x.shape == (1, 28, 28) and torch.allclose(x, torch.ones(1, 28, 28))


@pytest.mark.parametrize("data, match", [
    (b"", "is empty"),
    (b"%PDF-1.4 not an image at all", "is not an image: upload a JPEG or PNG file"),
    (encoded(Image.new("RGB", (8, 8)), "GIF"), "is a GIF file: upload a JPEG or PNG image"),
])
def test_non_images_are_refused_in_one_sentence(data, match):
    with pytest.raises(UploadError, match=match) as e:
        image_from_bytes(data, name="upload.bin")
    assert str(e.value).startswith("upload.bin ") and "\n" not in str(e.value)


def test_a_truncated_jpeg_is_refused():
    rng = np.random.default_rng(1)
    whole = encoded(Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(UploadError, match="photo.jpg is truncated or corrupt"):
        image_from_bytes(whole[: len(whole) // 2], name="photo.jpg")


def test_a_decompression_bomb_is_refused_from_its_header():
    bomb = encoded(Image.new("1", (10_000, 10_000)), "PNG")  # 100 megapixels in a few kilobytes
    assert len(bomb) < 100_000
    with pytest.raises(UploadError, match=r"bomb.png is 10000 x 10000 pixels \(100 megapixels\); the limit is 40"):
        image_from_bytes(bomb, name="bomb.png")


def test_the_upload_limit_is_set_in_the_apps_streamlit_config_and_read_from_the_repository_root():
    assert "maxUploadSize = 20" in (ROOT / ".streamlit" / "config.toml").read_text()
    code = "import streamlit.config as c; print(c.get_option('server.maxUploadSize'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) * 2**20 == MAX_BYTES  # what `streamlit run` in the root uses
    with pytest.raises(UploadError, match="the limit is 20 MB"):
        image_from_bytes(b"\xff" * (MAX_BYTES + 1), name="huge.jpg")


# ---------------------------------------------------------------- hostile files, crafted byte by byte
def png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def with_png_chunk(chunk: bytes) -> bytes:
    png = encoded(Image.new("RGB", (16, 16), (10, 200, 30)), "PNG")
    return png[:33] + chunk + png[33:]  # after the 8-byte signature and the 25-byte IHDR chunk


def with_exif(tiff: bytes) -> bytes:
    import struct

    jpeg = encoded(Image.new("RGB", (32, 24), (200, 40, 40)), "JPEG")
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]  # APP1 after SOI


def hostile_files() -> dict[str, tuple[bytes, str]]:
    """name: (bytes, what the refusal says) for every kind of hostile upload the page refuses."""
    import struct
    import zlib

    rng = np.random.default_rng(1)
    photo = encoded(Image.fromarray(rng.integers(0, 256, (120, 120, 3), dtype=np.uint8)), "JPEG")
    orientation = Image.Exif()
    orientation[0x0112] = 9999
    return {
        "empty.jpg": (b"", "is empty"),
        "huge.jpg": (photo + b"\x00" * MAX_BYTES, "the limit is 20 MB"),
        "notes.jpg": (b"Dear diary, this is text with a .jpg name", "is not an image"),
        "cut.jpg": (photo[: len(photo) // 2], "is truncated or corrupt"),
        "bomb.png": (encoded(Image.new("1", (10_000, 10_000)), "PNG"), "megapixels); the limit is 40"),
        "ztxt.png": (with_png_chunk(png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * 2**27, 9))),
                     "text block that decompresses past 1 MB"),
        "text.png": (with_png_chunk(png_chunk(b"tEXt", b"Comment\x00" + b"A" * (8 * 2**20))),
                     "8 MB of text metadata"),
        "orientation.jpg": (encoded(Image.new("RGB", (32, 24)), "JPEG", exif=orientation.tobytes()),
                            "orientation 9999, not 1-8"),
        "count.jpg": (with_exif(b"II\x2a\x00\x08\x00\x00\x00\x01\x00" + struct.pack("<HHII", 0x010E, 2, 0x7FFFFFFF, 64)
                                + b"\x00" * 4), "damaged EXIF block (Tag data larger than file"),
        "entries.jpg": (with_exif(b"II\x2a\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 12),
                        "damaged EXIF block (Corrupt EXIF data"),
    }


@pytest.mark.parametrize("name", list(hostile_files()))
def test_every_hostile_upload_is_refused_in_one_sentence(name, recwarn):
    data, says = hostile_files()[name]
    with pytest.raises(UploadError) as e:
        image_from_bytes(data, name=name)
    message = str(e.value)
    assert says in message and message.startswith(f"{name} ") and "\n" not in message
    assert not [w for w in recwarn if "EXIF" in str(w.message) or "Tag data" in str(w.message)]  # nothing printed


def test_a_photo_with_ordinary_exif_is_accepted_and_turned_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the camera was held upright
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8769)[0x9003] = "2026:12:03 10:00:00"  # an Exif sub-block, as phones write
    im = Image.new("RGB", (80, 40), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 40, 40))  # the left half white
    x = image_from_bytes(encoded(im, "JPEG", exif=exif.tobytes(), quality=95), shape=(3, 64, 64))
    assert x.shape == (3, 64, 64)
    top, bottom = x[:, :8].mean(), x[:, -8:].mean()  # upright: the white half on top
    assert top > 0.9 and bottom < -0.9
