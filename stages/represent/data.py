"""The ``represent`` pipeline's images as the encoders take them: ``represent-views``' uint8 views,
scaled to [0, 1] and standardised per channel with the training views' mean and std (from
``summary.json``, fitted on the training split only). Batches stay uint8 until they are used (a
quarter of the memory: STL-10's views at 96x96 are 1.1 GB as float32)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stages.core.arrays import read_npz
from stages.core.errors import DataError
from stages.core.io import read_json


def read_summary(path: str | Path) -> dict[str, Any]:
    """``represent-views``' summary (classes, channels, side, the training views' mean and std)."""
    summary = read_json(path)
    for key in ("classes", "channels", "mean", "std"):
        if key not in summary:
            raise DataError(f"{path}: summary lacks field {key!r}")
    return summary


def load_train(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(views (N, V, C, S, S) uint8, labels (N,) int64) of the training split.

    Raises:
        DataError: naming the file, when the arrays are missing or of the wrong shape or type.
    """
    arrays = read_npz(path, ("views", "labels"), "represent training views")
    views, labels = arrays["views"], arrays["labels"]
    if views.ndim != 5 or views.dtype != np.uint8 or views.shape[1] < 2 or len(views) != len(labels):
        raise DataError(f"{path}: views must be uint8 (N, V ≥ 2, C, S, S) with one label each: "
                        f"got {views.dtype} {views.shape} and {labels.shape} labels")
    return views, labels.astype(np.int64)


def load_test(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (M, C, S, S) uint8, labels (M,) int64) of the test split (one view of each test image)."""
    arrays = read_npz(path, ("images", "labels"), "represent test views")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels):
        raise DataError(f"{path}: images must be uint8 (M, C, S, S) with one label each: got {images.dtype} {images.shape}")
    return images, labels.astype(np.int64)


class Standardise:
    """uint8 images (…, C, S, S) → float32, standardised with the summary's per-channel mean and std."""

    def __init__(self, summary: dict[str, Any]) -> None:
        import torch

        self.mean = torch.tensor(summary["mean"], dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(summary["std"], dtype=torch.float32).view(-1, 1, 1).clamp_min(1e-6)

    def __call__(self, x):
        return (x.float() / 255.0 - self.mean.to(x.device)) / self.std.to(x.device)
