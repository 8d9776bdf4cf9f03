"""STL-10's binary tarball (Coates, Ng & Lee 2011): the course profile's images.

``stl10_binary.tar.gz`` holds ``stl10_binary/{train,test}_X.bin`` (uint8 images, 3 x 96 x 96 each,
every channel stored column by column), ``{train,test}_y.bin`` (one byte per image, classes 1..10)
and ``class_names.txt``; its 100,000 unlabelled images (``unlabeled_X.bin``) are not read here.
:func:`standin_tarball` writes a tiny file of the same layout for the offline course check.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from stages.core.errors import DataError

SIDE = 96
MEMBERS = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _images(raw: bytes, where: str) -> np.ndarray:
    per = 3 * SIDE * SIDE
    if len(raw) % per or not raw:
        raise DataError(f"{where}: {len(raw)} bytes is not a whole number of 3x{SIDE}x{SIDE} images")
    return np.frombuffer(raw, np.uint8).reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2).copy()  # column-major → rows


def _labels(raw: bytes, where: str, n: int) -> np.ndarray:
    y = np.frombuffer(raw, np.uint8).astype(np.int64)
    if len(y) != n:
        raise DataError(f"{where}: {len(y)} labels for {n} images")
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise DataError(f"{where}: labels must be 1..10, found {int(y.min())}..{int(y.max())}")
    return y - 1


def read_stl10_tarball(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images (N, 3, 96, 96) uint8, train labels 0..9, test images, test labels, class names).

    Call only on a file whose checksum matched (``fetch_url`` does that).

    Raises:
        DataError: not a tar archive, a member missing, or sizes that do not agree (naming ``tarball:member``).
    """
    path = Path(path)
    found: dict[str, bytes] = {}
    names = CLASSES
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:  # streamed: the 2.5 GB unlabelled member is skipped, never read into memory
                base = Path(m.name).name
                if m.isfile() and base in MEMBERS:
                    found[base] = tar.extractfile(m).read()
                elif m.isfile() and base == "class_names.txt":
                    names = tar.extractfile(m).read().decode("utf-8", "replace").split()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a readable tar archive ({type(exc).__name__}: {exc})") from None
    missing = [n for n in MEMBERS if n not in found]
    if missing:
        raise DataError(f"{path}: not STL-10's binary tarball: stl10_binary/{missing[0]} missing")
    if len(names) != 10:
        raise DataError(f"{path}:stl10_binary/class_names.txt: expected 10 class names, found {len(names)}")
    out = []
    for split in ("train", "test"):
        x = _images(found[f"{split}_X.bin"], f"{path}:stl10_binary/{split}_X.bin")
        out += [x, _labels(found[f"{split}_y.bin"], f"{path}:stl10_binary/{split}_y.bin", len(x))]
    return out[0], out[1], out[2], out[3], names


def standin_tarball(train_per_class: int, test_per_class: int, seed: int) -> bytes:
    """A tiny ``stl10_binary.tar.gz`` of the real layout: photo crops, ``train_per_class`` and
    ``test_per_class`` images of each class (the same bytes on every call)."""
    from stages.core.standins import _tar, photo_crops

    def member(x: np.ndarray) -> bytes:  # (N, 96, 96, 3) rows → (N, 3, 96, 96) column-major
        return np.ascontiguousarray(x.transpose(0, 3, 2, 1)).tobytes()

    ntr, nte = 10 * train_per_class, 10 * test_per_class
    photos = photo_crops(ntr + nte, SIDE, seed)
    labels = {"train": np.repeat(np.arange(1, 11), train_per_class), "test": np.repeat(np.arange(1, 11), test_per_class)}
    members = {"train_X.bin": member(photos[:ntr]), "test_X.bin": member(photos[ntr:]),
               "train_y.bin": labels["train"].astype(np.uint8).tobytes(), "test_y.bin": labels["test"].astype(np.uint8).tobytes(),
               "class_names.txt": "\n".join(CLASSES).encode() + b"\n"}
    return _tar({f"stl10_binary/{name}": data for name, data in members.items()})
