"""The course check's stand-ins for gan (``python -m pipelines course-check gan``).

The course downloads MNIST's training images and labels (gzip'd idx files); offline, idx files of
the same format are served from 127.0.0.1: scikit-learn's real 8x8 digit scans, upsampled to MNIST's
28x28 unsigned bytes. The book's networks (64x64 images, 64 channels), optimisers and batch size stay;
only the number of images and epochs shrink to what runs every stage once.
"""
from __future__ import annotations

from typing import Any

PER_DIGIT = 40  # stand-in images of each digit: enough for the capped train and test splits below

CAPS: dict[str, Any] = {
    "gan.digits.train_per_class": 32,   # two digits x 32 = one batch of the book's 64
    "gan.digits.test_per_class": 2,
    "gan.digits.anomalous_per_class": 2,
    "gan.dcgan.epochs": 1,
    "gan.sagan.epochs": 1,
}


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import idx_gz, mnist_like

    images, labels = mnist_like(PER_DIGIT)
    img = kit.put("train-images-idx3-ubyte.gz", idx_gz(images))
    lab = kit.put("train-labels-idx1-ubyte.gz", idx_gz(labels))
    return {"gan.digits.images.url": img.url, "gan.digits.images.sha256": img.sha256,
            "gan.digits.labels.url": lab.url, "gan.digits.labels.sha256": lab.sha256}
