"""Handwritten digits, the one loader every pipeline uses: scikit-learn's embedded 8x8 scans, MNIST's
idx files (downloaded, checksum-verified) or the user's own idx pair, and the npz `gan-digits` writes.

Sources (a pipeline's ``source`` param):
- ``embedded``: scikit-learn's 1,797 real 8x8 scans (:func:`load_embedded`, floats in [0, 1];
  :func:`load_embedded_uint8`, bytes in 0..255);
- ``url``: MNIST's gzip'd idx images and labels, each checked against its checksum (:func:`load_source`);
- ``path``: the user's own idx images and labels files, gzip'd or raw.

A library module, not a stage: the stages that load, train on or score digits import it (gan, anomaly,
diffusion, vit, transfer), so editing one digits stage's own code does not rerun the others.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .arrays import read_npz
from .errors import DataError
from .sources import fetch_url

if TYPE_CHECKING:
    from .params import RemoteFile

EMBEDDED = "sklearn.datasets.load_digits"  # the embedded source's name in messages and summaries


def load_digits_npz(path: str | Path, keys: tuple[str, ...] = ("images", "labels")) -> dict[str, np.ndarray]:
    """Arrays of a digits npz written by `gan-digits`; images must be (N, 1, S, S).

    Raises:
        DataError: a key is missing or the images have the wrong shape.
    """
    arrays = read_npz(path, keys, "digits npz")
    img = arrays["images"]
    if img.ndim != 4 or img.shape[1] != 1 or img.shape[2] != img.shape[3] or len(img) == 0:
        raise DataError(f"{path}: images must be (N, 1, S, S) with N >= 1, got {img.shape}")
    return arrays


IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801  # idx magic numbers: ubyte, 3 resp. 1 dimensions


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (MNIST's format; gzip or raw) into a uint8 array.

    Raises:
        DataError: not gzip/idx, an unknown magic number, or a size that does not match the header.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable idx file ({exc})") from None
    if len(raw) < 8:
        raise DataError(f"{path}: too short to be an idx file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_IMAGES, IDX_LABELS):
        raise DataError(f"{path}: idx magic number is {magic:#010x}, expected {IDX_IMAGES:#010x} (images) or {IDX_LABELS:#010x} (labels)")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape} = {int(np.prod(shape))} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _embedded_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: (N, 8, 8) float64 levels 0..16 and (N,) labels, as ``load_digits()``
    gives them (``images``, ``target``), read from the CSV scikit-learn ships the same way it reads it.

    Importing ``sklearn.datasets`` costs 1.4 s of CPU (scipy.stats and more) in every stage that loads
    digits; the file itself is found without running scikit-learn's code
    (tests/core/test_digits.py checks the arrays against ``load_digits()``).
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the embedded digits need scikit-learn installed (pip install scikit-learn)")
    csv = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(csv, mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int, copy=False)


def load_embedded() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, 8, 8) float32 in [0, 1] and (N,) int64 labels."""
    images, target = _embedded_digits()
    return (images / 16.0).astype(np.float32), target.astype(np.int64)


def load_embedded_uint8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, 8, 8) uint8 in 0..255 (each 0..16 level x 255/16, rounded) and (N,) int64 labels."""
    images, target = _embedded_digits()
    return np.round(images * (255.0 / 16.0)).astype(np.uint8), target.astype(np.int64)


def load_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) float32 in [0, 1] and labels (N,) from an idx pair; counts must agree."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected idx images (N, H, W), got shape {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected idx labels (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels")
    return (images / 255.0).astype(np.float32), labels.astype(np.int64)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) in [0, 1] → (N, 1, size, size) float32 in [-1, 1], bilinear (antialiased when shrinking)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]  # (N, 1, H, W)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return (x.clamp(0, 1) * 2 - 1).numpy()


def load_source(source: str, images: RemoteFile, labels: RemoteFile, path: list[str],
                key: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The digits of a pipeline's source: images (N, H, W) float32 in [0, 1], labels (N,) int64 and the
    source's name (for messages and summaries).

    Args:
        source: ``embedded``, ``url`` (``images`` and ``labels`` downloaded, checksum-verified) or
            ``path`` (``path`` is [images idx file, labels idx file]).
        key: the params key of ``path`` (``gan.digits.path``), for messages.

    Raises:
        DataError: a path file is missing or not an idx pair. DownloadError: a download failed or
            its checksum differs.
    """
    if source == "embedded":
        return *load_embedded(), EMBEDDED
    if source == "url":
        return (*load_idx_pair(fetch_url(images.url, images.checksum), fetch_url(labels.url, labels.checksum)),
                images.url)
    files = [Path(x).expanduser() for x in path]
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: no such file ({key})")
    return *load_idx_pair(*files), str(files[0])
