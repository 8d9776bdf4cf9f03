"""Image data for the diffusion pipeline: CIFAR-10's python archive, read safely, and the npz files
`diffusion-data` writes.

A library module (the data, judge, train and evaluate stages import it). The digits come from the one
digits loader (:mod:`stages.core.digits`), shared by every pipeline that needs digits.

CIFAR-10 is read by :mod:`stages.core.cifar` (shared with vit): checked against its published md5
before it is opened (``fetch_url``), its pickles read by an unpickler that rebuilds numpy arrays only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.core.arrays import read_npz
from stages.core.cifar import read_cifar_tarball, safe_unpickle  # noqa: F401 (re-exported)
from stages.core.errors import DataError
from stages.core.io import require_file


def read_cifar10(archive: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Every image of CIFAR-10's ``cifar-10-python.tar.gz`` (training batches, then the test batch),
    read by :func:`stages.core.cifar.read_cifar_tarball` (numpy-only unpickler).

    Returns:
        images (N, 32, 32, 3) float32 in [0, 1], labels (N,) int64.

    Raises:
        DataError: not a tar archive, a batch missing or corrupt.
    """
    train_x, train_y, test_x, test_y, _ = read_cifar_tarball(require_file(archive, "CIFAR-10 archive"))
    images = np.concatenate([train_x, test_x]).transpose(0, 2, 3, 1)  # (N, 3, 32, 32) -> (N, 32, 32, 3)
    return (images / 255.0).astype(np.float32), np.concatenate([train_y, test_y])


def load_images_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, S, S) float32 in [-1, 1] and labels (N,) of an npz written by `diffusion-data`.

    Raises:
        DataError: an array is missing or has the wrong shape.
    """
    arrays = read_npz(path, what="images npz")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 4 or images.shape[2] != images.shape[3] or len(images) == 0 or len(labels) != len(images):
        raise DataError(f"{path}: images must be (N, C, S, S) with N >= 1 and one label each, got {images.shape}")
    return images, labels
