"""Stage `represent-views`: the images every method trains and is judged on, as cached random views.

Sources (``represent.views.source``):
- ``embedded``: scikit-learn's 1,797 real 8x8 handwritten digits; ``test_fraction`` held out,
  stratified and seeded by ``common.seed``;
- ``url``: STL-10's binary tarball (md5-checked; its own 5,000 labelled training and 8,000 test
  images at 96x96, ten classes).

Every image becomes random affine views with noise (``stages/represent/augment.py``) at
``image_px``: ``views_per_image`` of each training image (SimCLR's two views of an image are two of
them; the other methods draw one per step) and **one** of each test image, so retrieval and the
probe are judged on transformed images of classes the encoders have seen, where raw pixels are a
weak baseline (on the untransformed digits a nearest neighbour in pixel space is already right 98%
of the time: nothing to learn). Views are drawn once and cached rather than per step, so every
method sees the same augmentations and the bytes are the same on every CPU.

Outputs: ``train.npz`` (``views`` (N, V, C, S, S) uint8, ``labels``), ``test.npz`` (``images``
(M, C, S, S) uint8, ``labels``), ``summary.json`` (source, classes, counts, the training views'
per-channel mean and std) and ``views.png`` (a few images and their views).
"""
from __future__ import annotations

import logging

import numpy as np

from stages.core.figures import new_figure
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.splits import capped, channel_stats, embedded_digits
from stages.core.stage import Declared
from stages.represent import params
from stages.represent.augment import random_views
from stages.represent.params import ViewsParams
from stages.represent.stl10 import read_stl10_tarball

log = logging.getLogger(__name__)


def source_splits(p: ViewsParams, seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], str]:
    """The train and test images (uint8 (N, C, H, W)) with int64 labels, the class names and the source's name."""
    if p.source == "url":
        path = fetch_url(p.url, p.checksum, deadline=p.deadline_seconds)
        train_x, train_y, test_x, test_y, classes = read_stl10_tarball(path)
        train, test, name = (train_x, train_y), (test_x, test_y), p.url
    else:
        train, test, classes, name = embedded_digits(p.test_fraction, seed)
    return capped(train, test, p.max_train_per_class), classes, name


def make_views(splits: dict[str, tuple[np.ndarray, np.ndarray]], p: ViewsParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training views (N, V, C, S, S), test views (M, C, S, S)), from one generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    t = p.transform.model_dump()
    train = random_views(splits["train"][0], p.views_per_image, p.image_px, rng, **t)
    test = random_views(splits["test"][0], 1, p.image_px, rng, **t)[:, 0]
    return train, test


def views_figure(views: np.ndarray, labels: np.ndarray, classes: list[str], shown: int = 6):
    """The first image of ``shown`` classes (rows) and its first views (columns)."""
    cols = min(views.shape[1], 8)
    rows = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)[:shown]]
    fig, axes = new_figure(len(rows), cols, figsize=(1.3 * cols, 1.3 * len(rows)), squeeze=False)
    for r, i in enumerate(rows):
        for v in range(cols):
            img = views[i, v].transpose(1, 2, 0)
            axes[r, v].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
            axes[r, v].set_xticks([]), axes[r, v].set_yticks([])
        axes[r, 0].set_ylabel(classes[labels[i]])
    fig.suptitle("cached training views (one row per image)")
    return fig


def main(stage: Declared) -> None:
    p, common = params.load().views, load_common()
    splits, classes, name = source_splits(p, common.seed)
    train, test = make_views(splits, p, common.seed)
    mean, std = channel_stats(train.reshape(-1, *train.shape[2:]))  # over the training views only
    counts = {s: np.bincount(y, minlength=len(classes)).tolist() for s, (_, y) in splits.items()}
    with stage.outputs() as out:
        out.npz(stage.out("train.npz"), views=train, labels=splits["train"][1].astype(np.int64))
        out.npz(stage.out("test.npz"), images=test, labels=splits["test"][1].astype(np.int64))
        out.json(stage.out("summary.json"), {
            "source": name, "classes": classes, "channels": int(train.shape[2]), "image_px": p.image_px,
            "views_per_image": p.views_per_image, "counts": counts,
            "mean": mean, "std": std,
        })
        out.figure(stage.out("views.png"), views_figure(train, splits["train"][1], classes))
    log.info("%s: %d training images x %d views, %d test views, %dx%d", name, len(train), p.views_per_image,
             len(test), p.image_px, p.image_px)


if __name__ == "__main__":
    run_stage(main)
