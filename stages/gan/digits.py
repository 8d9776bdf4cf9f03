"""Stage `gan-digits`: handwritten digits for the GANs, and the anomaly test set.

Sources (``gan.digits.source``):
- ``embedded``: scikit-learn's handwritten digits (1,797 real 8x8 scans shipped with the package),
  upsampled to ``image_px``;
- ``url``: MNIST (idx ``.gz`` files, each checked against its sha256; 28x28), resized to ``image_px``;
- ``path``: the user's own idx images and labels files.

All three are read by :mod:`stages.core.digits`, the digits loader every pipeline shares.

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

import logging

import numpy as np

from stages.core import digits
from stages.core.digits import resize
from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.gan import params
from stages.gan.params import DigitsParams

log = logging.getLogger(__name__)


def load_source(digits_params: DigitsParams) -> tuple[np.ndarray, np.ndarray, str]:
    """Images, labels and a name for the source (used in messages)."""
    return digits.load_source(digits_params.source, digits_params.images, digits_params.labels, digits_params.path,
                              "gan.digits.path")


def split_digits(labels: np.ndarray, digits_params: DigitsParams, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training set and of the test set (in file order within each digit).

    Raises:
        DataError: a digit has too few images for the requested counts.
    """
    train, test = [], []
    for digit in [*digits_params.normal, *digits_params.anomalous]:
        idx = np.flatnonzero(labels == digit)
        normal = digit in digits_params.normal
        need = digits_params.train_per_class + digits_params.test_per_class if normal else digits_params.anomalous_per_class
        if len(idx) < need:
            counts = "train_per_class + test_per_class" if normal else "anomalous_per_class"
            raise DataError(f"{source}: digit {digit} has {len(idx)} images, gan.digits needs {need} "
                            f"({counts}); lower them")
        if normal:
            train.append(idx[:digits_params.train_per_class])
            test.append(idx[digits_params.train_per_class:need])
        else:
            test.append(idx[:need])
    return np.concatenate(train), np.concatenate(test)


def main(stage: Declared) -> None:
    digits_params = params.load().digits
    images, labels, source = load_source(digits_params)
    train_idx, test_idx = split_digits(labels, digits_params, source)
    test_labels = labels[test_idx]
    with stage.outputs() as out:
        out.npz(stage.out("train.npz"), images=resize(images[train_idx], digits_params.image_px), labels=labels[train_idx])
        out.npz(stage.out("test.npz"), images=resize(images[test_idx], digits_params.image_px), labels=test_labels,
                anomalous=np.isin(test_labels, digits_params.anomalous))
        out.json(stage.out("summary.json"), {
            "source": source, "image_px": digits_params.image_px, "source_shape": list(images.shape[1:]),
            "train": {str(d): int((labels[train_idx] == d).sum()) for d in digits_params.normal},
            "test": {str(d): int((test_labels == d).sum()) for d in [*digits_params.normal, *digits_params.anomalous]},
        })
    log.info("%d training and %d test images (%d anomalous) at %dx%d from %s", len(train_idx), len(test_idx),
             int(np.isin(test_labels, digits_params.anomalous).sum()), digits_params.image_px, digits_params.image_px, source)


if __name__ == "__main__":
    run_stage(main)
