"""Stage `diffusion-data`: the real images DDPM learns, and the held-out images that set the FID floor.

Sources (``diffusion.data``): ``dataset: digits`` loads the digits with the shared loader
(:mod:`stages.core.digits`; embedded: scikit-learn's 1,797 real 8x8 scans; url: MNIST's idx files with their sha256; path: your
idx pair); ``dataset: cifar10`` loads CIFAR-10's python archive (url with its md5, or path), read with
a numpy-only unpickler. Per class, the last ``heldout_per_class`` images (file order) are held out;
of the rest, the first ``train_per_class`` train (0: all). Pixels in [-1, 1], (N, C, S, S).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.core import digits
from stages.core.digits import resize
from stages.core.errors import DataError
from stages.core.runtime import run_stage
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.diffusion import params
from stages.diffusion.images import read_cifar10
from stages.diffusion.params import DataParams

log = logging.getLogger(__name__)


def load_source(data_params: DataParams) -> tuple[np.ndarray, np.ndarray, str]:
    """Images ((N, H, W) or (N, H, W, C) in [0, 1]), labels and the source's name."""
    if data_params.dataset == "digits":
        return digits.load_source(data_params.source, data_params.mnist_images, data_params.mnist_labels, data_params.path,
                                  "diffusion.data.path")
    if data_params.source == "url":
        return *read_cifar10(fetch_url(data_params.cifar10.url, data_params.cifar10.checksum)), data_params.cifar10.url
    archive = Path(data_params.path[0]).expanduser()
    if not archive.is_file():
        raise DataError(f"{archive}: no such file (diffusion.data.path)")
    return *read_cifar10(archive), str(archive)


def to_model_range(images: np.ndarray, image_px: int) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) in [0, 1] → (N, C, image_px, image_px) float32 in [-1, 1] (the digits' resize per channel)."""
    if images.ndim == 3:
        return resize(images, image_px)
    n, h, w, c = images.shape
    planes = resize(images.transpose(0, 3, 1, 2).reshape(n * c, h, w), image_px)  # (N*C, 1, S, S)
    return planes.reshape(n, c, image_px, image_px)


def split(labels: np.ndarray, heldout_per_class: int, train_per_class: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and held-out images, class by class (file order within a class).

    Raises:
        DataError: a class has too few images for the held-out count plus at least one training image.
    """
    train, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= heldout_per_class:
            raise DataError(f"{source}: class {c} has {len(idx)} images, diffusion.data.heldout_per_class is "
                            f"{heldout_per_class}; lower it")
        rest = idx[:-heldout_per_class]
        train.append(rest[:train_per_class] if train_per_class else rest)
        held.append(idx[-heldout_per_class:])
    return np.concatenate(train), np.concatenate(held)


def main(stage: Declared) -> None:
    data_params = params.load().data
    images, labels, source = load_source(data_params)
    train_idx, held_idx = split(labels, data_params.heldout_per_class, data_params.train_per_class, source)
    with stage.outputs() as out:
        out.npz(stage.out("train.npz"), images=to_model_range(images[train_idx], data_params.image_px), labels=labels[train_idx])
        out.npz(stage.out("heldout.npz"), images=to_model_range(images[held_idx], data_params.image_px), labels=labels[held_idx])
        out.json(stage.out("summary.json"), {
            "source": source, "dataset": data_params.dataset, "image_px": data_params.image_px,
            "source_shape": list(images.shape[1:]),
            "train": len(train_idx), "heldout": len(held_idx), "classes": int(len(np.unique(labels))),
        })
    log.info("%d training and %d held-out images at %dx%d from %s", len(train_idx), len(held_idx), data_params.image_px,
             data_params.image_px, source)


if __name__ == "__main__":
    run_stage(main)
