"""Stage `gan-digits`: handwritten digits for the GANs, and the anomaly test set.

Sources (``gan.digits.source``):
- ``embedded``: scikit-learn's handwritten digits (1,797 real 8x8 scans shipped with the package),
  upsampled to ``image_px``;
- ``url``: MNIST (idx ``.gz`` files, each checked against its sha256; 28x28), resized to ``image_px``;
- ``path``: the user's own idx images and labels files.

Per normal digit, the first ``train_per_class`` images (in file order) form the training set and the
next ``test_per_class`` go to the test set; the test set also holds the first ``anomalous_per_class``
images of each anomalous digit. The GANs learn the normal digits only; the anomaly pipeline scores
the test set. Pixels are scaled to [-1, 1] (the generators end in tanh).

Why the anomalous count is its own param: the embedded set has only about 175 images per digit, so
with one count for every digit the test set of the course's task (normal 7 and 8, anomalous 2) stays
small (60 images at 150 training images per digit), and a ROC-AUC on 60 images moves by several
hundredths with float noise. The defaults hold out 80 of each normal digit and 160 twos: a balanced
test set of 320 images (160 normal, 160 anomalous), which leaves 90 training images per normal digit.
"""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.sources import fetch_url
from stages.gan import params
from stages.gan.params import DigitsParams

log = logging.getLogger(__name__)

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


def load_embedded() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, 8, 8) float32 in [0, 1] and (N,) int64 labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


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


def load_source(p: DigitsParams) -> tuple[np.ndarray, np.ndarray, str]:
    """Images, labels and a name for the source (used in messages)."""
    if p.source == "embedded":
        return *load_embedded(), "sklearn.datasets.load_digits"
    if p.source == "url":
        return *load_idx_pair(fetch_url(p.images.url, p.images.sha256), fetch_url(p.labels.url, p.labels.sha256)), p.images.url
    images, labels = (Path(x).expanduser() for x in p.path)
    for f in (images, labels):
        if not f.is_file():
            raise DataError(f"{f}: no such file (gan.digits.path)")
    return *load_idx_pair(images, labels), str(images)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W) in [0, 1] → (N, 1, size, size) float32 in [-1, 1], bilinear (antialiased when shrinking)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]  # (N, 1, H, W)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return (x.clamp(0, 1) * 2 - 1).numpy()


def split_digits(labels: np.ndarray, p: DigitsParams, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training set and of the test set (in file order within each digit).

    Raises:
        DataError: a digit has too few images for the requested counts.
    """
    train, test = [], []
    for digit in [*p.normal, *p.anomalous]:
        idx = np.flatnonzero(labels == digit)
        normal = digit in p.normal
        need = p.train_per_class + p.test_per_class if normal else p.anomalous_per_class
        if len(idx) < need:
            counts = "train_per_class + test_per_class" if normal else "anomalous_per_class"
            raise DataError(f"{source}: digit {digit} has {len(idx)} images, gan.digits needs {need} "
                            f"({counts}); lower them")
        if normal:
            train.append(idx[:p.train_per_class])
            test.append(idx[p.train_per_class:need])
        else:
            test.append(idx[:need])
    return np.concatenate(train), np.concatenate(test)


def main(stage: Declared) -> None:
    p = params.load().digits
    images, labels, source = load_source(p)
    train_idx, test_idx = split_digits(labels, p, source)
    test_labels = labels[test_idx]
    with stage.outputs() as out:
        out.npz(stage.out("train.npz"), images=resize(images[train_idx], p.image_px), labels=labels[train_idx])
        out.npz(stage.out("test.npz"), images=resize(images[test_idx], p.image_px), labels=test_labels,
                anomalous=np.isin(test_labels, p.anomalous))
        out.json(stage.out("summary.json"), {
            "source": source, "image_px": p.image_px, "source_shape": list(images.shape[1:]),
            "train": {str(d): int((labels[train_idx] == d).sum()) for d in p.normal},
            "test": {str(d): int((test_labels == d).sum()) for d in [*p.normal, *p.anomalous]},
        })
    log.info("%d training and %d test images (%d anomalous) at %dx%d from %s", len(train_idx), len(test_idx),
             int(np.isin(test_labels, p.anomalous).sum()), p.image_px, p.image_px, source)


if __name__ == "__main__":
    run_stage(main)
