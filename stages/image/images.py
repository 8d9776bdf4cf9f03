"""Helpers shared by the image stages: reading photos safely, and the decoded-image folder.

:func:`to_rgb8` is the one place where an input photo becomes the pipeline's working form, an
``(H, W, 3)`` ``uint8`` RGB array. What it accepts and how (each conversion is logged and recorded in
``data/image/manifest.json``):

- 8-bit colour (BGR from OpenCV)       → RGB, no other change;
- 8-bit grayscale                      → the gray value copied into R, G and B;
- RGBA / BGRA (PNG with transparency)  → composited over a white background, alpha dropped;
- 16-bit (PNG/TIFF)                    → scaled to 8 bits (``round(v / 257)``, 65535 → 255);
- anything else (float, signed, 2 or 5+ channels) is refused with a :class:`DataError`.

:func:`read_photo` refuses, with a :class:`DataError` naming the file, an empty file, a file that is
not an image OpenCV can decode, and a truncated JPEG or PNG (OpenCV would otherwise return a grey-
padded picture from a truncated JPEG and only print a warning).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from stages.core.errors import DataError
from stages.core.io import read_json, require_file

log = logging.getLogger(__name__)

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MANIFEST = "manifest.json"
JPEG_SOI = b"\xff\xd8\xff"
JPEG_EOI = b"\xff\xd9"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"IEND\xaeB`\x82"


def to_rgb8(raw: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
    """Convert what ``cv2.imread(..., IMREAD_UNCHANGED)`` returned into ``(H, W, 3)`` uint8 RGB.

    Args:
        raw: the decoded array (BGR/BGRA channel order, as OpenCV returns it). Not modified.
        name: the file's name, for messages.

    Returns:
        The RGB image and the list of conversions applied (empty for an 8-bit colour photo).

    Raises:
        DataError: an unsupported depth or channel count, naming ``name``.
    """
    done: list[str] = []
    img = raw
    if img.dtype == np.uint16:
        # round(v / 257) maps 0..65535 onto 0..255 exactly (257 = 65535 / 255)
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
        done.append("16-bit scaled to 8-bit")
    elif img.dtype != np.uint8:
        raise DataError(f"{name}: unsupported pixel type {img.dtype} (8- or 16-bit unsigned images only)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        done.append("grayscale copied into R, G, B")
    elif img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0  # (H, W, 1)
        bgr = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        img = cv2.cvtColor(np.rint(bgr).astype(np.uint8), cv2.COLOR_BGR2RGB)
        done.append("alpha composited over white")
    elif img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        raise DataError(f"{name}: unsupported shape {raw.shape} (expected gray, BGR or BGRA)")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise DataError(f"{name}: the image has no pixels (shape {raw.shape})")
    return img, done


def check_complete(head: bytes, tail: bytes, name: str, path: Path) -> None:
    """Refuse a truncated JPEG (no end-of-image marker) or PNG (no IEND chunk).

    A JPEG whose last bytes are not the EOI marker may still be whole with vendor data appended
    after it (some phones do this); Pillow, which refuses truncated JPEGs, decides those cases.
    """
    if head.startswith(PNG_MAGIC) and not tail.endswith(PNG_IEND):
        raise DataError(f"{name}: truncated PNG (no IEND chunk at the end of the file)")
    if head.startswith(JPEG_SOI) and not tail.rstrip(b"\x00").endswith(JPEG_EOI):
        from PIL import Image

        try:
            with Image.open(path) as im:
                im.load()
        except OSError as exc:
            raise DataError(f"{name}: truncated or corrupt JPEG ({exc})") from None


def read_photo(path: Path) -> tuple[np.ndarray, dict]:
    """Read one photo with ``cv2.imread`` and return it as uint8 RGB plus what was found and done.

    Raises:
        DataError: missing, empty, not an image, truncated, or an unsupported format; the message
            names the file.
    """
    name = str(path)
    require_file(path, "image file")
    with open(path, "rb") as f:
        head = f.read(16)
        f.seek(max(0, path.stat().st_size - 64))
        tail = f.read()
    check_complete(head, tail, name, path)
    raw = cv2.imread(name, cv2.IMREAD_UNCHANGED)  # keeps 16 bits and alpha, so they can be reported
    if raw is None:
        raise DataError(f"{name}: not an image OpenCV can decode (corrupt, or not an image file)")
    rgb, done = to_rgb8(raw, name)
    for what in done:
        log.warning("%s: %s", name, what)
    info = {
        "file": name,
        "file_bytes": path.stat().st_size,
        "decoded_shape": list(raw.shape),
        "decoded_dtype": str(raw.dtype),
        "conversions": done,
    }
    return rgb, info


def unique_names(paths: list[Path]) -> list[str]:
    """File stems, made unique with a ``-2``, ``-3``… suffix (two folders may hold ``IMG_0001.jpg``)."""
    seen: dict[str, int] = {}
    names = []
    for p in paths:
        stem = p.stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


def bgr(rgb: np.ndarray) -> np.ndarray:
    """RGB ↔ BGR (the same channel reversal both ways); OpenCV's writers expect BGR."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb


def imwrite(path: str | Path, rgb: np.ndarray, png_compression: int = 3) -> None:
    """Write an RGB (or single-channel) uint8 image with ``cv2.imwrite`` to ``path``.

    Give it ``out.path(target)`` for a single file, or a path inside an ``out.dir(...)`` folder, so
    the write stays atomic.
    """
    path = Path(path)
    flags = [cv2.IMWRITE_PNG_COMPRESSION, png_compression] if path.suffix == ".png" else []
    if not cv2.imwrite(str(path), bgr(rgb), flags):
        raise DataError(f"{path}: cv2.imwrite failed")


def decoded_images(folder: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, rgb)`` for each photo of the decode stage's folder, one at a time, in manifest order."""
    folder = Path(folder)
    manifest = read_json(folder / MANIFEST)
    for entry in manifest["images"]:
        path = require_file(folder / entry["png"], "decoded image")
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] != 3:
            raise DataError(f"{path}: not an 8-bit colour PNG written by image-decode (rerun: dvc repro image-decode)")
        yield entry["name"], cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)


def photo_files(folder: str | Path) -> dict[str, str]:
    """For each decoded photo's name, the file it was decoded from (the manifest's ``file``), so a
    message about a photo names the user's file, not the decoded copy."""
    return {e["name"]: e.get("file", e["png"]) for e in read_json(Path(folder) / MANIFEST)["images"]}
