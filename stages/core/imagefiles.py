"""Opening the user's image files with Pillow: every failure one :class:`DataError` naming the file.

Pillow refuses an image of more than twice ``Image.MAX_IMAGE_PIXELS`` pixels with a
``DecompressionBombError`` (an ``Exception``, not an ``OSError``, so a caller's ``except OSError``
misses it and the user gets a traceback that does not name the file), and only *warns* between
one and two times the limit, after which decoding may take gigabytes. :func:`open_image` reads the
size from the header first and refuses anything above :data:`MAX_PIXELS` before a pixel is decoded.
"""
from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

from .errors import DataError

# Pillow's own decompression-bomb threshold (its warning level; 89,478,485 pixels, ~9459 x 9459,
# 256 MiB as RGB): far above any photo a course dataset holds, well below what exhausts a 2-core host.
MAX_PIXELS = 89_478_485


@contextlib.contextmanager
def open_image(path: str | Path, shown: str | None = None, *, max_pixels: int = MAX_PIXELS) -> Iterator:
    """Open ``path`` with Pillow, size checked, and yield the (lazily decoded) image.

    Errors raised inside the ``with`` body while decoding (``im.load()``, ``im.convert()``) are
    turned into the same one-line error.

    Args:
        path: the image file.
        shown: how to name the file in messages (e.g. a zip member); default ``path``.
        max_pixels: refuse an image with more pixels than this.

    Raises:
        DataError: not an image, corrupt or truncated, no pixels, or more than ``max_pixels``
            pixels; the message names the file (and the limit).
    """
    from PIL import Image, UnidentifiedImageError

    shown = shown or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check below refuses it
            with Image.open(path) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise DataError(_too_large(shown, width, height, max_pixels))
                if width < 1 or height < 1:
                    raise DataError(f"{shown}: image has no pixels ({width}x{height})")
                yield im
    except Image.DecompressionBombError as exc:
        # above twice its own limit Pillow refuses while opening, before the size can be read: its message holds the count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise DataError(f"{shown}: image has {size}, above the limit of {max_pixels:,} pixels "
                        f"({_WHY}); downscale or remove it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Pillow's message may hold the path it was given (a temporary folder for a zip member): drop it
        detail = str(exc).replace(repr(str(path)), "").replace(str(path), "").strip() or "unknown format"
        raise DataError(f"{shown}: not a readable image ({type(exc).__name__}: {detail[:120]})") from None


_WHY = "a decompression bomb or an oversized scan: decoding it could exhaust memory"


def _too_large(shown: str, width: int, height: int, limit: int) -> str:
    return (f"{shown}: image is {width}x{height} ({width * height:,} pixels), above the limit of {limit:,} pixels "
            f"({_WHY}); downscale or remove it")


def check_image(path: str | Path, shown: str | None = None) -> None:
    """Decode ``path`` fully: its structure (``verify``), then every pixel (a truncated file fails here).

    Raises:
        DataError: see :func:`open_image`.
    """
    with open_image(path, shown) as im:
        im.verify()  # structure and checksums; the image cannot be used after verify, so reopen
    with open_image(path, shown) as im:
        im.load()


def read_rgb(path: str | Path, shown: str | None = None):
    """The image at ``path`` as a loaded RGB PIL image (grayscale, palette and RGBA converted).

    Raises:
        DataError: see :func:`open_image`.
    """
    with open_image(path, shown) as im:
        return im.convert("RGB")
