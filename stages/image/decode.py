"""Stage `image-decode`: read the photos with OpenCV (BGR), convert to RGB, store lossless copies.

Sources (``image.decode.source``):
- ``embedded``: the two real photos scikit-learn ships (``china.jpg``, ``flower.jpg``, 640×427 JPEG,
  from ``sklearn.datasets.load_sample_images``), read from the installed package's folder;
- ``url``: one photo, downloaded once and checked against its sha256;
- ``path``: the user's own photos: files and/or folders (every .jpg/.jpeg/.png/.bmp/.tif/.tiff/.webp
  inside, recursively), several at once.

Every file is read with ``cv2.imread`` and validated (see :mod:`stages.image.images`): an empty,
truncated or non-image file stops the stage with its name, before anything is written; 16-bit,
grayscale and RGBA photos are converted to 8-bit RGB with a logged warning, recorded in the
manifest. Photos are processed one at a time, so memory holds one photo, whatever the folder size;
with ``image.decode.parallel`` (``local`` or a Dask scheduler address) a few per Dask worker, with
the same output bytes (:mod:`stages.core.parallel`).

Output: a folder of 8-bit RGB PNGs (lossless, so later stages see exactly the decoded pixels) and
``manifest.json`` (source file, decoded shape and dtype, conversions, for each photo).
"""
from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

from stages.core.io import dumps_json
from stages.core.parallel import map_files
from stages.core.params import SourceParams
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.sources import expand_paths, fetch_url
from stages.image import params
from stages.image.images import MANIFEST, SUFFIXES, imwrite, read_photo, unique_names

log = logging.getLogger(__name__)

EMBEDDED = ("china.jpg", "flower.jpg")


def embedded_files() -> list[Path]:
    """scikit-learn's sample photos, as files inside the installed package."""
    folder = importlib.resources.files("sklearn.datasets") / "images"
    return [Path(str(folder / name)) for name in EMBEDDED]


def source_files(src: SourceParams) -> list[Path]:
    """The photo files the configured source names (downloading the url one if needed)."""
    if src.source == "embedded":
        return embedded_files()
    if src.source == "url":
        return [fetch_url(src.url, src.checksum, deadline=src.deadline_seconds)]
    return expand_paths(src.path, SUFFIXES)


def origin(path: Path, src: SourceParams) -> str:
    """Where a photo came from, the same on every host (not the local cache or venv path), so the
    manifest, and with it every downstream hash, does not depend on where the checkout lives."""
    if src.source == "embedded":
        return f"scikit-learn:datasets/images/{path.name}"
    if src.source == "url":
        return src.url
    return str(path)


def decode_photo(item: tuple[Path, str], folder: Path, png_compression: int) -> dict:
    """One photo: read, checked and converted, written as ``folder/<name>.png``. Runs in this process
    or on a Dask worker (``image.decode.parallel``).

    Returns:
        its manifest entry (``file`` still the local path).
    """
    path, name = item
    rgb, info = read_photo(path)
    imwrite(Path(folder) / f"{name}.png", rgb, png_compression)
    log.info("%s: %s %s -> %s.png", path, "x".join(map(str, info["decoded_shape"])), info["decoded_dtype"], name)
    return {"name": name, "png": f"{name}.png", "shape": list(rgb.shape), **info}


def main(stage: Declared) -> None:
    decode_params = params.load().decode
    files = source_files(decode_params)
    out_dir = stage.out("decoded")
    with stage.outputs() as out:
        tmp_dir = out.dir(out_dir)
        items = list(zip(files, unique_names(files)))
        entries = [{**entry, "file": origin(path, decode_params)} for (path, _), entry in
                   zip(items, map_files(decode_photo, items, decode_params.parallel, tmp_dir, decode_params.png_compression,
                                        desc="decode"))]
        (tmp_dir / MANIFEST).write_text(dumps_json({"source": decode_params.source, "images": entries}))
    log.info("%d photo(s) from %s -> %s", len(entries), decode_params.source, out_dir)


if __name__ == "__main__":
    run_stage(main)
