"""Reading the splits that `vit-data` writes and turning a batch into network input: shared by the
training, evaluation and explanation stages (a library module, not a stage)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from stages.core.arrays import read_npz
from stages.core.errors import DataError
from stages.core.io import read_json

log = logging.getLogger(__name__)

# torchvision's ImageNet weights expect inputs normalised with ImageNet's statistics
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_split(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, S, S) uint8 and labels (N,) int64 of one split.

    Raises:
        DataError: arrays missing or of the wrong shape or type.
    """
    arrays = read_npz(path, what="image split")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[2] != images.shape[3] or len(images) != len(labels):
        raise DataError(f"{path}: expected uint8 images (N, C, S, S) and N labels, got {images.dtype} {images.shape} "
                        f"and {labels.shape}")
    return images, labels.astype(np.int64)


def load_summary(path: str | Path) -> dict[str, Any]:
    """`vit-data`'s summary (classes, channels, image_px, training mean/std per channel)."""
    summary = read_json(path)
    missing = [k for k in ("classes", "channels", "image_px", "mean", "std") if k not in summary]
    if missing:
        raise DataError(f"{path}: field(s) missing: {', '.join(missing)}")
    return summary


def preprocess_args(summary: dict[str, Any], image_size: int, pretrained: bool) -> dict[str, Any]:
    """How a stored uint8 batch becomes the network's input, stored in the checkpoint with the model.

    From scratch the training split's own mean/std normalise it (fitted on train only, in `vit-data`);
    for pretrained weights, ImageNet's, and grayscale is repeated to the 3 channels they expect.
    """
    channels = 3 if pretrained else int(summary["channels"])
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if pretrained else (summary["mean"], summary["std"])
    return {"image_size": int(image_size), "channels": channels, "mean": [float(m) for m in mean], "std": [float(s) for s in std]}


def prepare_batch(x, pre: dict[str, Any]):
    """uint8 (B, C, S, S) → float (B, channels, image_size, image_size), normalised.

    The resize (bilinear, antialiased when shrinking) happens here, per batch, so a 32 px dataset is
    stored once and fed to a 224 px pretrained network without a 49x larger copy on disk.
    """
    import torch
    import torch.nn.functional as F

    x = x.float() / 255.0
    if x.shape[1] == 1 and pre["channels"] == 3:
        x = x.expand(-1, 3, -1, -1)
    side = pre["image_size"]
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=side < x.shape[-1])
    mean = torch.tensor(pre["mean"], device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(pre["std"], device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def check_input_side(stored: int, image_size: int, what: str) -> None:
    """Log once when the network's input side differs from the stored images' (they are resized per batch)."""
    if stored != image_size:
        log.warning("%s: images are stored at %d px, the network takes %d px: every batch is resized (bilinear)",
                    what, stored, image_size)
