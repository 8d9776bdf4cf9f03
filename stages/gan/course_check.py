"""The course check's stand-ins for gan (``python -m pipelines course-check gan``).

The course downloads MNIST's training images and labels (gzip'd idx files); offline, idx files of
the same format are served from 127.0.0.1: scikit-learn's real 8x8 digit scans, upsampled to MNIST's
28x28 unsigned bytes. The book's networks (64x64 images, 64 channels), optimisers and batch size stay;
only the number of images and epochs shrink to what runs every stage once.
"""
from __future__ import annotations

from typing import Any

import numpy as np

PER_DIGIT = 40  # stand-in images of each digit: enough for the capped train and test splits below

CAPS: dict[str, Any] = {
    "gan.digits.train_per_class": 32,   # two digits x 32 = one batch of the book's 64
    "gan.digits.test_per_class": 2,
    "gan.digits.anomalous_per_class": 2,
    "gan.dcgan.epochs": 1,
    "gan.sagan.epochs": 1,
}


def mnist_like(per_digit: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) uint8 labels: scikit-learn's digits at MNIST's size and range."""
    import cv2
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.concatenate([np.flatnonzero(d.target == k)[:per_digit] for k in range(10)])
    scans = (d.images[idx] * (255.0 / 16.0)).astype(np.float32)  # 0..16 -> 0..255
    images = np.stack([cv2.resize(s, (20, 20), interpolation=cv2.INTER_CUBIC) for s in scans])
    images = np.pad(np.clip(images, 0, 255), ((0, 0), (4, 4), (4, 4))).round().astype(np.uint8)  # MNIST: 20x20 in 28x28
    return images, d.target[idx].astype(np.uint8)


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import idx_gz

    images, labels = mnist_like(PER_DIGIT)
    img = kit.put("train-images-idx3-ubyte.gz", idx_gz(images))
    lab = kit.put("train-labels-idx1-ubyte.gz", idx_gz(labels))
    return {"gan.digits.images.url": img.url, "gan.digits.images.sha256": img.sha256,
            "gan.digits.labels.url": lab.url, "gan.digits.labels.sha256": lab.sha256}
