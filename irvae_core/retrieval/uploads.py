"""Uploaded images turned into model inputs, or refused with one clear sentence.

An upload is decoded with Pillow, turned upright (EXIF orientation), converted to RGB (CMYK,
grayscale, palette and 16-bit images are converted; transparency is laid on white), centre
resized and centre cropped exactly as the face data sets are (``data.celeba.resize_crop``: the
authors' torchvision Resize then CenterCrop), and mapped to the data set's value range. Refused, each with a sentence
saying why: an empty or non-image file, a format other than JPEG or PNG, a truncated or
corrupt file, an image with more than ``MAX_PIXELS`` pixels (a decompression bomb: a
small file that would decode to gigabytes), checked from the header before any decoding, a PNG
whose text chunks hold more than ``MAX_TEXT_BYTES`` (or one that would decompress past Pillow's
limit), and an EXIF block that does not parse cleanly (offsets past the file, loops, a count larger
than the data, an orientation outside 1-8). Nothing of an upload is written anywhere: the bytes are
decoded in memory and dropped.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from irvae_core.data.celeba import resize_crop

FORMATS = ("JPEG", "PNG")
MAX_PIXELS = 40_000_000  # a 40-megapixel photo decodes to 120 MB of RGB; anything larger is refused
MAX_BYTES = 20 * 1024 * 1024  # the same limit as the app's server.maxUploadSize (.streamlit/config.toml)
MAX_TEXT_BYTES = 1024 * 1024  # a photo's PNG text metadata is a few kilobytes; Pillow's own per-chunk limit is 1 MB


class UploadError(ValueError):
    """An uploaded file cannot be used; the message is one sentence for the person who sent it."""


def _rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as RGB; transparent parts over a white background."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale PNG: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        return Image.fromarray(np.clip(a / top * 255.0, 0, 255).astype(np.uint8)).convert("RGB")
    return im.convert("RGB")


def _check_metadata(im: Image.Image, name: str, notes: list[str]) -> None:
    """UploadError for metadata no camera writes: PNG text past MAX_TEXT_BYTES, an EXIF block that does not parse
    cleanly (``notes``: Pillow's warnings while opening the file, which it prints and then skips the tag)."""
    text = sum(len(str(v)) for v in getattr(im, "text", {}).values()) if im.format == "PNG" else 0
    if text > MAX_TEXT_BYTES:
        raise UploadError(f"{name} carries {text / 2**20:.0f} MB of text metadata (the limit is "
                          f"{MAX_TEXT_BYTES // 2**20} MB): save the image again without its metadata")
    try:
        if notes:
            raise ValueError(notes[0])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow warns, and skips, where an EXIF tag points past the data
            exif = Image.Exif()
            raw = im.info.get("exif")
            if raw:
                exif.load(raw)  # parsed afresh: Pillow's own parse at open may be cached
            for ifd in (0x8769, 0x8825):  # the Exif and GPS sub-blocks: where offsets and loops hide
                if ifd in exif:
                    exif.get_ifd(ifd)
            orientation = exif.get(0x0112)
    except Exception as e:  # any failure to parse is a damaged block, whatever Pillow raises
        why = " ".join(str(e).split()).rstrip(".").replace(". ", ": ") or type(e).__name__
        raise UploadError(f"{name} has a damaged EXIF block ({why}): save the photo again without its metadata") from e
    if orientation is not None and orientation not in range(1, 9):
        raise UploadError(f"{name} has a damaged EXIF block (orientation {orientation}, not 1-8): save the photo "
                          "again without its metadata")


def image_from_bytes(data: bytes, shape: Sequence[int] = (3, 64, 64), value_range: tuple[float, float] = (-1.0, 1.0),
                     name: str = "the file", max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """An uploaded JPEG or PNG as a model input (C, H, W) in ``value_range``; UploadError otherwise."""
    c, h, w = shape
    if not data:
        raise UploadError(f"{name} is empty: upload a JPEG or PNG image")
    if len(data) > MAX_BYTES:
        raise UploadError(f"{name} is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings(record=True) as caught:  # Pillow's notes on damaged metadata: kept, not printed
            warnings.simplefilter("always")
            im = Image.open(io.BytesIO(data))
        notes = [str(w.message) for w in caught if not issubclass(w.category, Image.DecompressionBombWarning)]
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        if isinstance(e, Image.DecompressionBombError):  # Pillow's hard limit, past ours
            raise UploadError(f"{name} is too large to open safely (over {max_pixels / 1e6:.0f} megapixels)") from e
        if isinstance(e, ValueError) and "text" in str(e).lower():  # a compressed text chunk past Pillow's limit
            raise UploadError(f"{name} carries a text block that decompresses past "
                              f"{MAX_TEXT_BYTES // 2**20} MB: save the image again without its metadata") from e
        raise UploadError(f"{name} is not an image: upload a JPEG or PNG file") from e
    with im:
        if im.format not in FORMATS:
            raise UploadError(f"{name} is a {im.format or 'non-image'} file: upload a JPEG or PNG image")
        _check_metadata(im, name, notes)
        width, height = im.size
        if width * height > max_pixels:
            raise UploadError(f"{name} is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); the "
                              f"limit is {max_pixels / 1e6:.0f} megapixels: upload a smaller image")
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
            im = _rgb(im)
        except (OSError, SyntaxError, ValueError) as e:
            raise UploadError(f"{name} is truncated or corrupt and cannot be decoded: upload it again or "
                              "save it anew") from e
    im = resize_crop(h, w)(im)
    if c == 1:
        im = im.convert("L")
    elif c != 3:
        raise UploadError(f"the model takes {c}-channel images; uploads give 1 or 3 channels")
    pixels = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).float()
    pixels = pixels.unsqueeze(0) if c == 1 else pixels.permute(2, 0, 1)
    lo, hi = value_range
    return pixels * ((hi - lo) / 255.0) + lo
