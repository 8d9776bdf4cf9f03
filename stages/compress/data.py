"""Stage `compress-data`: the labelled images every model of the pipeline is trained and judged on.

Sources (``compress.data.source``):
- ``embedded``: scikit-learn's 1,797 real 8x8 handwritten digits (shipped with the package), as
  uint8; ``test_fraction`` of them held out, stratified and seeded by ``common.seed``.
- ``url``: CIFAR-10's python tarball (50,000 training and 10,000 test 32x32 colour images), its md5
  checked before it is opened and its pickles read by core's numpy-only unpickler; its own test batch.

``max_train_per_class`` caps each class's training images (the first ones, in order). Outputs: the
splits (uint8 ``(N, C, S, S)`` images, int64 labels) and ``summary.json``: source, class names,
channels, side, the training split's per-channel mean and std (what the networks are standardised
with) and the per-class counts.
"""
from __future__ import annotations

import logging

import numpy as np

from stages.compress import params
from stages.compress.params import DataParams
from stages.core.cifar import read_cifar_tarball
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.splits import capped, channel_stats, embedded_digits
from stages.core.stage import Declared

log = logging.getLogger(__name__)


def build_splits(p: DataParams, seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], str]:
    """The train and test splits (uint8 images (N, C, S, S), int64 labels), the class names and the
    source's name."""
    if p.source == "url":
        path = fetch_url(p.url, p.checksum, deadline=p.deadline_seconds)
        train_x, train_y, test_x, test_y, classes = read_cifar_tarball(path)
        train, test, name = (train_x, train_y), (test_x, test_y), p.url
    else:
        train, test, classes, name = embedded_digits(p.test_fraction, seed)
    return capped(train, test, p.max_train_per_class), classes, name


def main(stage: Declared) -> None:
    p, common = params.load().data, load_common()
    splits, classes, name = build_splits(p, common.seed)
    mean, std = channel_stats(splits["train"][0])
    x, _ = splits["train"]
    targets = {"train": stage.out("train.npz"), "test": stage.out("test.npz")}
    with stage.outputs() as out:
        for split, (images, labels) in splits.items():
            out.npz(targets[split], images=images, labels=labels.astype(np.int64))
        out.json(stage.out("summary.json"), {
            "source": name, "classes": classes, "channels": int(x.shape[1]), "image_px": int(x.shape[-1]),
            "mean": mean, "std": std,
            "counts": {split: np.bincount(y, minlength=len(classes)).tolist() for split, (_, y) in splits.items()},
        })
    log.info("%s: %s images at %dx%d, %d classes", name, " / ".join(f"{len(y)} {s}" for s, (_, y) in splits.items()),
             x.shape[-1], x.shape[-1], len(classes))


if __name__ == "__main__":
    run_stage(main)
