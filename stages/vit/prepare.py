"""Stage `vit-data`: labelled images for the ViT, split into train / val / test.

Sources (``vit.data.source``):
- ``embedded``: scikit-learn's 1,797 handwritten digits (real 8x8 scans shipped with the package),
  upsampled to ``image_px``; 1 channel, 10 classes.
- ``url``: the CIFAR-10 python tarball (50,000 training and 10,000 test 32x32 colour images). Its
  md5 (the only checksum CIFAR-10 publishes) is checked before the archive is opened. Its batches are
  pickles; even checked, they are read by :class:`NumpyOnlyUnpickler`, which refuses every global but
  the three that rebuild a numpy array, so no pickle can run code here, whatever it contains.
- ``path``: an ImageFolder: one sub-folder per class (its name is the class), images inside.

Image size: every image is stored at ``image_px`` x ``image_px``. Images of another size (an
ImageFolder of photos; CIFAR-10 when image_px is not 32) are resized (bilinear) and the count is
logged as a warning; nothing is refused for its size. Non-square images are squashed, not cropped.

Splits are stratified and seeded (``common.seed``): ``test_fraction`` of all images is held out
(CIFAR-10: its own test batch instead), then ``val_fraction`` of the rest; ``max_train_per_class``
caps the training images of each class (the first ones, in file order). Pixels stay uint8; the
training split's per-channel mean and std go into ``summary.json`` (fitted on train only).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from stages.core import digits
from stages.core.cifar import CIFAR_TEST, CIFAR_TRAIN, read_cifar_tarball, safe_unpickle  # noqa: F401 (re-exported)
from stages.core.errors import DataError
from stages.core.imagefiles import open_image
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.splits import cap_per_class, channel_stats, stratified_split
from stages.core.sources import fetch_url
from stages.core.stage import Declared
from stages.vit import params
from stages.vit.params import DataParams

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# ---- sources --------------------------------------------------------------------------------------

def resize_uint8(images: np.ndarray, side: int) -> np.ndarray:
    """(N, C, H, W) uint8 or float in [0, 1] → (N, C, side, side) uint8, bilinear (antialiased when shrinking)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.shape[-2:] != (side, side):
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=side < x.shape[-1])
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def load_embedded() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's digits (:func:`stages.core.digits.load_embedded`): (1797, 1, 8, 8) float in [0, 1], labels, class names."""
    images, labels = digits.load_embedded()
    return images[:, None], labels, [str(i) for i in range(10)]


def load_image_folder(entries: list[str], side: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """An ImageFolder (``root/<class>/<image>``) as (N, 3, side, side) uint8, labels, class names.

    Folders and files whose names start with a dot (``.ipynb_checkpoints``, ``.DS_Store``) are skipped.

    Raises:
        DataError: no class folders, fewer than two classes over all roots (a classifier would
            score 1.0 without learning), a class with no image, or an unreadable image or one too
            large to decode (:func:`stages.core.imagefiles.open_image`); each names the folder or file.
    """
    from PIL import Image

    images, labels, classes, resized = [], [], [], 0
    for entry in entries:
        root = Path(entry).expanduser()
        if not root.is_dir():
            raise DataError(f"{root}: not a folder (vit.data.path lists ImageFolder roots: one sub-folder per class)")
        folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not folders:
            raise DataError(f"{root}: no class sub-folders (ImageFolder layout: {root}/<class>/<image>)")
        for folder in folders:
            if folder.name not in classes:
                classes.append(folder.name)
            files = sorted(f for f in folder.rglob("*")
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
            if not files:
                raise DataError(f"{folder}: class folder holds no images (no file ending in {', '.join(IMAGE_SUFFIXES)}; "
                                "vit.data.path)")
            for f in files:
                with open_image(f) as im:
                    im = im.convert("RGB")
                    if im.size != (side, side):
                        resized += 1
                        im = im.resize((side, side), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
                labels.append(classes.index(folder.name))
    if len(classes) < 2:
        raise DataError(f"{', '.join(entries)}: {len(classes)} class folder ({', '.join(classes)}); a classifier needs "
                        "at least two classes (vit.data.path: one sub-folder per class)")
    if resized:
        log.warning("%d of %d images were not %dx%d and were resized to it (vit.data.image_px)", resized, len(images), side, side)
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


def build_splits(data_params: DataParams, seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], str]:
    """The three splits (images uint8 (N, C, S, S), labels), the class names and the source's name."""
    if data_params.source == "url":
        path = fetch_url(data_params.url, data_params.checksum, deadline=data_params.deadline_seconds)
        train_x, train_y, test_x, test_y, classes = read_cifar_tarball(path)
        name = data_params.url
        if data_params.image_px != 32:
            log.warning("CIFAR-10 images are 32x32; resizing all %d to %dx%d (vit.data.image_px)",
                        len(train_x) + len(test_x), data_params.image_px, data_params.image_px)
            train_x, test_x = resize_uint8(train_x, data_params.image_px), resize_uint8(test_x, data_params.image_px)
    else:
        if data_params.source == "embedded":
            images, labels, classes = load_embedded()
            images, name = resize_uint8(images, data_params.image_px), digits.EMBEDDED
        else:
            images, labels, classes = load_image_folder(data_params.path, data_params.image_px)
            name = ", ".join(data_params.path)
        pool, test = stratified_split(labels, data_params.test_fraction, seed, name)
        train_x, train_y, test_x, test_y = images[pool], labels[pool], images[test], labels[test]
    fit, val = stratified_split(train_y, data_params.val_fraction, seed, name)
    fit = cap_per_class(fit, train_y, data_params.max_train_per_class)
    splits = {"train": (train_x[fit], train_y[fit]), "val": (train_x[val], train_y[val]), "test": (test_x, test_y)}
    return splits, classes, name


def main(stage: Declared) -> None:
    data_params, common = params.load().data, load_common()
    splits, classes, name = build_splits(data_params, common.seed)
    mean, std = channel_stats(splits["train"][0])
    targets = {"train": stage.out("train.npz"), "val": stage.out("val.npz"), "test": stage.out("test.npz")}
    with stage.outputs() as out:
        for split, (x, y) in splits.items():
            out.npz(targets[split], images=x, labels=y)
        out.json(stage.out("summary.json"), {
            "source": name, "classes": classes, "channels": int(splits["train"][0].shape[1]), "image_px": data_params.image_px,
            "mean": mean, "std": std,
            "counts": {split: np.bincount(y, minlength=len(classes)).tolist() for split, (_, y) in splits.items()},
        })
    log.info("%s: %s images at %dx%d, %d classes", name, " / ".join(f"{len(y)} {s}" for s, (_, y) in splits.items()),
             data_params.image_px, data_params.image_px, len(classes))


if __name__ == "__main__":
    run_stage(main)
